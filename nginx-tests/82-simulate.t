# opay simulate against the module: the whole conversation of the webhook
# reference passes (load, address, option, pay), also under load and still
# charging once; an endpoint whose answers break the protocol is named
# violation by violation, with a non-zero exit.

use strict;
use warnings;
use Test::More;
use HTTP::Tiny;
use JSON::PP ();
use OpayTest qw(json_response json_decode proxy_location stripe_location
                us_shipping);
use StripeMock;

my $opay = $ENV{OPAY} or plan skip_all => 'OPAY (the opay tool) not set';

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);
my $pem = $t->write_file('key.pem', $key->{pk}->export_key_pem('private'));
my $other = $t->make_key('key-1');
my $other_pem = $t->write_file('other.pem',
                               $other->{pk}->export_key_pem('private'));

$t->invoice_backend(sub {
    my ($id, $inv) = @_;
    $inv->{requestShipping} = $id !~ /^NOSHIP/ ? JSON::PP::true
                                               : JSON::PP::false;
});
$t->backend('shipping', sub {
    my ($req) = @_;
    my $body = json_decode($req->{body});
    return json_response(200, { shippingOptions => [],
                                error => 'We do not ship there.' })
        if $body->{shippingAddress}{country} ne 'US';
    json_response(200, { shippingOptions => [ us_shipping() ] });
});
my $stripe = StripeMock->new($t->dir . '/stripe');
$t->backend('stripe', $stripe->handler);

# A broken endpoint: the module's own answers, tampered with on the way
# back as a faulty merchant application might.
my $http_port = $t->port('http');
$t->backend('broken', sub {
    my ($req) = @_;
    my ($kind, $path) = $req->{path} =~ m{^/(\w+)(/.*)$};
    my $res = HTTP::Tiny->new->request('POST',
        "http://127.0.0.1:$http_port$path", {
            headers => { 'Content-Type' => 'application/json',
                         Authorization => $req->{headers}{authorization} },
            content => $req->{body} });
    my $answer = json_decode($res->{content});
    my $event = $answer->{methodData}
        ? $answer->{methodData}[0]{data}{event} : 'complete';
    if ($kind eq 'total' && $event eq 'loadentity') {
        $answer->{details}{total}{amount}{value} = '12.00';
    } elsif ($kind eq 'option' && $event eq 'shippingoptionchange') {
        delete $_->{selected} for @{ $answer->{details}{shippingOptions} };
    } elsif ($kind eq 'request' && $event eq 'complete') {
        $answer->{requestId} = 'someone-else';
    }
    return json_response($res->{status}, $answer);
});

$t->write_conf(<<'EOF'
    opay_merchant_id   merchant-0001;
    opay_jwks_file     %%DIR%%/jwks.json;
    opay_invoice_uri   /_invoices/$opay_ctx_invoiceId;
    opay_shipping_uri  /_shipping;
    opay_processor     stripe /_stripe/;
    opay_journal       %%DIR%%/journal.log;
    opay_mode          test;
    opay_request_payer name email;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location = /opay/payment-request  { opay_payment_request; }
        location = /opay/payment-complete { opay_payment_complete; }

EOF
    . proxy_location('/_invoices/', 'invoice', '/invoices/')
    . proxy_location('= /_shipping', 'shipping', '/rates')
    . stripe_location('/_stripe/', 'sk_test_opaytests')
    . "    }\n", workers => 2);
$t->run;

my $base = "http://127.0.0.1:$http_port";

# Runs opay simulate; returns (exit code, output).
sub simulate {
    my (%o) = @_;
    my @args = ('--url', $o{url} // $base, '--key', $o{key} // $pem,
                '--kid', 'key-1', '--merchant-id', 'merchant-0001',
                '--invoice', $o{invoice}, @{ $o{args} || [] });
    my $cmd = join ' ', map { "'$_'" } $opay, 'simulate', @args;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

# The whole conversation.
my ($rc, $out) = simulate(invoice => 'INV-1', args => ['--card', 'tok_visa']);
is($rc, 0, 'simulate: whole conversation passes (exit 0)') or diag($out);
like($out, qr{^1\. loadentity -> POST \Q$base\E/opay/payment-request\n   <- 200 application/json}m,
     'step 1: loadentity answered 200');
like($out, qr/invoice INV-1, total 10\.00 USD, shipping asked, TEST mode/,
     'step 1: the invoice, its total, shipping asked');
like($out, qr/^   shipping options: norush 0\.00, priority 3\.00\n   no option selected, total 10\.00 USD/m,
     'step 2: the two options for the address, nothing selected yet');
like($out, qr/^   priority selected, total 13\.00 USD\n   items: Large Widget 7\.00, Small Widget 3\.00, Shipping 3\.00/m,
     'step 3: priority chosen, total 13.00 with a Shipping line');
like($out, qr{^4\. paymentcomplete -> POST \Q$base\E/opay/payment-complete\n.*\n   success, 13\.00 USD paid, confirmation pi_}m,
     'step 4: paid 13.00');
like($out, qr/^verdict: PASS \(4 steps, 0 violations\)$/m, 'verdict: PASS');
unlike($out, qr/VIOLATION/, 'no violation');
is(scalar @{ $stripe->charges }, 1, 'one charge');
is($stripe->charges->[0]{amount}, 1300, 'of 13.00');

# --json: the same conversation as data, with what was sent.
($rc, $out) = simulate(invoice => 'INV-2',
                       args => ['--card', 'tok_chargeDeclined', '--json']);
my $j = json_decode($out);
is($rc, 0, 'a declined card is an answer, not a violation');
is_deeply([ map { $_->{event} } @{ $j->{steps} } ],
          [qw(loadentity shippingaddresschange shippingoptionchange
              paymentcomplete)], '--json: four steps');
is_deeply([ map { $_->{answer}{details}{total}{amount}{value} }
            @{ $j->{steps} }[0 .. 2] ], ['10.00', '10.00', '13.00'],
          '--json: totals 10.00, 10.00, 13.00');
is($j->{steps}[1]{request}{methodData}[0]{data}{event},
   'shippingaddresschange', 'the address call echoes the load answer');
is($j->{steps}[3]{answer}{error}{innererror}{code}, 'card_declined',
   'declined');
is($j->{steps}[3]{request}{payerName}, 'Patti Fernandez',
   'payer name sent, as the endpoint asked');
ok($j->{passed}, '--json: passed');

# --option, no --card, no shipping asked, no shipping to the address.
($rc, $out) = simulate(invoice => 'INV-3', args => ['--option', 'norush']);
is($rc, 0, '--option norush passes');
like($out, qr/norush selected, total 10\.00 USD/, 'norush: total 10.00');
like($out, qr/no --card: the payer stops before paying/,
     'without --card no payment');
($rc, $out) = simulate(invoice => 'NOSHIP-1', args => ['--card', 'tok_visa']);
is($rc, 0, 'an invoice without shipping: load then pay');
like($out, qr/^2\. paymentcomplete/m, 'paid right after loadentity');
($rc, $out) = simulate(invoice => 'INV-4', args => ['--country', 'FR']);
is($rc, 1, 'no shipping to the address: the payer cannot finish, exit 1');
like($out, qr/error for the payer: We do not ship there\./,
     'the endpoint says why');
unlike($out, qr/VIOLATION/, 'and that is no violation');

# A refusal: a token the endpoint cannot verify.
($rc, $out) = simulate(invoice => 'INV-5', key => $other_pem);
is($rc, 1, 'a refused token: exit 1');
like($out, qr/refused: 401 invalid_token \(bad_signature\)/,
     'the refusal and its reason code');
like($out, qr/^verdict: FAIL \(1 steps, 0 violations\)$/m,
     'refused, in the protocol\'s shape');

# Load: the conversation many times at once, still one charge.
my $before = scalar @{ $stripe->charges };
($rc, $out) = simulate(invoice => 'INV-LOAD',
    args => ['--card', 'tok_visa', '--concurrency', '4', '--count', '40']);
is($rc, 0, 'load: 40 conversations, 4 at a time, pass') or diag($out);
like($out, qr{^40 conversations \(160 requests\), 4 at a time, in [\d.]+ s: \d+ req/s$}m,
     'load: requests per second');
like($out, qr/^latency ms: p50 [\d.]+  p90 [\d.]+  p99 [\d.]+  max [\d.]+$/m,
     'load: latency percentiles');
like($out, qr/^0 conversations failed$/m, 'load: none failed');
is(scalar @{ $stripe->charges }, $before + 1,
   'load: 40 payments of one invoice, one charge');

# Broken endpoints: each violation named, exit 1.
my $broken = 'http://127.0.0.1:' . $t->port('broken');
($rc, $out) = simulate(invoice => 'INV-6', url => "$broken/total");
is($rc, 1, 'a total that is not the items: exit 1');
note($out);
like($out, qr/VIOLATION: details\.total 12\.00 USD is not the sum of displayItems 10\.00 USD/,
     'names the total that is not the sum of the items');
like($out, qr/VIOLATION: data\.entity\.totalPaymentDue 10\.00 USD is not in step with details\.total 12\.00 USD/,
     'names the entity out of step');
like($out, qr/^verdict: FAIL \(1 steps, 2 violations\)$/m,
     'stops at the broken step');

($rc, $out) = simulate(invoice => 'INV-7', url => "$broken/option");
is($rc, 1, 'the chosen option not selected: exit 1');
like($out, qr/VIOLATION: the chosen option "priority" is not the one marked selected/,
     'names the unselected option');

($rc, $out) = simulate(invoice => 'INV-8', url => "$broken/request",
                       args => ['--card', 'tok_visa']);
is($rc, 1, 'requestId not echoed: exit 1');
like($out, qr/VIOLATION: requestId is not the "INV-8" sent/,
     'names the requestId');

$t->stop;
$t->check_error_log;
done_testing;
