package StripeMock::Faults;

# The mode: the fault words a test sets so that the mock fails as Stripe or
# the network may, and the endpoint run with those faults around it.
#
# Mode words (mode('w1 w2 ...'); mode() reads them; setting the mode
# resets every counter). OP is one of create, update, confirm, cancel,
# retrieve, pm-create, pm-retrieve. A fault word may end in =N: it then
# acts on the next N requests it applies to, and not after.
#   OP-503            the edge answers 503 before anything: nothing
#                     stored, the same key later runs
#   OP-fresh-500      a 500 in front of the idempotency layer, before the
#                     work: nothing stored
#   OP-500            a 500 stored for the key, before the work (nothing
#                     created, changed or charged)
#   OP-hang           no answer, nothing done; the key stays in flight
#   OP-then-500       the work done, then a 500 stored for the key
#                     (create-then-500: the PaymentIntent exists, its key
#                     replays 500)
#   OP-then-hang      the work done and stored, no answer
#   OP-then-garbage   the work done and stored, a 200 with a cut body
#   OP-then-fresh-500 the work done and stored, a 500 answered that is not
#                     a replay (a retry with the key replays the 200)
#   charge-then-500 | charge-then-hang | charge-then-garbage
#                     as confirm-then-*, but only when money moved
#   charge-then-huge  money moved, then the succeeded PaymentIntent padded
#                     to 1.5 MB (a metadata value; answers can be large)
#   slow              confirm holds the lock 1 s (a concurrent update,
#                     confirm or cancel meets 429 lock_timeout)
#   pause=OP          each OP request waits, before taking the lock or
#                     reading anything, until release() (see paused())
#   delay=OP:MS       each OP request waits MS ms the same way
#   min=N | max=N     amount_too_small below N / amount_too_large above N
#                     (minor units, any currency): Stripe's minimum and
#                     maximum depend on the settlement currency; not
#                     stored for the key, not violations. min=OP:N and
#                     max=OP:N: for OP (create or update) only
#   live-keys         sk_live_ keys accepted too (livemode objects; each
#                     mode sees only its own objects and keys)
#   legacy words: 500 = confirm-500, hang = confirm-hang,
#                 readback-500 = retrieve-fresh-500; normal = none

use strict;
use warnings;

use Exporter qw(import);
use Fcntl qw(:flock);
use Time::HiRes qw(sleep time);

use StripeMock::State;
use StripeMock::Wire;

our @EXPORT = qw(mode modes fires limit hold execute);

# The mode: get, or set (one word or several, space-separated).
sub mode {
    my ($self, $mode) = @_;
    my $file = "$self->{dir}/mode";
    if (defined $mode) {
        unlink glob "$self->{dir}/fired/*";
        save_text($file, $mode);
        return $mode;
    }
    open my $fh, '<', $file or return 'normal';
    return scalar(<$fh>) // 'normal';
}

my %LEGACY = ('500' => 'confirm-500', hang => 'confirm-hang',
              'readback-500' => 'retrieve-fresh-500');

# The mode words as { word => value }: 'create-500=2' is create-500 => 2,
# 'min=5000' is min => 5000, a bare word is word => ''.
sub modes {
    my ($self) = @_;
    my %m;
    for my $w (split ' ', $self->mode) {
        my ($k, $v) = split /=/, $w, 2;
        $m{ $LEGACY{$k} // $k } = $v // '';
    }
    return %m;
}

# Whether fault word $word acts on this request: set, and (with =N) not
# yet used N times. Counts under a lock: requests run in parallel.
sub fires {
    my ($self, $word) = @_;
    my %m = $self->modes;
    return 0 if !exists $m{$word};
    return 1 if $m{$word} eq '';
    open my $lock, '>>', "$self->{dir}/fired.lock" or die $!;
    flock $lock, LOCK_EX;
    my $file = "$self->{dir}/fired/$word";
    my $n = 0;
    if (open my $fh, '<', $file) { $n = int(<$fh> // 0) }
    return 0 if $n >= $m{$word};
    save_text($file, $n + 1);
    return 1;
}

# min=N / max=N, or min=OP:N for one operation (create or update).
sub limit {
    my ($self, $word, $op) = @_;
    my %m = $self->modes;
    my ($o, $n) = ($m{$word} // '') =~ /^(?:([\w-]+):)?(\d+)$/ or return;
    return !defined $o || $o eq $op ? $n : undef;
}

# pause=OP and delay=OP:MS: the request waits before it reads anything.
sub hold {
    my ($self, $op) = @_;
    my %m = $self->modes;
    if (exists $m{delay}) {
        for my $d (split /,/, $m{delay}) {
            my ($o, $ms) = split /:/, $d, 2;
            sleep $ms / 1000 if $o eq $op && ($ms // '') =~ /^\d+$/;
        }
    }
    return if ($m{pause} // '') ne $op;
    my $file = sprintf '%s/paused/%017.6f.%d', $self->{dir}, time, $$;
    save_text($file, $op);
    my $deadline = time + 60;
    while (-e $file && time < $deadline) {
        my %now = $self->modes;
        last if ($now{pause} // '') ne $op;
        sleep 0.01;
    }
    unlink $file;
}

# The endpoint with the mode's faults around the work. $work returns
# ($response, { charged, nostore }).
sub execute {
    my ($self, $op, $work, $f, $ctx, @rest) = @_;
    $self->hold($op);
    return ('hang', 'in_flight') if $self->fires("$op-hang");
    if ($self->fires("$op-500")) {
        my $res = api_error();
        return ($res, $res);
    }
    my ($res, $how) = $self->$work($f, $ctx, @rest);
    return ($res, 'none') if $how->{nostore};
    my $charged = $how->{charged};
    my $then = sub {
        my ($fault) = @_;
        return $self->fires("$op-then-$fault")
            || ($charged && $self->fires("charge-then-$fault"));
    };
    if ($then->('500')) {
        my $err = api_error();
        return ($err, $err);
    }
    return ('hang', $res) if $then->('hang');
    if ($then->('garbage')) {
        my $cut = substr $res->[2], 0, int(length($res->[2]) / 2);
        return ([ $res->[0], { 'Content-Type' => 'application/json' },
                  $cut ], $res);
    }
    return (api_error(), $res) if $then->('fresh-500');
    if ($charged && $self->fires('charge-then-huge')) {
        my $big = $JSON->decode($res->[2]);
        $big->{metadata}{padding} = 'x' x (1536 * 1024);
        return ([ 200, { 'Content-Type' => 'application/json' },
                  $JSON->encode($big) ], $res);
    }
    return ($res, $res);
}

1;
