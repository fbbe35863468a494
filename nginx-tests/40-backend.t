# Invoice backends that fail, hang, lie or overflow: each a clear 502/504
# JSON answer and one error-log line, never a broken answer or a crash;
# answers without a length (chunked), or of the limit exactly, read whole.

use strict;
use warnings;
use Test::More;
use OpayTest qw(loadentity_body reference_invoice json_response);

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

my $wrong_sum = reference_invoice();
$wrong_sum->{displayItems}[1]{amount}{value} = '2.99';
my $mixed = reference_invoice();
$mixed->{displayItems}[1]{amount}{currency} = 'EUR';
my $big = reference_invoice();
$big->{entity}{description} = 'z' x 8192;

# an invoice whose JSON is exactly $size bytes (its description padded)
my $unpadded = do {
    my $i = reference_invoice();
    $i->{entity}{description} = '';
    length OpayTest::json_encode($i);
};
sub invoice_of_size {
    my ($size) = @_;
    my $i = reference_invoice();
    $i->{entity}{description} = 'p' x ($size - $unpadded);
    return $i;
}

# answers without a Content-Length: the module collects what comes
sub chunked {
    my ($body) = @_;
    my $r = json_response(200, $body);
    $r->[1]{'Transfer-Encoding'} = 'chunked';
    return $r;
}

my $midsize = reference_invoice();
$midsize->{entity}{description} = 'm' x 5000;
my $small = reference_invoice();
$small->{entity}{description} = 's' x 2000;

my %answers = (
    chunked      => chunked($small),
    chunked8k    => chunked($midsize),
    chunkedbig   => chunked($big),
    exact        => json_response(200, invoice_of_size(4096)),
    overbyone    => json_response(200, invoice_of_size(4097)),
    empty        => [ 200, { 'Content-Type' => 'application/json' }, '' ],
    e500      => [ 500, { 'Content-Type' => 'text/plain' }, 'boom' ],
    e403      => [ 403, { 'Content-Type' => 'text/plain' }, 'no' ],
    hang      => 'hang',
    badjson   => json_response(200, '{"entity": {'),
    notobject => json_response(200, '[1, 2]'),
    big       => json_response(200, $big),
    sum       => json_response(200, $wrong_sum),
    mixed     => json_response(200, $mixed),
    noprice   => json_response(200, { '@type' => 'Invoice',
                                      identifier => 'NP-1' }),
    negative  => json_response(200, { '@type' => 'Invoice',
        identifier => 'NEG-1',
        totalPaymentDue => { price => '-1.00', priceCurrency => 'USD' } }),
    float     => json_response(200, { '@type' => 'Invoice',
        identifier => 'F-1',
        totalPaymentDue => { price => '1e3', priceCurrency => 'USD' } }),
    precise   => json_response(200, { '@type' => 'Invoice',
        identifier => 'P-1',
        totalPaymentDue => { price => '1.005', priceCurrency => 'USD' } }),
    currency  => json_response(200, { '@type' => 'Invoice',
        identifier => 'C-1',
        totalPaymentDue => { price => '1.00', priceCurrency => 'XYZ' } }),
    overflow  => json_response(200, { '@type' => 'Invoice',
        identifier => 'O-1',
        totalPaymentDue => { price => '99999999999999999999',
                             priceCurrency => 'USD' } }),
);

$t->backend('invoice', sub {
    my ($req) = @_;
    my ($id) = $req->{path} =~ m{^/invoices/(.+)$};
    return $answers{$id} // json_response(404, {});
});

$t->write_conf(<<'EOF');
    opay_merchant_id  merchant-0001;
    opay_jwks_file    %%DIR%%/jwks.json;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location = /pay {
            opay_payment_request;
            opay_invoice_uri /_invoices/$opay_ctx_invoiceId;
        }

        location = /pay8k {
            opay_payment_request;
            opay_invoice_uri /_invoices8k/$opay_ctx_invoiceId;
        }

        location /_invoices8k/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_invoice%%/invoices/;
            proxy_http_version 1.1;
            proxy_read_timeout 1s;
            subrequest_output_buffer_size 8k;
        }

        location = /down {
            opay_payment_request;
            opay_invoice_uri /_down/$opay_ctx_invoiceId;
        }

        location /_invoices/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_invoice%%/invoices/;
            proxy_read_timeout 1s;
            subrequest_output_buffer_size 4k;
        }

        location /_down/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_closed%%/;
        }
    }
EOF
$t->run;

my $token = $t->token($key, claims => { aud => 'merchant-0001' });

sub fails {
    my ($id, $status, $code, $log, %opt) = @_;
    my $r = $t->request($opt{path} // '/pay', token => $token,
                        body => loadentity_body(invoiceId => $id));
    is($r->{status}, $status, "$id: $status");
    is($r->{json}{error}{code}, $code, "$id: $code");
    like($t->error_log, $log, "$id: error log says why") if $log;
}

fails('e500', 502, 'backend_error',
      qr/\[error\].*opay: invoice backend answered status 500/);
fails('e403', 502, 'backend_error',
      qr/\[error\].*opay: invoice backend answered status 403/);
fails('hang', 504, 'backend_timeout',
      qr/\[error\].*opay: invoice backend timed out/);
fails('badjson', 502, 'backend_error',
      qr/\[error\].*opay: invoice backend answered invalid JSON/);
fails('notobject', 502, 'backend_error',
      qr/opay: invoice backend answer is not a JSON object/);
fails('big', 502, 'backend_error',
      qr/opay: invoice backend answer is larger than 4096 bytes/);
fails('overbyone', 502, 'backend_error',
      qr/opay: invoice backend answer is larger than 4096 bytes/);
fails('empty', 502, 'backend_error',
      qr/\[error\].*opay: invoice backend answered invalid JSON/);
fails('chunkedbig', 502, 'backend_error',
      qr/opay: invoice backend answer is larger than 8192 bytes/,
      path => '/pay8k');

# an answer of the limit's size exactly, and answers without a length
# (chunked) of under the first 4 KiB and of more, read whole
for my $case (['exact', '/pay', 'p' x (4096 - $unpadded)],
              ['chunked', '/pay', 's' x 2000],
              ['chunked8k', '/pay8k', 'm' x 5000]) {
    my ($id, $path, $part) = @$case;
    my $r = $t->request($path, token => $token,
                        body => loadentity_body(invoiceId => $id));
    is($r->{status}, 200, "$id: 200");
    is($r->{json}{methodData}[0]{data}{entity}{description}, $part,
       "$id: the whole invoice read");
}
fails('sum', 502, 'backend_error',
      qr/\[error\].*opay: invoice "12345": display items add up to 9\.99 but the total due is 10\.00/);
fails('mixed', 502, 'backend_error',
      qr/invoice "12345": displayItems\[1\]: currency EUR differs/);
fails('noprice', 502, 'backend_error',
      qr/invoice "NP-1": "totalPaymentDue" missing/);
fails('negative', 502, 'backend_error', qr/invoice "NEG-1": total due is negative/);
fails('float', 502, 'backend_error',
      qr/invoice "F-1": totalPaymentDue: amount "1e3": not a valid decimal/);
fails('precise', 502, 'backend_error',
      qr/invoice "P-1".*more decimal places than the currency has/);
fails('currency', 502, 'backend_error',
      qr/invoice "C-1".*currency "XYZ" is not an ISO 4217 code/);
fails('overflow', 502, 'backend_error', qr/invoice "O-1".*amount too large/);
fails('any', 502, 'backend_error',
      qr/opay: invoice backend answered status 502/, path => '/down');
# a value is one path segment: its slashes and dots cannot climb out
fails('../../etc/passwd', 404, 'unknown_invoice');

my $r = $t->request('/pay', token => $token,
                    body => loadentity_body(invoiceId => 'missing'));
is($r->{status}, 404, 'backend 404: 404');

ok(!grep({ $_->{path} =~ m{/etc/passwd} }
        @{ $t->backend_requests('invoice') }),
   'a value with slashes is never more than one path segment');

$t->stop;
$t->check_error_log;
done_testing;
