# PaymentComplete: charging through a Stripe-compatible server exactly
# once, refusing without charging, mapping every decline, and never losing
# an outcome (journal, notify, replay, a worker killed mid-charge).

use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use MIME::Base64 ();
use Time::HiRes qw(sleep time);
use OpayTest qw(loadentity_body json_response json_decode
                json_encode b64u PAY_METHOD proxy_location
                stripe_location);
use StripeMock;

my $root = abs_path(dirname(__FILE__) . '/..');
my $opay = $ENV{OPAY} or plan skip_all => 'OPAY (the opay tool) not set';

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

# Any invoice id is a 10.00 USD invoice; prefixes make special ones.
$t->invoice_backend(sub {
    my ($id, $inv) = @_;
    $inv->{entity}{paymentStatus} = 'PaymentComplete' if $id =~ /^PAID/;
    # Only S-* and R-7 are shipped (and so need an address and an option).
    $inv->{requestShipping} = $id =~ /^(S-|R-7$)/ ? JSON::PP::true
                                                  : JSON::PP::false;
    $inv->{entity}{paymentStatus} = 'http://schema.org/PaymentPastDue'
        if $id =~ /^LATE/;
});
$t->backend('shipping', sub {
    json_response(200, { shippingOptions => [
        { id => 'norush', label => 'Regular',
          amount => { currency => 'USD', value => '0.00' } },
        { id => 'priority', label => 'Priority',
          amount => { currency => 'USD', value => '3.00' } } ] });
});
my $stripe = StripeMock->new($t->dir . '/stripe');
$t->backend('stripe', $stripe->handler);
$t->backend('notify', sub {
    my ($req) = @_;
    return [ 204, {}, '' ];
});

my $conf = <<'EOF'
    log_format pay '$opay_request_id $opay_result $opay_error '
                   '$opay_charge $opay_charge_code';

    opay_merchant_id   merchant-0001;
    opay_jwks_file     %%DIR%%/jwks.json;
    opay_invoice_uri   /_invoices/$opay_ctx_invoiceId;
    opay_shipping_uri  /_shipping;
    opay_processor     stripe /_stripe/;
    opay_journal       %%DIR%%/journal.log;
    opay_notify_uri    /_notify;
    opay_mode          test;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        access_log %%DIR%%/pay.log pay;

        location = /complete {
            opay_payment_complete;
            opay_success_message "Thank you for paying your bill!";
        }

        location = /live {
            opay_payment_complete;
            opay_mode live;
        }

        location = /quiet-notify {
            opay_payment_complete;
            opay_notify_uri /_dead;
        }

EOF
    # The processor: the module adds Idempotency-Key itself; the location
    # holds the secret key, as in production.
    . proxy_location('/_invoices/', 'invoice', '/invoices/')
    . proxy_location('= /_shipping', 'shipping', '/rates')
    . stripe_location('/_stripe/', 'sk_test_opaytests', 'proxy_read_timeout 2s')
    . proxy_location('= /_notify', 'notify', '/outcomes')
    . proxy_location('= /_dead', 'closed', '/outcomes')
    . "    }\n";
$t->write_conf($conf, workers => 2);
$t->run;

my $token = $t->token($key, claims => { aud => 'merchant-0001' });

sub payment_token {
    my ($source, %header) = @_;
    my $h = json_encode({ Format => 'Stripe', TestMode => JSON::PP::true,
                          %header });
    return join '.', b64u($h), b64u($source), b64u('not-verifiable');
}

sub complete_body {
    my ($rid, $source, %opt) = @_;
    return {
        requestId => $rid,
        methodName => PAY_METHOD,
        details => {
            productContext => { invoiceId => $rid },
            paymentToken => $opt{token} // payment_token($source),
            amount => { currency => $opt{currency} // 'USD',
                        value => $opt{value} // '10.00',
                        currencySystem => undef },
        },
        payerName => 'Patti Fernandez', payerEmail => 'patti@contoso.com',
        payerPhone => '+14255551212',
        %{ $opt{extra} || {} },
    };
}

sub pay {
    my ($rid, $source, %opt) = @_;
    return $t->request($opt{path} // '/complete', token => $token,
                       body => complete_body($rid, $source, %opt));
}

sub stripe_calls {
    return scalar @{ $t->backend_requests('stripe') };
}

# 1. Successful charges.
for my $case ([ 'V-1', 'tok_visa' ], [ 'M-1', 'tok_mastercard' ],
              [ 'A-1', 'tok_amex' ]) {
    my ($rid, $tok) = @$case;
    my $r = pay($rid, $tok);
    is($r->{status}, 200, "$tok: 200");
    my $j = $r->{json};
    is($j->{requestId}, $rid, "$tok: requestId echoed");
    is($j->{result}, 'success', "$tok: success");
    is($j->{details}, 'Thank you for paying your bill!', "$tok: message");
    is($j->{entity}{paymentStatus}, 'PaymentComplete', "$tok: paid");
    is($j->{entity}{totalPaymentDue}{price}, 0, "$tok: nothing due");
    my ($charge) = grep { $_->{source} eq $tok } @{ $stripe->charges };
    ok($charge, "$tok: Stripe charged it");
    is($j->{entity}{confirmationNumber}, $charge->{payment_intent},
       "$tok: confirmation is the PaymentIntent's id");
    is($charge->{amount}, 1000, "$tok: 1000 minor units");
    is($charge->{currency}, 'usd', "$tok: lower-case currency");
}
my $sent = $t->backend_requests('stripe')->[0];
is($sent->{path}, '/v1/payment_intents', 'a PaymentIntent is created first');
like($sent->{headers}{'idempotency-key'}, qr/^opay-[0-9a-f]{64}$/,
     'Idempotency-Key set by the module');
like($sent->{body}, qr/(^|&)amount=99999999&currency=usd&payment_method_types%5B%5D=card(&|$)/,
     'the placeholder amount, currency, payment_method_types[]=card');
unlike($sent->{body}, qr/tok_/, 'no payment token in the create');
my ($method, $update, $confirm) = @{ $t->backend_requests('stripe') }[1 .. 3];
is($method->{path}, '/v1/payment_methods', 'then the token\'s PaymentMethod');
like($method->{body}, qr/^type=card&card%5Btoken%5D=tok_visa$/,
     'type=card, card[token]');
like($update->{path}, qr{^/v1/payment_intents/pi_\w+$}, 'then the update');
like($update->{body}, qr/^amount=1000&payment_method=pm_\w+&/,
     'amount and payment method in one update');
like($confirm->{path}, qr{^/v1/payment_intents/pi_\w+/confirm$},
     'then confirmed');
is($confirm->{body}, 'error_on_requires_action=true',
   'confirmed as set: no payment method on the confirm');
like($confirm->{headers}{'idempotency-key'}, qr/^opay-[0-9a-f]{64}$/,
     'confirm: Idempotency-Key set by the module');
isnt($confirm->{headers}{'idempotency-key'},
     $sent->{headers}{'idempotency-key'}, 'confirm: a key of its own');
is($sent->{headers}{authorization}, 'Bearer sk_test_opaytests',
   'secret key from the location, not the payer\'s token');
like($sent->{body}, qr/(^|&)metadata%5Binvoice%5D=V-1(&|$)/,
     'metadata[invoice]');
like($sent->{body}, qr/(^|&)description=Invoice%20V-1(&|$)/, 'description');

# 2. Every decline token, mapped to Outlook's inner codes.
my $n = 0;
for my $d (@{ StripeMock::tokens()->{decline_tokens} }) {
    next if !defined $d->{token};
    my $rid = 'D-' . ++$n;
    my $r = pay($rid, $d->{token});
    is($r->{status}, 200, "$d->{token}: 200");
    is($r->{json}{result}, 'fail', "$d->{token}: fail");
    is($r->{json}{error}{code}, 'card_error', "$d->{token}: card_error");
    is($r->{json}{error}{innererror}{code}, $d->{code},
       "$d->{token}: innererror $d->{code}");
    is($r->{json}{error}{innererror}{message}, $d->{message},
       "$d->{token}: Stripe's message for the payer");
}
is(scalar @{ $stripe->charges }, 3, 'declines moved no money');

# 3. Refused without charging.
my $calls = stripe_calls();
my @refusals = (
    [ 'amount mismatch', pay('R-1', 'tok_visa', value => '9.99') ],
    [ 'currency mismatch', pay('R-2', 'tok_visa', currency => 'EUR') ],
    [ 'paid invoice', pay('PAID-1', 'tok_visa') ],
    [ 'test token in live mode', pay('R-3', 'tok_visa', path => '/live') ],
    [ 'live token in test mode', pay('R-4', 'tok_visa',
        token => payment_token('tok_visa', TestMode => JSON::PP::false)) ],
    [ 'wrong Format', pay('R-5', 'tok_visa',
        token => payment_token('tok_visa', Format => 'PayPal')) ],
    [ 'token Amount differs', pay('R-6', 'tok_visa',
        token => payment_token('tok_visa',
                               Amount => { currency => 'USD',
                                           value => '1.00' })) ],
    [ 'unknown shipping option', pay('R-7', 'tok_visa', extra => {
        shippingAddress => { country => 'US' }, shippingOption => 'x' }) ],
);
for my $case (@refusals) {
    my ($name, $r) = @$case;
    is($r->{status}, 200, "$name: 200");
    is($r->{json}{result}, 'fail', "$name: result fail");
    is($r->{json}{error}{code}, 'card_error', "$name: error object");
}
ok(!grep({ $_->{path} =~ m{/confirm$} }
         @{ $t->backend_requests('stripe') }[$calls .. stripe_calls() - 1]),
   'refusals confirmed nothing');
is(stripe_calls() - $calls, 2,
   'only the paid invoice\'s PaymentIntent was looked up (create, read)');
like($t->error_log, qr/opay: details\.amount 9\.99 USD differs from the amount due 10\.00 USD/,
     'amount refusal logged');
like($t->error_log, qr/test payment token refused in live mode/,
     'mode refusal logged');

my $r = pay('R-8', 'tok_visa', token => 'abc');
is($r->{status}, 400, 'malformed payment token: 400');
$r = $t->request('/complete', token => $token, body => { requestId => 'x' });
is($r->{status}, 400, 'payload without details: 400');

# Shipping priced into the amount.
$r = pay('S-1', 'tok_visa', value => '13.00', extra => {
    shippingAddress => { country => 'US' }, shippingOption => 'priority' });
is($r->{json}{result}, 'success', 'invoice + priority shipping charged');
is((grep { $_->{source} eq 'tok_visa' } @{ $stripe->charges })[-1]{amount},
   1300, '13.00 charged');
$r = pay('LATE-1', 'tok_visa');
is($r->{json}{result}, 'success', 'past-due invoice can be paid');

# 4. Processor failures: Stripe answers each confirm 500 (three, each
# under a fresh key) and charges nothing: processing_error, and not final.
$stripe->mode('500');
$r = pay('E-1', 'tok_visa');
is($r->{json}{result}, 'fail', 'processor 500: fail');
is($r->{json}{error}{innererror}{code}, 'processing_error',
   'processor 500: processing_error');
$stripe->mode('hang');
$r = pay('E-2', 'tok_visa');
is($r->{status}, 409, 'processor timeout: 409, it may still charge');
is($r->{json}{error}{code}, 'payment_in_progress',
   'processor timeout: payment_in_progress');
like($t->error_log, qr/\[error\].*requestId "E-2" still not confirmed: confirm: processor timed out.*, the confirmation may still run/,
     'timeout logged as unknown');
$stripe->mode('normal');

# 5. The same requestId 50 times at once: exactly one charge.
$stripe->mode('slow');
my $before = scalar @{ $stripe->charges };
my @replies = $t->at_once(map { sub { pay('C-1', 'tok_visa') } } 1 .. 50);
$stripe->mode('normal');
is(scalar(@{ $stripe->charges }) - $before, 1, '50 concurrent calls: one charge');
my @ok = grep { $_->{status} == 200 } @replies;
my @busy = grep { $_->{status} == 409 } @replies;
is(@ok + @busy, 50, 'every reply is the outcome or 409 in flight');
ok(@ok >= 1, 'at least one reply carries the outcome');
note(scalar(@ok) . ' outcome replies, ' . scalar(@busy) . ' in flight');
my %conf = map { ($_->{json}{entity}{confirmationNumber} // '') => 1 } @ok;
is(scalar keys %conf, 1, 'all outcome replies agree');
ok(!grep({ $_->{json}{error}{code} ne 'payment_in_progress' } @busy),
   '409s say payment_in_progress');
$r = pay('C-1', 'tok_visa');
is($r->{json}{entity}{confirmationNumber}, (keys %conf)[0],
   'retry after success: the same reply');
is(scalar(@{ $stripe->charges }) - $before, 1, 'retry: no new charge');

# Survives a reload.
$t->reload;
$calls = stripe_calls();
$r = pay('V-1', 'tok_visa');
is($r->{json}{result}, 'success', 'after reload: stored outcome replayed');
is(stripe_calls(), $calls, 'after reload: processor not called');

# 6. Notify: records, and a dead notify backend.
my $outcomes = $t->backend_requests('notify');
my ($v1) = grep { json_decode($_->{body})->{requestId} eq 'V-1' } @$outcomes;
is_deeply([ sort keys %{ json_decode($v1->{body}) } ],
          [ sort qw(requestId invoice productContext mode result kind
                    paymentIntent amount paymentMethod confirmationNumber
                    payer) ],
          'notify record has the contract\'s fields');
is(json_decode($v1->{body})->{payer}{sub}, 'payer@example.com',
   'payer sub from the bearer token');

$r = pay('N-1', 'tok_visa', path => '/quiet-notify');
is($r->{json}{result}, 'success', 'notify down: payer still gets success');
like($t->error_log, qr/\[error\].*requestId "N-1" charged.*notify backend answered 502/,
     'notify failure logged');
my @journal = map { json_decode($_) } split /\n/, $t->read_file('journal.log');
my ($n1) = grep { $_->{type} eq 'outcome' && $_->{requestId} eq 'N-1' } @journal;
ok($n1, 'journal has the N-1 outcome');
ok(grep({ $_->{type} eq 'notify' && $_->{entry} eq $n1->{entry}
          && !$_->{ok} } @journal), 'journal marks the notify as failed');
ok(grep({ $_->{type} eq 'attempt' && $_->{requestId} eq 'N-1' } @journal),
   'journal has the attempt before the outcome');

my $port = $t->port('notify');
my $out = `$opay journal replay --journal ${\ $t->dir}/journal.log --url http://127.0.0.1:$port/outcomes`;
is($? >> 8, 0, 'opay journal replay: exit 0');
like($out, qr/\Q$n1->{entry}\E: delivered/, 'replay delivered N-1');
like($out, qr/^1 delivered, 0 failed$/m, 'only the unacknowledged one');
my ($replayed) = grep { $_->{requestId} eq 'N-1' }
    map { json_decode($_->{body}) } @{ $t->backend_requests('notify') };
ok($replayed, 'notify backend got N-1');
like($replayed->{paymentIntent} // '', qr/^pi_\w+$/,
     'the replayed record names the PaymentIntent');
is($replayed->{kind}, 'succeeded', 'and the outcome\'s kind');
$out = `$opay journal replay --journal ${\ $t->dir}/journal.log --url http://127.0.0.1:$port/outcomes`;
like($out, qr/^0 delivered, 0 failed$/m, 'a second replay sends nothing');

my $journal = $t->read_file('journal.log');
unlike($journal, qr/tok_visa|Bearer/, 'no payment or bearer token in the journal');
unlike($t->error_log, qr/tok_visa|\Q$token\E/, 'nor in the error log');

# 7. A worker killed mid-charge: the journal says so, a retry does not
# charge twice.
$stripe->mode('charge-then-hang');
$before = scalar @{ $stripe->charges };
my $kid = $t->in_background(sub { pay('K-1', 'tok_visa') });
my $deadline = time + 10;
sleep 0.1 while @{ $stripe->charges } == $before && time < $deadline;
is(scalar(@{ $stripe->charges }) - $before, 1, 'K-1 charged at the processor');
kill 'KILL', $t->workers;
$t->answers($kid);
$stripe->mode('normal');
@journal = map { json_decode($_) } split /\n/, $t->read_file('journal.log');
ok(grep({ $_->{type} eq 'attempt' && $_->{requestId} eq 'K-1' } @journal),
   'journal: K-1 attempt recorded');
ok(!grep({ $_->{type} eq 'outcome' && $_->{requestId} eq 'K-1' } @journal),
   'journal: no K-1 outcome (the worker died)');
$t->wait_port($t->port('http'));
for (1 .. 50) {
    $r = pay('K-1', 'tok_visa');
    last if $r->{status} == 200;
    sleep 0.1;
}
is($r->{json}{result}, 'success', 'retry after the crash: success');
my ($k1) = grep { $_->{source} eq 'tok_visa' } @{ $stripe->charges }[$before .. $#{ $stripe->charges }];
is($r->{json}{entity}{confirmationNumber}, $k1->{payment_intent},
   'the charge made before the crash');
is(scalar(@{ $stripe->charges }) - $before, 1, 'no second charge');
like($t->error_log, qr/taking over a payment whose worker \d+ died/,
     'the dead worker\'s claim was taken over');

# 8. A second nginx sharing the processor: one charge for one payment.
my $t2 = $t->second_node($conf,
                         [qw(invoice shipping stripe notify closed)]);
$before = scalar @{ $stripe->charges };
my $r1 = pay('TWO-1', 'tok_visa');
my $r2 = $t2->request('/complete', token => $token,
                      body => complete_body('TWO-1', 'tok_visa'));
is($r1->{json}{result}, 'success', 'first node: success');
is($r2->{json}{result}, 'success', 'second node: success');
is($r2->{json}{entity}{confirmationNumber},
   $r1->{json}{entity}{confirmationNumber}, 'both report the same charge');
is(scalar(@{ $stripe->charges }) - $before, 1, 'two nodes: one charge');
$t2->stop;
$t2->check_error_log;

# 9. A journal that cannot be written: nothing is charged.
my $jpath = $t->dir . '/journal.log';
rename $jpath, "$jpath.kept" or die $!;
mkdir $jpath or die $!;
$before = scalar @{ $stripe->charges };
$calls = stripe_calls();
$r = pay('J-1', 'tok_visa');
is($r->{status}, 503, 'journal unwritable: 503');
is($r->{json}{error}{code}, 'journal_unavailable', 'journal_unavailable');
is(scalar @{ $stripe->charges }, $before, 'journal unwritable: nothing charged');
ok(!grep({ $_->{path} =~ m{/confirm$} }
         @{ $t->backend_requests('stripe') }[$calls .. stripe_calls() - 1]),
   'journal unwritable: nothing confirmed');
like($t->error_log, qr/\[alert\].*opay: cannot write journal/,
     'journal failure logged at alert');
rmdir $jpath;
rename "$jpath.kept", $jpath or die $!;
$r = pay('J-1', 'tok_visa');
is($r->{json}{result}, 'success', 'journal back: the same payment goes through');

$t->stop;
my @log = split /\n/, $t->read_file('pay.log');
ok(grep({ $_ eq 'V-1 success - succeeded -' } @log),
   '$opay_request_id, $opay_result and $opay_charge');
ok(grep({ $_ eq 'D-1 fail - declined card_declined' } @log)
   && grep({ $_ eq 'D-6 fail - declined expired_card' } @log),
   '$opay_charge and $opay_charge_code of a declined card');
ok(grep({ $_ eq 'R-1 fail payment_refused - -' } @log),
   'refused before any charge: $opay_charge unset');
ok(grep({ $_ eq 'E-2 - payment_in_progress unknown -' } @log),
   'a charge that may have happened: $opay_charge unknown, a 409');
$t->check_error_log(expected =>
    qr/worker process \d+ exited on signal 9|opay: cannot write journal/);
done_testing;
