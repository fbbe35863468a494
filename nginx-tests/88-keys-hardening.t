# The key code against an attacker or a mistake (issue 19): a local user
# rewriting or planting opay_jwks_cache under a daemonized nginx, a cache
# fetched for another URL, a system CA trusted despite opay_jwks_ca_file,
# a kid that forges a log line, an OpenID document aiming the worker at an
# http:// service on the machine, a reload during a slow fetch, and the
# same URL under both key directives. Each part starts its own nginx.

use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use KeyServer;
use OpayTest qw(loadentity_body reference_invoice json_response json_encode
                wait_for);

sub jwks { json_encode({ keys => [ map { $_->{jwk} } @_ ] }) }

sub serve {
    my ($t, $name, %what) = @_;
    for my $part (qw(json status sleep meta)) {
        unlink $t->dir . "/keys-$name.$part";
        $t->write_file("keys-$name.$part", $what{$part})
            if defined $what{$part};
    }
}

sub pay {
    my ($t, $key, $path) = @_;
    return $t->request($path // '/pay', body => loadentity_body(),
                       token => $t->token($key));
}

# a test's issuer, invoice backend and one webhook location per key source
sub setup {
    my ($t, $locations, %opt) = @_;
    my $dir = $t->dir;
    KeyServer::make_cert($dir, 'ca', 'issuer', 'IP:127.0.0.1,DNS:localhost')
        if !-f "$dir/issuer.crt";
    $t->backend('invoice', sub { json_response(200, reference_invoice()) });
    $t->write_conf(<<"EOF", %opt);
    opay_merchant_id   merchant-0001;
    opay_invoice_uri   /_invoices/\$opay_ctx_invoiceId;
    opay_jwks_ca_file  %%DIR%%/ca.crt;
    opay_jwks_min_refresh 1s;

    server {
        listen 127.0.0.1:%%PORT_http%%;
$locations
        location /_invoices/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_invoice%%/invoices/;
        }
    }
EOF
}

my $issuer_url;

###########################################################################
# 1. The cache under a daemonized nginx (umask 0) and a local user.

{
    my $t = OpayTest->new;
    my $dir = $t->dir;
    my ($good, $evil) = map { $t->make_key($_) } qw(k1 k1);
    mkdir "$dir/cache";
    chmod 0755, "$dir/cache";
    my $cache = "$dir/cache/keys.json";
    setup($t, <<'EOF');
        location = /pay {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_issuer%%/keys;
            opay_jwks_cache %%DIR%%/cache/keys.json;
        }
EOF
    # daemon on: ngx_daemon() sets umask 0, as in production
    my $conf = $t->read_file('nginx.conf');
    $conf =~ s/daemon off;/daemon on;/ or die;
    $t->write_file('nginx.conf', $conf);

    my $start = sub {
        my $cmd = "$t->{binary} -p " . $t->prefix . " -c $dir/nginx.conf"
            . " -e $dir/error.log 2>>$dir/stderr.log";
        system($cmd) == 0 or die "nginx did not start";
        $t->wait_port($t->port('http')) or die "nginx did not listen";
    };
    my $stop = sub {
        my $pid = $t->read_file('nginx.pid');
        chomp $pid;
        kill 'QUIT', $pid;
        wait_for(sub { !kill 0, $pid }) or die "nginx did not stop";
    };

    serve($t, 'issuer', json => jwks($good));
    my $issuer = KeyServer::start($t, 'issuer', 'issuer');
    $start->();
    ok(wait_for(sub { -s $cache }), 'daemon: the cache is written');
    my @st = stat $cache;
    is(sprintf('%o', $st[2] & 07777), '600',
       'daemon: the cache is 0600 despite umask 0');
    is($st[4], $>, 'daemon: owned by the workers\' user');
    ok(!glob("$dir/cache/keys.json.tmp.*"), 'daemon: no temporary file left');

    # a local user (nobody) rewrites the cache with the attacker's key
    SKIP: {
        skip 'acting as another user needs root', 1 if $> != 0;
        my $pid = fork // die;
        if ($pid == 0) {
            POSIX::setgid(65534);
            POSIX::setuid(65534);
            POSIX::_exit(3) if $> != 65534;
            open my $fh, '+<', $cache or POSIX::_exit(1);
            POSIX::_exit(0);
        }
        waitpid($pid, 0);
        is($? >> 8, 1, 'daemon: another local user cannot open the cache '
           . 'to write it');
    }
    $stop->();
    KeyServer::stop($t, $issuer);

    # what a local user would have planted, had the file been writable:
    # nginx's own header, the attacker's key, the issuer unreachable
    my $legit = $t->read_file($cache);
    (my $planted = $legit) =~ s/\n.*/"\n" . jwks($evil)/se;
    my @cases = (
        [ 'writable by others', 0666, 0, qr/writable by group or others/ ],
        [ 'writable by group', 0620, 0, qr/writable by group or others/ ],
        [ 'owned by another user', 0644, 65534, qr/owned by uid 65534/ ],
    );
    # only root can give a file away
    @cases = grep { !$_->[2] } @cases if $> != 0;
    for my $c (@cases) {
        my ($name, $mode, $uid, $why) = @$c;
        unlink $cache;
        $t->write_file('cache/keys.json', $planted);
        chmod $mode, $cache;
        chown $uid, -1, $cache if $uid;
        $start->();
        my $r = pay($t, $evil);
        isnt($r->{status}, 200, "planted cache ($name): the attacker's "
             . "token is not accepted");
        is($r->{status}, 503, "planted cache ($name): no keys, 503");
        like($t->error_log, qr/no keys from the cache: cache: "\Q$cache\E" not used: $why/,
             "planted cache ($name): refused, logged why");
        $stop->();
    }

    # the legitimate file, restored: used (the refusals above are real)
    unlink $cache;
    $t->write_file('cache/keys.json', $legit);
    chmod 0600, $cache;
    $start->();
    is(pay($t, $good)->{status}, 200,
       'the cache nginx wrote is used at a restart, issuer down');
    is(pay($t, $evil)->{status}, 401, '... and the attacker key is not');
    $stop->();
    $t->stop;
    $t->check_error_log;
}

###########################################################################
# 2. A cache fetched from another URL, at a restart and at a reload.

{
    my $t = OpayTest->new;
    my $dir = $t->dir;
    my $old = $t->make_key('k1');
    mkdir "$dir/cache";
    my $conf = sub {
        my ($port) = @_;
        setup($t, <<"EOF");
        location = /pay {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_$port%%/keys;
            opay_jwks_cache %%DIR%%/cache/keys.json;
            opay_jwks_timeout 2s;
        }
EOF
    };
    serve($t, 'issuer', json => jwks($old));
    my $issuer = KeyServer::start($t, 'issuer', 'issuer');
    $conf->('issuer');
    $t->run;
    ok(wait_for(sub { -s "$dir/cache/keys.json" }), 'moved: cache written');
    is(pay($t, $old)->{status}, 200, 'moved: the old issuer\'s key verifies');

    # the issuer moves (its keys leaked): the new URL is unreachable
    $conf->('nobody');
    $t->reload;
    my $r = pay($t, $old);
    is($r->{status}, 503, 'moved, reload: the old issuer\'s cached keys '
       . 'are not used');
    like($t->error_log, qr/not used: fetched from "[^"]*\/keys", not from the configured URL/,
         'moved, reload: logged');

    $t->stop;
    $t->run;
    is(pay($t, $old)->{status}, 503, 'moved, restart: not used either');
    $t->stop;
    KeyServer::stop($t, $issuer);
    $t->check_error_log;

    # nginx -t: two sources, one cache path
    setup($t, <<'EOF');
        location = /a {
            opay_payment_request;
            opay_jwks_url https://a.example/keys;
            opay_jwks_cache %%DIR%%/cache/keys.json;
        }
        location = /b {
            opay_payment_request;
            opay_jwks_url https://b.example/keys;
            opay_jwks_cache %%DIR%%/cache/keys.json;
        }
EOF
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, 'one cache for two key sources: nginx -t fails');
    like($out, qr/\[emerg\] opay_jwks_cache "[^"]*keys\.json" is used by two key sources/,
         'one cache for two key sources: says why');
}

###########################################################################
# 3. opay_jwks_ca_file pins: a CA of the system store is not trusted. The
# store is replaced, in a private mount namespace, by one holding a CA the
# test made (libcurl's CA path on Debian is /etc/ssl/certs).

SKIP: {
    my $probe = `unshare -m sh -c 'mount -t tmpfs none /mnt && echo ok' 2>&1`;
    skip "no private mount namespace (unshare -m): $probe", 4
        if $probe !~ /^ok$/m;

    my $t = OpayTest->new;
    my $dir = $t->dir;
    my $key = $t->make_key('k1');
    KeyServer::make_cert($dir, 'ca', 'issuer', 'IP:127.0.0.1');
    KeyServer::make_cert($dir, 'sysca', 'sysissuer', 'IP:127.0.0.1');
    mkdir "$dir/store";
    system("cp $dir/sysca.crt $dir/store/sysca.pem"
        . " && cp $dir/sysca.crt $dir/store/ca-certificates.crt"
        . " && openssl rehash $dir/store >/dev/null 2>&1") == 0
        or die 'store';
    my $real = $t->{binary};
    $t->write_file('nginx-ns.sh', <<"EOF");
#!/bin/sh
exec unshare -m sh -c 'mount --bind $dir/store /etc/ssl/certs && exec $real "\$@"' nginx "\$@"
EOF
    chmod 0755, "$dir/nginx-ns.sh";
    $t->{binary} = "$dir/nginx-ns.sh";

    serve($t, 'sys', json => jwks($key));
    serve($t, 'issuer', json => jwks($key));
    KeyServer::start($t, 'sys', 'sysissuer');
    KeyServer::start($t, 'issuer', 'issuer');
    $t->backend('invoice', sub { json_response(200, reference_invoice()) });
    $t->write_conf(<<'EOF');
    opay_merchant_id   merchant-0001;
    opay_invoice_uri   /_invoices/$opay_ctx_invoiceId;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        location = /pinned {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_sys%%/keys;
            opay_jwks_ca_file %%DIR%%/ca.crt;
        }
        location = /own {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_issuer%%/keys;
            opay_jwks_ca_file %%DIR%%/ca.crt;
        }
        location = /system {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_sys%%/keys/system;
        }
        location /_invoices/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_invoice%%/invoices/;
        }
    }
EOF
    $t->run;
    is(pay($t, $key, '/system')->{status}, 200,
       'ca pinning: without opay_jwks_ca_file the (private) system store '
       . 'trusts the system CA');
    is(pay($t, $key, '/own')->{status}, 200,
       'ca pinning: the CA of opay_jwks_ca_file is trusted');
    my $r = pay($t, $key, '/pinned');
    is($r->{status}, 503, 'ca pinning: a system CA is not trusted when '
       . 'opay_jwks_ca_file is set');
    like($t->error_log, qr/key refresh from "[^"]*:${\ $t->port('sys')}\/keys" failed: tls: /,
         'ca pinning: refused as a TLS failure');
    $t->stop;
}

###########################################################################
# 4. A kid with a newline does not forge a log line; 5. an https OpenID
# document naming an http:// jwks_uri on the machine is not followed.

{
    my $t = OpayTest->new;
    my $dir = $t->dir;
    my $forger = $t->make_key("k\n2026/12/06 22:00:00 [emerg] 1#1: forged"
                              . " by the key server");
    my $key = $t->make_key('k1');
    serve($t, 'forger', json => jwks($forger));
    serve($t, 'issuer', json => jwks($key),
          meta => json_encode({ jwks_uri => 'http://127.0.0.1:'
              . $t->port('admin') . '/internal/admin?x=1' }));
    $t->backend('admin', sub { json_response(200, { keys => [ $key->{jwk} ] }) });
    setup($t, <<'EOF', workers => 2);
        location = /forger {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_forger%%/keys;
        }
        location = /meta {
            opay_payment_request;
            opay_openid_configuration
                https://127.0.0.1:%%PORT_issuer%%/.well-known/openid-configuration;
        }
EOF
    KeyServer::start($t, 'forger', 'issuer');
    KeyServer::start($t, 'issuer', 'issuer');
    $t->run;

    is(pay($t, $forger, '/forger')->{status}, 200,
       'kid with a newline: its token verifies (the kid is intact)');
    my $log = $t->error_log;
    unlike($log, qr/^\S+ \S+ \[emerg\] 1#1: forged/m,
           'kid with a newline: no forged line in the error log');
    like($log, qr/kids k\\x0a2026\/12\/06 22:00:00 \[emerg\] 1#1: forged/,
         'kid with a newline: logged escaped');

    my $r = pay($t, $key, '/meta');
    is($r->{status}, 503, 'http:// jwks_uri from an https document: no keys');
    is(scalar @{ $t->backend_requests('admin') }, 0,
       'http:// jwks_uri: the service on the machine got no request');
    like($t->error_log, qr/parse: jwks_uri: must be https:\/\//,
         'http:// jwks_uri: refused, logged');

    $t->stop;
    # the escaped kid's text holds "[emerg]", on the notice's own line
    $t->check_error_log(expected => qr/\[notice\] .*kids k\\x0a2026/);
}

###########################################################################
# 6. The JWKS URL as both an opay_jwks_url and an OpenID document: two key
# sources, each with its own zone (they shared one, and workers crashed).

{
    my $t = OpayTest->new;
    my $key = $t->make_key('k1');
    serve($t, 'issuer', json => jwks($key));
    setup($t, <<'EOF', workers => 2);
        location = /jwks {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_issuer%%/keys;
        }
        location = /openid {
            opay_payment_request;
            opay_openid_configuration https://127.0.0.1:%%PORT_issuer%%/keys;
        }
EOF
    KeyServer::start($t, 'issuer', 'issuer');
    $t->run;
    is(pay($t, $key, '/jwks')->{status}, 200,
       'one URL, both directives: the opay_jwks_url location verifies');
    my $r = pay($t, $key, "/openid");
    is($r->{status}, 503, 'one URL, both directives: the OpenID one has no '
       . 'keys (a JWKS is no OpenID document)');
    like($t->error_log, qr/OpenID metadata has no jwks_uri/,
         'one URL, both directives: each source fetched on its own');
    is(pay($t, $key, '/jwks')->{status}, 200,
       'one URL, both directives: the first source is intact');
    $t->stop;
    $t->check_error_log;
}

# A node whose only key source, the issuer, answers each fetch in 3 s (as
# long as keys-issuer.sleep is there); started: the test and its key.
sub slow_issuer {
    my $t = OpayTest->new;
    my $key = $t->make_key('k1');
    serve($t, 'issuer', json => jwks($key), sleep => 3);
    setup($t, <<'EOF');
        location = /pay {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_issuer%%/keys;
            opay_jwks_timeout 10s;
        }
EOF
    KeyServer::start($t, 'issuer', 'issuer');
    $t->run;
    return ($t, $key);
}

###########################################################################
# 7. A reload while the only fetch hangs: the old worker's result reaches
# the new worker, which does not wait for the shared flag to go stale.

{
    my ($t, $key) = slow_issuer();
    ok(wait_for(sub { @{ $t->backend_requests('issuer') } }, 5),
       'slow fetch: started at start-up');
    my @old = $t->workers;
    kill 'HUP', $t->{nginx_pid};
    my $reloaded = time;
    ok(wait_for(sub { my %o = map { $_ => 1 } @old;
                      grep { !$o{$_} } $t->workers }),
       'slow fetch: reloaded, a new worker runs');
    # the request goes to the new worker: the old one has stopped listening
    ok(wait_for(sub { $t->error_log =~ /\b$old[0]#$old[0]: gracefully shutting down/ }),
       'slow fetch: the old worker is shutting down');
    unlink $t->dir . '/keys-issuer.sleep';
    my $r = pay($t, $key);
    my $took = time - $reloaded;
    is($r->{status}, 200, 'slow fetch, reload: the new worker verifies');
    cmp_ok($took, '<', 7, sprintf('slow fetch, reload: keys %.1f s after the '
           . 'reload (the fetch took 3 s; not the 25 s of a stale flag)',
           $took));
    is(scalar @{ $t->backend_requests('issuer') }, 1,
       'slow fetch, reload: the old worker\'s fetch was used, not repeated');
    $t->stop;
    $t->check_error_log;
}

###########################################################################
# 8. A worker killed during a fetch: the flag names its pid, the worker the
# master starts in its place fetches at once.

{
    my ($t, $key) = slow_issuer();
    ok(wait_for(sub { @{ $t->backend_requests('issuer') } }, 5),
       'killed fetcher: a fetch started');
    unlink $t->dir . '/keys-issuer.sleep';    # the next fetch is quick
    my @old = $t->workers;
    kill 'KILL', @old;
    my $killed = time;
    ok(wait_for(sub { my %o = map { $_ => 1 } @old;
                      grep { !$o{$_} } $t->workers }),
       'killed fetcher: the master started another worker');
    my $r = pay($t, $key);
    my $took = time - $killed;
    is($r->{status}, 200, 'killed fetcher: the new worker verifies');
    cmp_ok($took, '<', 4, sprintf('killed fetcher: keys %.1f s after the '
           . 'kill (not when the flag goes stale)', $took));
    is(scalar @{ $t->backend_requests('issuer') }, 2,
       'killed fetcher: the new worker fetched again');
    $t->stop;
    $t->check_error_log(expected => qr/exited on signal 9/);
}

done_testing;
