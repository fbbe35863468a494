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
# Z-* are answered with a total of 0 once paid; BIG-* are 1,000,000.00.
my $paid = $t->dir . '/paid';
mkdir $paid;
$t->backend('invoice', sub {
    my ($req) = @_;
    my ($id) = $req->{path} =~ m{^/invoices/(.+)$};
    my $inv = reference_invoice();
    $inv->{entity}{identifier} = $id;
    delete $inv->{displayItems};
    # review18: D-* invoices are not due until $paid/../due/ID exists
    $inv->{entity}{paymentStatus} = 'PaymentComplete'
        if $id =~ /^D-/ && !-e "$paid/../due/$id";
    if (-e "$paid/$id") {
        $inv->{entity}{paymentStatus} = 'PaymentComplete';
        $inv->{entity}{totalPaymentDue}{price} = 0 if $id =~ /^Z-/;
    }
    $inv->{entity}{totalPaymentDue}{price} = '1000000.00' if $id =~ /^BIG-/;
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
# *CUT-* invoices: a replayed answer to their create (a stored 5xx, or the
# stored 200 of a PaymentIntent that exists) reaches nginx cut short (the
# status line and its headers, part of the body, then the connection
# closes), as a network can deliver it
my $mock = $stripe->handler;
$t->backend('stripe', sub {
    my ($req) = @_;
    my $res = $mock->($req);
    if (ref $res && ($res->[0] >= 500 || $res->[0] == 200)
        && ($res->[1]{'Idempotent-Replayed'} // '') eq 'true'
        && ($req->{body} // '') =~ /metadata%5Binvoice%5D=[A-Z-]*CUT-/) {
        $res->[1]{'Content-Length'} = length($res->[2]) + 100;
        $res->[2] = substr $res->[2], 0, 10;
    }
    return $res;
});
$t->backend('notify', sub {
    my ($req) = @_;
    my $record = json_decode($req->{body}) || {};
    my $id = $record->{invoice} // '';
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
        shippingAddress => { country => 'US', city => 'Redmond',
                             addressLine => [ 'One Microsoft Way' ] },
        shippingOption => $p->{option}, payerName => 'Patti Fernandez' };
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
sub creates {
    return [ grep { $_->{method} eq 'POST' && $_->{path} eq '/v1/payment_intents' }
             @{ $stripe->requests } ];
}
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


my $r;
# R1. The account's largest charge below eight digits (StripeMock: "Stripe's
# minimum and maximum depend on the settlement currency"): a 10.00 payment
# meets amount_too_large on the placeholder create and is told "try again
# later", forever.
$stripe->mode('max=50000000');
$r = pay($t, 'RV-1', payer('tok_visa', 'norush'));
$stripe->mode('normal');
unlike($r->{json}{error}{innererror}{message} // '', qr/try again later/i,
       'R1: a refusal of the placeholder is not "try again later"')
    or diag(json_encode($r));
ok(success($r), 'R1: 10.00 is under the account maximum: paid')
    or diag(json_encode($r));

# R2. A valid-token holder sends 8 PaymentCompletes for an invoice that is
# not due yet; each cancels one generation's intent. Once it is due, it
# cannot be paid.
mkdir $t->dir . '/due';
for my $i (1 .. 8) {
    my $x = pay($t, 'D-1', payer('tok_visa', 'norush'), value => "$i.00");
    diag("lookup $i: $x->{status} " . ($x->{json}{error}{innererror}{message} // ''));
}
my @canceled = grep { $_->{status} eq 'canceled' } @{ intents_of('D-1') };
diag(scalar(@canceled) . ' intents of D-1 canceled');
open my $fh, '>', $t->dir . '/due/D-1' or die; close $fh;
$r = pay($t2, 'D-1', payer('tok_visa', 'norush'));
ok(success($r), 'R2: the invoice, due now, can be paid')
    or diag(json_encode($r));

$t2->stop;
$t->stop;
done_testing;
