package StripeMock::Methods;

# PaymentMethods and the test cards behind them: type=card from a card
# token, each token single-use (token_already_used); the test tokens pay or
# decline as testdata/stripe_test_tokens.json says, and
# tok_threeDSecure2Required is the 3-D Secure 2 card.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Exporter qw(import);
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use Time::HiRes qw(time);

use StripeMock::Spec;
use StripeMock::State;
use StripeMock::Wire;

our @EXPORT = qw(THREE_DS tokens card_of decline brand metadata_of
    public_pm check_pm_param check_pm_retrieve check_pm_create do_pm_create
    do_pm_retrieve);

use constant THREE_DS => 'tok_threeDSecure2Required';   # 4000000000003220

sub tokens {
    my $file = dirname(__FILE__) . '/../../../testdata/stripe_test_tokens.json';
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    return $JSON->decode(<$fh>);
}

# The card behind a token: { token (the test token), number }, or undef.
sub card_of {
    my ($self, $token) = @_;
    return undef if ($token // '') !~ /^tok_\w+$/;
    if (my $m = $self->load(minted => $token)) {
        $token = $m->{like};
    }
    my $number = $self->{tokens}{success_tokens}{$token};
    $number //= '4000000000003220' if $token eq THREE_DS;
    for my $d (@{ $self->{tokens}{decline_tokens} }) {
        $number //= $d->{card} if ($d->{token} // '') eq $token;
    }
    return $number ? { token => $token, number => $number } : undef;
}

sub decline {
    my ($self, $token) = @_;
    for my $d (@{ $self->{tokens}{decline_tokens} }) {
        return $d if defined $d->{token} && $d->{token} eq $token;
    }
    return undef;
}

sub brand {
    my ($number) = @_;
    return $number =~ /^4/ ? 'visa'
         : $number =~ /^(5[1-5]|2[2-7])/ ? 'mastercard'
         : $number =~ /^3[47]/ ? 'amex'
         : $number =~ /^(6011|65)/ ? 'discover'
         : $number =~ /^3[068]/ ? 'diners'
         : $number =~ /^35/ ? 'jcb'
         : $number =~ /^62/ ? 'unionpay' : 'unknown';
}

sub metadata_of {
    my ($m) = @_;
    return ref $m eq 'HASH' ? { %$m } : {};
}

sub public_pm {
    my ($pm) = @_;
    my %p = %$pm;
    delete $p{x_test_token};
    return \%p;
}

sub check_pm_param {
    my ($self, $f, $ctx) = @_;
    my $pm = $f->{payment_method} // return;
    return $self->object(pm => $pm, $ctx) ? undef
        : missing('PaymentMethod', 'payment_method', $pm);
}

sub check_pm_retrieve {
    my ($self, $f, $ctx, $id) = @_;
    return $self->object(pm => $id, $ctx) ? undef
        : missing('PaymentMethod', 'payment_method', $id);
}

sub check_pm_create {
    my ($self, $f, $ctx) = @_;
    return $self->invalid($ctx, fault_of('type', 'This test server makes '
        . 'card PaymentMethods only.', rule => 'unsupported'))
        if ($f->{type} // '') ne 'card';
    my $card = $f->{card};
    return $self->invalid($ctx, fault_of('card', 'This test server takes '
        . 'card[token] only (no card numbers).', rule => 'unsupported'))
        if ref $card ne 'HASH' || !defined $card->{token};
    return refusal('card[token]', "No such token: '$card->{token}'",
                   code => 'resource_missing')
        if !$self->card_of($card->{token});
    return;
}

sub do_pm_create {
    my ($self, $f, $ctx) = @_;
    my $token = $f->{card}{token};
    my $card = $self->card_of($token);
    open my $lock, '>>', "$self->{dir}/tokens.lock" or die $!;
    flock $lock, LOCK_EX;
    if ($self->load(tokens => $token)) {
        return (error(400, type => 'invalid_request_error',
            code => 'token_already_used', param => 'card[token]',
            message => 'You cannot use a Stripe token more than once: '
                     . "$token."), {});
    }
    my $pm = {
        id => random_id('pm_', 24), object => 'payment_method',
        type => 'card', created => int time, customer => undef,
        livemode => $ctx->{livemode} ? $TRUE : $FALSE,
        metadata => metadata_of($f->{metadata}),
        billing_details => { address => { map { $_ => undef }
            qw(city country line1 line2 postal_code state) },
            email => undef, name => undef, phone => undef },
        card => { brand => brand($card->{number}),
                  last4 => substr($card->{number}, -4),
                  exp_month => 12, exp_year => 1900 + (gmtime)[5] + 3,
                  country => 'US', funding => 'credit',
                  fingerprint => substr(sha256_hex($card->{number}), 0, 16),
                  checks => undef, wallet => undef },
        # not Stripe's: the test token behind it, for the outcome
        x_test_token => $card->{token},
    };
    save("$self->{dir}/pm/$pm->{id}.json", $pm);
    save("$self->{dir}/tokens/$token.json", { payment_method => $pm->{id} });
    close $lock;
    return (response(200, public_pm($pm)), {});
}

sub do_pm_retrieve {
    my ($self, $f, $ctx, $id) = @_;
    return (response(200, public_pm($self->payment_method($id))), {});
}

1;
