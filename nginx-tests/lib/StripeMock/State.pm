package StripeMock::State;

# State lives in files under DIR (the server forks per connection):
#   mode, fired/     the mode words; how often each counted word acted
#   requests.log     one JSON line per request received
#   charges.log      one JSON line per charge that moved money
#   violations.log   one JSON line per request outside the published API
#   pi/ID.json       each PaymentIntent; pi/ID.lock its lock
#   pm/ID.json       each PaymentMethod (with x_test_token, the test token
#                    behind it: not in Stripe's answers); tokens/ the
#                    tokens used; minted/ the tokens token() made
#   idem/            one record per Idempotency-Key; idem.lock guards them
#   paused/          one file per request waiting for release()

use strict;
use warnings;

use Exporter qw(import);
use Fcntl qw(:flock);
use Time::HiRes qw(sleep time);

use StripeMock::Wire;

our @EXPORT = qw(LOCK_WAIT save_text save read_log append_log load all
    object lock_object);

use constant LOCK_WAIT => 0.8;    # seconds a request waits for a lock

sub save_text {
    my ($file, $text) = @_;
    open my $fh, '>', "$file.tmp.$$" or die "$file: $!";
    print $fh $text;
    close $fh;
    rename "$file.tmp.$$", $file or die $!;
}

sub save { save_text($_[0], $JSON->encode($_[1])) }

sub read_log {
    my ($self, $name) = @_;
    open my $fh, '<', "$self->{dir}/$name" or return [];
    return [ map { $JSON->decode($_) } grep { /\S/ } <$fh> ];
}

sub append_log {
    my ($self, $name, $data) = @_;
    open my $fh, '>>', "$self->{dir}/$name" or die $!;
    flock $fh, LOCK_EX;
    print $fh $JSON->encode($data), "\n";
    close $fh;
}

sub load {
    my ($self, $kind, $id) = @_;
    return undef if ($id // '') !~ /^[a-z]+_[A-Za-z0-9]+$/;
    open my $fh, '<', "$self->{dir}/$kind/$id.json" or return undef;
    local $/;
    return $JSON->decode(scalar <$fh>);
}

sub all {
    my ($self, $kind) = @_;
    my %all;
    for my $file (glob "$self->{dir}/$kind/*.json") {
        my ($id) = $file =~ m{/([a-z]+_[A-Za-z0-9]+)\.json$} or next;
        my $obj = $self->load($kind, $id) or next;
        $all{$id} = $obj;
    }
    return \%all;
}

# Whose object it is: each mode sees its own.
sub object {
    my ($self, $kind, $id, $ctx) = @_;
    my $obj = $self->load($kind, $id) or return undef;
    return undef if ($obj->{livemode} ? 1 : 0) != $ctx->{livemode};
    return $obj;
}

# The per-object lock, non-blocking, retried for LOCK_WAIT s.
sub lock_object {
    my ($self, $id) = @_;
    open my $lock, '>>', "$self->{dir}/pi/$id.lock" or die $!;
    my $deadline = time + LOCK_WAIT;
    while (1) {
        return $lock if flock $lock, LOCK_EX | LOCK_NB;
        last if time >= $deadline;
        sleep 0.02;
    }
    close $lock;
    return undef;
}

1;
