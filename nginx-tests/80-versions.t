# What differs between the nginx versions the module supports (1.22.1,
# 1.26.3): header lists that nginx 1.23+ chains through
# ngx_table_elt_t.next, read in the module's subrequests, and HTTP/3
# listeners (nginx 1.25+ built --with-http_v3_module) in front of the
# webhook locations.

use strict;
use warnings;
use Test::More;
use OpayTest qw(json_decode json_encode complete_body);
use StripeMock;

# glibc fills fresh allocations with this byte, so that a header field the
# module left unset is garbage, not a lucky zero (nginx's pools come from
# malloc and are not cleared).
$ENV{MALLOC_PERTURB_} = 165;

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

$t->invoice_backend;
my $stripe = StripeMock->new($t->dir . '/stripe');
$t->backend('stripe', $stripe->handler);
$t->backend('notify', sub { [ 204, {}, '' ] });

my $v = `$t->{binary} -V 2>&1`;
my ($version) = $v =~ m{nginx/(\S+)};
my $h3 = $v =~ /--with-http_v3_module/
    && !system('command -v gtlsclient >/dev/null');
my ($quic_listen, $ssl_listen) = ('', '');
if ($h3) {
    # a throw-away self-signed certificate: QUIC is TLS 1.3 only
    my $d = $t->dir;
    system("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost"
           . " -days 1 -keyout $d/cert.key -out $d/cert.pem 2>/dev/null") == 0
        or die 'openssl req failed';
    chmod 0644, $t->dir . '/cert.key';
    $quic_listen = <<'EOF';
        listen 127.0.0.1:%%PORT_h3%% quic;
        listen 127.0.0.1:%%PORT_h3%% ssl;
        ssl_certificate     %%DIR%%/cert.pem;
        ssl_certificate_key %%DIR%%/cert.key;
        add_header Alt-Svc 'h3=":%%PORT_h3%%"; ma=60' always;
EOF
}

$t->write_conf(<<"EOF");
    opay_merchant_id   merchant-0001;
    opay_jwks_file     %%DIR%%/jwks.json;
    opay_invoice_uri   /_invoices/\$opay_ctx_invoiceId;
    opay_processor     stripe /_stripe/;
    opay_journal       %%DIR%%/journal.log;
    opay_notify_uri    /_notify;
    opay_mode          test;

    server {
        listen 127.0.0.1:%%PORT_http%%;
$quic_listen
        location = /complete {
            opay_payment_complete;
        }

        location /_invoices/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_invoice%%/invoices/;
        }

        # \$content_type reads the Content-Type the module set on the
        # subrequest (nginx 1.23+ follows its next field)
        location /_stripe/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_stripe%%/;
            proxy_set_header Authorization "Bearer sk_test_opaytests";
            proxy_set_header X-Seen-Type \$content_type;
            proxy_set_header X-Seen-Key \$http_idempotency_key;
        }

        location = /_notify {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_notify%%/outcomes;
            proxy_set_header X-Seen-Type \$content_type;
        }
    }
EOF
$t->run;

my $token = $t->token($key, claims => { aud => 'merchant-0001' });

# 1. The module's own subrequest headers, read through variables.
for my $rid ('VER-1', 'VER-2') {
    my $r = $t->request('/complete', token => $token,
                        body => complete_body($rid));
    is($r->{status}, 200, "$rid: 200");
    is($r->{json}{result}, 'success', "$rid: charged");
}
my $sent = $t->backend_requests('stripe');
is(scalar(grep { $_->{path} =~ m{/confirm$} } @$sent), 2,
   'two confirmations sent');
is($sent->[0]{headers}{'x-seen-type'}, 'application/x-www-form-urlencoded',
   '$content_type in the processor location');
like($sent->[0]{headers}{'x-seen-key'}, qr/^opay-[0-9a-f]{64}$/,
     '$http_idempotency_key in the processor location');
# A request's subrequests share its cached variables, so the notify
# location sees the processor's $content_type: what it must not see is the
# core's memory after the core has moved on.
my $notified = $t->backend_requests('notify');
ok(@$notified >= 1, 'notify sent');
like($notified->[0]{headers}{'x-seen-type'} // '',
     qr{^application/(json|x-www-form-urlencoded)$},
     '$content_type in the notify location: a value the module set');

# 2. HTTP/3 in front of the webhook location.
SKIP: {
    skip "nginx $version has no HTTP/3 (built without --with-http_v3_module,"
        . ' or no gtlsclient)', 8 if !$h3;

    # gtlsclient (ngtcp2's client, Debian's ngtcp2-client) sends no
    # headers of its own choosing, so no bearer token: these are the
    # requests the module answers before the token is good.
    my $h3_request = sub {
        my ($method, $body) = @_;
        my $dl = $t->dir . '/h3-' . ++$t->{h3_n};
        mkdir $dl;
        my @data;
        if (defined $body) {
            push @data, '-d', $t->write_file("h3-body-$t->{h3_n}", $body);
        }
        my $port = $t->port('h3');
        my @cmd = ('gtlsclient', '--exit-on-all-streams-close',
                   '--no-quic-dump', '--no-http-dump', '--timeout=10s',
                   '--download', $dl, '-m', $method, @data,
                   '127.0.0.1', $port, "https://127.0.0.1:$port/complete");
        my $out = `@cmd 2>&1`;
        my ($status) = $out =~ /^http: stream 0x0 \[:status: (\d+)\]$/m;
        my ($www) = $out =~ /^http: stream 0x0 \[www-authenticate: (.*)\]$/m;
        return { status => $status // 0, www => $www, out => $out,
                 json => json_decode($t->read_file("$dl/complete")) };
    };

    my $r = $h3_request->('POST', json_encode(complete_body('H3-1')));
    is($r->{status}, 401, 'HTTP/3 POST without a token: 401')
        or diag($r->{out});
    is($r->{www}, 'Bearer error="invalid_token"',
       'HTTP/3: WWW-Authenticate')
        or diag(join "\n", grep { /http:/ } split /\n/, $r->{out});
    is_deeply($r->{json}, { error => { code => 'invalid_token',
                                       message => 'missing_token' } },
              'HTTP/3: the 401 shape');

    my $big = json_encode({ %{ complete_body('H3-2') },
                            pad => 'x' x (48 * 1024) });
    $r = $h3_request->('POST', $big);
    is($r->{status}, 401, 'HTTP/3 POST of 48k, read in several buffers: 401');
    is($r->{json}{error}{message}, 'missing_token',
       'HTTP/3 48k: the 401 shape');

    $r = $h3_request->('GET');
    is($r->{status}, 405, 'HTTP/3 GET: 405');

    like($t->read_file('access.log'), qr{"POST /complete HTTP/3\.0" 401},
         'the access log shows HTTP/3');
    is(scalar(grep { $_->{path} =~ m{/confirm$} }
              @{ $t->backend_requests('stripe') }), 2,
       'HTTP/3 refusals charged nothing');
}

$t->stop;
$t->check_error_log;

done_testing;
