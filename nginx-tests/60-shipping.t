# Shipping: the reference's norush/priority conversation end to end, the
# W3C ways of refusing an address or an option, exact money in JPY and BHD,
# and shipping backends that fail, hang or break the W3C rules.

use strict;
use warnings;
use Test::More;
use OpayTest qw(loadentity_body reference_invoice json_response json_decode
                json_encode PAY_METHOD proxy_location shipping_option
                us_shipping);

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

my $digital = reference_invoice();
$digital->{entity}{identifier} = 'DIGITAL';
$digital->{requestShipping} = JSON::PP::false;
my %invoices = (
    '12345' => reference_invoice(),
    DIGITAL => $digital,
    'JP-1' => { '@type' => 'Invoice', identifier => 'JP-1',
                totalPaymentDue => { price => 2500, priceCurrency => 'JPY' } },
    'BH-1' => { '@type' => 'Invoice', identifier => 'BH-1',
                totalPaymentDue => { price => '12.345',
                                     priceCurrency => 'BHD' } },
);
$t->backend('invoice', sub {
    my ($req) = @_;
    my ($id) = $req->{path} =~ m{^/invoices/(.+)$};
    return $invoices{$id} ? json_response(200, $invoices{$id})
                          : json_response(404, {});
});

my @usd = us_shipping();
$t->backend('shipping', sub {
    my ($req) = @_;
    my $in = json_decode($req->{body}) || {};
    my $country = $in->{shippingAddress}{country} // '';
    my $invoice = $in->{invoice} // '';
    return json_response(200, { shippingOptions => [
        shipping_option('std', 'Standard', 'JPY', '500') ] })
        if $invoice eq 'JP-1';
    return json_response(200, { shippingOptions => [
        shipping_option('std', 'Standard', 'BHD', '1.250') ] })
        if $invoice eq 'BH-1';
    return json_response(200, { shippingOptions => \@usd }) if $country eq 'US';
    return json_response(200, { shippingOptions => [] }) if $country eq 'AQ';
    return json_response(200, { shippingOptions => [],
        error => 'We cannot ship to Canada yet.' }) if $country eq 'CA';
    return json_response(200, { shippingOptions => [
        shipping_option('a', 'A', 'USD', '1.00', selected => JSON::PP::true),
        shipping_option('b', 'B', 'USD', '2.00', selected => JSON::PP::true),
        shipping_option('c', 'C', 'USD', '4.00') ] })
        if $country eq 'SE';
    return json_response(200, { shippingOptions => [
        shipping_option('x', 'X', 'USD', '1.00'),
        shipping_option('x', 'Y', 'USD', '2.00') ] })
        if $country eq 'DE';
    return json_response(200, { shippingOptions => [
        shipping_option('x', 'X', 'EUR', '1.00') ] }) if $country eq 'FR';
    return json_response(200, { shippingOptions => [
        shipping_option('x', 'X', 'USD', '-11.00',
                        selected => JSON::PP::true) ] })
        if $country eq 'NL';
    return json_response(200, { shippingOptions => [
        shipping_option('x', 'X', 'USD', '1.005') ] }) if $country eq 'IT';
    return [ 500, {}, 'oops' ] if $country eq 'ES';
    return 'hang' if $country eq 'PT';
    return json_response(200, '{"shippingOptions": ') if $country eq 'BE';
    return json_response(200, { shippingOptions => [] });
});

$t->write_conf(<<'EOF'
    opay_merchant_id  merchant-0001;
    opay_jwks_file    %%DIR%%/jwks.json;
    opay_invoice_uri  /_invoices/$opay_ctx_invoiceId;
    opay_shipping_uri /_shipping;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location = /pay {
            opay_payment_request;
            opay_mode                test;
            opay_supported_networks  visa mastercard;
            opay_request_payer       name email phone;
        }

        location = /delivery {
            opay_payment_request;
            opay_shipping_type delivery;
        }

EOF
    . proxy_location('/_invoices/', 'invoice', '/invoices/')
    . proxy_location('= /_shipping', 'shipping', '/rates',
                     'proxy_read_timeout 1s')
    . "    }\n");
$t->run;

my $token = $t->token($key, claims => { aud => 'merchant-0001' });
sub call {
    my ($body, $path) = @_;
    return $t->request($path // '/pay', token => $token, body => $body);
}

my $address = {
    country => 'US', addressLine => [ 'One Microsoft Way' ], region => 'WA',
    city => 'Redmond', dependantLocality => undef, postalCode => '98052',
    sortingCode => '', languageCode => '', organization => 'Microsoft',
    recipient => 'Patti Fernandez', phone => '4255551212' };

# 1. loadentity asks for shipping.
my $r = call(loadentity_body());
is($r->{status}, 200, 'loadentity: 200');
is_deeply($r->{json}{options}, { requestPayerName => JSON::PP::true,
    requestPayerEmail => JSON::PP::true, requestPayerPhone => JSON::PP::true,
    requestShipping => JSON::PP::true, shippingType => 'shipping' },
    'loadentity asks for shipping, type shipping');
my $loaded = $r->{json};

# 2. The payment service echoes our answer with the address (and, as in the
# reference, currencySystem: null on every amount).
my $echo = json_decode(json_encode($loaded));
$echo->{methodData}[0]{data}{event} = 'shippingaddresschange';
$_->{amount}{currencySystem} = undef
    for $echo->{details}{total}, @{ $echo->{details}{displayItems} };
$echo->{shippingAddress} = $address;
$echo->{extraMember} = { kept => [1, 2] };
$r = call($echo);
is($r->{status}, 200, 'shippingaddresschange: 200');
my $a = $r->{json};
is($a->{methodData}[0]{data}{event}, 'shippingaddresschange', 'event kept');
is_deeply([ map { { id => $_->{id}, label => $_->{label},
                    amount => $_->{amount} } } @{ $a->{details}{shippingOptions} } ],
          [ map { { id => $_->{id}, label => $_->{label},
                    amount => $_->{amount} } } @usd ],
          'shippingOptions as the reference shows them');
ok(!grep({ $_->{selected} } @{ $a->{details}{shippingOptions} }),
   'nothing selected yet');
is($a->{details}{total}{amount}{value}, '10.00', 'total is the invoice total');
is(scalar @{ $a->{details}{displayItems} }, 2, 'no Shipping line yet');
is_deeply($a->{details}{total}{amount}, { currency => 'USD', value => '10.00' },
          'amounts are ours: written afresh, not echoed');
is_deeply($a->{shippingAddress}, $address, 'address echoed');
is_deeply($a->{extraMember}, { kept => [1, 2] }, 'unknown member echoed');
is_deeply($a->{options}, $loaded->{options}, 'payer options echoed');
ok(!exists $a->{details}{error}, 'no error');

my $sent = $t->backend_requests('shipping')->[-1];
is($sent->{method}, 'POST', 'shipping backend gets a POST');
like($sent->{headers}{'content-type'}, qr{^application/json}, 'as JSON');
ok(!exists $sent->{headers}{authorization}, 'without the bearer token');
is_deeply(json_decode($sent->{body}), { invoice => '12345',
    productContext => { invoiceId => '12345' }, shippingAddress => $address },
    'the backend contract\'s request');

# 3. The payer picks priority; as in the reference, the payload still says
# "shippingaddresschange": a shippingOption that is not the selected one
# makes it an option change (65-conversation.t has the whole rule).
my $pick = json_decode(json_encode($a));
$pick->{shippingOption} = 'priority';
$pick->{details}{total}{amount}{value} = '0.01';   # echoed amounts are not trusted
$r = call($pick);
is($r->{status}, 200, 'shippingoptionchange: 200');
my $o = $r->{json};
is($o->{methodData}[0]{data}{event}, 'shippingoptionchange',
   'answered as shippingoptionchange');
is_deeply($o->{details}{total}{amount}, { currency => 'USD', value => '13.00' },
          'total 10.00 + 3.00 = 13.00');
is_deeply([ map { [ $_->{label}, $_->{amount}{value} ] }
            @{ $o->{details}{displayItems} } ],
          [ [ 'Large Widget', '7.00' ], [ 'Small Widget', '3.00' ],
            [ 'Shipping', '3.00' ] ],
          'display items as the reference\'s answer, with a Shipping line');
is_deeply([ map { $_->{id} } grep { $_->{selected} }
            @{ $o->{details}{shippingOptions} } ], [ 'priority' ],
          'priority marked selected');
is($o->{methodData}[0]{data}{entity}{totalPaymentDue}{price}, 13,
   'entity price kept in step with the total');
like($r->{content}, qr/"price":13\.00/, 'entity price stays a JSON number');
is($o->{shippingOption}, 'priority', 'shippingOption echoed');

# 4. Changing again never duplicates the Shipping line.
my $again = json_decode(json_encode($o));
$again->{shippingOption} = 'norush';
$r = call($again);
is_deeply([ map { $_->{label} } @{ $r->{json}{details}{displayItems} } ],
          [ 'Large Widget', 'Small Widget', 'Shipping' ],
          'one Shipping line after a second change');
is($r->{json}{details}{total}{amount}{value}, '10.00', 'norush: 10.00');
$again = $r->{json};
$again->{shippingOption} = 'priority';
$r = call($again);
is(scalar(grep { $_->{label} eq 'Shipping' }
          @{ $r->{json}{details}{displayItems} }), 1,
   'one Shipping line after a third change');
is($r->{json}{details}{total}{amount}{value}, '13.00', 'priority again: 13.00');

# 5. Unknown option, refused addresses: the W3C way.
my $bad = json_decode(json_encode($a));
$bad->{shippingOption} = 'teleport';
$r = call($bad);
is($r->{status}, 200, 'unknown option: 200');
ok(exists $r->{json}{shippingOption} && !defined $r->{json}{shippingOption},
   'unknown option: shippingOption null');
like($r->{json}{details}{error}, qr/not available/, 'unknown option: error');
is($r->{json}{details}{total}{amount}{value}, '10.00',
   'unknown option: invoice total');

for my $case ([ 'AQ', qr/do not ship/ ], [ 'CA', qr/^We cannot ship to Canada yet\.$/ ]) {
    my $p = json_decode(json_encode($echo));
    $p->{shippingAddress}{country} = $case->[0];
    $r = call($p);
    is($r->{status}, 200, "address $case->[0] refused: 200");
    ok(exists $r->{json}{shippingAddress} && !defined $r->{json}{shippingAddress},
       "address $case->[0]: shippingAddress null");
    like($r->{json}{details}{error}, $case->[1], "address $case->[0]: error");
    is_deeply($r->{json}{details}{shippingOptions}, [],
              "address $case->[0]: no options");
}

# 6. Several selected: the last one wins.
my $se = json_decode(json_encode($echo));
$se->{shippingAddress}{country} = 'SE';
$r = call($se);
is_deeply([ map { $_->{id} } grep { $_->{selected} }
            @{ $r->{json}{details}{shippingOptions} } ], [ 'b' ],
          'last selected option wins');
is($r->{json}{details}{total}{amount}{value}, '12.00', 'and is in the total');

# 7. Exact money in other currencies.
for my $case ([ 'JP-1', '3000', '500' ], [ 'BH-1', '13.595', '1.250' ]) {
    my ($id, $total, $ship) = @$case;
    $r = call(loadentity_body(invoiceId => $id));
    my $p = $r->{json};
    $p->{methodData}[0]{data}{event} = 'shippingoptionchange';
    $p->{shippingAddress} = $address;
    $p->{shippingOption} = 'std';
    $r = call($p);
    is($r->{status}, 200, "$id: option change 200");
    is($r->{json}{details}{total}{amount}{value}, $total, "$id: total $total");
    is($r->{json}{details}{displayItems}[-1]{amount}{value}, $ship,
       "$id: Shipping $ship");
}

# 8. Backends that fail or break the rules: 502/504, logged, no answer.
for my $case ([ 'ES', 502, qr/shipping backend answered status 500/ ],
              [ 'PT', 504, qr/shipping backend timed out/ ],
              [ 'BE', 502, qr/shipping backend answered invalid JSON/ ],
              [ 'DE', 502, qr/shipping option ids must be unique, "x" is repeated/ ],
              [ 'FR', 502, qr/currency EUR differs from the invoice's USD/ ],
              [ 'NL', 502, qr/total due must not be negative/ ],
              [ 'IT', 502, qr/more decimal places than the currency has/ ]) {
    my ($country, $status, $log) = @$case;
    my $p = json_decode(json_encode($echo));
    $p->{shippingAddress}{country} = $country;
    $r = call($p);
    is($r->{status}, $status, "shipping backend $country: $status");
    like($t->error_log, qr/\[error\].*opay: .*$log/,
         "shipping backend $country: logged");
}

# 9. Payload and invoice rules.
my $p = json_decode(json_encode($echo));
$p->{shippingAddress}{country} = 'USA';
$r = call($p);
is($r->{status}, 400, 'three-letter country: 400');
like($r->{json}{error}{message}, qr/two-letter country code/, 'says why');
$p = json_decode(json_encode($echo));
$p->{shippingAddress}{dependentLocality} = 7;
is(call($p)->{status}, 400, 'non-string address field: 400');
$p = json_decode(json_encode($echo));
delete $p->{shippingAddress};
is(call($p)->{status}, 400, 'no address: 400');
$p = json_decode(json_encode($echo));
$p->{details}{id} = '99999';
is(call($p)->{status}, 400, 'details.id of another invoice: 400');

$r = call(loadentity_body(invoiceId => 'DIGITAL'));
is($r->{json}{options}{requestShipping}, JSON::PP::false,
   'invoice with requestShipping false: not asked');
$p = json_decode(json_encode($echo));
$p->{methodData}[0]{data}{productContext}{invoiceId} = 'DIGITAL';
$p->{details}{id} = 'DIGITAL';
$r = call($p);
is($r->{status}, 400, 'shipping event for an unshipped invoice: 400');
is($r->{json}{error}{code}, 'unsupported_event', 'unsupported_event');

$r = call(loadentity_body(), '/delivery');
is($r->{json}{options}{shippingType}, 'delivery', 'opay_shipping_type delivery');

$t->stop;
$t->check_error_log;
done_testing;
