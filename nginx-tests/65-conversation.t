# The conversation as the payment service has it: every call after
# loadentity is our own last answer echoed back with the new event and what
# the payer said (shippingAddress, shippingOption), amounts carrying
# "currencySystem": null. Each case is played as that conversation: load,
# address, option, address again at a place that does not offer the chosen
# option, complete.
#
#  1. the event rule: an echoed earlier choice does not make an address
#     change an option change; the reference's mislabelled example does;
#  2. our own nulls (shippingOption, shippingAddress) echoed are accepted;
#  3. what is ours to say is re-derived, never echoed (mode, networks,
#     types, options, ids, totals), however the echo is tampered with;
#  4. an invoice that is not due is not offered for payment;
#  5. the ver claim (opay_jwt_version);
#  6. PaymentComplete of a shipped invoice needs an address and an option
#     the backend offers for it.

use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use OpayTest qw(loadentity_body json_response json_decode
                json_encode complete_body PAY_METHOD proxy_location
                stripe_location shipping_option us_shipping);
use StripeMock;

my $root = abs_path(dirname(__FILE__) . '/..');
my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

# Invoice ids name their status; DIGI-* are not shipped.
my %status = (PAID => 'PaymentComplete',
              AUTO => 'https://schema.org/PaymentAutomaticallyApplied',
              DECL => 'PaymentDeclined',
              LATE => 'http://schema.org/PaymentPastDue');
$t->invoice_backend(sub {
    my ($id, $inv) = @_;
    my ($prefix) = $id =~ /^([A-Z]+)-/;
    $inv->{entity}{paymentStatus} = $status{$prefix}
        if $prefix && $status{$prefix};
    $inv->{requestShipping} = JSON::PP::false if $id =~ /^DIGI-/;
});

# The US offers priority; Great Britain does not; Antarctica nothing.
$t->backend('shipping', sub {
    my ($req) = @_;
    my $in = json_decode($req->{body}) || {};
    my $country = $in->{shippingAddress}{country} // '';
    return json_response(200, { shippingOptions => [
        us_shipping() ] }) if $country eq 'US';
    return json_response(200, { shippingOptions => [
        shipping_option('economy', 'Economy to the UK', 'USD', '5.00'),
        shipping_option('express', 'Express to the UK', 'USD', '9.00') ] })
        if $country eq 'GB';
    return json_response(200, { shippingOptions => [] });
});
my $stripe = StripeMock->new($t->dir . '/stripe');
$t->backend('stripe', $stripe->handler);

$t->write_conf(<<'EOF'
    opay_merchant_id   merchant-0001;
    opay_jwks_file     %%DIR%%/jwks.json;
    opay_invoice_uri   /_invoices/$opay_ctx_invoiceId;
    opay_shipping_uri  /_shipping;
    opay_processor     stripe /_stripe/;
    opay_mode          test;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location = /pay      { opay_payment_request; }
        location = /complete { opay_payment_complete; }

        location = /live {
            opay_payment_request;
            opay_mode               live;
            opay_supported_networks visa mastercard;
            opay_request_payer      email;
        }

        location = /any-ver {
            opay_payment_request;
            opay_jwt_version off;
        }

        location = /v2 {
            opay_payment_request;
            opay_jwt_version STI.ExternalAccessToken.V2;
        }

EOF
    . proxy_location('/_invoices/', 'invoice', '/invoices/')
    . proxy_location('= /_shipping', 'shipping', '/rates')
    . stripe_location('/_stripe/', 'sk_test_opaytests')
    . "    }\n");
$t->run;

my $token = $t->token($key);

sub call {
    my ($path, $body, %opt) = @_;
    return $t->request($path, token => $opt{token} // $token, body => $body);
}

my $us = {
    country => 'US', addressLine => [ 'One Microsoft Way' ], region => 'WA',
    city => 'Redmond', dependantLocality => undef, postalCode => '98052',
    sortingCode => '', languageCode => '', organization => 'Microsoft',
    recipient => 'Patti Fernandez', phone => '4255551212' };
my $us2 = { %$us, addressLine => [ '1 Main St' ], city => 'Seattle',
            postalCode => '98101' };
my $gb = { country => 'GB', addressLine => [ '10 Downing Street' ],
           city => 'London', postalCode => 'SW1A 2AA',
           recipient => 'Patti Fernandez' };

# The service's next call: our last answer, the new event, what the payer
# said (a key present with undef sends null), currencySystem: null added.
sub echo {
    my ($answer, $event, %said) = @_;
    my $e = json_decode(json_encode($answer));
    $e->{methodData}[0]{data}{event} = $event;
    $_->{amount}{currencySystem} = undef
        for grep { ref $_->{amount} } $e->{details}{total},
            @{ $e->{details}{displayItems} || [] };
    $e->{$_} = $said{$_} for keys %said;
    return $e;
}

sub selected {
    my ($answer) = @_;
    return [ map { $_->{id} } grep { $_->{selected} }
             @{ $answer->{details}{shippingOptions} || [] } ];
}
sub offered {
    my ($answer) = @_;
    return [ map { $_->{id} } @{ $answer->{details}{shippingOptions} || [] } ];
}
sub total { $_[0]{details}{total}{amount}{value} }
sub event_of { $_[0]{methodData}[0]{data}{event} }

# PaymentComplete as the service sends it after the conversation.
sub complete {
    my ($rid, $value, %shipping) = @_;
    return call('/complete', complete_body($rid, value => $value,
                                           extra => \%shipping));
}

sub charges { scalar @{ $stripe->charges } }

# ---------------------------------------------------------------------
# 1. The event rule.

my $r = call('/pay', loadentity_body());
is($r->{status}, 200, 'rule: load 200');
my $load = $r->{json};

$r = call('/pay', echo($load, 'shippingaddresschange', shippingAddress => $us));
my $addr = $r->{json};
is(event_of($addr), 'shippingaddresschange', 'rule: address answered');
is_deeply(offered($addr), [qw(norush priority)], 'rule: US options');
is_deeply(selected($addr), [], 'rule: nothing chosen yet');

$r = call('/pay', echo($addr, 'shippingoptionchange',
                       shippingOption => 'priority'));
my $opt = $r->{json};
is(event_of($opt), 'shippingoptionchange', 'rule: option answered');
is(total($opt), '13.00', 'rule: priority priced, 13.00');
is($opt->{shippingOption}, 'priority', 'rule: choice echoed');

# The payer moves to Great Britain: the echo still carries "priority".
my $moved = echo($opt, 'shippingaddresschange', shippingAddress => $gb);
is($moved->{shippingOption}, 'priority', 'rule: the echo carries the choice');
$r = call('/pay', $moved);
my $again = $r->{json};
is($r->{status}, 200, 'rule: address again 200');
is(event_of($again), 'shippingaddresschange',
   'rule: answered as the address change it is');
is_deeply(offered($again), [qw(economy express)],
          'rule: the new address\'s options');
ok(!exists $again->{details}{error},
   'rule: no "option not available" for the payer');
is_deeply(selected($again), [], 'rule: priority not offered, nothing selected');
ok(exists $again->{shippingOption} && !defined $again->{shippingOption},
   'rule: shippingOption null');
is(total($again), '10.00', 'rule: re-priced without shipping');
is_deeply([ map { $_->{label} } @{ $again->{details}{displayItems} } ],
          [ 'Large Widget', 'Small Widget' ], 'rule: no Shipping line');
is($again->{methodData}[0]{data}{entity}{totalPaymentDue}{price}, 10,
   'rule: entity price in step');

# Back to another US address: the earlier choice is still offered, kept.
$r = call('/pay', echo($opt, 'shippingaddresschange', shippingAddress => $us2));
is(event_of($r->{json}), 'shippingaddresschange', 'rule: US again');
is_deeply(selected($r->{json}), [ 'priority' ], 'rule: choice kept');
is(total($r->{json}), '13.00', 'rule: and priced');

$r = call('/pay', echo($again, 'shippingoptionchange',
                       shippingOption => 'express'));
is(total($r->{json}), '19.00', 'rule: express to GB, 19.00');
my $calls = charges();
$r = complete('12345', '19.00', shippingAddress => $gb,
              shippingOption => 'express');
is($r->{json}{result}, 'success', 'rule: complete charged');
is(charges(), $calls + 1, 'rule: one charge');
is($stripe->charges->[-1]{amount}, 1900, 'rule: 19.00 charged');

# The reference's own option-change example, labelled
# "shippingaddresschange" and echoing no options: an option change.
open my $fh, '<', "$root/conf-examples/requests/shippingoptionchange.json"
    or die $!;
my $reference = json_decode(do { local $/; <$fh> });
is($reference->{methodData}[0]{data}{event}, 'shippingaddresschange',
   'reference example: mislabelled');
$r = call('/pay', $reference);
is($r->{status}, 200, 'reference example: 200');
is(event_of($r->{json}), 'shippingoptionchange',
   'reference example: answered as an option change');
is(total($r->{json}), '13.00', 'reference example: priority priced');
# The same mislabelling when an option was offered but none selected.
$r = call('/pay', echo($addr, 'shippingaddresschange',
                       shippingOption => 'norush'));
is(event_of($r->{json}), 'shippingoptionchange',
   'mislabelled choice among listed options: an option change');
is_deeply(selected($r->{json}), [ 'norush' ], 'and it is selected');

# ---------------------------------------------------------------------
# 2. Our own nulls echoed.

$r = call('/pay', loadentity_body(invoiceId => 'NULL-1'));
$r = call('/pay', echo($r->{json}, 'shippingaddresschange',
                       shippingAddress => $us));
$r = call('/pay', echo($r->{json}, 'shippingoptionchange',
                       shippingOption => 'teleport'));
my $refused = $r->{json};
ok(exists $refused->{shippingOption} && !defined $refused->{shippingOption},
   'nulls: unknown option refused with null');
like($refused->{details}{error}, qr/not available/, 'nulls: said why');

$r = call('/pay', echo($refused, 'shippingaddresschange',
                       shippingAddress => $gb));
is($r->{status}, 200, 'nulls: address change echoing shippingOption null');
is_deeply(offered($r->{json}), [qw(economy express)], 'nulls: GB options');
ok(!exists $r->{json}{details}{error}, 'nulls: no error left over');
my $gb_answer = $r->{json};

$r = call('/pay', echo($gb_answer, 'shippingaddresschange',
                       shippingAddress => { country => 'AQ' }));
my $no_ship = $r->{json};
ok(exists $no_ship->{shippingAddress} && !defined $no_ship->{shippingAddress},
   'nulls: Antarctica refused with shippingAddress null');
like($no_ship->{details}{error}, qr/do not ship/, 'nulls: said why');

my $shipping_calls = @{ $t->backend_requests('shipping') };
$r = call('/pay', echo($no_ship, 'shippingaddresschange'));
is($r->{status}, 200, 'nulls: our shippingAddress null echoed: 200');
ok(!defined $r->{json}{shippingAddress}, 'nulls: still no address');
is($r->{json}{details}{error}, 'Please enter a shipping address.',
   'nulls: the payer is asked for one');
is(scalar @{ $t->backend_requests('shipping') }, $shipping_calls,
   'nulls: no address, no shipping backend call');

$r = call('/pay', echo($no_ship, 'shippingaddresschange',
                       shippingAddress => $us));
is_deeply(offered($r->{json}), [qw(norush priority)], 'nulls: US again');
$r = call('/pay', echo($r->{json}, 'shippingoptionchange',
                       shippingOption => 'norush'));
is(total($r->{json}), '10.00', 'nulls: norush chosen');
$calls = charges();
$r = complete('NULL-1', '10.00', shippingAddress => $us,
              shippingOption => 'norush');
is($r->{json}{result}, 'success', 'nulls: complete charged');
is(charges(), $calls + 1, 'nulls: one charge');

# Nulls in PaymentComplete for an invoice that is not shipped.
$r = complete('DIGI-1', '10.00', shippingAddress => undef,
              shippingOption => undef);
is($r->{status}, 200, 'nulls: PaymentComplete with nulls: 200');
is($r->{json}{result}, 'success', 'nulls: unshipped invoice charged');

# ---------------------------------------------------------------------
# 3. What is ours to say is re-derived: a live location, a tampered echo.

sub tampered {
    my ($e) = @_;
    my $x = json_decode(json_encode($e));
    my $data = $x->{methodData}[0]{data};
    $data->{mode} = 'TEST';
    $data->{supportedNetworks} = [ 'unionpay' ];
    $data->{supportedTypes} = [ 'prepaid' ];
    $data->{entity}{totalPaymentDue}{price} = '0.01';
    $x->{options}{requestShipping} = JSON::PP::false;
    $x->{options}{requestPayerPhone} = JSON::PP::true;
    $x->{details}{total}{amount}{value} = '0.01';
    $x->{details}{modifiers} = [ { supportedMethods => PAY_METHOD,
        total => { label => 'Total', amount => { currency => 'USD',
                                                  value => '0.01' } } } ];
    unshift @{ $x->{details}{displayItems} },
        { label => 'Discount', amount => { currency => 'USD',
                                           value => '-9.99' } };
    return $x;
}

# Each step is sent twice, as echoed and tampered: the answers are equal.
# Returns the answer to the tampered one.
sub both {
    my ($what, $e) = @_;
    my $clean = call('/live', $e);
    my $dirty = call('/live', tampered($e));
    is($clean->{status}, 200, "ours: $what: 200");
    is_deeply($dirty->{json}, $clean->{json},
              "ours: $what: a tampered echo does not change the answer");
    return $dirty->{json};
}

$r = call('/live', loadentity_body());
my $live = $r->{json};
ok(!exists $live->{methodData}[0]{data}{mode}, 'ours: live load, no mode');
my $a1 = both('address', echo($live, 'shippingaddresschange',
                              shippingAddress => $us));
ok(!exists $a1->{methodData}[0]{data}{mode},
   'ours: live location given "mode": "TEST" answers without it');
is_deeply($a1->{methodData}[0]{data}{entity}{totalPaymentDue},
          { '@type' => 'PriceSpecification', price => 10,
            priceCurrency => 'USD' }, 'ours: the entity is the invoice\'s');
is_deeply($a1->{methodData}[0]{data}{supportedNetworks}, [qw(visa mastercard)],
          'ours: networks from opay_supported_networks');
is_deeply($a1->{methodData}[0]{data}{supportedTypes}, [ 'credit' ],
          'ours: types from configuration');
is_deeply($a1->{options}, { requestPayerName => JSON::PP::false,
    requestPayerEmail => JSON::PP::true, requestPayerPhone => JSON::PP::false,
    requestShipping => JSON::PP::true, shippingType => 'shipping' },
    'ours: options from configuration');
ok(!exists $a1->{details}{modifiers}, 'ours: no modifiers smuggled in');
is(total($a1), '10.00', 'ours: the invoice total');
ok(!exists $a1->{details}{total}{amount}{currencySystem},
   'ours: amounts are written afresh');
is_deeply($a1->{shippingAddress}, $us, 'ours: the payer\'s address echoed');
is_deeply($a1->{methodData}[0]{data}{productContext}, { invoiceId => '12345' },
          'ours: productContext echoed');

my $o1 = both('option', echo($a1, 'shippingoptionchange',
                             shippingOption => 'priority'));
is(total($o1), '13.00', 'ours: option priced');
my $g1 = both('address again', echo($o1, 'shippingaddresschange',
                                    shippingAddress => $gb));
is_deeply(selected($g1), [], 'ours: nothing selected in GB');

# A test location given an echo without mode answers with it.
my $test_echo = echo($load, 'shippingaddresschange', shippingAddress => $us);
delete $test_echo->{methodData}[0]{data}{mode};
$r = call('/pay', $test_echo);
is($r->{json}{methodData}[0]{data}{mode}, 'TEST',
   'ours: test location says TEST even when the echo does not');

# ---------------------------------------------------------------------
# 4. An invoice that is not due is not offered for payment.

for my $id (qw(PAID-1 AUTO-1)) {
    $r = call('/pay', loadentity_body(invoiceId => $id));
    my $j = $r->{json};
    is($r->{status}, 200, "$id: load 200, within the protocol");
    my ($prefix) = $id =~ /^(\w+)-/;
    is($j->{methodData}[0]{data}{entity}{paymentStatus}, $status{$prefix},
       "$id: the entity says its status");
    is($j->{methodData}[0]{data}{entity}{totalPaymentDue}{price}, 0,
       "$id: nothing due in the entity");
    is(total($j), '0.00', "$id: nothing due in details");
    like($j->{details}{error},
         $id eq 'PAID-1' ? qr/^This invoice has already been paid\.$/
                         : qr/^This invoice is paid automatically/,
         "$id: the payer is told why");
    is($j->{options}{requestShipping}, JSON::PP::false, "$id: no shipping asked");
    ok(!exists $j->{details}{displayItems}, "$id: no items to pay");
    # A service that went on anyway gets the same answer, then a refusal.
    $r = call('/pay', echo($j, 'shippingaddresschange', shippingAddress => $us));
    is($r->{status}, 200, "$id: address change 200");
    is(total($r->{json}), '0.00', "$id: still nothing due");
    $calls = charges();
    $r = complete($id, '10.00');
    is($r->{json}{result}, 'fail', "$id: PaymentComplete refused");
    is(charges(), $calls, "$id: nothing charged");
}
like($t->error_log, qr/\[info\].*opay: invoice "PAID-1" is PaymentComplete: answered with nothing due/,
     'not due: logged at info');

for my $id (qw(DECL-1 LATE-1)) {
    $r = call('/pay', loadentity_body(invoiceId => $id));
    is(total($r->{json}), '10.00', "$id: still payable");
    ok(!exists $r->{json}{details}{error}, "$id: no error");
    $r = call('/pay', echo($r->{json}, 'shippingaddresschange',
                           shippingAddress => $us));
    $r = call('/pay', echo($r->{json}, 'shippingoptionchange',
                           shippingOption => 'priority'));
    $r = call('/pay', echo($r->{json}, 'shippingaddresschange',
                           shippingAddress => $gb));
    $r = call('/pay', echo($r->{json}, 'shippingoptionchange',
                           shippingOption => 'economy'));
    is(total($r->{json}), '15.00', "$id: economy to GB, 15.00");
    $r = complete($id, '15.00', shippingAddress => $gb,
                  shippingOption => 'economy');
    is($r->{json}{result}, 'success', "$id: paid");
}

# ---------------------------------------------------------------------
# 5. The ver claim.

my $v2 = $t->token($key, claims => { ver => 'STI.ExternalAccessToken.V2' });
my $nover = $t->token($key, claims => { ver => undef });
for my $case ([ 'load', loadentity_body() ],
              [ 'address', echo($load, 'shippingaddresschange',
                                shippingAddress => $us) ],
              [ 'option', echo($addr, 'shippingoptionchange',
                               shippingOption => 'priority') ]) {
    my ($step, $body) = @$case;
    for my $bad ([ 'another ver', $v2 ], [ 'no ver', $nover ]) {
        $r = call('/pay', $body, token => $bad->[1]);
        is($r->{status}, 401, "ver: $step with $bad->[0]: 401");
        is($r->{json}{error}{message}, 'bad_version',
           "ver: $step with $bad->[0]: bad_version");
    }
    is(call('/pay', $body)->{status}, 200, "ver: $step with V1: 200");
    is(call('/any-ver', $body, token => $v2)->{status}, 200,
       "ver: $step, opay_jwt_version off: any ver");
    is(call('/v2', $body, token => $v2)->{status}, 200,
       "ver: $step, opay_jwt_version V2: V2 accepted");
    is(call('/v2', $body)->{status}, 401, "ver: $step, V2 location: V1 refused");
}
$calls = charges();
$r = $t->request('/complete', token => $v2,
    body => complete_body('12345', value => '13.00', extra => {
        shippingAddress => $us, shippingOption => 'priority' }));
is($r->{status}, 401, 'ver: complete with another ver: 401');
is(charges(), $calls, 'ver: nothing charged');
like($t->error_log, qr/bearer token refused: bad_version, client/,
     'ver: logged as its reason code');

# ---------------------------------------------------------------------
# 6. PaymentComplete of a shipped invoice needs an address and an option
#    the backend offers for it.

$r = call('/pay', loadentity_body(invoiceId => 'SHIP-1'));
$r = call('/pay', echo($r->{json}, 'shippingaddresschange',
                       shippingAddress => $us));
$r = call('/pay', echo($r->{json}, 'shippingoptionchange',
                       shippingOption => 'priority'));
my $chosen = $r->{json};
is(total($chosen), '13.00', 'needs shipping: priority chosen');
$r = call('/pay', echo($chosen, 'shippingaddresschange',
                       shippingAddress => $gb));
is_deeply(selected($r->{json}), [], 'needs shipping: GB, nothing selected');

$calls = charges();
for my $case (
    [ 'without address or option', '10.00' ],
    [ 'with nulls', '10.00', shippingAddress => undef, shippingOption => undef ],
    [ 'without an option', '10.00', shippingAddress => $gb ],
    [ 'without an address', '13.00', shippingOption => 'priority' ],
    [ 'with an option GB does not offer', '13.00', shippingAddress => $gb,
      shippingOption => 'priority' ]) {
    my ($name, $value, %shipping) = @$case;
    $r = complete('SHIP-1', $value, %shipping);
    is($r->{status}, 200, "needs shipping: $name: 200");
    is($r->{json}{requestId}, 'SHIP-1', "needs shipping: $name: requestId");
    is($r->{json}{result}, 'fail', "needs shipping: $name: result fail");
    ok(length $r->{json}{details}, "needs shipping: $name: details");
    is($r->{json}{error}{code}, 'card_error', "needs shipping: $name: error");
    like($r->{json}{error}{innererror}{message},
         $name =~ /does not offer/ ? qr/not available/
                                   : qr/shipping address and a shipping option/,
         "needs shipping: $name: the payer is told why");
}
is(charges(), $calls, 'needs shipping: nothing charged');
like($t->error_log,
     qr/\[info\].*the invoice asks for shipping but the payment has no shippingOption for invoice "SHIP-1": not charging/,
     'needs shipping: logged');

# The option id is quoted in the log line: it cannot forge another line.
$r = complete('SHIP-1', '13.00', shippingAddress => $gb,
              shippingOption => "x\n2030/01/01 00:00:00 [warn] 1#1: forged");
is($r->{json}{result}, 'fail', 'needs shipping: an id with a newline: fail');
like($t->error_log,
     qr/shipping option "x\\x0a2030\/01\/01 00:00:00 \[warn\] 1#1: forged" is not offered/,
     'needs shipping: the newline is logged as \x0a');
unlike($t->error_log, qr/^2030\/01\/01/m, 'needs shipping: no forged line');

$r = complete('SHIP-1', '14.00', shippingAddress => $gb,
              shippingOption => 'economy');
is($r->{json}{result}, 'fail', 'needs shipping: 14.00 is not 10.00 + 5.00');
$r = complete('SHIP-1', '15.00', shippingAddress => $gb,
              shippingOption => 'economy');
is($r->{json}{result}, 'success', 'needs shipping: address and option: paid');
is($stripe->charges->[-1]{amount}, 1500, 'needs shipping: 15.00 charged');

$t->stop;
$t->check_error_log;
done_testing;
