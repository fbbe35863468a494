package OpayTest;

# A small harness in the spirit of nginx-tests: each test file writes its
# nginx.conf, the harness starts the real nginx binary (with the module
# built in, or Debian's nginx loading the dynamic module) on free loopback
# ports, runs real backend processes, and checks the error log at the end.
#
# Environment: TEST_NGINX_BINARY (required), TEST_NGINX_MODULE (path of the
# dynamic module to load_module, if any), TEST_NGINX_LEAVE (keep temp dir),
# TEST_NGINX_VALGRIND (run nginx, master and workers, under valgrind's
# memcheck; make valgrind).
#
# nginx's stderr goes to stderr.log in the test's directory; at the end,
# check_error_log fails the test on any sanitizer report (ASan, LSan, UBSan)
# or memcheck error in error.log, stderr.log or valgrind's logs, whatever
# the test expects otherwise; and that every StripeMock the test made saw
# only requests of Stripe's published API (check_stripe_mocks).

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 ();
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);
use Crypt::JWT qw(encode_jwt);
use Crypt::PK::RSA;

my $JSON = JSON::PP->new->canonical->allow_nonref;

our @EXPORT_OK = qw(free_port json_decode json_encode loadentity_body
                    reference_invoice json_response b64u PAY_METHOD
                    payment_token complete_body unescape
                    shipping_option us_shipping
                    proxy_location stripe_location wait_or_kill wait_for);

use constant PAY_METHOD => 'https://pay.microsoft.com/microsoftpay';

# base64url without padding (RFC 7515), for the tests' own tokens.
sub b64u {
    my $e = MIME::Base64::encode_base64($_[0], '');
    $e =~ tr{+/}{-_};
    $e =~ s/=+$//;
    return $e;
}

# %XX escapes decoded, as a backend reads a path segment.
sub unescape {
    my ($s) = @_;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

# A PaymentComplete's paymentToken for Stripe as the service passes it:
# a header (Format Stripe, TestMode true; %header changes or adds fields),
# the Stripe token SOURCE and a signature, which the module does not check.
sub payment_token {
    my ($source, %header) = @_;
    my $h = json_encode({ Format => 'Stripe', TestMode => JSON::PP::true,
                          %header });
    return join '.', b64u($h), b64u($source), b64u('not-verifiable');
}

# A PaymentComplete body for invoice RID (its requestId too), by the
# reference's payer (name, e-mail and phone). %opt: source (the Stripe
# token, tok_visa) or token (the whole paymentToken); currency (USD) and
# value (10.00); extra => { field => value }, more top-level fields (undef
# removes one).
sub complete_body {
    my ($rid, %opt) = @_;
    my $body = {
        requestId => $rid,
        methodName => PAY_METHOD,
        details => {
            productContext => { invoiceId => $rid },
            paymentToken => $opt{token}
                            // payment_token($opt{source} // 'tok_visa'),
            amount => { currency => $opt{currency} // 'USD',
                        value => $opt{value} // '10.00',
                        currencySystem => undef },
        },
        payerName => 'Patti Fernandez', payerEmail => 'patti@contoso.com',
        payerPhone => '+14255551212',
    };
    my $extra = $opt{extra} || {};
    for my $k (keys %$extra) {
        if (defined $extra->{$k}) { $body->{$k} = $extra->{$k} }
        else { delete $body->{$k} }
    }
    return $body;
}

# The PaymentRequest webhook's loadentity call, as the reference shows it.
sub loadentity_body {
    my (%ctx) = @_;
    %ctx = (invoiceId => '12345') if !%ctx;
    return { methodData => [ { supportedMethods => PAY_METHOD,
        data => { productContext => \%ctx, event => 'loadentity' } } ] };
}

# The invoice of the reference's loadentity example, in the backend
# contract's wrapped shape.
sub reference_invoice {
    return {
        entity => {
            '@type' => 'Invoice', '@context' => 'http://schema.org',
            identifier => '12345', url => 'https://contoso.com/invoice',
            broker => { '@type' => 'LocalBusiness', name => 'Contoso' },
            paymentDueDate => '2019-01-31T00:00:00',
            paymentStatus => 'PaymentDue',
            totalPaymentDue => { '@type' => 'PriceSpecification',
                                 price => 10, priceCurrency => 'USD' },
        },
        displayItems => [
            { label => 'Large Widget',
              amount => { currency => 'USD', value => '7.00' } },
            { label => 'Small Widget',
              amount => { currency => 'USD', value => '3.00' } },
        ],
    };
}

# A shipping option of a shipping backend's answer: ID, LABEL, the amount
# in CURRENCY and VALUE, and %more fields (selected).
sub shipping_option {
    my ($id, $label, $currency, $value, %more) = @_;
    return { id => $id, label => $label,
             amount => { currency => $currency, value => $value }, %more };
}

# The options the tests' shipping backends offer in the US: norush at
# 0.00 and priority at 3.00 USD.
sub us_shipping {
    return (shipping_option('norush', 'Regular Shipping', 'USD', '0.00'),
            shipping_option('priority', 'Priority Shipping', 'USD', '3.00'));
}

# A backend answer: [status, headers, body] with a JSON body.
sub json_response {
    my ($status, $body) = @_;
    return [ $status, { 'Content-Type' => 'application/json' },
             ref $body ? $JSON->encode($body) : $body ];
}


sub json_decode { my $v = eval { $JSON->decode($_[0]) }; return $v; }
sub json_encode { return $JSON->encode($_[0]); }

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "cannot find a free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub new {
    my ($class, %args) = @_;
    my $self = bless {
        dir      => tempdir('opay-test-XXXXXX', TMPDIR => 1,
                            CLEANUP => !$ENV{TEST_NGINX_LEAVE}),
        binary   => $ENV{TEST_NGINX_BINARY}
                    || die("TEST_NGINX_BINARY is not set\n"),
        module   => $ENV{TEST_NGINX_MODULE},
        ports    => {},
        children => [],
        owner    => $$,
        %args,
    }, $class;
    chmod 0755, $self->{dir};
    return $self;
}

sub dir { $_[0]{dir} }

# nginx's prefix (-p): the temp dir, unless new(prefix => ...) says else.
sub prefix { $_[0]{prefix} // "$_[0]{dir}/" }

# port('http'), port('backend'): a free port per name, stable per test.
sub port {
    my ($self, $name) = @_;
    $self->{ports}{$name} //= free_port();
    return $self->{ports}{$name};
}

sub write_file {
    my ($self, $name, $content) = @_;
    my $path = "$self->{dir}/$name";
    open my $fh, '>', $path or die "$path: $!";
    print $fh $content;
    close $fh;
    chmod 0644, $path;
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

# A fresh RSA key: returns { kid, pem (private), jwk (public hash) }.
sub make_key {
    my ($self, $kid, $bits) = @_;
    my $pk = Crypt::PK::RSA->new;
    $pk->generate_key(($bits // 2048) / 8);
    my $jwk = $JSON->decode($pk->export_key_jwk('public'));
    $jwk->{kid} = $kid;
    $jwk->{use} = 'sig';
    $jwk->{alg} = 'RS256';
    return { kid => $kid, pk => $pk, jwk => $jwk,
             public_pem => $pk->export_key_pem('public') };
}

sub write_jwks {
    my ($self, $name, @keys) = @_;
    return $self->write_file($name,
        $JSON->encode({ keys => [ map { $_->{jwk} } @keys ] }));
}

# An RS256 token with sensible claims; %claims override or add to them
# (undef deletes). %opt: header => {...} extra header fields.
sub token {
    my ($self, $key, %args) = @_;
    my $now = time;
    my %claims = (
        iss   => 'https://substrate.office.com/sts/',
        aud   => 'merchant-0001',
        appid => '48af08dc-f6d2-435f-b2a7-069abd99c086',
        sub   => 'payer@example.com',
        sender => 'billing@contoso.com',
        ver   => 'STI.ExternalAccessToken.V1',
        iat   => int($now),
        nbf   => int($now),
        exp   => int($now) + 3600,
    );
    my $over = $args{claims} || {};
    for my $k (keys %$over) {
        if (defined $over->{$k}) { $claims{$k} = $over->{$k} }
        else { delete $claims{$k} }
    }
    return encode_jwt(payload => \%claims, key => $key->{pk}, alg => 'RS256',
                      extra_headers => { kid => $key->{kid},
                                         %{ $args{header} || {} } });
}

sub main_conf {
    my ($self, %opt) = @_;
    my $dir = $self->{dir};
    my $conf = '';
    $conf .= "load_module $self->{module};\n" if $self->{module};
    $conf .= "user root;\n" if $> == 0;
    $conf .= "daemon off;\n";
    $conf .= "worker_processes " . ($opt{workers} // 1) . ";\n";
    $conf .= "pid $dir/nginx.pid;\n";
    # info, not debug: nginx itself logs request headers at debug level
    $conf .= "error_log $dir/error.log "
        . ($ENV{TEST_NGINX_DEBUG} ? "debug" : "info") . ";\n";
    $conf .= "events { worker_connections 1024; }\n";
    return $conf;
}

sub http_conf_prefix {
    my ($self) = @_;
    my $dir = $self->{dir};
    return join '', map { "    ${_}_temp_path $dir/${_}_temp;\n" }
        qw(client_body proxy fastcgi uwsgi scgi);
}

# An internal location of a configuration (MATCH: "/_invoices/",
# "= /_notify") that proxies to the test's backend NAME at URI, with more
# DIRECTIVES; its text, for a write_conf body.
sub proxy_location {
    my ($match, $name, $uri, @directives) = @_;
    return "        location $match {\n"
        . "            internal;\n"
        . "            proxy_pass http://127.0.0.1:%%PORT_${name}%%$uri;\n"
        . join('', map { "            $_;\n" } @directives)
        . "        }\n";
}

# The processor's location (PREFIX, as opay_processor names it): the
# backend "stripe" (StripeMock), with the secret key SECRET as a merchant
# sets it there, and more DIRECTIVES.
sub stripe_location {
    my ($prefix, $secret, @directives) = @_;
    return proxy_location($prefix, 'stripe', '/',
        qq{proxy_set_header Authorization "Bearer $secret"}, @directives);
}

# Writes nginx.conf from an http{} body. %%PORT_name%% and %%DIR%% are
# replaced.
sub write_conf {
    my ($self, $http, %opt) = @_;
    $http =~ s/%%PORT_(\w+)%%/$self->port($1)/ge;
    $http =~ s/%%DIR%%/$self->{dir}/g;
    my $conf = $self->main_conf(%opt)
        . "http {\n" . $self->http_conf_prefix
        . "    access_log $self->{dir}/access.log;\n"
        . $http . "}\n";
    return $self->write_file('nginx.conf', $conf);
}

# nginx -t: returns (exit code, output).
sub test_conf {
    my ($self) = @_;
    my $cmd = "$self->{binary} -p " . $self->prefix
            . " -c $self->{dir}/nginx.conf"
            . " -e $self->{dir}/error.log -t 2>&1";
    my $out = `$cmd`;
    my $rc = $? >> 8;
    # kept, so that a sanitizer report of nginx -t is seen at the end
    if (open my $fh, '>>', "$self->{dir}/stderr.log") {
        print $fh $out;
        close $fh;
    }
    return ($rc, $out);
}

# valgrind's memcheck in front of nginx when TEST_NGINX_VALGRIND is set:
# the workers are forked, not exec'd, so they run under it too, each with
# its own log. Errors only: nginx frees its pools at exit by design.
sub valgrind_prefix {
    my ($self) = @_;
    return () if !$ENV{TEST_NGINX_VALGRIND};
    return ('valgrind', '--tool=memcheck', '--error-exitcode=99',
            '--leak-check=no', '--num-callers=30',
            "--log-file=$self->{dir}/valgrind.%p.log");
}

sub run {
    my ($self, %opt) = @_;
    my ($rc, $out) = $self->test_conf;
    die "nginx -t failed:\n$out" if $rc != 0;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>>', "$self->{dir}/stderr.log";
        exec $self->valgrind_prefix, $self->{binary}, '-p', $self->prefix,
            '-c', "$self->{dir}/nginx.conf", '-e', "$self->{dir}/error.log";
        die "exec: $!";
    }
    $self->{nginx_pid} = $pid;
    my $port = $opt{port} // $self->port('http');
    $self->wait_port($port, $ENV{TEST_NGINX_VALGRIND} ? 60 : 5)
        or die "nginx did not start:\n" . $self->read_file('error.log');
    return $self;
}

sub wait_port {
    my ($self, $port, $seconds) = @_;
    for (1 .. 20 * ($seconds // 5)) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Proto => 'tcp');
        return 1 if $s;
        sleep 0.05;
    }
    return 0;
}

sub workers {
    my ($self) = @_;
    return grep { /^\d+$/ } split /\s+/, `pgrep -P $self->{nginx_pid}`;
}

# nginx -s reload, returning once the old workers are gone, so that every
# later request meets the new configuration.
sub reload {
    my ($self) = @_;
    my @old = $self->workers;
    kill 'HUP', $self->{nginx_pid};
    my $deadline = time + 10;
    while (time < $deadline) {
        my %now = map { $_ => 1 } $self->workers;
        last if %now && !grep { $now{$_} } @old;
        sleep 0.05;
    }
}

# Waits up to SECONDS for the child PID to exit: true, with its status in
# $?, if it did; otherwise kills its process group (the child calls
# setpgrp) and returns false.
sub wait_or_kill {
    my ($pid, $seconds) = @_;
    for (1 .. 20 * $seconds) {
        return 1 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', -$pid;
    waitpid($pid, 0);
    return 0;
}

# Polls COND (every STEP s, 0.05) for up to SECONDS (10): true once it
# holds, false if it never did.
sub wait_for {
    my ($cond, $seconds, $step) = @_;
    my $deadline = time + ($seconds // 10);
    while (time < $deadline) {
        return 1 if $cond->();
        sleep $step // 0.05;
    }
    return 0;
}

sub stop {
    my ($self) = @_;
    if (my $pid = delete $self->{nginx_pid}) {
        kill 'QUIT', $pid;
        my $deadline = time + 10;
        while (time < $deadline) {
            last if waitpid($pid, WNOHANG) == $pid;
            sleep 0.05;
        }
        kill 'KILL', $pid if kill 0, $pid;
        waitpid($pid, 0);
    }
    for my $c (@{ $self->{children} }) {
        kill 'KILL', -$c;
        waitpid($c, 0);
    }
    $self->{children} = [];
}

# Starts a backend: a real HTTP/1.1 server process on loopback. The
# handler gets { method, path, headers (lower-case keys), body } and
# returns [status, { headers }, body], or 'hang' to never answer. Each
# request is logged (one JSON line) to backend-NAME.log.
sub backend {
    my ($self, $name, $handler) = @_;
    my $log = "$self->{dir}/backend-$name.log";
    $self->server($name, sub { serve($_[0], $handler, $log) });
    return $self->port($name);
}

# A server NAME on its loopback port, in a process of its own:
# SERVE->($listener) with the listening socket. Its own process group, and
# off the TAP pipe, so that stop() can kill it with hanging request
# handlers and prove never waits for them. %opt: listen (the backlog, 64),
# stderr (a file for its errors, else none). Returns its pid once the port
# accepts connections.
sub server {
    my ($self, $name, $serve, %opt) = @_;
    my $port = $self->port($name);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $opt{stderr} // '/dev/null';
        $serve->(listen_on("127.0.0.1:$port", $opt{listen}));
        POSIX::_exit(0);
    }
    push @{ $self->{children} }, $pid;
    $self->wait_port($port) or die "server $name did not start";
    return $pid;
}

# The invoice backend of most tests: GET /invoices/ID answers the
# reference invoice (reference_invoice) with identifier ID, as CHANGE (if
# any) makes it the test's: CHANGE->($id, $inv).
sub invoice_backend {
    my ($self, $change) = @_;
    return $self->backend('invoice', sub {
        my ($req) = @_;
        my ($id) = $req->{path} =~ m{^/invoices/(.+)$};
        my $inv = reference_invoice();
        $inv->{entity}{identifier} = $id;
        $change->($id, $inv) if $change;
        return json_response(200, $inv);
    });
}

# A socket listening on ADDR (host:port), with BACKLOG (64).
sub listen_on {
    my ($addr, $backlog) = @_;
    my $socket = IO::Socket::INET->new(LocalAddr => $addr, Proto => 'tcp',
                                       Listen => $backlog // 64,
                                       ReuseAddr => 1)
        or die "$addr: $!";
    return $socket;
}

# Serves HTTP/1.1 on the listening socket forever, one forked process per
# connection.
sub serve {
    my ($server, $handler, $log) = @_;
    $SIG{CHLD} = 'IGNORE';
    while (1) {
        # accept() returns undef when a child's exit interrupts it
        my $c = $server->accept or next;
        my $kid = fork;
        if (defined $kid && $kid == 0) {
            serve_one($c, $handler, $log);
            POSIX::_exit(0);    # no destructors: they belong to the test
        }
        close $c;
    }
}

sub serve_one {
    my ($c, $handler, $log) = @_;
    local $/ = "\r\n";
    my $line = <$c> // return;
    my ($method, $path) = $line =~ m{^(\S+)\s+(\S+)};
    my %h;
    while (my $l = <$c>) {
        last if $l eq "\r\n";
        $l =~ s/\r\n$//;
        my ($k, $v) = split /:\s*/, $l, 2;
        $h{lc $k} = $v;
    }
    my $body = '';
    if (my $len = $h{'content-length'}) {
        read($c, $body, $len);
    }
    my $req = { method => $method, path => $path, headers => \%h,
                body => $body };
    if ($log && open my $fh, '>>', $log) {
        print $fh $JSON->encode($req), "\n";
        close $fh;
    }
    my $res = $handler->($req);
    if (!ref $res && $res eq 'hang') {
        sleep 60;
        return;
    }
    my ($status, $headers, $content) = @$res;
    if (($headers->{'Transfer-Encoding'} // '') eq 'chunked') {
        # no length ahead: chunks of 1000 bytes
        $content = join('', map { sprintf("%x\r\n%s\r\n", length, $_) }
                                unpack('(a1000)*', $content))
                   . "0\r\n\r\n";
    } else {
        # a handler may declare more than it sends: a cut answer
        $headers->{'Content-Length'} //= length $content;
    }
    $headers->{'Connection'} = 'close';
    print $c "HTTP/1.1 $status X\r\n",
        (map { "$_: $headers->{$_}\r\n" } sort keys %$headers),
        "\r\n", $content;
    close $c;
}

sub backend_requests {
    my ($self, $name) = @_;
    my $text = $self->read_file("backend-$name.log");
    return [ map { $JSON->decode($_) } grep { length } split /\n/, $text ];
}

# POST (or %opt method) to the test nginx. Returns HTTP::Tiny's response
# with ->{json} decoded when the body is JSON.
sub request {
    my ($self, $path, %opt) = @_;
    my $port = $opt{port} // $self->port('http');
    my $method = $opt{method} // 'POST';
    my %headers = %{ $opt{headers} || {} };
    if (defined $opt{token}) {
        $headers{Authorization} = "Bearer $opt{token}";
    }
    $headers{'Content-Type'} //= 'application/json'
        if !exists $opt{content_type};
    $headers{'Content-Type'} = $opt{content_type}
        if defined $opt{content_type};
    my $body = $opt{body};
    $body = $JSON->encode($body) if ref $body && ref $body ne 'CODE';
    my $http = HTTP::Tiny->new(timeout => $opt{timeout} // 20);
    my $res = $http->request($method, "http://127.0.0.1:$port$path", {
        headers => \%headers,
        (defined $body ? (content => $body) : ()),
    });
    $res->{json} = json_decode($res->{content})
        if ($res->{headers}{'content-type'} // '') =~ m{application/json};
    return $res;
}

# One scrape of opay_status at PATH (/metrics): name{labels} => value;
# in list context, and the answer.
sub scrape {
    my ($self, $path) = @_;
    my $res = $self->request($path // '/metrics', method => 'GET');
    die "scrape: $res->{status}" if $res->{status} != 200;
    my %m;
    for (split /\n/, $res->{content}) {
        next if /^#/;
        my ($k, $v) = /^(\S+) (\S+)$/ or die "bad line: $_";
        $m{$k} = $v;
    }
    return wantarray ? (\%m, $res) : \%m;
}

# The race harness, for deliveries that meet at one nginx or across nodes.
#
# second_node($conf, [backend names], write_conf options): another nginx
# sharing nothing with this one but the named backends and the keys
# (jwks.json): its own directory, zone and journal; started.
sub second_node {
    my ($self, $conf, $backends, %opt) = @_;
    my $node = ref($self)->new;
    $node->{ports}{$_} = $self->port($_) for @$backends;
    $node->write_file('jwks.json', $self->read_file('jwks.json'));
    $node->write_conf($conf, %opt);
    $node->run;
    return $node;
}

# in_background(sub { ...->request(...) }): the call runs in a process of
# its own, which keeps the answer ({status, json}) in this test's directory;
# answers(@jobs) waits for those processes and returns their answers in
# order (undef for a call that died); answered($job) says whether a call
# has its answer yet, without waiting; at_once(@calls) starts the calls
# together and returns their answers.
sub in_background {
    my ($self, $call) = @_;
    my $n = ++$self->{jobs};
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $ok = eval {
            my $res = $call->();
            $self->write_file("answer-$n.json",
                $JSON->encode({ status => $res->{status},
                                json => $res->{json} }));
            1;
        };
        POSIX::_exit($ok ? 0 : 1);
    }
    return { pid => $pid, n => $n };
}

sub answers {
    my ($self, @jobs) = @_;
    waitpid $_->{pid}, 0 for @jobs;
    return map { json_decode($self->read_file("answer-$_->{n}.json")) }
        @jobs;
}

sub answered {
    my ($self, $job) = @_;
    return -e "$self->{dir}/answer-$job->{n}.json";
}

sub at_once {
    my ($self, @calls) = @_;
    return $self->answers(map { $self->in_background($_) } @calls);
}

# The error log holds nothing at [alert] or worse, and no worker died.
sub check_error_log {
    my ($self, %opt) = @_;
    my $log = $self->read_file('error.log');
    my @bad = grep { /\[(alert|crit|emerg)\]|exited on signal|AddressSanitizer/ }
        split /\n/, $log;
    # a test that kills workers itself names the lines it expects
    @bad = grep { $_ !~ $opt{expected} } @bad if $opt{expected};
    ok(!@bad, 'error log has nothing at [alert] or worse, no worker died')
        or diag(join "\n", @bad);
    my @reports = $self->sanitizer_reports;
    ok(!@reports, 'no sanitizer report, no memcheck error')
        or diag(join "\n", @reports);
    check_secrets($log);
    check_stripe_mocks();
}

# Every StripeMock this test process made saw only requests of Stripe's
# published API (issue 18): each violation it recorded fails the test,
# unless the test expects them (StripeMock->new(DIR, expect_violations =>
# 1)). Each violation is reported once, at the first check after it.
sub check_stripe_mocks {
    return if !StripeMock->can('instances');
    for my $mock (StripeMock->instances) {
        next if $mock->expect_violations;
        my $all = $mock->violations;
        my @new = @$all[($mock->{reported} // 0) .. $#$all];
        $mock->{reported} = @$all;
        ok(!@new, 'StripeMock: every request within Stripe\'s published '
                  . 'API (testdata/stripe/openapi-subset.json)')
            or diag(join "\n", map { json_encode($_) }
                                @new[0 .. ($#new < 4 ? $#new : 4)]);
    }
}

# No secret or personal data in the error log (issue 9), checked at the end
# of every test file: bearer tokens, card tokens, e-mail addresses and
# phone numbers, whatever the test did.
sub check_secrets {
    my ($log) = @_;
    my @leaks = grep {
        /eyJ[\w-]{8,}\.[\w-]{8,}/                  # a JWT
        || /\btok_\w+|\b(?:pm|src|card)_[A-Za-z0-9]{14,}/  # a card token
        || /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/           # an e-mail address
        || /\+\d[\d ().-]{7,}\d|\(\d{3}\) ?\d{3}-\d{4}/  # a phone number
    } split /\n/, $log;
    ok(!@leaks, 'error log holds no token, card token, e-mail or phone')
        or diag(join "\n", @leaks[0 .. ($#leaks < 4 ? $#leaks : 4)]);
}

# Lines of sanitizer reports (ASan, LSan, UBSan) in the error log and
# nginx's stderr, and memcheck errors in valgrind's logs. No test may
# expect one.
sub sanitizer_reports {
    my ($self) = @_;
    my @lines;
    for my $name ('error.log', 'stderr.log') {
        push @lines, map { "$name: $_" } grep {
            /(Address|Leak|UndefinedBehavior|Thread|Memory)Sanitizer
             |runtime\ error:|==\d+==\s*ERROR|exited\ with\ code\ 99/x
        } split /\n/, $self->read_file($name);
    }
    for my $log (glob "$self->{dir}/valgrind.*.log") {
        my $text = $self->read_file($log);
        next if $text !~ /ERROR SUMMARY: [1-9]/;
        # the whole log: the errors, their stacks, the summary
        push @lines, map { "$log: $_" } split /\n/, $text;
    }
    return @lines;
}

sub error_log { $_[0]->read_file('error.log') }

sub DESTROY {
    my ($self) = @_;
    $self->stop if $$ == $self->{owner};
}

1;
