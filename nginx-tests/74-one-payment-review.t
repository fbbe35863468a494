# One payment per invoice (issue 18, its review), written as what payers
# and merchants meet: two nginx nodes that share nothing but the invoice
# backend and Stripe (StripeMock); a 10.00 USD invoice, norush 0.00 or
# priority 3.00. A merchant whose Stripe account refuses the placeholder
# (its settlement currency's maximum), and one whose maximum moves between
# payers (never two PaymentIntents or charges); a token holder who
# sends PaymentCompletes for an invoice that is not due yet, or for a paid
# one with another name and address; a lookup whose create answer is lost.
# Every request the module sends is checked against Stripe's published API
# by StripeMock (a violation fails the test).

use strict;
use warnings;
use Test::More;
use POSIX ();
use OpayTest qw(reference_invoice json_response json_decode json_encode
                b64u PAY_METHOD);
use StripeMock;

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

# The invoice backend. Like a merchant's billing application it marks an
# invoice paid once the notify target recorded a success, except N-*
# invoices (a notify endpoint down, a slow merchant job: never marked).
# D-* invoices are not due (PaymentComplete, the status Microsoft's docs
# give a paid invoice) until due/ID exists.
my $paid = $t->dir . '/paid';
mkdir $paid;
mkdir $t->dir . '/due';
$t->backend('invoice', sub {
    my ($req) = @_;
    my ($id) = $req->{path} =~ m{^/invoices/(.+)$};
    my $inv = reference_invoice();
    $inv->{entity}{identifier} = $id;
    delete $inv->{displayItems};
    $inv->{entity}{paymentStatus} = 'PaymentComplete'
        if -e "$paid/$id" || ($id =~ /^D-/ && !-e "$paid/../due/$id");
    return json_response(200, $inv);
});
$t->backend('shipping', sub {
    return json_response(200, { shippingOptions => [
        { id => 'norush', label => 'Regular Shipping',
          amount => { currency => 'USD', value => '0.00' } },
        { id => 'priority', label => 'Priority Shipping',
          amount => { currency => 'USD', value => '3.00' } } ] });
});
my $stripe = StripeMock->new($t->dir . '/stripe');
$t->backend('stripe', $stripe->handler);
# The notify target keeps every record it is sent, one JSON line each.
$t->backend('notify', sub {
    my ($req) = @_;
    my $record = json_decode($req->{body}) || {};
    my $id = $record->{invoice} // '';
    open my $log, '>>', $t->dir . '/records.log' or die $!;
    print $log json_encode($record), "\n";
    close $log;
    if (($record->{result} // '') eq 'success' && $id =~ /^[\w-]+$/
        && $id !~ /^N-/) {
        open my $fh, '>', "$paid/$id" or die $!;
        close $fh;
    }
    return [ 204, {}, '' ];
});

my $conf = <<'EOF';
    opay_merchant_id   merchant-0001;
    opay_jwks_file     %%DIR%%/jwks.json;
    opay_invoice_uri   /_invoices/$opay_ctx_invoiceId;
    opay_shipping_uri  /_shipping;
    opay_journal       %%DIR%%/journal.log;
    opay_notify_uri    /_notify;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location = /complete {
            opay_payment_complete;
            opay_mode          test;
            opay_processor     stripe /_stripe/;
        }

        # the same merchant's live location, its own Stripe key
        location = /complete-live {
            opay_payment_complete;
            opay_mode          live;
            opay_processor     stripe /_stripe_live/;
        }

        location /_invoices/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_invoice%%/invoices/;
        }

        location /_shipping {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_shipping%%/shipping;
        }

        location /_stripe/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_stripe%%/;
            proxy_set_header Authorization "Bearer sk_test_opaytests";
            proxy_read_timeout 3s;
        }

        location /_stripe_live/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_stripe%%/;
            proxy_set_header Authorization "Bearer sk_live_opaytests";
            proxy_read_timeout 3s;
        }

        location = /_notify {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_notify%%/outcomes;
        }
    }
EOF
$t->write_conf($conf, workers => 2);
$t->run;

# The second node: its own zone, its own journal; the same backends.
my $t2 = OpayTest->new;
$t2->{ports}{$_} = $t->port($_) for qw(invoice shipping stripe notify);
$t2->write_file('jwks.json', $t->read_file('jwks.json'));
$t2->write_conf($conf, workers => 2);
$t2->run;

my $token = $t->token($key, claims => { aud => 'merchant-0001' });
my %VALUE = (norush => '10.00', priority => '13.00');

# A payer: a fresh single-use Stripe token of a test card, an option.
sub payer {
    my ($card, $option, %opt) = @_;
    return { card => $card, token => $stripe->token($card),
             option => $option, live => $opt{live} };
}

sub pay {
    my ($node, $rid, $p, %opt) = @_;
    my $pt = join '.', b64u(json_encode({ Format => 'Stripe',
            TestMode => $p->{live} ? JSON::PP::false : JSON::PP::true })),
        b64u($p->{token}), b64u('not-verifiable');
    my $body = { requestId => $rid, methodName => PAY_METHOD,
        details => { productContext => { invoiceId => $rid },
                     paymentToken => $pt,
                     amount => { currency => $opt{currency} // 'USD',
                                 value => $opt{value}
                                     // $VALUE{ $p->{option} } } },
        shippingAddress => { country => 'US',
                             city => $opt{city} // 'Redmond',
                             addressLine => [ 'One Microsoft Way' ] },
        shippingOption => $p->{option},
        payerName => $opt{name} // 'Patti Fernandez' };
    return $node->request($p->{live} ? '/complete-live' : '/complete',
                          token => $token, body => $body);
}

# Payers at once: [node, rid, payer], ...; their answers, in order.
sub at_once {
    my @calls = @_;
    my @kids;
    for my $i (0 .. $#calls) {
        my $pid = fork // die;
        if ($pid == 0) {
            my $res = pay(@{ $calls[$i] });
            open my $fh, '>', $t->dir . "/answer-$i.json" or POSIX::_exit(1);
            print $fh json_encode({ status => $res->{status},
                                    json => $res->{json} });
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    waitpid $_, 0 for @kids;
    return map { json_decode($t->read_file("answer-$_.json")) } 0 .. $#calls;
}

sub intents_of {
    my ($invoice) = @_;
    return [ grep { ($_->{metadata}{invoice} // '') eq $invoice }
             values %{ $stripe->intents } ];
}
sub charges_of {
    my %pi = map { $_->{id} => 1 } @{ intents_of($_[0]) };
    return [ grep { $pi{ $_->{payment_intent} } } @{ $stripe->charges } ];
}
sub records_of {
    my ($invoice) = @_;
    my $text = -e $t->dir . '/records.log' ? $t->read_file('records.log') : '';
    return [ grep { ($_->{invoice} // '') eq $invoice }
             map { json_decode($_) } split /\n/, $text ];
}
sub journals { $t->read_file('journal.log') . $t2->read_file('journal.log') }
sub success { $_[0]{status} == 200 && ($_[0]{json}{result} // '') eq 'success' }
sub already_paid {
    my ($a) = @_;
    return $a->{status} == 200 && ($a->{json}{result} // '') eq 'fail'
        && ($a->{json}{error}{innererror}{message} // '')
            =~ /already been paid|not due/;
}
sub retryable {
    $_[0]{status} == 409
        && ($_[0]{json}{error}{code} // '') eq 'payment_in_progress';
}


sub not_due {
    $_[0]{status} == 200 && ($_[0]{json}{result} // '') eq 'fail'
        && ($_[0]{json}{error}{innererror}{message} // '') =~ /not due/;
}
sub refused_for_good {
    my ($a) = @_;
    my $m = $a->{json}{error}{innererror}{message} // '';
    return $a->{status} == 200 && ($a->{json}{result} // '') eq 'fail'
        && $m =~ /refuses to take payments/ && $m !~ /try again/i;
}

my $r;

# A merchant whose Stripe account charges at most 500,000.00 (its
# settlement currency's maximum, below Stripe's eight digits), or at most
# 0.05, or at least 1,000,000.00: the placeholder (99,999,999 units) is
# refused. One fixed placeholder, no smaller one tried: a final fail that
# says why, on every node, never "try again later"; nothing created,
# nothing charged.
for my $mode ('max=create:50000000', 'max=create:5',
              'min=create:100000000') {
    $stripe->mode($mode);
    my $rid = 'L-4-' . ($mode =~ s/\W+/-/gr);
    for my $node ($t, $t2) {
        $r = pay($node, $rid, payer('tok_visa', 'norush'));
        ok(refused_for_good($r), "$mode: a final, explained fail")
            or diag(json_encode($r));
    }
    is(scalar @{ charges_of($rid) }, 0, "$mode: nothing charged");
    is(scalar @{ intents_of($rid) }, 0, "$mode: no PaymentIntent");
}
$stripe->mode('normal');

# The account's maximum moves within the create key's 24 h (Stripe stores
# no amount_too_large for the key; a settlement currency's maximum,
# converted, moves with the exchange rate). Refused, then taken: payer 1
# is refused for good, payer 2 (other device, other amount, on node 2;
# the backend never marks N-* paid) pays; one PaymentIntent, one charge.
$stripe->mode('max=create:50000000');
$r = pay($t, 'N-FX-1', payer('tok_visa', 'norush'));
ok(refused_for_good($r), 'fx: payer 1 refused for good while refused')
    or diag(json_encode($r));
$stripe->mode('normal');
my $r2 = pay($t2, 'N-FX-1', payer('tok_mastercard', 'priority'));
ok(success($r2), 'fx: payer 2 paid once taken') or diag(json_encode($r2));
is(scalar @{ intents_of('N-FX-1') }, 1, 'fx: one PaymentIntent');
is(scalar @{ charges_of('N-FX-1') }, 1, 'fx: one charge');
# taken, then refused: payer 2 finds payer 1's charge, never a second one
$r = pay($t, 'N-FX-2', payer('tok_visa', 'norush'));
ok(success($r), 'fx2: payer 1 paid') or diag(json_encode($r));
$stripe->mode('max=create:50000000');
$r2 = pay($t2, 'N-FX-2', payer('tok_mastercard', 'priority'));
ok(!success($r2) && !retryable($r2), 'fx2: payer 2 told it is paid')
    or diag(json_encode($r2));
is(scalar @{ intents_of('N-FX-2') }, 1, 'fx2: one PaymentIntent');
is(scalar @{ charges_of('N-FX-2') }, 1, 'fx2: one charge');
# flipped between each payer, at once on two nodes: never two
for my $n (1 .. 4) {
    $stripe->mode($n % 2 ? 'max=create:50000000' : 'normal');
    pay($t, "N-FX-3-$n", payer('tok_visa', 'norush'));
    $stripe->mode($n % 2 ? 'normal' : 'max=create:50000000');
    my @a = at_once([ $t, "N-FX-3-$n", payer('tok_visa', 'norush') ],
                    [ $t2, "N-FX-3-$n", payer('tok_mastercard', 'priority') ]);
    ok(scalar @{ intents_of("N-FX-3-$n") } <= 1
       && scalar @{ charges_of("N-FX-3-$n") } <= 1,
       "fx3 round $n: at most one PaymentIntent and one charge");
}
$stripe->mode('normal');

# A valid-token holder sends 20 PaymentCompletes, on both nodes, for an
# invoice that is not due yet, at its amount and at others: each is told
# "not due", and they cannot use up the invoice's PaymentIntents. Once it
# is due, its payer pays it, once.
for my $i (1 .. 20) {
    $r = pay($i % 2 ? $t : $t2, 'D-1', payer('tok_visa', 'norush'),
             value => $i % 3 ? "$i.00" : '10.00');
    ok(not_due($r), "not due yet: delivery $i is told so")
        or diag(json_encode($r));
}
my @canceled = grep { $_->{status} eq 'canceled' } @{ intents_of('D-1') };
ok(@canceled <= 1, 'not due yet: at most one PaymentIntent canceled')
    or diag(scalar(@canceled) . ' canceled');
ok(@{ intents_of('D-1') } <= 2, 'not due yet: at most two PaymentIntents');
open my $fh, '>', $t->dir . '/due/D-1' or die $!;
close $fh;
$r = pay($t2, 'D-1', payer('tok_visa', 'norush'));
ok(success($r), 'due now: the payer pays') or diag(json_encode($r));
$r2 = pay($t, 'D-1', payer('tok_visa', 'norush'));
ok(success($r2), 'paid: the payer\'s retry on node 1 is the same success')
    or diag(json_encode($r2));
is(scalar @{ charges_of('D-1') }, 1, 'due now: one charge');

# A lookup whose create answer is lost (Stripe made the PaymentIntent,
# the answer never came): the placeholder it made is canceled all the
# same; once due, the invoice is paid through the next generation.
$stripe->mode('create-then-hang=1');
$r = pay($t, 'D-2', payer('tok_visa', 'norush'));
$stripe->mode('normal');
ok(not_due($r), 'lost create answer: not due') or diag(json_encode($r));
my @open = grep { $_->{status} ne 'canceled' } @{ intents_of('D-2') };
is(scalar @open, 0, 'lost create answer: no placeholder left open')
    or diag(json_encode(intents_of('D-2')));
open $fh, '>', $t->dir . '/due/D-2' or die $!;
close $fh;
$r = pay($t2, 'D-2', payer('tok_visa', 'norush'));
ok(success($r), 'lost create answer: due now, paid') or diag(json_encode($r));

# The payer pays; then someone with a valid token resends the paid amount
# with another name and address, on the other node. They are told the
# same success (nothing charged), but no record or journal line names
# them or their address: a merchant shipping on records ships to the
# payer only.
$r = pay($t, 'R-1', payer('tok_visa', 'norush'));
ok(success($r), 'records: the payer pays') or diag(json_encode($r));
$r2 = pay($t2, 'R-1', payer('tok_visa', 'norush'), name => 'Mallory',
          city => 'Elsewhere');
ok(success($r2), 'records: the resent paid amount is that success');
is(scalar @{ charges_of('R-1') }, 1, 'records: one charge');
my @records = grep { ($_->{result} // '') eq 'success' } @{ records_of('R-1') };
my @named = grep { $_->{payer} || $_->{shippingAddress} } @records;
is(scalar @named, 1, 'records: one success record names a payer');
is($named[0]{payer}{name}, 'Patti Fernandez',
   'records: it names the payer who was charged');
is($named[0]{kind}, 'succeeded', 'records: and it is the charge itself');
ok(@records == 2 && grep({ ($_->{kind} // '') eq 'already_paid' } @records),
   'records: the resend is recorded already_paid')
    or diag(json_encode(\@records));
unlike(json_encode(records_of('R-1')) . journals(), qr/Mallory|Elsewhere/,
       'records: the resender\'s name and address are nowhere');

# An invoice whose id is as long as a requestId may be (255 characters):
# it is paid, once, and its PaymentIntent names it within Stripe's limits
# (StripeMock refuses a request over them as a violation, which fails the
# test).
my $long = 'LONG-' . ('x' x 250);
$r = pay($t, $long, payer('tok_visa', 'norush'));
ok(success($r), 'a 255-character invoice id: paid') or diag(json_encode($r));
my @long = @{ intents_of($long) };
is(scalar @long, 1, 'a long invoice id: one PaymentIntent');
$r2 = pay($t2, $long, payer('tok_visa', 'norush'));
ok(success($r2) && $r2->{json}{entity}{confirmationNumber}
       eq $r->{json}{entity}{confirmationNumber},
   'a long invoice id: node 2 finds the same PaymentIntent');
is(scalar @{ charges_of($long) }, 1, 'a long invoice id: one charge');

$t2->stop;
$t->stop;
done_testing;
