# Issue 9, finding 7: a flow is never resumed on a request nginx
# terminated while the flow's journal write ran in the thread pool.
#
# nginx terminates a request whose subrequest ends in 444 (or an error):
# here a mirror subrequest whose backend hangs up, sent by error_page to
# "return 444". The journal write is held for real meanwhile: the test
# takes a read lease on the journal file (fcntl F_SETLEASE), so the
# worker's thread blocks in open() until the lease is given up. The
# journal line before the charge is written once the lease goes; the
# charge must not follow, since nginx closed the request.

use strict;
use warnings;
use Test::More;
use Fcntl qw(F_RDLCK F_UNLCK);
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use OpayTest qw(json_encode complete_body proxy_location stripe_location
                wait_for);
use StripeMock;

use constant { F_SETLEASE => 1024, F_GETLEASE => 1025 };

$^O eq 'linux' or plan skip_all => 'file leases are Linux\'s';

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

$t->invoice_backend(sub { $_[1]{requestShipping} = JSON::PP::false });
my $stripe = StripeMock->new($t->dir . '/stripe');
$t->backend('stripe', $stripe->handler);
$t->backend('notify', sub { [ 204, {}, '' ] });

# The mirror's backend: the test itself, which accepts the mirror's
# connection only when it chooses to, and hangs up at once.
my $mirror = IO::Socket::INET->new(LocalAddr => '127.0.0.1:'
                                   . $t->port('mirror'),
                                   Listen => 8, ReuseAddr => 1) or die $!;

my $conf = <<'EOF'
    opay_merchant_id   merchant-0001;
    opay_jwks_file     %%DIR%%/jwks.json;
    opay_invoice_uri   /_invoices/$opay_ctx_invoiceId;
    opay_processor     stripe /_stripe/;
    opay_journal       %%DIR%%/journal.log;
    opay_notify_uri    /_notify;
    opay_mode          test;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location = /complete {
            opay_payment_complete;
        }

        location = /mirrored {
            mirror /_mirror;
            opay_payment_complete;
        }

        location = /_mirror {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_mirror%%;
            error_page 502 = @gone;
        }

        location @gone {
            return 444;
        }

EOF
    . proxy_location('/_invoices/', 'invoice', '/invoices/')
    . stripe_location('/_stripe/', 'sk_test_opaytests')
    . proxy_location('= /_notify', 'notify', '/outcomes')
    . "    }\n";
$t->write_conf($conf);
$t->run;

my $token = $t->token($key, claims => { aud => 'merchant-0001' });

sub lease { my $l = fcntl($_[0], F_GETLEASE, 0); $l eq '0 but true' ? 0 : $l }

# The journal exists (nginx created it at start-up), and a lease holds
# every open() for writing until the test lets it go. The break of the
# lease is announced by SIGIO, which is not wanted here.
local $SIG{IO} = 'IGNORE';
open my $held, '<', $t->dir . '/journal.log' or die $!;
fcntl($held, F_SETLEASE, F_RDLCK) or die "F_SETLEASE: $!";

my $body = json_encode(complete_body('TERM-1'));
my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port('http'))
    or die $!;
print $c "POST /mirrored HTTP/1.1\r\nHost: x\r\n"
    . "Authorization: Bearer $token\r\nContent-Type: application/json\r\n"
    . 'Content-Length: ' . length($body) . "\r\n\r\n$body";

ok(wait_for(sub { lease($held) == F_UNLCK }, 10),
   'the journal line before the charge is being written, and held');

# the mirror's backend hangs up: 502, error_page, 444, nginx terminates
# the request while the journal write is still held
my $m;
ok(wait_for(sub {
    $m = $mirror->accept if IO::Select->new($mirror)->can_read(0);
    return $m;
}, 10), 'the mirror subrequest reached its backend');
close $m if $m;
ok(wait_for(sub { $t->error_log =~ /\[error\].*subrequest: "\/_mirror"/ },
            10), 'the mirror subrequest failed')
    or diag($t->error_log);

is(scalar @{ $stripe->charges }, 0, 'nothing charged while the write is held');

fcntl($held, F_SETLEASE, F_UNLCK) or die "F_SETLEASE: $!";
close $held;

# nginx closes the connection once the journal write is done; a flow
# resumed would charge first
my $answer = '';
my $sel = IO::Select->new($c);
my $closed = wait_for(sub {
    return 0 if !$sel->can_read(0);
    return !sysread($c, $answer, 65536, length $answer);
}, 10);
ok($closed, 'the terminated request is closed');
is($answer, '', 'with no answer (444)');
sleep 0.5;

like($t->read_file('journal.log'),
     qr/"type":"attempt"[^\n]*"TERM-1"|"TERM-1"[^\n]*"type":"attempt"/,
     'the journal line was written once the lease went');
is(scalar @{ $stripe->charges }, 0,
   'the flow was not resumed: Stripe was not charged');
unlike($t->read_file('journal.log'), qr/"type":"outcome"[^\n]*"TERM-1"/,
       'and no outcome was journaled');

# The worker goes on serving payments.
my $r = $t->request('/complete', token => $token,
                    body => complete_body('TERM-2'));
is($r->{json}{result}, 'success', 'the next payment succeeds');
is(scalar @{ $stripe->charges }, 1, 'and is charged once');

$t->stop;
$t->check_error_log;

done_testing;
