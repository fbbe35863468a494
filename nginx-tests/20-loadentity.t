# loadentity end to end: the answer matches the reference's example, both
# invoice shapes of the backend contract, settings shape the answer, and
# the module's variables reach log_format.

use strict;
use warnings;
use Test::More;
use OpayTest qw(loadentity_body reference_invoice json_response json_decode
                PAY_METHOD);

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

my %invoices = (
    '12345' => reference_invoice(),
    # a bare schema.org Invoice, zero-decimal currency, price as a string
    'JP-1' => {
        '@type' => 'Invoice', identifier => 'JP-1',
        paymentStatus => 'http://schema.org/PaymentDue',
        totalPaymentDue => { price => '2500', priceCurrency => 'jpy' },
    },
    # three-decimal currency, price as a JSON number with decimals
    'BH-1' => {
        entity => { '@type' => 'Invoice', identifier => 'BH-1',
                    totalPaymentDue => { price => 12.345,
                                         priceCurrency => 'BHD' } },
        displayItems => [
            { label => 'Tea', amount => { currency => 'BHD',
                                          value => '12.000' } },
            { label => 'Cups', amount => { currency => 'BHD',
                                           value => '0.345' } } ],
    },
);

$t->backend('invoice', sub {
    my ($req) = @_;
    my ($id) = $req->{path} =~ m{^/invoices/(.+)$};
    return json_response(404, { error => 'no such invoice' })
        if !$id || !$invoices{$id};
    return json_response(200, $invoices{$id});
});

$t->write_conf(<<'EOF');
    log_format opay '$opay_event $opay_sub $opay_sender $opay_request_id '
                    'err=$opay_error ctx=$opay_ctx_invoiceId';

    opay_merchant_id  merchant-0001;
    opay_jwks_file    %%DIR%%/jwks.json;
    opay_invoice_uri  /_invoices/$opay_ctx_invoiceId;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        access_log %%DIR%%/opay.log opay;

        location = /test {
            opay_payment_request;
            opay_mode                test;
            opay_supported_networks  visa mastercard;
            opay_supported_types     credit;
            opay_request_payer       name email phone;
        }

        location = /live {
            opay_payment_request;
        }

        location /_invoices/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_invoice%%/invoices/;
        }
    }
EOF
$t->run;

my $token = $t->token($key, claims => { aud => 'merchant-0001' });

# The reference's loadentity response example, verbatim.
my $reference = json_decode(<<'EOF');
{
  "methodData": [
    {
      "supportedMethods": "https://pay.microsoft.com/microsoftpay",
      "data": {
        "event": "loadentity",
        "productContext": { "invoiceId": "12345" },
        "supportedNetworks": [ "visa", "mastercard" ],
        "supportedTypes": [ "credit" ],
        "entity": {
          "@type": "Invoice",
          "@context": "http://schema.org",
          "identifier": "12345",
          "url": "https://contoso.com/invoice",
          "broker": { "@type": "LocalBusiness", "name": "Contoso" },
          "paymentDueDate": "2019-01-31T00:00:00",
          "paymentStatus": "PaymentDue",
          "totalPaymentDue": {
            "@type": "PriceSpecification",
            "price": 10,
            "priceCurrency": "USD"
          }
        },
        "mode": "TEST"
      }
    }
  ],
  "options": {
    "requestPayerName": true,
    "requestPayerEmail": true,
    "requestPayerPhone": true,
    "requestShipping": true
  },
  "details": {
    "id": "12345",
    "total": {
      "label": "Total Due",
      "amount": { "currency": "USD", "value": "10.00" },
      "pending": false
    },
    "displayItems": [
      { "label": "Large Widget",
        "amount": { "currency": "USD", "value": "7.00" }, "pending": false },
      { "label": "Small Widget",
        "amount": { "currency": "USD", "value": "3.00" }, "pending": false }
    ]
  }
}
EOF

my $r = $t->request('/test', token => $token, body => loadentity_body());
is($r->{status}, 200, 'loadentity: 200');
like($r->{headers}{'content-type'}, qr{^application/json}, 'JSON answer');
my $got = $r->{json};
is(delete $got->{id}, '12345', 'top-level id is the invoice identifier');
# Shipping is not asked for until opay_shipping_uri exists.
is(delete $got->{options}{requestShipping}, JSON::PP::false,
   'requestShipping false without a shipping backend');
delete $reference->{options}{requestShipping};
is_deeply($got, $reference, 'answer equals the reference example');
like($r->{content}, qr/"price":10[,}]/,
     'entity price stays the JSON number it was');

$r = $t->request('/live', token => $token, body => loadentity_body());
is($r->{status}, 200, 'live location: 200');
ok(!exists $r->{json}{methodData}[0]{data}{mode}, 'live mode: no "mode"');
is_deeply($r->{json}{methodData}[0]{data}{supportedNetworks},
          [qw(visa mastercard amex)], 'default networks');
is_deeply($r->{json}{methodData}[0]{data}{supportedTypes}, ['credit'],
          'default types');
is_deeply($r->{json}{options}, { requestPayerName => JSON::PP::false,
    requestPayerEmail => JSON::PP::false,
    requestPayerPhone => JSON::PP::false,
    requestShipping => JSON::PP::false }, 'payer not asked by default');

$r = $t->request('/live', token => $token,
                 body => loadentity_body(invoiceId => 'JP-1'));
is($r->{status}, 200, 'bare schema.org invoice: 200');
is_deeply($r->{json}{details}{total}{amount},
          { currency => 'JPY', value => '2500' },
          'JPY total has no decimals, currency upper-cased');
ok(!exists $r->{json}{details}{displayItems}, 'no display items given');
is($r->{json}{methodData}[0]{data}{entity}{paymentStatus},
   'http://schema.org/PaymentDue', 'entity passed through unchanged');

$r = $t->request('/live', token => $token,
                 body => loadentity_body(invoiceId => 'BH-1'));
is($r->{status}, 200, 'three-decimal currency: 200');
is($r->{json}{details}{total}{amount}{value}, '12.345', 'BHD total exact');
is_deeply([ map { $_->{amount}{value} } @{ $r->{json}{details}{displayItems} } ],
          [ '12.000', '0.345' ], 'BHD display items exact');

$r = $t->request('/live', token => $token,
                 body => loadentity_body(invoiceId => 'nope'));
is($r->{status}, 404, 'unknown invoice: 404');
is($r->{json}{error}{code}, 'unknown_invoice', 'unknown invoice: code');

$r = $t->request('/live', token => $token, body => {
    %{ loadentity_body() }, extra => 'ignored' });
is($r->{status}, 200, 'unknown top-level members are tolerated');

my $paths = [ map { $_->{path} } @{ $t->backend_requests('invoice') } ];
is($paths->[0], '/invoices/12345',
   'invoice fetched at opay_invoice_uri with $opay_ctx_invoiceId');
my @methods = map { $_->{method} } @{ $t->backend_requests('invoice') };
ok(!grep({ $_ ne 'GET' } @methods), 'invoice fetched with GET');
ok(!grep({ length $_->{body} } @{ $t->backend_requests('invoice') }),
   'the webhook body is not forwarded to the invoice backend');

$t->stop;
my @log = split /\n/, $t->read_file('opay.log');
is($log[0], 'loadentity payer@example.com billing@contoso.com 12345 err=- '
   . 'ctx=12345', 'variables in log_format');
my ($nope) = grep { /ctx=nope/ } @log;
like($nope, qr/err=unknown_invoice/, '$opay_error names the refusal');

$t->check_error_log;
done_testing;
