# One payment per invoice (issue 18, its review), written as what payers
# and merchants meet: two nginx nodes that share nothing but the invoice
# backend and Stripe (StripeMock); a 10.00 USD invoice, norush 0.00 or
# priority 3.00. A merchant whose Stripe account takes less than Stripe's
# eight digits (its settlement currency's maximum); a token holder who
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
        && $m =~ /refuses every amount/ && $m !~ /try again/i;
}

my $r;

# review18b: the ladder assumes a rung refused amount_too_large stays
# refused for the key's 24 h. Stripe stores no refusal of that kind
# (StripeMock: "not stored for the key"), and a maximum that is the
# settlement currency's, converted, moves with the exchange rate (EUR or
# CHF against USD near parity). Payer 1 pays while rung 0 is refused;
# later the same day rung 0 is taken; payer 2 (other device, other amount;
# backend never marks N-* paid) pays on node 2.
$stripe->mode('max=create:50000000');
$r = pay($t, 'N-FX-1', payer('tok_visa', 'norush'));
ok(success($r), 'fx: payer 1 paid on rung 1') or diag(json_encode($r));
$stripe->mode('normal');
my $r2 = pay($t2, 'N-FX-1', payer('tok_mastercard', 'priority'));
ok(!success($r2), 'fx: payer 2 is not charged a second time')
    or diag(json_encode($r2));
is(scalar @{ intents_of('N-FX-1') }, 1, 'fx: one PaymentIntent');
is(scalar @{ charges_of('N-FX-1') }, 1, 'fx: one charge');

# review18b: the reverse: rung 0 taken first, then refused
$r = pay($t, 'N-FX-2', payer('tok_visa', 'norush'));
ok(success($r), 'fx2: payer 1 paid on rung 0') or diag(json_encode($r));
$stripe->mode('max=create:50000000');
$r2 = pay($t2, 'N-FX-2', payer('tok_mastercard', 'priority'));
ok(!success($r2), 'fx2: payer 2 is not charged a second time')
    or diag(json_encode($r2));
is(scalar @{ charges_of('N-FX-2') }, 1, 'fx2: one charge');
$stripe->mode('normal');

done_testing;
