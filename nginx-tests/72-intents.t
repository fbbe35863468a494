# PaymentIntents as the arbiter: a decline is never final for the invoice,
# an answer that does not say what happened is read back, and two nginx
# nodes that share nothing but the processor charge one invoice once.
# Against the suite's Stripe-compatible server (StripeMock, 71-stripe-mock.t).

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use OpayTest qw(json_decode complete_body proxy_location stripe_location);
use StripeMock;

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

# Any id is a 10.00 USD invoice; MGA-* is 10000.00 MGA (two decimals in
# ISO 4217, none at Stripe), MGAF-* 10000.50 MGA, KWD-* 5.125 KWD, UGX-*
# 60000 UGX (none in ISO 4217, two at Stripe). Like a merchant's billing
# application, the backend marks an invoice paid once the notify target
# has recorded its success: from then on it says PaymentComplete.
my %units = (MGA => [ 'MGA', '10000.00' ], MGAF => [ 'MGA', '10000.50' ],
             KWD => [ 'KWD', '5.125' ], UGX => [ 'UGX', '60000' ]);
my $paid = $t->dir . '/paid';
mkdir $paid;
$t->invoice_backend(sub {
    my ($id, $inv) = @_;
    $inv->{entity}{paymentStatus} = 'PaymentComplete' if -e "$paid/$id";
    $inv->{requestShipping} = JSON::PP::false;
    if (my ($prefix) = $id =~ /^([A-Z]+)-/) {
        if (my $u = $units{$prefix}) {
            $inv->{entity}{totalPaymentDue}{priceCurrency} = $u->[0];
            $inv->{entity}{totalPaymentDue}{price} = $u->[1];
            delete $inv->{displayItems};
        }
    }
});
my $stripe = StripeMock->new($t->dir . '/stripe');
$t->backend('stripe', $stripe->handler);
$t->backend('notify', sub {
    my ($req) = @_;
    my $record = json_decode($req->{body}) || {};
    if (($record->{result} // '') eq 'success'
        && ($record->{invoice} // '') =~ /^[\w-]+$/) {
        open my $fh, '>', "$paid/$record->{invoice}" or die $!;
        close $fh;
    }
    return [ 204, {}, '' ];
});
sub paid { -e "$paid/$_[0]" }

my $conf = <<'EOF'
    opay_merchant_id   merchant-0001;
    opay_jwks_file     %%DIR%%/jwks.json;
    opay_invoice_uri   /_invoices/$opay_ctx_invoiceId;
    opay_processor     stripe /_stripe/;
    opay_journal       %%DIR%%/journal.log;
    opay_notify_uri    /_notify;
    opay_mode          test;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location = /complete {
            opay_payment_complete;
        }

EOF
    . proxy_location('/_invoices/', 'invoice', '/invoices/')
    . stripe_location('/_stripe/', 'sk_test_opaytests', 'proxy_read_timeout 2s')
    . proxy_location('= /_notify', 'notify', '/outcomes')
    . "    }\n";
$t->write_conf($conf, workers => 2);
$t->run;

# The second node: its own zone, its own journal; the same backends.
my $t2 = $t->second_node($conf, [qw(invoice stripe notify)], workers => 2);

my $token = $t->token($key, claims => { aud => 'merchant-0001' });

sub pay {
    my ($node, $rid, $source, $currency, $value) = @_;
    return $node->request('/complete', token => $token,
        body => complete_body($rid, source => $source, currency => $currency,
                              value => $value));
}

sub charges { scalar @{ $stripe->charges } }
sub confirms { scalar grep { $_->{path} =~ m{/confirm$} } @{ $stripe->requests } }

# 1. A decline is not final: the payer's next card is charged, once.
my $r = pay($t, 'I-1', 'tok_chargeDeclined');
is($r->{json}{result}, 'fail', 'decline: fail');
is($r->{json}{error}{innererror}{code}, 'card_declined', 'decline: card_declined');
my $before = charges();
$r = pay($t, 'I-1', 'tok_visa');
is($r->{json}{result}, 'success', 'another card: success');
my $pi = $r->{json}{entity}{confirmationNumber} // '';
like($pi, qr/^pi_\w+$/, 'confirmation: the PaymentIntent');
is(charges() - $before, 1, 'another card: one charge');
is(scalar @{ $stripe->intent_charges($pi) }, 1, 'of that PaymentIntent');
is(scalar @{ $stripe->invoice_intents('I-1') }, 1, 'one PaymentIntent for the invoice');
my $confirms = confirms();
$r = pay($t, 'I-1', 'tok_mastercard');
is($r->{json}{entity}{confirmationNumber}, $pi, 'a third card: the same success');
is(confirms(), $confirms, 'a third card: Stripe not asked (the zone replays)');
ok(paid('I-1'), 'the backend now says the invoice is paid');
$r = pay($t2, 'I-1', 'tok_amex');
is($r->{json}{entity}{confirmationNumber}, $pi,
   'the other node: the same success, from the PaymentIntent');
is(charges() - $before, 1, 'nothing charged again');

my @journal = map { json_decode($_) } split /\n/, $t->read_file('journal.log');
my @i1 = grep { ($_->{requestId} // '') eq 'I-1' } @journal;
is_deeply([ map { $_->{paymentIntent} } grep { $_->{type} eq 'attempt' } @i1 ],
          [ $pi, $pi ], 'journal: each attempt names the PaymentIntent');
is_deeply([ map { "$_->{kind} $_->{paymentIntent}" }
            grep { $_->{type} eq 'outcome' } @i1 ],
          [ "declined $pi", "succeeded $pi" ],
          'journal: each outcome, its kind and PaymentIntent');
my @records = map { json_decode($_->{body}) }
    grep { json_decode($_->{body})->{requestId} eq 'I-1' }
    @{ $t->backend_requests('notify') };
is_deeply([ map { "$_->{result} $_->{kind} $_->{paymentIntent}" } @records ],
          [ "fail declined $pi", "success succeeded $pi",
            "success already_paid $pi" ],
          'notify records (both nodes) carry the kind and the PaymentIntent');
is(confirms(), $confirms, 'the other node confirmed nothing');

# A paid invoice whose PaymentIntent did not succeed (paid some other way)
# is refused, and nothing is confirmed.
open my $fh, '>', "$paid/P-1" or die;
close $fh;
$r = pay($t, 'P-1', 'tok_visa');
is($r->{json}{result}, 'fail', 'paid elsewhere: fail');
is($r->{json}{error}{innererror}{message}, 'This invoice is not due for payment.',
   'paid elsewhere: not due');
is(confirms(), $confirms, 'paid elsewhere: nothing confirmed');

# 2. Answers that do not say what happened are read back.
# 2a. A 500 before charging (stored for the confirm's key): the read-back
# shows this payer's pair still set, so it is confirmed again under a
# fresh key: paid once, at once.
$stripe->mode('confirm-500=1');
$before = charges();
$r = pay($t, 'U-1', 'tok_visa');
$stripe->mode('normal');
is($r->{json}{result}, 'success', '500 before charging: confirmed again, success');
is(charges() - $before, 1, '500 before charging: exactly one charge');

# 2b. Charged, then 500; 2c. charged, answered too late; 2d. charged,
# answered with something that is not JSON; 2e. charged, answered with more
# than the module reads (1 MB): each a success at once.
for my $case ([ 'U-2', 'charge-then-500' ], [ 'U-3', 'charge-then-hang' ],
              [ 'U-4', 'charge-then-garbage' ], [ 'U-7', 'charge-then-huge' ]) {
    my ($rid, $mode) = @$case;
    $stripe->mode($mode);
    $before = charges();
    $r = pay($t, $rid, 'tok_visa');
    $stripe->mode('normal');
    is($r->{json}{result}, 'success', "$mode: the first answer is the success");
    is(charges() - $before, 1, "$mode: one charge");
    is($r->{json}{entity}{confirmationNumber},
       $stripe->charges->[-1]{payment_intent}, "$mode: its PaymentIntent");
    $r = pay($t2, $rid, 'tok_mastercard');
    is($r->{json}{result}, 'success', "$mode: the other node agrees");
    is(charges() - $before, 1, "$mode: still one charge");
}
like($t->error_log, qr/requestId "U-3" charged: confirm: processor timed out; read back: payment intent pi_\w+ succeeded/,
     'the log tells the read-back');

# 2f. Charged, 500, and the read-back fails too: 409, never a guess.
$stripe->mode('charge-then-500 readback-500');
$before = charges();
$r = pay($t, 'U-5', 'tok_visa');
$stripe->mode('normal');
is($r->{status}, 409, 'unreadable: 409');
is($r->{json}{error}{code}, 'payment_in_progress', 'payment_in_progress');
is($r->{json}{requestId}, 'U-5', 'with the requestId');
is(charges() - $before, 1, 'it had charged');
$r = pay($t, 'U-5', 'tok_visa');
is($r->{json}{result}, 'success', 'the retry learns the success');
is(charges() - $before, 1, 'and charges nothing more');
my ($u5) = grep { ($_->{requestId} // '') eq 'U-5' && $_->{type} eq 'outcome' }
    map { json_decode($_) } split /\n/, $t->read_file('journal.log');
is($u5->{kind}, 'unknown', 'journal: the unknown outcome');
is($u5->{record}{result}, 'unknown', 'notify record: result unknown, not fail');

# 2g. No answer at all (a timeout): the read-back shows this payer's pair
# set and not charged; confirming it again is safe (the PaymentIntent takes
# one charge, a running confirm holds its lock), so it is: one charge.
$stripe->mode('confirm-hang=1');
$before = charges();
$r = pay($t, 'U-8', 'tok_visa');
$stripe->mode('normal');
ok($r->{json}{result} eq 'success' || $r->{status} == 409,
   'no answer from Stripe: confirmed again, or 409 (never a failure)');
$r = pay($t, 'U-8', 'tok_visa');
is($r->{json}{result}, 'success', 'the retry: success');
is(charges() - $before, 1, 'one charge');

# 2h. The create fails fresh twice (in front of Stripe's idempotency
# layer): nothing can have been charged, the processor's failure.
$stripe->mode('create-fresh-500=2');
$confirms = confirms();
$r = pay($t, 'U-6', 'tok_visa');
$stripe->mode('normal');
is($r->{status}, 502, 'create 500: 502, the processor failed');
is($r->{json}{error}{code}, 'backend_error', 'create 500: backend_error');
is($r->{json}{requestId}, 'U-6', 'create 500: with the requestId');
is(confirms(), $confirms, 'create 500: nothing confirmed');
$r = pay($t, 'U-6', 'tok_visa');
is($r->{json}{result}, 'success', 'create 500, then: success');

# 3. 3-D Secure, which Outlook cannot show: a decline that leaves the
# invoice payable.
$before = charges();
$r = pay($t, 'A-1', 'tok_threeDSecure2Required');
is($r->{json}{result}, 'fail', '3-D Secure: fail');
is($r->{json}{error}{innererror}{code}, 'card_declined',
   '3-D Secure: card_declined');
like($r->{json}{error}{innererror}{message}, qr/another card/,
     '3-D Secure: a message the payer understands');
my ($a1) = @{ $stripe->invoice_intents('A-1') };
is($a1->{status}, 'requires_payment_method', 'nothing left half-done');
$r = pay($t, 'A-1', 'tok_visa');
is($r->{json}{result}, 'success', 'then another card: success');
is(charges() - $before, 1, 'one charge');

# 4. Two nodes, 16 deliveries of one invoice at once, two cards: one charge.
$stripe->mode('slow');
$before = charges();
my @replies = $t->at_once(map {
    my $i = $_;
    sub { pay($i % 2 ? $t : $t2, 'RACE-1',
              $i % 4 < 2 ? 'tok_visa' : 'tok_mastercard') }
} 1 .. 16);
$stripe->mode('normal');
is(charges() - $before, 1, 'two nodes, 16 deliveries: exactly one charge');
my $race = $stripe->charges->[-1]{payment_intent};
my @won = grep { $_->{status} == 200 && $_->{json}{result} eq 'success' }
    @replies;
my @retry = grep { $_->{status} == 409
                   && $_->{json}{error}{code} eq 'payment_in_progress' }
    @replies;
is(@won + @retry, 16, 'every answer: the success or a retryable 409')
    or diag(explain(\@replies));
ok(!grep({ ($_->{json}{entity}{confirmationNumber} // '') ne $race } @won),
   'every success names the one charge');
note(scalar(@won) . ' successes, ' . scalar(@retry) . ' in progress');
for my $node ($t, $t2) {
    $r = pay($node, 'RACE-1', 'tok_amex');
    is($r->{json}{entity}{confirmationNumber}, $race,
       'afterwards each node answers the same success');
}
is(charges() - $before, 1, 'still one charge');

# 5. Declined on one node, paid on the other; the late retry of the
# decline on the first is the success.
$r = pay($t, 'X-1', 'tok_chargeDeclined');
is($r->{json}{error}{innererror}{code}, 'card_declined', 'node 1: declined');
$before = charges();
$r = pay($t2, 'X-1', 'tok_visa');
is($r->{json}{result}, 'success', 'node 2: paid');
my $x1 = $r->{json}{entity}{confirmationNumber};
$r = pay($t, 'X-1', 'tok_chargeDeclined');
is($r->{json}{result}, 'success', 'node 1, the late retry: success');
is($r->{json}{entity}{confirmationNumber}, $x1, 'the same confirmation');
is(charges() - $before, 1, 'one charge');

# 6. Stripe's units, not ISO 4217's.
$before = charges();
$r = pay($t, 'MGA-1', 'tok_visa', 'MGA', '10000.00');
is($r->{json}{result}, 'success', '10000.00 MGA: success');
is($stripe->charges->[-1]{amount}, 10000, '10000.00 MGA is amount=10000');
is($stripe->charges->[-1]{currency}, 'mga', 'currency mga');
$r = pay($t, 'UGX-1', 'tok_visa', 'UGX', '60000');
is($r->{json}{result}, 'success', '60000 UGX: success');
is($stripe->charges->[-1]{amount}, 6000000, '60000 UGX is amount=6000000');
$before = charges();
my $creates = grep { $_->{path} eq '/v1/payment_intents' } @{ $stripe->requests };
for my $case ([ 'MGAF-1', 'MGA', '10000.50' ], [ 'KWD-1', 'KWD', '5.125' ]) {
    my ($rid, $cur, $value) = @$case;
    $r = pay($t, $rid, 'tok_visa', $cur, $value);
    is($r->{status}, 200, "$value $cur: 200");
    is($r->{json}{result}, 'fail', "$value $cur: refused");
    like($r->{json}{error}{innererror}{message}, qr/cannot be charged in $cur/,
         "$value $cur: says why");
}
is(scalar(grep { $_->{path} eq '/v1/payment_intents' } @{ $stripe->requests }),
   $creates, 'amounts Stripe cannot take: nothing asked of Stripe');
is(charges(), $before, 'and nothing charged');

$t2->stop;
$t2->check_error_log;
$t->stop;
$t->check_error_log;
done_testing;
