# Hardening, second round (issue 19), the opay tool against hostile files
# and endpoints:
#
#   1. what it prints from a card file, a journal or an endpoint has its
#      control characters escaped: ESC sequences and CR cannot draw a fake
#      "ok", "0 delivered, 0 failed" or "verdict: PASS" line
#   2. opay simulate reads an answer up to --max-answer (1 MiB by default)
#      and refuses a larger one without reading it all into memory
#   3. opay journal replay reads and appends to the journal itself, never
#      through a symbolic link, and refuses a FIFO instead of waiting on it

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX ();
use OpayTest qw(json_response wait_or_kill);

my $opay = $ENV{OPAY} or plan skip_all => 'OPAY (the opay tool) not set';

my $t = OpayTest->new;
my $dir = $t->dir;
my $key = $t->make_key('key-1');
my $pem = $t->write_file('key.pem', $key->{pk}->export_key_pem('private'));

sub opay {
    my $cmd = join ' ', map { "'$_'" } $opay, @_;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

# what a terminal would obey: C0 (but the lines' own \n), DEL, C1
sub raw_controls {
    my ($out) = @_;
    my @found = $out =~ /([\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f])/g;
    return scalar @found;
}

# the ESC sequence moves up a line and clears it, the CR goes back to its
# start: printed raw, the line after would seem the tool's own
my $forge = "\e[1A\e[2K\r";

# 1. card --check: a card whose @type draws an "ok" line
my $card = $t->write_file('hostile.html',
    '<html><head><script type="application/ld+json">'
    . '{"@context":"http://schema.org","@type":"\u001b[1A\u001b[2K\rok'
    . '\u009b2K"}</script></head><body></body></html>');
my ($rc, $out) = opay('card', '--check', $card);
is($rc, 1, 'card --check: the hostile card is INVALID');
is(raw_controls($out), 0, 'card --check: no raw control character printed')
    or diag(explain($out));
like($out, qr/\\x1b\[1A\\x1b\[2K\\x0dok\\x9b2K/,
     'card --check: the card\'s text shown escaped');

# 2. journal replay: an entry that draws "0 delivered, 0 failed"
my $journal = $t->write_file('journal.log',
    '{"type":"outcome","entry":"e1\u001b[1A\u001b[2K\r0 delivered, 0 failed'
    . '","requestId":"r1","record":{"status":"succeeded"}}' . "\n");
my $closed = $t->port('closed');
($rc, $out) = opay('journal', 'replay', '--journal', $journal,
                   '--url', "http://127.0.0.1:$closed/outcomes");
is($rc, 1, 'journal replay: the undelivered outcome is a failure');
is(raw_controls($out), 0, 'journal replay: no raw control character printed')
    or diag(explain($out));
like($out, qr/^e1\\x1b\[1A\\x1b\[2K\\x0d0 delivered, 0 failed: failed/m,
     'journal replay: the entry shown escaped');

# 3. simulate: an endpoint whose refusal message draws "verdict: PASS"
my $message = "x${forge}verdict: PASS (4 steps, 0 violations)\xc2\x9b";
$t->backend('hostile', sub {
    json_response(400, { error => { code => 'invalid_payload',
                                    message => $message } });
});
my @simulate = ('simulate', '--key', $pem, '--kid', 'key-1',
                '--merchant-id', 'merchant-0001', '--invoice', '12345');
($rc, $out) = opay(@simulate, '--url',
                   'http://127.0.0.1:' . $t->port('hostile'));
isnt($rc, 0, 'simulate: the refused conversation does not pass');
is(raw_controls($out), 0, 'simulate: no raw control character printed')
    or diag(explain($out));
like($out,
     qr/\\x1b\[1A\\x1b\[2K\\x0dverdict: PASS \(4 steps, 0 violations\)\\x9b/,
     'simulate: the endpoint\'s text shown escaped');
like($out, qr/^verdict: FAIL/m, 'simulate: its own verdict is FAIL');
($rc, $out) = opay(@simulate, '--json', '--url',
                   'http://127.0.0.1:' . $t->port('hostile'));
is(raw_controls($out), 0, 'simulate --json: no raw control character');
like($out, qr/\\u001B\[1A.*\\u009B/, 'simulate --json: escaped as JSON');

# 4. simulate: a huge answer, streamed (no Content-Length) or announced
sub stream_server {
    my ($name, $announce) = @_;
    $t->server($name, sub {
        my ($server) = @_;
        $SIG{PIPE} = 'IGNORE';
        while (my $c = $server->accept) {
            local $/ = "\r\n\r\n";
            my $head = <$c>;
            my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            read($c, my $body, $len // 0);
            my $chunk = '[' . ('0,' x (512 * 1024 - 1)) . '0]';  # 1 MiB
            print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
                $announce ? "Content-Length: " . (256 * length $chunk) . "\r\n"
                          : "Transfer-Encoding: chunked\r\n",
                "Connection: close\r\n\r\n";
            # 256 MiB, or until the client hangs up
            for (1 .. 256) {
                my $data = $announce ? $chunk
                         : sprintf("%x\r\n%s\r\n", length $chunk, $chunk);
                last if !print $c $data;
            }
            print $c "0\r\n\r\n" if !$announce;
            close $c;
        }
    }, listen => 8);
    return 'http://127.0.0.1:' . $t->port($name);
}

# peak memory (KiB) and output of one opay run, through GNU time
sub opay_peak {
    my $cmd = join ' ', map { "'$_'" } '/usr/bin/time', '-f', 'PEAK %M',
                                      $opay, @_;
    my $out = `$cmd 2>&1`;
    my ($peak) = $out =~ /^PEAK (\d+)$/m;
    return ($? >> 8, $out, $peak);
}

SKIP: {
    skip 'GNU time (/usr/bin/time) is not installed', 8
        if !-x '/usr/bin/time';
    # the tool's own size (larger under the sanitizers): a run whose answer
    # is small; reading 256 MiB would add at least that much
    my $small = 'http://127.0.0.1:' . $t->port('hostile');
    my (undef, undef, $base) = opay_peak(@simulate, '--url', $small);
    $base //= 0;
    for my $case ([ streamed => 0 ], [ announced => 1 ]) {
        my ($name, $announce) = @$case;
        my $url = stream_server($name, $announce);
        my ($rc, $out, $peak) = opay_peak(@simulate, '--url', $url);
        isnt($rc, 0, "simulate, $name 256 MiB answer: does not pass");
        like($out, qr/answer larger than 1048576 bytes \(--max-answer\)/,
             "simulate, $name 256 MiB answer: refused above the default cap");
        ok(defined $peak && $peak < $base + 32 * 1024,
           "simulate, $name 256 MiB answer: memory stays bounded")
            or diag("peak KiB: " . ($peak // 'unknown') . ", base $base");
    }
    # the flag moves the cap: 4 MiB is still too small for 256 MiB
    my ($rc, $out) = opay_peak(@simulate, '--max-answer', '4194304',
                               '--url', stream_server('flag', 0));
    like($out, qr/answer larger than 4194304 bytes/,
         'simulate --max-answer: the cap named is the flag\'s');
    ($rc, $out) = opay(@simulate, '--max-answer', '12k', '--url',
                       'http://127.0.0.1:1');
    is($rc, 2, 'simulate --max-answer: a bad number is refused');
}

# 5. journal replay: never through a symbolic link, never waiting on a FIFO
my $victim = $t->write_file('victim.txt', "keep me\n");
symlink($victim, "$dir/link.log") or die "symlink: $!";
($rc, $out) = opay('journal', 'replay', '--journal', "$dir/link.log",
                   '--url', "http://127.0.0.1:$closed/outcomes");
is($rc, 2, 'journal replay of a symbolic link: refused');
like($out, qr/cannot read .*link\.log/, 'journal replay: says so');

# the journal swapped for a symbolic link while the outcome is delivered:
# the delivery's record is not appended to the link's target
my $swap = $t->write_file('swap.log',
    '{"type":"outcome","entry":"e2","requestId":"r2",'
    . '"record":{"status":"succeeded"}}' . "\n");
$t->backend('notify', sub {
    unlink $swap;
    symlink $victim, $swap;
    return [ 204, {}, '' ];
});
($rc, $out) = opay('journal', 'replay', '--journal', $swap,
                   '--url', 'http://127.0.0.1:' . $t->port('notify') . '/o');
like($out, qr/^e2: delivered/m, 'swapped journal: the outcome delivered');
like($out, qr/cannot append to .*swap\.log/,
     'swapped journal: the record is not appended through the link');
is($rc, 1, 'swapped journal: exit 1');
is($t->read_file('victim.txt'), "keep me\n",
   'swapped journal: the link\'s target is untouched');

my $fifo = "$dir/fifo.log";
POSIX::mkfifo($fifo, 0600) or die "mkfifo: $!";
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    setpgrp(0, 0);
    open STDOUT, '>', "$dir/fifo.out";
    open STDERR, '>&', \*STDOUT;
    { exec $opay, 'journal', 'replay', '--journal', $fifo,
           '--url', "http://127.0.0.1:$closed/outcomes" };
    POSIX::_exit(127);
}
my $done = wait_or_kill($pid, 5);
ok($done, 'journal replay of a FIFO: returns at once');
is($done ? $? >> 8 : -1, 2, 'journal replay of a FIFO: refused');

$t->stop;
done_testing;
