package StripeMock;

# A Stripe-compatible charges endpoint for the tests: the only stand-in in
# the suite, since Stripe itself is unreachable here. It speaks Stripe's
# wire format (form-encoded POST /v1/charges, bearer secret key, the JSON
# charge object, the 402 error envelope), answers every test token of
# testdata/stripe_test_tokens.json as Stripe does, and honours
# Idempotency-Key: the first response is saved and replayed, different
# parameters are an idempotency_error, concurrent use is a 409.
#
# State lives in files under DIR (the backend forks per connection):
#   charges.log   one JSON line per charge that moved money
#   mode          normal | slow | hang | 500 | charge-then-hang
#   idem/         one record per Idempotency-Key

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use JSON::PP;
use Time::HiRes qw(sleep);

my $JSON = JSON::PP->new->canonical;

sub tokens {
    my $file = dirname(__FILE__) . '/../../testdata/stripe_test_tokens.json';
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    return $JSON->decode(<$fh>);
}

sub new {
    my ($class, $dir) = @_;
    mkdir $dir;
    mkdir "$dir/idem";
    my $self = bless { dir => $dir, tokens => tokens() }, $class;
    $self->mode('normal');
    return $self;
}

sub mode {
    my ($self, $mode) = @_;
    my $file = "$self->{dir}/mode";
    if (defined $mode) {
        open my $fh, '>', $file or die $!;
        print $fh $mode;
        close $fh;
        return $mode;
    }
    open my $fh, '<', $file or return 'normal';
    return scalar <$fh>;
}

sub charges {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/charges.log" or return [];
    return [ map { $JSON->decode($_) } grep { length } <$fh> ];
}

sub error {
    my ($status, %e) = @_;
    return [ $status, { 'Content-Type' => 'application/json' },
             $JSON->encode({ error => \%e }) ];
}

sub form {
    my ($body) = @_;
    my %f;
    for my $pair (split /&/, $body) {
        my ($k, $v) = split /=/, $pair, 2;
        for ($k, $v) {
            $_ //= '';
            tr/+/ /;
            s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        }
        $f{$k} = $v;
    }
    return \%f;
}

sub handler {
    my ($self) = @_;
    return sub { $self->handle(@_) };
}

sub handle {
    my ($self, $req) = @_;
    return error(404, type => 'invalid_request_error',
                 message => "Unrecognized request URL ($req->{method}: "
                            . "$req->{path}).")
        if $req->{method} ne 'POST' || $req->{path} ne '/v1/charges';
    return error(401, type => 'invalid_request_error',
                 message => 'Invalid API Key provided.')
        if ($req->{headers}{authorization} // '') !~ /^Bearer sk_test_\w+$/;
    return error(400, type => 'invalid_request_error',
                 message => 'Invalid request: expected form data.')
        if ($req->{headers}{'content-type'} // '')
           !~ m{^application/x-www-form-urlencoded};

    my $f = form($req->{body});
    return error(400, type => 'invalid_request_error', param => 'amount',
                 message => 'Invalid positive integer')
        if ($f->{amount} // '') !~ /^[1-9][0-9]*$/;
    return error(400, type => 'invalid_request_error', param => 'currency',
                 message => 'Invalid currency')
        if ($f->{currency} // '') !~ /^[a-z]{3}$/;
    return error(400, type => 'invalid_request_error', param => 'source',
                 message => 'Must provide source or customer.')
        if !length($f->{source} // '');

    my $mode = $self->mode;
    my $key = $req->{headers}{'idempotency-key'};
    my $params = $JSON->encode($f);
    my $record = defined $key ? "$self->{dir}/idem/" . sha256_hex($key) : undef;

    if ($record) {
        open my $lock, '>>', "$self->{dir}/lock" or die $!;
        flock $lock, LOCK_EX;
        if (open my $fh, '<', $record) {
            my $saved = $JSON->decode(do { local $/; <$fh> });
            close $lock;
            return error(400, type => 'idempotency_error',
                message => 'Keys for idempotent requests can only be used '
                         . 'with the same parameters they were first used '
                         . 'with.')
                if $saved->{params} ne $params;
            return error(409, type => 'idempotency_error',
                code => 'idempotency_key_in_use',
                message => 'There is currently another in-progress request '
                         . 'using this Idempotent Key.')
                if $saved->{state} eq 'in_flight';
            return [ $saved->{status},
                     { 'Content-Type' => 'application/json',
                       'Idempotent-Replayed' => 'true' }, $saved->{body} ];
        }
        save($record, { params => $params, state => 'in_flight' });
        close $lock;
    }

    return 'hang' if $mode eq 'hang';
    sleep 1 if $mode eq 'slow';

    my $res = $mode eq '500'
        ? error(500, type => 'api_error',
                message => 'An unknown error occurred.')
        : $self->charge($f, $key);

    save($record, { params => $params, state => 'done', status => $res->[0],
                    body => $res->[2] }) if $record;
    return 'hang' if $mode eq 'charge-then-hang';
    return $res;
}

sub save {
    my ($file, $data) = @_;
    open my $fh, '>', "$file.tmp" or die $!;
    print $fh $JSON->encode($data);
    close $fh;
    rename "$file.tmp", $file or die $!;
}

sub charge {
    my ($self, $f, $key) = @_;
    my $source = $f->{source};
    my $id = 'ch_' . substr(sha256_hex(rand() . $$ . time), 0, 24);
    if (my $card = $self->{tokens}{success_tokens}{$source}) {
        my $charge = {
            id => $id, object => 'charge', amount => int $f->{amount},
            amount_captured => int $f->{amount}, currency => $f->{currency},
            captured => JSON::PP::true, paid => JSON::PP::true,
            status => 'succeeded', livemode => JSON::PP::false,
            description => $f->{description},
            metadata => { map { /^metadata\[(.+)\]$/ ? ($1 => $f->{$_}) : () }
                          keys %$f },
            source => { object => 'card', last4 => substr($card, -4) },
        };
        open my $log, '>>', "$self->{dir}/charges.log" or die $!;
        flock $log, LOCK_EX;
        print $log $JSON->encode({ id => $id, amount => $f->{amount},
            currency => $f->{currency}, source => $source,
            idempotency_key => $key // '' }), "\n";
        close $log;
        return [ 200, { 'Content-Type' => 'application/json' },
                 $JSON->encode($charge) ];
    }
    for my $d (@{ $self->{tokens}{decline_tokens} }) {
        next if !defined $d->{token} || $d->{token} ne $source;
        return error(402, type => $d->{type}, code => $d->{code},
            ($d->{decline_code} ? (decline_code => $d->{decline_code}) : ()),
            message => $d->{message}, charge => $id);
    }
    return error(400, type => 'invalid_request_error',
                 code => 'resource_missing', param => 'source',
                 message => "No such token: '$source'");
}

1;
