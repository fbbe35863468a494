package OnePayment;

# The world of the one-payment tests (73, 74; issue 18): two nginx nodes,
# two workers each, that share nothing but the backends — the invoice,
# the shipping options (norush 0.00, priority 3.00), Stripe (StripeMock)
# and the notify target — and the keys; a test location (/complete) and
# a live one (/complete-live) of one merchant, each with its own Stripe
# key. Like a merchant's billing application, the invoice backend marks an
# invoice paid once the notify target recorded a success, except N-*
# invoices (a notify endpoint down, a slow merchant job: never marked).
#
# A test file has one world: start(%hooks) makes it and returns
# ($t, $t2, $stripe); the exported subs act in it. The hooks, each
# optional, run in the backends' processes (DIR: the test's directory):
# invoice => sub { my ($id, $inv, $dir) = @_ } changes the invoice (10.00
# USD, PaymentComplete once paid) before it is served; stripe => sub {
# my ($req, $res) = @_; ... return $res } changes Stripe's answer;
# notify => sub { my ($record, $dir) = @_ } sees each record before the
# invoice is marked paid.

use strict;
use warnings;

use Exporter 'import';
use OpayTest qw(json_response json_decode payment_token complete_body
                proxy_location stripe_location us_shipping);
use StripeMock;

our @EXPORT = qw(payer pay at_once intents_of charges_of success
                 already_paid retryable mark_paid);

my %VALUE = (norush => '10.00', priority => '13.00');
my ($t, $t2, $stripe, $paid, $token);

sub start {
    my (%hook) = @_;
    $t = OpayTest->new;
    my $key = $t->make_key('key-1');
    $t->write_jwks('jwks.json', $key);
    $paid = $t->dir . '/paid';
    mkdir $paid;
    $t->invoice_backend(sub {
        my ($id, $inv) = @_;
        delete $inv->{displayItems};
        $inv->{entity}{paymentStatus} = 'PaymentComplete' if -e "$paid/$id";
        $hook{invoice}->($id, $inv, $t->dir) if $hook{invoice};
    });
    $t->backend('shipping', sub {
        return json_response(200, { shippingOptions => [ us_shipping() ] });
    });
    $stripe = StripeMock->new($t->dir . '/stripe');
    my $mock = $stripe->handler;
    $t->backend('stripe', !$hook{stripe} ? $mock : sub {
        my ($req) = @_;
        return $hook{stripe}->($req, $mock->($req));
    });
    $t->backend('notify', sub {
        my ($req) = @_;
        my $record = json_decode($req->{body}) || {};
        $hook{notify}->($record, $t->dir) if $hook{notify};
        my $id = $record->{invoice} // '';
        mark_paid($id)
            if ($record->{result} // '') eq 'success' && $id =~ /^[\w-]+$/
               && $id !~ /^N-/;
        return [ 204, {}, '' ];
    });

    my $conf = <<'EOF'
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

EOF
        . proxy_location('/_invoices/', 'invoice', '/invoices/')
        . proxy_location('/_shipping', 'shipping', '/shipping')
        . stripe_location('/_stripe/', 'sk_test_opaytests',
                          'proxy_read_timeout 3s')
        . stripe_location('/_stripe_live/', 'sk_live_opaytests',
                          'proxy_read_timeout 3s')
        . proxy_location('= /_notify', 'notify', '/outcomes')
        . "    }\n";
    $t->write_conf($conf, workers => 2);
    $t->run;

    # The second node: its own zone, its own journal; the same backends.
    $t2 = $t->second_node($conf, [qw(invoice shipping stripe notify)],
                          workers => 2);
    $token = $t->token($key, claims => { aud => 'merchant-0001' });
    return ($t, $t2, $stripe);
}

# The invoice backend says ID is paid from now on.
sub mark_paid {
    open my $fh, '>', "$paid/$_[0]" or die $!;
    close $fh;
}

# A payer: a fresh single-use Stripe token of a test card, an option.
sub payer {
    my ($card, $option, %opt) = @_;
    return { card => $card, token => $stripe->token($card),
             option => $option, live => $opt{live} };
}

# A PaymentComplete of payer P for invoice RID to NODE, at the option's
# amount unless currency/value say else; the payer's name and city
# unless name/city say else.
sub pay {
    my ($node, $rid, $p, %opt) = @_;
    my $body = complete_body($rid,
        token => payment_token($p->{token}, TestMode => $p->{live}
                                   ? JSON::PP::false : JSON::PP::true),
        currency => $opt{currency},
        value => $opt{value} // $VALUE{ $p->{option} },
        extra => {
            shippingAddress => { country => 'US',
                                 city => $opt{city} // 'Redmond',
                                 addressLine => [ 'One Microsoft Way' ] },
            shippingOption => $p->{option},
            (defined $opt{name} ? (payerName => $opt{name}) : ()) });
    return $node->request($p->{live} ? '/complete-live' : '/complete',
                          token => $token, body => $body);
}

# Payers at once: [node, rid, payer], ...; their answers, in order.
sub at_once {
    return $t->at_once(map { my $call = $_; sub { pay(@$call) } } @_);
}

sub intents_of { $stripe->invoice_intents(@_) }
sub charges_of { $stripe->invoice_charges(@_) }
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

1;
