package StripeMock::Idempotency;

# Stripe's Idempotency-Key rules (../shared/spec/stripe/FORM-ENCODING.md):
# the status and body stored once the endpoint started executing (5xx
# included) and replayed with Idempotent-Replayed: true; nothing stored for
# a validation failure, a 429 or a collision (409 idempotency_key_in_use
# while the first still runs); other parameters or another endpoint are an
# idempotency_error. Each mode (test, live) has its own keys.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Exporter qw(import);
use Fcntl qw(:flock);

use StripeMock::State;
use StripeMock::Wire;

our @EXPORT = qw(idempotent with_headers);

# Runs the endpoint under Idempotency-Key rules. $run returns
# ($answer, $saved): the answer for this request ('hang' for none) and
# what the key replays: a response, 'none' (nothing saved: the key may be
# used again) or 'in_flight' (the request never ends).
sub idempotent {
    my ($self, $key, $ctx, $f, $run) = @_;
    my %headers = ('Request-Id' => random_id('req_', 14));
    if (!defined $key || $ctx->{method} ne 'POST') {
        my ($answer) = $run->();
        return with_headers($answer, %headers);
    }
    $headers{'Idempotency-Key'} = $key;
    my $endpoint = "$ctx->{method} $ctx->{path}";
    my $params = $JSON->encode($f);
    my $record = "$self->{dir}/idem/"
        . sha256_hex(($ctx->{livemode} ? 'live:' : 'test:') . $key);
    open my $lock, '>>', "$self->{dir}/idem.lock" or die $!;
    flock $lock, LOCK_EX;
    if (open my $fh, '<', $record) {
        my $saved = $JSON->decode(do { local $/; <$fh> });
        close $lock;
        my $try = "Try using a key other than '$key' if you meant to "
                . 'execute a different request.';
        return error(400, type => 'idempotency_error',
            message => 'Keys for idempotent requests can only be used for '
                     . 'the same endpoint they were first used for '
                     . "('$saved->{endpoint}' vs '$endpoint'). $try")
            if $saved->{endpoint} ne $endpoint;
        return error(400, type => 'idempotency_error',
            message => 'Keys for idempotent requests can only be used '
                     . 'with the same parameters they were first used '
                     . "with. $try")
            if $saved->{params} ne $params;
        return error(409, type => 'idempotency_error',
            code => 'idempotency_key_in_use',
            message => 'There is currently another in-progress request '
                     . 'using this Idempotent Key (that probably means you '
                     . 'submitted twice, and the other request is still '
                     . "going through): '$key'. Please try again later.")
            if $saved->{state} eq 'in_flight';
        return [ $saved->{status},
                 { 'Content-Type' => 'application/json', %headers,
                   'Idempotent-Replayed' => 'true' }, $saved->{body} ];
    }
    save($record, { endpoint => $endpoint, params => $params,
                    state => 'in_flight' });
    close $lock;

    my ($answer, $saved) = $run->();
    if (ref $saved) {
        save($record, { endpoint => $endpoint, params => $params,
                        state => 'done', status => $saved->[0],
                        body => $saved->[2] });
    } elsif ($saved eq 'none') {
        open my $lock2, '>>', "$self->{dir}/idem.lock" or die $!;
        flock $lock2, LOCK_EX;
        unlink $record;
        close $lock2;
    }
    return with_headers($answer, %headers);
}

sub with_headers {
    my ($answer, %headers) = @_;
    return $answer if !ref $answer;
    $answer->[1]{$_} //= $headers{$_} for keys %headers;
    return $answer;
}

1;
