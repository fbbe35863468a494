# One payment per invoice (issue 18), written as what payers do: two nginx
# nodes that share nothing but the invoice backend and Stripe (StripeMock);
# a shippable invoice of 10.00 USD, norush 0.00 or priority 3.00; payers
# choosing different options on different devices, at once or in turn;
# Stripe storing a 500 for a key, or failing fresh; a merchant with a test
# and a live location; paid invoices looked up at other amounts; Stripe's
# amount limits. Every request the module sends is checked against
# Stripe's published API by StripeMock (a violation fails the test).

use strict;
use warnings;
use Test::More;
use OpayTest qw(json_decode json_encode);
use OnePayment;

# The invoice backend: Z-* are answered with a total of 0 once paid;
# BIG-* are 1,000,000.00. *CUT-* invoices: a replayed answer to their
# create (a stored 5xx, or the stored 200 of a PaymentIntent that exists)
# reaches nginx cut short (the status line and its headers, part of the
# body, then the connection closes), as a network can deliver it.
my ($t, $t2, $stripe) = OnePayment::start(
    invoice => sub {
        my ($id, $inv) = @_;
        $inv->{entity}{totalPaymentDue}{price} = 0
            if $id =~ /^Z-/
               && $inv->{entity}{paymentStatus} eq 'PaymentComplete';
        $inv->{entity}{totalPaymentDue}{price} = '1000000.00'
            if $id =~ /^BIG-/;
    },
    stripe => sub {
        my ($req, $res) = @_;
        if (ref $res && ($res->[0] >= 500 || $res->[0] == 200)
            && ($res->[1]{'Idempotent-Replayed'} // '') eq 'true'
            && ($req->{body} // '') =~ /metadata%5Binvoice%5D=[A-Z-]*CUT-/) {
            $res->[1]{'Content-Length'} = length($res->[2]) + 100;
            $res->[2] = substr $res->[2], 0, 10;
        }
        return $res;
    });

sub creates {
    return [ grep { $_->{method} eq 'POST' && $_->{path} eq '/v1/payment_intents' }
             @{ $stripe->requests } ];
}

# How many Idempotency-Keys the creates after the first BEFORE used.
sub keys_since {
    my ($before) = @_;
    my %keys = map { $_->{idempotency_key} => 1 }
        @{ creates() }[$before .. $#{ creates() }];
    return scalar keys %keys;
}

# pay(@args) under Stripe's fault MODE, then normal again: the answer, and
# the number of creates before it (for keys_since).
sub pay_in_mode {
    my ($mode, @args) = @_;
    $stripe->mode($mode);
    my $before = @{ creates() };
    my $r = pay(@args);
    $stripe->mode('normal');
    return ($r, $before);
}

# 1. Two payers, two amounts, at once, on two nodes, 50 rounds: one charge
# per invoice, of one payer's own pair, and every answer true.
my ($bad, $wins, $busy) = (0, 0, 0);
for my $round (1 .. 50) {
    my $rid = "R-$round";
    my $a = payer('tok_visa', 'norush');
    my $b = payer('tok_mastercard', 'priority');
    my ($ra, $rb) = at_once([ $t, $rid, $a ], [ $t2, $rid, $b ]);
    my $ch = charges_of($rid);
    my @why;
    push @why, scalar(@$ch) . ' charges' if @$ch > 1;
    if (@$ch == 1) {
        my $c = $ch->[0];
        my ($won, $lost) = $c->{amount} == 1000 ? ($ra, $rb) : ($rb, $ra);
        my $card = $c->{amount} == 1000 ? 'tok_visa' : 'tok_mastercard';
        push @why, "charged $c->{amount} on $c->{source}"
            if $c->{source} ne $card || ($c->{amount} != 1000
                                         && $c->{amount} != 1300);
        push @why, 'the charged payer not told success'
            if !success($won) && !retryable($won);
        push @why, 'wrong confirmation'
            if success($won)
               && $won->{json}{entity}{confirmationNumber} ne $c->{payment_intent};
        push @why, 'the other payer not told paid'
            if !already_paid($lost) && !retryable($lost);
        $wins++ if success($won);
    } else {
        push @why, 'a success without a charge'
            if grep { success($_) } $ra, $rb;
    }
    $busy += grep { retryable($_) } $ra, $rb;
    if (@why) {
        $bad++;
        diag("$rid: @why: " . json_encode([ $ra, $rb ]));
    }
}
is($bad, 0, '50 rounds of two payers at once on two nodes: one charge each, '
            . 'its own payer\'s amount and card, every answer true');
cmp_ok($wins, '>=', 40, "the charged payer told success at once ($wins of 50)");
note("$busy answers were a retryable 409");
is(scalar(grep { @{ intents_of("R-$_") } != 1 } 1 .. 50), 0,
   'one PaymentIntent per invoice, whatever the amounts');

# 2. In turn, and the invoice backend never marks the invoice paid.
my $a = payer('tok_visa', 'norush');
my $b = payer('tok_mastercard', 'priority');
my $r = pay($t, 'N-1', $a);
ok(success($r), 'in turn: the first payer (10.00) paid');
my $n1 = $r->{json}{entity}{confirmationNumber};
$r = pay($t2, 'N-1', $b);
is($r->{json}{result}, 'fail', 'the second payer (13.00, other node): fail');
is($r->{json}{error}{innererror}{message}, 'This invoice has already been paid.',
   'the second payer: already paid');
$r = pay($t, 'N-1', $b);
is($r->{json}{error}{innererror}{message}, 'This invoice has already been paid.',
   'the second payer on the first node: the same answer');
$r = pay($t2, 'N-1', $a);
ok(success($r), 'the first payer again, other node: the same success');
is($r->{json}{entity}{confirmationNumber}, $n1, 'the same confirmation');
is(scalar @{ charges_of('N-1') }, 1, 'in turn, never marked paid: one charge');
my @n1 = grep { ($_->{invoice} // '') eq 'N-1' }
    map { json_decode($_->{body}) } @{ $t->backend_requests('notify') };
is($n1[0]{amount}{value}, '10.00', 'notify record: the amount charged');
is($n1[0]{mode}, 'test', 'notify record: the mode');
like($n1[0]{paymentMethod} // '', qr/^pm_\w+$/,
     'notify record: the payment method charged');

# 3. StripeMock lets an update land between another payer's update and
# confirm: payer A's confirm waits while payer B sets their pair and
# confirms; A's confirm charges B's pair. One charge, one payer's own pair,
# and both answers true.
$stripe->mode('pause=confirm');
$a = payer('tok_visa', 'norush');
$b = payer('tok_mastercard', 'priority');
my $pa = $t->in_background(sub { pay($t, 'I-1', $a) });
ok($stripe->wait_paused(1), 'payer A: its confirm waits at Stripe');
my $pb = $t->in_background(sub { pay($t2, 'I-1', $b) });
ok($stripe->wait_paused(2), 'payer B: updated, its confirm waits too');
$stripe->release(1);    # A's confirm, now with B's pair set
sleep 1;
$stripe->mode('normal');
$stripe->release;
my ($ra, $rb) = $t->answers($pa, $pb);
my $ch = charges_of('I-1');
is(scalar @$ch, 1, 'interleaved: one charge');
is("$ch->[0]{amount} $ch->[0]{source}", '1300 tok_mastercard',
   'interleaved: payer B\'s amount on payer B\'s card');
ok(success($rb), 'payer B: success') or diag(json_encode($rb));
is($rb->{json}{entity}{confirmationNumber}, $ch->[0]{payment_intent},
   'payer B: its confirmation');
ok(already_paid($ra), 'payer A: told the invoice is paid, not charged')
    or diag(json_encode($ra));
my ($other) = grep { ($_->{invoice} // '') eq 'I-1' && $_->{kind} eq 'other_payer' }
    map { json_decode($_->{body}) } @{ $t->backend_requests('notify') };
ok($other, 'node 1 notified the charge it found (B may never come back)');
is($other && "$other->{result} $other->{amount}{value} $other->{shippingOption}",
   'success 13.00 priority', 'as B\'s success, at B\'s amount and option');

# 4. A stored 500 on the first create (before, then after the
# PaymentIntent was made): the next payment succeeds; a fresh 500 or a 503
# never moves the generation.
for my $case ([ 'S-1', 'create-500=1' ], [ 'S-2', 'create-then-500=1' ]) {
    my ($rid, $mode) = @$case;
    ($r, my $before) = pay_in_mode($mode, $t, $rid,
                                   payer('tok_visa', 'norush'));
    ok(success($r), "$mode: the payment succeeds") or diag(json_encode($r));
    is(keys_since($before), 2, "$mode: the next generation's key");
    is(scalar @{ charges_of($rid) }, 1, "$mode: one charge");
    $r = pay($t2, $rid, payer('tok_mastercard', 'norush'));
    ok(success($r), "$mode: the other node, later: the same success");
    is(scalar @{ charges_of($rid) }, 1, "$mode: still one charge");
}
# the replayed 500 cut short: its status line and Idempotent-Replayed
# are enough to move on
($r, my $before_cut) = pay_in_mode('create-500=1', $t, 'CUT-1',
                                   payer('tok_visa', 'norush'));
ok(success($r), 'a replayed 500 with its body cut: the payment succeeds')
    or diag(json_encode($r));
is(keys_since($before_cut), 2,
   'a replayed 500 with its body cut: the next generation');
is(scalar @{ charges_of('CUT-1') }, 1, 'a replayed 500 with its body cut: one charge');
# a replayed 200 cut short is no answer: never a reason to move on (its
# PaymentIntent exists and was paid)
$r = pay($t, 'N-CUT-2', payer('tok_visa', 'norush'));
ok(success($r), 'N-CUT-2 paid (its first create is not a replay)');
$before_cut = @{ creates() };
$r = pay($t2, 'N-CUT-2', payer('tok_mastercard', 'priority'));
ok(!success($r), 'a replayed 200 with its body cut: not a success')
    or diag(json_encode($r));
isnt($r->{status}, 200, 'a replayed 200 with its body cut: the processor\'s failure');
is(keys_since($before_cut), 1,
   'a replayed 200 with its body cut: the same key');
is(scalar @{ charges_of('N-CUT-2') }, 1,
   'a replayed 200 with its body cut: still one charge');
for my $case ([ 'F-1', 'create-fresh-500=1' ], [ 'F-2', 'create-503=1' ]) {
    my ($rid, $mode) = @$case;
    ($r, my $before) = pay_in_mode($mode, $t, $rid,
                                   payer('tok_visa', 'norush'));
    ok(success($r), "$mode: the payment succeeds") or diag(json_encode($r));
    is(keys_since($before), 1, "$mode: the same key, no new generation");
}

# 5. Test and live locations of one merchant: neither answers for the
# other.
$stripe->mode('live-keys');
$r = pay($t, 'N-TL', payer('tok_visa', 'norush'));
ok(success($r), 'test location: paid');
my $test_pi = $r->{json}{entity}{confirmationNumber};
$r = pay($t, 'N-TL', payer('tok_visa', 'norush', live => 1));
ok(success($r), 'live location: its own payment');
isnt($r->{json}{entity}{confirmationNumber}, $test_pi,
     'live location: not the test success');
my @tl = @{ charges_of('N-TL') };
is_deeply([ sort map { $_->{livemode} ? 'live' : 'test' } @tl ],
          [ 'live', 'test' ], 'one charge in each mode');
$r = pay($t, 'N-TL', payer('tok_visa', 'norush'));
is($r->{json}{entity}{confirmationNumber}, $test_pi,
   'test location again: its own success');
$stripe->mode('normal');

# 6. A paid invoice, payloads at other amounts and currencies: no
# PaymentIntent is created at those amounts.
$r = pay($t, 'P-1', payer('tok_visa', 'norush'));
ok(success($r), 'P-1 paid');
my $p1 = $r->{json}{entity}{confirmationNumber};
my $before = @{ creates() };
for my $amount ([ 'EUR', '1.00' ], [ 'USD', '2.00' ], [ 'USD', '77.77' ],
                [ 'USD', '12345.67' ]) {
    $r = pay($t2, 'P-1', payer('tok_visa', 'norush'),
             currency => $amount->[0], value => $amount->[1]);
    is($r->{json}{result}, 'fail', "paid, @$amount: fail");
}
my @amounts = map { $_->{params}{amount} } @{ creates() }[$before .. $#{ creates() }];
ok(!grep({ $_ != 99999999 } @amounts),
   'no PaymentIntent created at a payload\'s amount');
is(scalar @{ intents_of('P-1') }, 1, 'the paid invoice still has one PaymentIntent');
# paid, and now answered with a total of 0
$r = pay($t, 'Z-1', payer('tok_visa', 'priority'));
ok(success($r), 'Z-1 paid');
my $z1 = $r->{json}{entity}{confirmationNumber};
for my $node ($t, $t2) {
    $r = pay($node, 'Z-1', payer('tok_amex', 'priority'));
    is($r->{json}{entity}{confirmationNumber}, $z1,
       'a total of 0 now: a retry at the paid amount is the same success');
}
is(scalar @{ charges_of('Z-1') }, 1, 'Z-1: one charge');
# a paid invoice never paid through Stripe: looked up, and the
# PaymentIntent made only for the lookup is canceled
mark_paid('Q-1');
$r = pay($t, 'Q-1', payer('tok_visa', 'norush'));
is($r->{json}{error}{innererror}{message}, 'This invoice is not due for payment.',
   'paid elsewhere: not due');
is_deeply([ map { $_->{status} } @{ intents_of('Q-1') } ], [ 'canceled' ],
          'the lookup\'s PaymentIntent is canceled');

# 7. Amount limits: over eight digits, nothing is sent to Stripe; Stripe's
# amount_too_small and amount_too_large are a final, explained fail.
my $requests = @{ $stripe->requests };
$r = pay($t, 'BIG-1', payer('tok_visa', 'norush'), value => '1000000.00');
is($r->{json}{result}, 'fail', '1,000,000.00 USD: fail');
like($r->{json}{error}{innererror}{message}, qr/more than the largest amount/,
     'over eight digits: says why');
is(scalar @{ $stripe->requests }, $requests, 'over eight digits: nothing sent to Stripe');
$stripe->mode('min=5000');
$r = pay($t, 'M-1', payer('tok_visa', 'norush'));
$stripe->mode('normal');
is($r->{status}, 200, 'amount_too_small: 200');
is($r->{json}{result}, 'fail', 'amount_too_small: fail');
like($r->{json}{error}{innererror}{message}, qr/less than the smallest amount/,
     'amount_too_small: says why, not "try again later"');
is(scalar @{ charges_of('M-1') }, 0, 'amount_too_small: nothing charged');
# over the merchant's maximum (the create's placeholder is left alone)
$stripe->mode('max=update:500');
$r = pay($t, 'M-2', payer('tok_visa', 'norush'));
$stripe->mode('normal');
is($r->{json}{result}, 'fail', 'amount_too_large: fail');
like($r->{json}{error}{innererror}{message}, qr/more than the largest amount/,
     'amount_too_large: says why');
is(scalar @{ charges_of('M-2') }, 0, 'amount_too_large: nothing charged');

$t2->stop;
$t2->check_error_log;
$t->stop;
$t->check_error_log;
done_testing;
