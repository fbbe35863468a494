# opay_jwks_url and opay_openid_configuration: the issuer's keys fetched
# over HTTPS (libcurl, in a thread) from a real HTTPS key server started
# here, with a test CA made by openssl. One fetch for all workers,
# rotation through an unknown kid, bad documents and certificates refused
# with the previous set kept, the issuer down, reload, the cache, 503
# without keys, and a slow issuer that never holds up tokens with a known
# kid. opay_status shows each key URL's set age and fetches by result.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use KeyServer;
use OpayTest qw(loadentity_body reference_invoice json_response json_encode
                wait_for);

my $t = OpayTest->new;
my $dir = $t->dir;
my ($key1, $key2, $key3) = map { $t->make_key($_) } qw(k1 k2 k3);

KeyServer::make_cert($dir, 'ca', 'issuer', 'IP:127.0.0.1,DNS:localhost');
KeyServer::make_cert($dir, 'ca', 'wrong', 'DNS:wrong.example');
KeyServer::make_cert($dir, 'rogue-ca', 'rogue', 'IP:127.0.0.1');
mkdir "$dir/cache";

sub serve {
    my ($name, %what) = @_;
    for my $part (qw(json status sleep meta)) {
        unlink "$dir/keys-$name.$part";
        $t->write_file("keys-$name.$part", $what{$part})
            if defined $what{$part};
    }
}

sub jwks { json_encode({ keys => [ map { $_->{jwk} } @_ ] }) }
sub fetches { scalar @{ $t->backend_requests($_[0]) } }

sub wait_log {
    my ($re, $timeout) = @_;
    return wait_for(sub { $t->error_log =~ $re }, $timeout);
}

# the error log written since it was $_[0] bytes long: one case's lines
sub log_since { substr $t->error_log, $_[0] }

my $logged = 0;    # access log lines before the last pay()

sub pay {
    my ($key, $path) = @_;
    $logged = () = $t->read_file('keys.log') =~ /\n/g;
    return $t->request($path // '/pay', body => loadentity_body(),
                       token => $t->token($key));
}

# the access log line of the last pay(), written just after its answer
sub last_access {
    my @lines;
    wait_for(sub { (@lines = split /\n/, $t->read_file('keys.log'))
                   > $logged }, 5, 0.02);
    return $lines[-1] // '';
}

# name{labels} => value, from one opay_status scrape
sub scrape { scalar $t->scrape }

# the changed opay_keys_refresh_total series of one URL: result => delta
sub refresh_delta {
    my ($before, $after, $url) = @_;
    my %d;
    for my $k (keys %$after) {
        my ($u, $res)
            = $k =~ /^opay_keys_refresh_total\{url="(.*)",result="(\w+)"\}$/
            or next;
        next if $u ne $url;
        my $d = $after->{$k} - ($before->{$k} // 0);
        $d{$res} = $d if $d;
    }
    return \%d;
}

serve('issuer', json => jwks($key1));
serve('meta', json => jwks($key2),
      meta => json_encode({ issuer => 'https://sts.example/',
          jwks_uri => 'https://localhost:' . $t->port('meta') . '/keys' }));
serve('rogue', json => jwks($key1));
serve('wrong', json => jwks($key1));
my $issuer = KeyServer::start($t, 'issuer', 'issuer');
KeyServer::start($t, 'meta', 'issuer');
KeyServer::start($t, 'rogue', 'rogue');
KeyServer::start($t, 'wrong', 'wrong');
$t->backend('invoice', sub { json_response(200, reference_invoice()) });
$t->write_jwks('jwks1.json', $key1);

$t->write_conf(<<'EOF', workers => 2);
    log_format keys '$status $opay_error $opay_keys_source $opay_keys_age';
    opay_merchant_id   merchant-0001;
    opay_invoice_uri   /_invoices/$opay_ctx_invoiceId;
    opay_jwks_ca_file  %%DIR%%/ca.crt;

    server {
        listen 127.0.0.1:%%PORT_http%%;
        access_log %%DIR%%/keys.log keys;

        location = /pay {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_issuer%%/keys;
            opay_jwks_cache %%DIR%%/cache/issuer.json;
            opay_jwks_min_refresh 2s;
            opay_jwks_max_size 16k;
            opay_jwks_timeout 15s;
        }

        location = /meta {
            opay_payment_request;
            opay_openid_configuration
                https://localhost:%%PORT_meta%%/.well-known/openid-configuration;
        }

        location = /rogue {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_rogue%%/keys;
        }

        location = /wrong {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_wrong%%/keys;
        }

        location = /down {
            opay_payment_request;
            opay_jwks_url https://127.0.0.1:%%PORT_nobody%%/keys;
            opay_jwks_timeout 2s;
        }

        location = /both {
            opay_payment_request;
            opay_jwks_file %%DIR%%/jwks1.json;
            opay_jwks_url https://127.0.0.1:%%PORT_nobody%%/keys;
            opay_jwks_timeout 2s;
        }

        location = /metrics {
            opay_status;
        }

        location /_invoices/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_invoice%%/invoices/;
        }
    }
EOF

$t->run;

my $issuer_url = 'https://127.0.0.1:' . $t->port('issuer') . '/keys';

# -- keys fetched at start, once for both workers
ok(wait_log(qr/keys refreshed from "\Q$issuer_url\E": kids k1/),
   'start: keys fetched and logged with their kids');
is(fetches('issuer'), 1, 'start: one fetch for the whole nginx (2 workers)');
like($t->backend_requests('issuer')->[0]{headers}{'user-agent'},
     qr{^opay/\d+\.\d+\.\d+$},
     'start: the fetch says User-Agent opay/<version>, as subrequests do');
my $r = pay($key1);
is($r->{status}, 200, 'start: token signed by the fetched key is accepted');
like(last_access(), qr/^200 - url \d+$/,
     '$opay_keys_source is url, $opay_keys_age a number of seconds');
like($t->read_file("$dir/cache/issuer.json"),
     qr/^opay-jwks-cache 2 \d+ \Q$issuer_url\E \Q$issuer_url\E\n\{"keys"/,
     'cache: the last good document is on disk');

# -- opay_status: the set's age and the fetch, per key URL
my $m = scrape();
my $iu = qq(url="$issuer_url");
is($m->{qq(opay_keys_refresh_total{$iu,result="ok"})}, 1,
   'metrics: the start fetch counted as ok');
is(scalar(grep { /^opay_keys_refresh_total\{\Q$iu\E,/ } keys %$m), 12,
   'metrics: every result of the URL written, 0 or not');
is((grep { $m->{$_} && /\{\Q$iu\E,/ } keys %$m), 1,
   'metrics: no other result counted');
ok(defined $m->{"opay_keys_age_seconds{$iu}"}
   && $m->{"opay_keys_age_seconds{$iu}"} <= 3,
   'metrics: key set age present and small');
ok(abs($m->{"opay_keys_last_refresh_timestamp_seconds{$iu}"} - time) <= 3,
   'metrics: last refresh timestamp is now');
my $down_url = 'https://127.0.0.1:' . $t->port('nobody') . '/keys';
ok(!exists $m->{qq(opay_keys_age_seconds{url="$down_url"})},
   'metrics: no age for a URL that never gave keys');

# -- OpenID metadata followed to its jwks_uri
$r = pay($key2, '/meta');
is($r->{status}, 200, 'openid: key from the metadata\'s jwks_uri accepted');
is_deeply([ map { $_->{path} } @{ $t->backend_requests('meta') } ],
          [ '/.well-known/openid-configuration', '/keys' ],
          'openid: metadata, then its jwks_uri');

# -- rotation: a new kid is fetched within the request that carries it
serve('issuer', json => jwks($key1, $key2));
sleep 2.1;
my $m0 = scrape();
$r = pay($key2);
is($r->{status}, 200, 'rotation: new kid accepted in one request');
$m = scrape();
is_deeply(refresh_delta($m0, $m, $issuer_url), { ok => 1 },
          'metrics: the rotation counted as one ok fetch');
ok($m0->{"opay_keys_age_seconds{$iu}"} >= 2
   && $m->{"opay_keys_age_seconds{$iu}"} <= 1,
   'metrics: the age restarts with the new set ('
   . $m0->{"opay_keys_age_seconds{$iu}"} . ' s, then '
   . $m->{"opay_keys_age_seconds{$iu}"} . ' s)');
cmp_ok($m->{"opay_keys_last_refresh_timestamp_seconds{$iu}"}
       - $m0->{"opay_keys_last_refresh_timestamp_seconds{$iu}"}, '>=', 2,
       'metrics: the last refresh timestamp moved on');
is(fetches('issuer'), 2, 'rotation: one refresh for the unknown kid');

# -- a burst of unknown kids across workers: one fetch per min_refresh
sleep 2.2;
my @burst = map { ($_->{status} // '') . ' '
                  . (($_->{json} || {})->{error}{message} // '') }
    $t->at_once(map { sub { pay($key3) } } 1 .. 20);
is(scalar(grep { $_ eq '401 unknown_key' } @burst), 20,
   'burst: every unknown kid refused with 401 unknown_key');
is(fetches('issuer'), 3, 'burst: one fetch for 20 unknown-kid requests');

# -- bad documents: refused, reason logged, previous set kept

# A failed fetch brings a retry opay_jwks_min_refresh (2 s) later (then
# 4 s, 8 s...) on the workers' timers: left alone it lands in the next
# case, counted there or the fetch that case's request waits for, with
# the document of the case before. recover() serves the good set again
# and waits until that retry has fetched it: the failures in a row end,
# the next timed fetch is opay_jwks_refresh (1 h) away, and as the retry
# came min_refresh after the failed unknown-kid fetch, the next unknown
# kid fetches at once.
sub recover {
    my $ok = qq(opay_keys_refresh_total{$iu,result="ok"});
    my $n = scrape()->{$ok};
    serve('issuer', json => jwks($key1, $key2));
    return wait_for(sub { scrape()->{$ok} > $n }, 30, 0.1);
}

my $weak = $t->make_key('weak', 1024);
my @bad = (
    [ 'malformed', '{"keys":[', qr/checks: JWKS is not valid JSON/,
      undef, 'checks' ],
    [ 'weak key', jwks($key1, $weak), qr/key "weak": RSA key is 1024 bits/,
      undef, 'checks' ],
    [ 'duplicate kid', jwks($key1, $key1), qr/kid used by more than one key/,
      undef, 'checks' ],
    [ 'oversize', json_encode({ keys => [ $key1->{jwk} ],
                                pad => 'x' x 20000 }), qr/size: /,
      undef, 'size' ],
    [ 'http error', '{}', qr/http: status 500/, 500, 'http' ],
);
# min_refresh after the burst's fetch, so the first case's unknown kid
# fetches at once (recover() sees to it for the next ones)
sleep 2.1;
for my $case (@bad) {
    my ($name, $doc, $reason, $status, $kind) = @$case;
    serve('issuer', json => $doc, status => $status);
    my $before = fetches('issuer');
    my $log = length $t->error_log;
    $m0 = scrape();
    $r = pay($key3);
    $m = scrape();
    is($r->{status}, 401, "$name: unknown kid still refused");
    is(fetches('issuer'), $before + 1, "$name: the document was fetched");
    is_deeply(refresh_delta($m0, $m, $issuer_url), { $kind => 1 },
              "$name: metrics count one $kind failure");
    ok(defined $m->{"opay_keys_age_seconds{$iu}"},
       "$name: metrics still show the kept set's age");
    like(log_since($log),
         qr/key refresh from "\Q$issuer_url\E" failed: [^\n]*$reason/,
         "$name: refused, reason logged");
    is(pay($key2)->{status}, 200, "$name: previous set kept");
    ok(recover(), "$name: the back-off retry fetches the good set");
}

# -- certificates: unknown CA, wrong host; no keys at all gives 503
for my $name (qw(rogue wrong)) {
    $r = pay($key1, "/$name");
    is($r->{status}, 503, "$name certificate: no keys, 503");
    is($r->{json}{error}{code}, 'no_signing_keys', "$name certificate: code");
    like($r->{json}{error}{message}, qr/key server failed \(tls\)/,
         "$name certificate: the message names the cause");
    like($r->{headers}{'retry-after'} // '', qr/^\d+$/,
         "$name certificate: Retry-After");
    my $url = 'https://127.0.0.1:' . $t->port($name) . '/keys';
    like($t->error_log, qr/key refresh from "\Q$url\E" failed: tls: /,
         "$name certificate: TLS failure logged");
}
$r = pay($key1, '/down');
is($r->{status}, 503, 'issuer never reachable, no cache, no file: 503');
like($r->{headers}{'retry-after'} // '', qr/^\d+$/, 'no keys: Retry-After');

$r = pay($key1, '/both');
is($r->{status}, 200, 'issuer unreachable, opay_jwks_file: its keys verify');
like(last_access(), qr/^200 - file -$/, '$opay_keys_source is file');

# the issuer's own server now shows a certificate for another host
KeyServer::stop($t, $issuer);
$issuer = KeyServer::start($t, 'issuer', 'wrong');
serve('issuer', json => jwks($key1, $key2, $key3));
$m0 = scrape();
my $log = length $t->error_log;
$r = pay($key3);
$m = scrape();
is($r->{status}, 401, 'wrong host on the issuer: new kid not accepted');
is_deeply(refresh_delta($m0, $m, $issuer_url), { tls => 1 },
          'wrong host on the issuer: metrics count one tls failure');
like(log_since($log),
     qr/key refresh from "\Q$issuer_url\E" failed: tls: [^\n]*keeping the keys/,
     'wrong host on the issuer: logged, set kept');
is(pay($key2)->{status}, 200, 'wrong host on the issuer: previous set kept');
KeyServer::stop($t, $issuer);
$issuer = KeyServer::start($t, 'issuer', 'issuer');
ok(recover(), 'right certificate again: the back-off retry fetches');

# -- the issuer down: tokens still verified with the last good set
KeyServer::stop($t, $issuer);
$m0 = scrape();
$log = length $t->error_log;
is(pay($key3)->{status}, 401, 'issuer down: unknown kid refused');
is_deeply(refresh_delta($m0, scrape(), $issuer_url), { connect => 1 },
          'issuer down: metrics count one connect failure');
like(log_since($log),
     qr/key refresh from "\Q$issuer_url\E" failed: connect: /,
     'issuer down: reason logged');
is(pay($key2)->{status}, 200, 'issuer down: last good set still verifies');

# -- reload with the issuer down: the set is kept, no wait on the network
$t->reload;
is(pay($key2)->{status}, 200, 'reload, issuer down: keys kept');
like(last_access(), qr/^200 - url /, 'reload: still the fetched set');

# -- restart with the issuer down: the cache is used
my $pid = delete $t->{nginx_pid};
kill 'QUIT', $pid;
waitpid($pid, 0);
$t->run;
ok(wait_log(qr/keys from the cache "[^"]*issuer\.json"/),
   'restart, issuer down: keys read from the cache');
is(pay($key2)->{status}, 200, 'restart, issuer down: cached set verifies');
like(last_access(), qr/^200 - cache \d+$/, '$opay_keys_source is cache');

# -- a slow issuer (10 s) never holds up tokens with a known kid
my $before = fetches('issuer');
serve('issuer', json => jwks($key1, $key2, $key3), sleep => 10);
$issuer = KeyServer::start($t, 'issuer', 'issuer');
my $waiter = $t->in_background(sub { pay($key3) });
# the back-off retry or the unknown kid: either fetch now hangs 10 s
wait_for(sub { fetches('issuer') > $before }, 5);
ok(fetches('issuer') > $before, 'slow issuer: a fetch has started');
my (@ms, $failed);
for (1 .. 100) {
    my $start = time;
    $failed++ if pay($key2)->{status} != 200;
    push @ms, (time - $start) * 1000;
}
ok(!$failed, 'slow issuer: 100 known-kid requests answered');
ok(!$t->answered($waiter),
   'slow issuer: ... while the fetch hangs and the new kid still waits');
@ms = sort { $a <=> $b } @ms;
# measured, not asserted (make bench and README report it)
note(sprintf 'slow issuer: known-kid latency p50 %.1f ms, p99 %.1f ms',
     $ms[49], $ms[98]);
is(($t->answers($waiter))[0]{status}, 200,
   'slow issuer: the parked unknown-kid request is verified when it ends');

$t->stop;
$t->check_error_log;

# -- nginx -t refuses what cannot work, naming the directive
sub refused {
    my ($name, $expect, $directives) = @_;
    $t->write_conf(<<"EOF");
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location = /pay {
            opay_payment_request;
            opay_merchant_id m;
            opay_invoice_uri /_i/\$opay_ctx_id;
$directives
        }
    }
EOF
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\].*$expect/, "$name: says why");
}

refused('plain http to a remote host',
        qr/"opay_jwks_url" "http:\/\/keys.example\/k": http:\/\/ is only/,
        'opay_jwks_url http://keys.example/k;');
refused('not a URL', qr/"opay_openid_configuration" "ftp:.*https:\/\//,
        'opay_openid_configuration ftp://127.0.0.1/x;');
refused('both URLs', qr/both set: use one/,
        "opay_jwks_url https://a.example/k;\n"
        . 'opay_openid_configuration https://a.example/.well-known/x;');
refused('min refresh over refresh',
        qr/"opay_jwks_min_refresh" is longer than "opay_jwks_refresh"/,
        "opay_jwks_url https://a.example/k;\n"
        . "opay_jwks_refresh 10s; opay_jwks_min_refresh 1m;");
refused('unreadable CA file',
        qr/opay_jwks_ca_file ".*missing.pem" cannot be read/,
        "opay_jwks_url https://a.example/k;\n"
        . 'opay_jwks_ca_file %%DIR%%/missing.pem;');

done_testing;
