package StripeMock::Intents;

# PaymentIntents: the checks before an endpoint runs (Stripe's amount and
# currency rules, the mode's min/max, payment_method_types, the object in
# the caller's mode; list and search refused as not implemented) and the
# endpoints with their state machine: create, retrieve, update, confirm
# (as the card answers: a charge, 3-D Secure or a decline), cancel; update,
# confirm and cancel under the PaymentIntent's lock.

use strict;
use warnings;

use Exporter qw(import);
use Time::HiRes qw(sleep time);

use StripeMock::Methods;
use StripeMock::Spec;
use StripeMock::State;
use StripeMock::Wire;

our @EXPORT = qw(check_amount check_currency check_types check_create
    check_retrieve check_cancel check_update check_confirm check_list
    check_search do_create do_retrieve do_update do_cancel do_confirm);

use constant MAX_AMOUNT => 99999999;     # eight digits (the spec's text)

my %THREE_DECIMAL = map { $_ => 1 } qw(bhd jod kwd omr tnd);
my %CONFIRMABLE = map { $_ => 1 }
    qw(requires_payment_method requires_confirmation requires_action);
my %UPDATABLE = %CONFIRMABLE;
my %CANCELABLE = map { $_ => 1 } qw(requires_payment_method requires_capture
    requires_confirmation requires_action processing);

# The amount rules: spec (a positive integer of at most eight digits:
# violations), then Stripe's currency rules and the mode's min/max.
sub check_amount {
    my ($self, $ctx, $amount, $currency) = @_;
    return if !defined $amount;
    return $self->invalid($ctx, fault_of('amount', 'Invalid positive '
        . "integer: $amount", code => 'parameter_invalid_integer',
        rule => 'amount'))
        if $amount !~ /^[1-9][0-9]*$/;
    return $self->refuse($ctx, refusal('amount', 'Amount must be no more '
        . 'than ' . MAX_AMOUNT . ' (eight digits) in the smallest currency '
        . 'unit.', code => 'amount_too_large'), rule => 'amount')
        if length $amount > length MAX_AMOUNT;
    my $cur = lc($currency // '');
    my $min = $self->limit('min', $ctx->{op});
    return refusal('amount', "Amount must be at least $min in the "
        . "smallest unit of \U$cur\E.", code => 'amount_too_small')
        if defined $min && $amount < $min;
    my $max = $self->limit('max', $ctx->{op});
    return refusal('amount', "Amount must be no more than $max in the "
        . "smallest unit of \U$cur\E.", code => 'amount_too_large')
        if defined $max && $amount > $max;
    return refusal('amount', "Invalid amount. Currency \U$cur\E is a "
        . 'three-decimal currency: the last digit must be 0 (round to '
        . 'the nearest ten). See https://stripe.com/docs/currencies'
        . '#three-decimal for more information.',
        code => 'invalid_charge_amount')
        if $THREE_DECIMAL{$cur} && $amount % 10;
    return refusal('amount', "Invalid amount. Currency \U$cur\E has become "
        . 'effectively zero-decimal and charged amounts must be evenly '
        . 'divisible by 100. See https://stripe.com/docs/currencies'
        . '#special-cases for more information.',
        code => 'invalid_charge_amount_no_decimal_compatible')
        if $cur =~ /^(isk|ugx)$/ && $amount % 100;
    return;
}

sub check_currency {
    my ($self, $ctx, $cur) = @_;
    return if !defined $cur || $cur =~ /^[a-z]{3}$/;
    return $self->invalid($ctx, fault_of('currency', "Invalid currency: "
        . "$cur. Stripe currently supports these currencies in lower case.",
        rule => 'currency'));
}

sub check_types {
    my ($self, $types) = @_;
    my @t = ref $types eq 'ARRAY' ? @$types
          : ref $types eq 'HASH' ? map { $types->{$_} } sort keys %$types
          : ();
    for my $i (0 .. $#t) {
        next if $t[$i] eq 'card';
        return refusal("payment_method_types[$i]", 'The payment method type '
            . "provided: $t[$i] is invalid. This account supports: card.",
            code => 'payment_intent_invalid_parameter');
    }
    return;
}

sub check_create {
    my ($self, $f, $ctx) = @_;
    return $self->check_currency($ctx, $f->{currency})
        // $self->check_amount($ctx, $f->{amount}, $f->{currency})
        // $self->check_types($f->{payment_method_types});
}

sub check_retrieve {
    my ($self, $f, $ctx, $id) = @_;
    return $self->object(pi => $id, $ctx) ? undef
        : missing('payment_intent', 'intent', $id);
}

*check_cancel = \&check_retrieve;

sub check_update {
    my ($self, $f, $ctx, $id) = @_;
    my $pi = $self->object(pi => $id, $ctx)
        or return missing('payment_intent', 'intent', $id);
    return $self->check_currency($ctx, $f->{currency})
        // $self->check_amount($ctx, $f->{amount},
                               $f->{currency} // $pi->{currency})
        // $self->check_types($f->{payment_method_types})
        // $self->check_pm_param($f, $ctx);
}

sub check_confirm {
    my ($self, $f, $ctx, $id) = @_;
    return $self->check_retrieve($f, $ctx, $id)
        // $self->check_pm_param($f, $ctx);
}

sub check_list {
    my ($self, $f, $ctx) = @_;
    return $self->invalid($ctx, fault_of(undef, 'This test server does not '
        . "implement $ctx->{method} $ctx->{path}.", rule => 'unsupported'));
}

*check_search = \&check_list;

sub do_create {
    my ($self, $f, $ctx) = @_;
    my $id = random_id('pi_', 24);
    my $types = $f->{payment_method_types};
    my $pi = {
        id => $id, object => 'payment_intent',
        amount => int $f->{amount}, amount_received => 0,
        currency => $f->{currency},
        status => 'requires_payment_method',
        description => $f->{description},
        metadata => metadata_of($f->{metadata}),
        latest_charge => undef, last_payment_error => undef,
        payment_method => undef, next_action => undef,
        livemode => $ctx->{livemode} ? $TRUE : $FALSE,
        payment_method_types => ['card'],
        capture_method => 'automatic', confirmation_method => 'automatic',
        client_secret => $id . random_id('_secret_', 25),
        created => int time, canceled_at => undef,
        cancellation_reason => undef,
        receipt_email => $f->{receipt_email},
        statement_descriptor => $f->{statement_descriptor},
        statement_descriptor_suffix => $f->{statement_descriptor_suffix},
    };
    for (keys %{ $pi->{metadata} }) {
        delete $pi->{metadata}{$_} if $pi->{metadata}{$_} eq '';
    }
    save("$self->{dir}/pi/$id.json", $pi);
    return (response(200, $pi), {});
}

sub do_retrieve {
    my ($self, $f, $ctx, $id) = @_;
    return (response(200, $self->intent($id)), {});
}

sub unexpected_state {
    my ($pi, $verb, $allowed) = @_;
    my @ok = sort keys %$allowed;
    my $what = $verb eq 'update' ? 'update' : $verb;
    return error(400, type => 'invalid_request_error',
        code => 'payment_intent_unexpected_state',
        message => "You cannot $what this PaymentIntent because it has a "
            . "status of $pi->{status}. Only a PaymentIntent with one of "
            . 'the following statuses may be '
            . ($verb eq 'update' ? 'updated' : "${verb}ed")
            . ': ' . join(', ', @ok) . '.',
        payment_intent => $pi);
}

sub do_update {
    my ($self, $f, $ctx, $id) = @_;
    my $lock = $self->lock_object($id)
        or return (lock_timeout(), { nostore => 1 });
    my $pi = $self->intent($id);
    return (unexpected_state($pi, 'update', \%UPDATABLE), {})
        if !$UPDATABLE{ $pi->{status} };
    $pi->{amount} = int $f->{amount} if defined $f->{amount};
    for my $k (qw(currency description receipt_email statement_descriptor
                  statement_descriptor_suffix)) {
        next if !exists $f->{$k};
        $pi->{$k} = $f->{$k} eq '' ? undef : $f->{$k};
    }
    if (exists $f->{metadata}) {
        my $m = $f->{metadata};
        $pi->{metadata} = {} if !ref $m;    # metadata= unsets them all
        for my $k (ref $m ? keys %$m : ()) {
            if ($m->{$k} eq '') { delete $pi->{metadata}{$k} }
            else { $pi->{metadata}{$k} = $m->{$k} }
        }
    }
    if (defined $f->{payment_method}) {
        @$pi{qw(payment_method status next_action)}
            = ($f->{payment_method}, 'requires_confirmation', undef);
    }
    save("$self->{dir}/pi/$id.json", $pi);
    close $lock;
    return (response(200, $pi), {});
}

sub do_cancel {
    my ($self, $f, $ctx, $id) = @_;
    my $lock = $self->lock_object($id)
        or return (lock_timeout(), { nostore => 1 });
    my $pi = $self->intent($id);
    return (unexpected_state($pi, 'cancel', \%CANCELABLE), {})
        if !$CANCELABLE{ $pi->{status} };
    @$pi{qw(status canceled_at cancellation_reason next_action)}
        = ('canceled', int time, $f->{cancellation_reason}, undef);
    save("$self->{dir}/pi/$id.json", $pi);
    close $lock;
    return (response(200, $pi), {});
}

# POST /v1/payment_intents/ID/confirm: confirms the PaymentMethod set on
# the PaymentIntent (or given as payment_method), as its card answers.
sub do_confirm {
    my ($self, $f, $ctx, $id, $key) = @_;
    my $lock = $self->lock_object($id)
        or return (lock_timeout(), { nostore => 1 });
    my %m = $self->modes;
    sleep 1 if exists $m{slow};
    my $pi = $self->intent($id);
    return (unexpected_state($pi, 'confirm', \%CONFIRMABLE), {})
        if !$CONFIRMABLE{ $pi->{status} };
    $pi->{payment_method} = $f->{payment_method}
        if defined $f->{payment_method};
    if (!defined $pi->{payment_method}) {
        return (error(400, type => 'invalid_request_error',
            code => 'payment_intent_unexpected_state',
            param => 'payment_method',
            message => 'You cannot confirm this PaymentIntent because it\'s '
                . 'missing a payment method. You can either update the '
                . 'PaymentIntent with a payment method and then confirm it '
                . 'again, or confirm it again directly with a payment '
                . 'method.', payment_intent => $pi), {});
    }
    my $pm = $self->payment_method($pi->{payment_method});
    my $token = $pm->{x_test_token};
    my $public = public_pm($pm);
    my ($res, $charged);
    $pi->{next_action} = undef;
    if ($self->{tokens}{success_tokens}{$token}) {
        my $ch = random_id('ch_', 24);
        @$pi{qw(status latest_charge last_payment_error amount_received)}
            = ('succeeded', $ch, undef, $pi->{amount});
        save("$self->{dir}/pi/$id.json", $pi);
        $self->append_log('charges.log', { id => $ch, payment_intent => $id,
            amount => $pi->{amount}, currency => $pi->{currency},
            payment_method => $pm->{id}, source => $token,
            last4 => $pm->{card}{last4},
            livemode => $ctx->{livemode} ? $TRUE : $FALSE,
            idempotency_key => $key // '' });
        $charged = 1;
        $res = response(200, $pi);
    } elsif ($token eq THREE_DS
             && ($f->{error_on_requires_action} // '') ne 'true') {
        @$pi{qw(status last_payment_error next_action)}
            = ('requires_action', undef,
               { type => 'use_stripe_sdk', use_stripe_sdk => {
                   type => 'stripe_3ds2_fingerprint',
                   three_d_secure_2_source => random_id('src_', 24),
                   directory_server_name => 'visa' } });
        save("$self->{dir}/pi/$id.json", $pi);
        $res = response(200, $pi);
    } else {
        my %e;
        if ($token eq THREE_DS) {
            %e = (type => 'card_error', code => 'authentication_required',
                  decline_code => 'authentication_required',
                  message => 'Your card was declined. This transaction '
                           . 'requires authentication.');
        } else {
            my $d = $self->decline($token);
            %e = (type => $d->{type}, code => $d->{code},
                  message => $d->{message},
                  charge => random_id('ch_', 24),    # failed: no money
                  map { defined $d->{$_} ? ($_ => $d->{$_}) : () }
                      qw(decline_code param doc_url));
            $pi->{latest_charge} = $e{charge};
        }
        @$pi{qw(status payment_method last_payment_error)}
            = ('requires_payment_method', undef,
               { %e, payment_method => $public });
        save("$self->{dir}/pi/$id.json", $pi);
        $res = error(402, %e, payment_intent => $pi,
                     payment_method => $public);
    }
    close $lock;
    return ($res, { charged => $charged });
}

1;
