# Hardening, second round (issue 19), the request path:
#
#   1. the module's subrequests have variables of their own: a caller's
#      $http_* cached by a server-level "if" does not reach a backend, and
#      with log_subrequest on the caller's access-log line keeps the
#      caller's User-Agent
#   2. proxy_pass with variables (http://$backend$uri) sends each value as
#      one encoded path segment too: no query, no fragment, no traversal
#   3. a FIFO at the journal path: nginx -t, start and reload refuse it
#      with a clear [emerg], they do not hang in open(); a worker that meets
#      one writes nothing to it, does not hang, and charges nothing

use strict;
use warnings;
use Test::More;
use POSIX ();
use OpayTest qw(loadentity_body reference_invoice json_response
                complete_body unescape wait_for wait_or_kill);
use StripeMock;

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

# answers any invoice path with the reference invoice
$t->backend('invoice', sub { json_response(200, reference_invoice()) });
my $stripe = StripeMock->new($t->dir . '/stripe');
$t->backend('stripe', $stripe->handler);

my $conf = <<'EOF';
    log_format caller '$uri|$http_user_agent|$http_x_tenant';

    # proxy_pass with variables, the usual way to re-resolve a backend
    map $uri $invoice_backend {
        default 127.0.0.1:%%PORT_invoice%%;
    }

    opay_merchant_id  merchant-0001;
    opay_jwks_file    %%DIR%%/jwks.json;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        log_subrequest on;
        access_log %%DIR%%/caller.log caller;

        # the caller's request reads (and nginx caches) $http_x_tenant here
        if ($http_x_tenant = "nobody") {
            return 403;
        }

        location = /pay {
            opay_payment_request;
            opay_invoice_uri /_invoices/$opay_ctx_invoiceId;
        }

        location = /complete {
            opay_payment_complete;
            opay_invoice_uri /_invoices/$opay_ctx_invoiceId;
            opay_processor  stripe /_stripe/;
            opay_mode       test;
            opay_journal    %%DIR%%/journal.log;
        }

        location /_stripe/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_stripe%%/;
            proxy_set_header Authorization "Bearer sk_test_opaytests";
        }

        location = /pay-var {
            opay_payment_request;
            opay_invoice_uri /_var/$opay_ctx_invoiceId;
        }

        location /_invoices/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_invoice%%/invoices/;
            proxy_set_header X-Tenant $http_x_tenant;
        }

        location /_var/ {
            internal;
            proxy_pass http://$invoice_backend$uri;
        }
    }
EOF
$t->write_conf($conf);
$t->run;

my $token = $t->token($key, claims => { aud => 'merchant-0001' });

# every request the invoice backend saw since the last call
my $seen = 0;
sub backend_seen {
    my $all = $t->backend_requests('invoice');
    my @new = @$all[$seen .. $#$all];
    $seen = @$all;
    return @new;
}

# 1. The caller's variables stay the caller's.
my $r = $t->request('/pay', token => $token,
                    headers => { 'X-Tenant' => 'tenant-of-the-caller',
                                 'User-Agent' => 'caller-agent/1.0' },
                    body => loadentity_body(invoiceId => '12345'));
is($r->{status}, 200, 'loadentity: 200');
my @req = backend_seen();
is(scalar @req, 1, 'one invoice fetch');
ok(!exists $req[0]{headers}{'x-tenant'},
   'the backend does not get the caller\'s X-Tenant through $http_x_tenant')
    or diag("X-Tenant: $req[0]{headers}{'x-tenant'}");
like($req[0]{headers}{'user-agent'} // '', qr{^opay/},
     'the backend gets the module\'s User-Agent');

# nginx writes the caller's line after the answer has gone out: the test
# may read the log before it is there
my @log;
wait_for(sub {
    @log = split /\n/, $t->read_file('caller.log');
    return grep { m{^/pay\|} } @log;
}, 5);
my ($main) = grep { m{^/pay\|} } @log;
my ($sub) = grep { m{^/_invoices/} } @log;
is($main, '/pay|caller-agent/1.0|tenant-of-the-caller',
   'the caller\'s log line: the caller\'s User-Agent and X-Tenant');
like($sub // '', qr{^/_invoices/12345\|opay/[^|]*\|-$},
     'the subrequest\'s log line: its own User-Agent, no X-Tenant');

# 2. proxy_pass http://$backend$uri: still one encoded path segment. Once
# the backend decoded it, the segment is the value, but for what would
# climb were it decoded again: a value's '/' and '\' stay %2F and %5C, the
# dots of "." and ".." %2E.
for my $id ('12345?admin=true&delete=1', '..%2F..%2Fadmin', '12345#frag',
            'a b', '../../admin', '..\\..\\admin', '..', '.') {
    $r = $t->request('/pay-var', token => $token,
                     body => loadentity_body(invoiceId => $id));
    is($r->{status}, 200, "\$uri with \"$id\": answered");
    my ($got) = backend_seen();
    my $path = $got->{path} // '';
    like($path, qr{^/_var/[^/?#\s]+$},
         "\$uri with \"$id\": one segment, no query or fragment")
        or diag("path: $path");
    my ($segment) = $path =~ m{^/_var/(.*)$};
    my $once = unescape($segment // '');
    (my $want = $id) =~ s{([/\\])}{sprintf '%%%02X', ord $1}ge;
    $want = '%2E' x length $id if $id eq '.' || $id eq '..';
    is($once, $want, "\$uri with \"$id\": decoded once, the value");
    unlike($once, qr{^\.\.?$|[/\\]}, "\$uri with \"$id\": no traversal");
}

# nothing at [alert] or worse so far: the FIFO below makes some
$t->check_error_log;

# 3. A FIFO at the journal path is refused, never waited on.
my $fifo = $t->dir . '/journal.fifo';
POSIX::mkfifo($fifo, 0600) or die "mkfifo: $!";

# runs code in a child; fails (and kills it) when it takes over 10 s
sub within_10s {
    my ($name, $code) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        POSIX::_exit($code->() ? 0 : 1);
    }
    if (!wait_or_kill($pid, 10)) {
        fail("$name: hung");
        return;
    }
    is($? >> 8, 0, $name);
}

(my $fifo_conf = $conf) =~ s{%%DIR%%/journal\.log}{%%DIR%%/journal.fifo};
$t->write_conf($fifo_conf);
within_10s('nginx -t with a FIFO journal: returns', sub {
    my ($rc, $out) = $t->test_conf;
    return $rc != 0 && $out =~
        /\[emerg\].*opay_journal ".*journal\.fifo" is not a regular file/;
});

# start: the master refuses the configuration and exits
within_10s('start with a FIFO journal: refused, exits', sub {
    my $cmd = "$t->{binary} -p " . $t->prefix . ' -c ' . $t->dir
            . '/nginx.conf -e ' . $t->dir . '/start.log 2>&1';
    my $out = `$cmd`;
    return $? != 0 && $out =~ /\[emerg\].*journal\.fifo" is not a regular file/;
});

# reload: the running master keeps its configuration and its workers
my @before = $t->workers;
kill 'HUP', $t->{nginx_pid};
my $refused;
for (1 .. 100) {
    $refused = $t->error_log
        =~ /\[emerg\].*journal\.fifo" is not a regular file/;
    last if $refused;
    select undef, undef, undef, 0.1;
}
ok($refused, 'reload with a FIFO journal: refused with [emerg]');
is(kill(0, $t->{nginx_pid}), 1, 'reload with a FIFO journal: the master lives');
is_deeply([ $t->workers ], \@before,
          'reload with a FIFO journal: the old workers serve on')
    or diag(`ps -ef | grep nginx`);
$r = $t->request('/pay', token => $token,
                 body => loadentity_body(invoiceId => '12345'));
is($r->{status}, 200, 'reload with a FIFO journal: still answering');

# a worker: the journal replaced by a FIFO while nginx runs
my $journal = $t->dir . '/journal.log';
unlink $journal;
POSIX::mkfifo($journal, 0600) or die "mkfifo: $!";
my $stripe_calls = @{ $t->backend_requests('stripe') };
my $t0 = time;
$r = $t->request('/complete', token => $token, timeout => 15,
                 body => complete_body('12345'));
ok($r->{status} != 599 && time - $t0 < 10,
   'a FIFO journal in a worker: answered, not hung')
    or diag("status $r->{status}: $r->{content}");
isnt($r->{json}{result} // '', 'success',
     'a FIFO journal in a worker: no success without a journal');
like($t->error_log, qr/\[alert\].*cannot write journal ".*journal\.log"/,
     'a FIFO journal in a worker: the error log says so');
my @calls = @{ $t->backend_requests('stripe') };
splice @calls, 0, $stripe_calls;
ok(!grep({ $_->{path} =~ m{/confirm} } @calls),
   'a FIFO journal in a worker: nothing confirmed (charged)');
# readers, should a master or a worker's thread be blocked opening one of
# them to write (so that a failing run leaves no nginx behind)
for my $f ($journal, $fifo) {
    sysopen(my $unblock, $f, POSIX::O_RDONLY() | POSIX::O_NONBLOCK());
}
$t->stop;

done_testing;
