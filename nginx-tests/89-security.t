# Hardening (issue 9): what a token holder can send, proven harmless. A raw
# TCP backend records exactly the bytes each backend connection carried, so
# request splitting and leaked headers show as they would on the wire.
#
#   1. productContext values: control characters refused, everything else
#      one path segment; no header injection through proxy_set_header
#   2. subrequests carry an allow-list of headers, nothing of the caller's
#   3. values handed to subrequests and their logs outlive the flow's steps
#   4. lone surrogates refused; opay journal replay names unreadable lines
#   5. the journal: no symlink or hard link followed
#   6. logs: an unverified token is a reason code, ids escaped, no payer data
#   7. a client hang-up does not abort the charge or the notify
#   8. limits: answer sizes, header size, depth, strings, list lengths

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(sleep time);
use OpayTest qw(loadentity_body reference_invoice json_decode json_encode
                complete_body unescape wait_for);
use StripeMock;

my $opay = $ENV{OPAY} or plan skip_all => 'OPAY (the opay tool) not set';

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

# A raw HTTP backend: each connection's bytes, exactly as received, go to
# raw-N.bin; the answer is [status, [header lines], body] from the handler,
# given the request line's path and the body.
sub raw_backend {
    my ($handler) = @_;
    my $dir = $t->dir;
    $t->server('raw', sub {
        my ($server) = @_;
        my $n = 0;
        while (1) {
            my $c = $server->accept or next;
            my $bytes = '';
            my $sel = IO::Select->new($c);
            # the head, the body it announces, then anything smuggled after
            my $deadline = time + 5;
            while (time < $deadline) {
                my ($head, $rest) = split /\r\n\r\n/, $bytes, 2;
                if (defined $rest) {
                    my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
                    last if length($rest) >= ($len // 0)
                        && !$sel->can_read(0.2);
                }
                last if !$sel->can_read(1);
                my $got = sysread($c, $bytes, 65536, length $bytes);
                last if !$got;
            }
            $n++;
            open my $fh, '>', "$dir/raw-$n.bin.tmp";
            print $fh $bytes;
            close $fh;
            rename "$dir/raw-$n.bin.tmp", "$dir/raw-$n.bin";
            my ($path) = $bytes =~ m{^\S+ (\S+)};
            my ($body) = $bytes =~ /\r\n\r\n(.*)\z/s;
            my ($status, $headers, $content) = @{ $handler->($path, $body) };
            print $c "HTTP/1.1 $status X\r\n",
                map({ "$_\r\n" } @$headers),
                "Content-Length: " . length($content) . "\r\n",
                "Connection: close\r\n\r\n", $content;
            close $c;
        }
    });
}

# every connection the raw backend saw since the last call
my $seen = 0;
sub raw_requests {
    sleep 0.1;
    my @out;
    while (-f $t->dir . '/raw-' . ($seen + 1) . '.bin') {
        $seen++;
        push @out, $t->read_file("raw-$seen.bin");
    }
    return @out;
}

my $json = JSON::PP->new->canonical;

raw_backend(sub {
    my ($path, $body) = @_;
    my $ok = [ 200, [ 'Content-Type: application/json' ] ];
    if ($path =~ m{^/api/invoices/(.*)$}) {
        my $id = unescape($1);
        my $inv = reference_invoice();
        $inv->{entity}{identifier} = $id;
        if ($id eq 'bigheaders') {
            return [ 200, [ 'Content-Type: application/json',
                            map { "X-Pad-$_: " . ('p' x 1000) } 1 .. 20 ],
                     $json->encode($inv) ];
        }
        if ($id eq 'items101') {
            $inv->{entity}{totalPaymentDue}{price} = '0.00';
            $inv->{displayItems} = [ map { { label => "i$_",
                amount => { currency => 'USD', value => '0.00' } } } 1 .. 101 ];
        }
        if ($id =~ /^line(.*)/s) {
            $inv->{entity}{identifier} = "x\n2026/01/01 [warn] forged$1";
        }
        $inv->{requestShipping} = JSON::PP::true;
        return [ @$ok, $json->encode($inv) ];
    }
    if ($path eq '/api/shipping') {
        my $req = json_decode($body) || {};
        my $n = ($req->{invoice} // '') eq 'many' ? 51 : 2;
        return [ @$ok, $json->encode({ shippingOptions => [ map { {
            id => "o$_", label => "Option $_",
            amount => { currency => 'USD', value => '0.00' } } } 1 .. $n ] }) ];
    }
    if ($path eq '/api/outcomes') {
        return [ 204, [], '' ];
    }
    return [ 404, [], '' ];
});

my $stripe = StripeMock->new($t->dir . '/stripe');
$t->backend('stripe', $stripe->handler);

my $conf = <<'EOF';
    log_format sub '$uri|$http_idempotency_key|$http_content_type|'
                   '$http_cookie|$http_accept_encoding';

    opay_merchant_id   merchant-0001;
    opay_jwks_file     %%DIR%%/jwks.json;
    opay_invoice_uri   /_invoices/$opay_ctx_invoiceId;
    opay_shipping_uri  /_shipping;
    opay_mode          test;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location = /pr {
            opay_payment_request;
        }

        location = /complete {
            opay_payment_complete;
            opay_processor  stripe /_stripe/;
            opay_journal    %%DIR%%/journal.log;
            opay_notify_uri /_notify;
        }

        # Stripe's answers are larger than this location lets nginx keep
        location = /complete-tiny {
            opay_payment_complete;
            opay_processor  stripe /_tiny/;
            opay_journal    %%DIR%%/journal.log;
        }

        location /_invoices/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_raw%%/api/invoices/;
            proxy_set_header X-Invoice-Id $opay_ctx_invoiceId;
            proxy_buffer_size 64k;
            proxy_buffers 4 64k;
            proxy_busy_buffers_size 64k;
            subrequest_output_buffer_size 64k;
        }

        location = /_shipping {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_raw%%/api/shipping;
        }

        location /_stripe/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_stripe%%/;
            proxy_set_header Authorization "Bearer sk_test_opaytests";
            log_subrequest on;
            access_log %%DIR%%/sub.log sub;
        }

        location /_tiny/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_stripe%%/;
            proxy_set_header Authorization "Bearer sk_test_opaytests";
            subrequest_output_buffer_size 64;
        }

        location = /_notify {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_raw%%/api/outcomes;
        }
    }
EOF
$t->write_conf($conf);
$t->run;

my $token = $t->token($key, claims => { aud => 'merchant-0001',
                                        sub => 'payer@example.com' });

sub load {
    my ($ctx, %opt) = @_;
    return $t->request('/pr', token => $token, body => loadentity_body(%$ctx),
                       %opt);
}

# the invoices ask for shipping: a payment names where and how
sub shipped_body {
    my ($rid) = @_;
    return complete_body($rid, extra => {
        shippingAddress => { country => 'US', addressLine => [ '1 Main St' ] },
        shippingOption => 'o1' });
}

sub shipping_change {
    my ($id, $lines) = @_;
    my $body = loadentity_body(invoiceId => $id);
    $body->{methodData}[0]{data}{event} = 'shippingaddresschange';
    $body->{details} = { id => $id, total => { label => 'Total',
        amount => { currency => 'USD', value => '10.00' } } };
    $body->{shippingAddress} = { country => 'US',
                                 addressLine => [ ('l') x $lines ] };
    return $t->request('/pr', token => $token, body => $body);
}
# 1. Request splitting: control characters are refused, naming the field;
# nothing reaches the backend.
raw_requests();
my $split = "12345?a=1 HTTP/1.1\r\nX-Injected: yes\r\n\r\n"
          . "DELETE /api/invoices/99999 HTTP/1.1\r\nHost: x\r\n\r\n";
my $r = load({ invoiceId => $split });
is($r->{status}, 400, 'CRLF in invoiceId: 400');
is($r->{json}{error}{code}, 'invalid_payload', 'CRLF in invoiceId: code');
like($r->{json}{error}{message}, qr/productContext\.invoiceId/,
     'CRLF in invoiceId: the field is named');
is(scalar raw_requests(), 0, 'CRLF in invoiceId: nothing reached a backend');

for my $ctl ("\t", "\x7f", "\x00") {
    $r = load({ invoiceId => "1${ctl}2" });
    is($r->{status}, 400, sprintf 'control character 0x%02x: 400', ord $ctl);
}
is(scalar raw_requests(), 0, 'control characters: nothing fetched');

# Everything else is one path segment: no query, no segment, no line added.
# The subrequest's URI keeps what could end or split a segment encoded
# ('/', '?', '#', '%', space), so that proxy_pass with variables is safe too
# (92-subrequest.t); proxy_pass without variables encodes those once more.
my $tricky = 'a b?c=1&d#e/f%g..h';
$r = load({ invoiceId => $tricky });
my @wire = raw_requests();
is(scalar @wire, 1, 'tricky invoiceId: exactly one backend connection');
my @lines = ($wire[0] // '') =~ /^((?:GET|POST|DELETE|PUT)\s.*)$/mg;
is(scalar @lines, 1, 'tricky invoiceId: exactly one request line');
like($wire[0], qr{^GET /api/invoices/a%2520b%253Fc=1&d%2523e%25252Ff%2525g\.\.h HTTP/1\.[01]\r\n},
     'tricky invoiceId: one percent-encoded segment, no query');
is($r->{status}, 200, 'tricky invoiceId: answered');
like($wire[0], qr/^X-Invoice-Id: a b\?c=1&d#e\/f%g\.\.h\r$/m,
     'in proxy_set_header the value is verbatim, on one header line');

for my $dots ('..', '.') {
    load({ invoiceId => $dots });
    my ($req) = raw_requests();
    my ($line) = ($req // '') =~ /^(GET \S+)/;
    is($line, 'GET /api/invoices/' . ('%25252E' x length $dots),
       "invoiceId \"$dots\" is a segment, not a step up");
}

# 2. Headers: nothing of the caller's reaches any backend.
my %caller = (
    'Cookie' => 'session=caller-cookie',
    'Stripe-Account' => 'acct_attacker',
    'Stripe-Version' => '2099-01-01',
    'Idempotency-Key' => 'caller-chosen-key',
    'Accept-Encoding' => 'gzip, deflate',
    'X-Forwarded-For' => '10.6.6.6',
    'User-Agent' => 'caller-agent',
    'X-Custom' => 'caller-custom',
);
$r = load({ invoiceId => '12345' }, headers => \%caller);
is($r->{status}, 200, 'caller headers: loadentity answered');
my ($inv) = raw_requests();
my ($head) = split /\r\n\r\n/, $inv // '', 2;
my @names = sort map { /^([^:]+):/ ? lc $1 : () } split /\r\n/, $head;
is_deeply(\@names, [ sort qw(host connection accept user-agent x-invoice-id) ],
          'invoice backend: only the allow-listed headers');
like($head, qr{^Accept: application/json\r?$}m, 'Accept: application/json');
like($head, qr{^User-Agent: opay/\d+\.\d+\.\d+\r?$}m, 'User-Agent: opay/<v>');
unlike($head, qr/caller|attacker|2099|gzip|10\.6\.6\.6/,
       'invoice backend: no caller value anywhere');

$r = $t->request('/complete', token => $token, headers => \%caller,
                 body => shipped_body('H-1'));
is($r->{json}{result}, 'success', 'caller headers: the charge went through');
my ($call) = grep { $_->{path} eq '/v1/payment_intents' }
    @{ $t->backend_requests('stripe') };
my $h = $call->{headers};
like($h->{'idempotency-key'}, qr/^opay-[0-9a-f]{64}$/,
     "processor: the module's Idempotency-Key, not the caller's");
ok(!exists $h->{$_}, "processor: no $_")
    for qw(cookie stripe-account stripe-version accept-encoding
           x-forwarded-for x-custom);
is($h->{'user-agent'}, 'opay/0.1.0', 'processor: User-Agent opay/<version>');
is($h->{'content-type'}, 'application/x-www-form-urlencoded',
   "processor: the module's own Content-Type");
my @notify = grep { m{^POST /api/outcomes} } raw_requests();
is(scalar @notify, 1, 'notify: one POST');
my ($nhead, $nbody) = split /\r\n\r\n/, $notify[0] // '', 2;
unlike($nhead, qr/caller|attacker|2099|gzip|10\.6\.6\.6|Idempotency/i,
       'notify: nothing of the caller');
like($nhead, qr{^Content-Type: application/json\r?$}m,
     'notify: Content-Type application/json');

# 3. The subrequest's access log (log_subrequest on) reads the module's
# header values after the flow moved on: they live in the request's pool.
my $sub = $t->read_file('sub.log');
like($sub, qr{^/_stripe/v1/payment_intents\|\Q$h->{'idempotency-key'}\E\|application/x-www-form-urlencoded\|-\|-$}m,
     'log_subrequest: Idempotency-Key and Content-Type intact, no cookie');

# 4. Lone surrogates are malformed JSON; nothing is charged.
my $before = scalar @{ $stripe->charges };
my $text = json_encode(shipped_body('S-1'));
$text =~ s/"Patti Fernandez"/"\\udc00"/;
$r = $t->request('/complete', token => $token, body => $text);
is($r->{status}, 400, 'payerName "\udc00": 400');
is($r->{json}{error}{code}, 'malformed_json', 'payerName "\udc00": malformed');
is(scalar @{ $stripe->charges }, $before, 'payerName "\udc00": not charged');
like($t->error_log, qr/surrogate/, 'the log says why: a surrogate');

my $pr = loadentity_body(invoiceId => '12345');
$text = json_encode($pr);
$text =~ s/"12345"/"12345","n":"\\ud800\\u0041"/;
is($t->request('/pr', token => $token, body => $text)->{status}, 400,
   'a high surrogate without its low half: 400');

# opay journal replay names the line it cannot read, and says so in its
# exit status: it may be an outcome.
my $journal = $t->read_file('journal.log');
$t->write_file('broken.log', $journal
    . qq({"type":"outcome","entry":"X","record":{"payerName":"\xed\xb0\x80"}}\n)
    . "{\"type\":\"outcome\",\"entry\":\"Y\"\n");
my $lines = () = $journal =~ /\n/g;
my $out = `$opay journal replay --journal ${\ $t->dir}/broken.log --url http://127.0.0.1:${\ $t->port('raw')}/api/outcomes 2>&1`;
isnt($? >> 8, 0, 'journal replay: non-zero exit with unreadable lines');
like($out, qr/broken\.log:${\ ($lines + 1)}: cannot read this line/,
     'journal replay names the line with the raw surrogate');
like($out, qr/broken\.log:${\ ($lines + 2)}: cannot read this line/,
     'journal replay names the cut line');
like($out, qr/^2 unreadable journal lines: ${\ ($lines + 1)} ${\ ($lines + 2)}$/m,
     'journal replay sums them up');

# 5. The journal: a symlink or a second hard link is refused by nginx -t,
# and the file it points to is left alone.
{
    my $dir = $t->dir;
    $t->write_file('victim', "precious\n");
    chmod 0600, "$dir/victim";
    my @st = stat "$dir/victim";
    symlink "$dir/victim", "$dir/link.log";
    link "$dir/victim", "$dir/hard.log";
    for my $case ([ 'link.log', qr/a symbolic link/ ],
                  [ 'hard.log', qr/has more than one link/ ]) {
        my ($file, $why) = @$case;
        my $t2 = OpayTest->new(dir => $dir);
        (my $c = $conf) =~ s{%%DIR%%/journal\.log}{%%DIR%%/$file}g;
        $c =~ s/listen 127\.0\.0\.1:%%PORT_http%%/listen 127.0.0.1:${\ OpayTest::free_port()}/;
        $t2->write_conf($c);
        my ($rc, $msg) = $t2->test_conf;
        isnt($rc, 0, "journal $file: nginx -t fails");
        like($msg, $why, "journal $file: says why");
        my @now = stat "$dir/victim";
        is("$now[4]:$now[2]", "$st[4]:$st[2]", "journal $file: target untouched");
        $t2->{owner} = -1;   # nothing to stop: it shares the test's dir
    }
    is($t->read_file('victim'), "precious\n", 'the target was not written');
    $t->write_conf($conf);   # back to the running configuration
}

# 6. Logs: the unverified token's kid never reaches the log, only the
# reason; ids are escaped and cut.
my $forged = $t->token($key, claims => { aud => 'merchant-0001' },
                       header => { kid => "k\n2026/01/01 00:00:00 [alert] 1#1: forged-kid" });
$r = load({ invoiceId => '12345' }, token => $forged);
is($r->{status}, 401, 'a kid with a line break: 401');
my $log = $t->error_log;
unlike($log, qr/forged-kid/, 'the unverified kid is never logged');
like($log, qr/bearer token refused: unknown_key, client/,
     'only the reason code is logged');

my $line_id = 'line' . ('z' x 100);
$r = shipping_change($line_id, 1);
is($r->{status}, 400, 'details.id against an invoice id with a line break');
$log = $t->error_log;
unlike($log, qr/^2026\/01\/01 \[warn\] forged/m, 'no forged log line');
my ($zs) = $log =~ /invoice "x\\x0a2026\/01\/01 \[warn\] forged(z*)\.\.\."/;
ok(defined $zs, 'the id is escaped in the log line')
    or diag(join "\n", grep { /forged/ } split /\n/, $log);
is(length("x\n2026/01/01 [warn] forged" . ($zs // '')), 64,
   'and cut to 64 bytes');
unlike($log, qr/z{65}/, 'the caller\'s details.id is cut too');

# 7. A client who hangs up right after sending does not abort the charge
# or its notify.
$stripe->mode('slow');
raw_requests();
my $charges_before = scalar @{ $stripe->charges };
{
    my $body = json_encode(shipped_body('HUP-1'));
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port('http'))
        or die;
    print $s "POST /complete HTTP/1.1\r\nHost: x\r\n"
        . "Authorization: Bearer $token\r\n"
        . "Content-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    sleep 0.6;    # the processor call is under way (Stripe answers in 1s)
    close $s;
}
my @hup;
wait_for(sub { @hup = grep { m{^POST /api/outcomes} } raw_requests() },
         10, 0.2);
$stripe->mode('normal');
is(scalar @{ $stripe->charges }, $charges_before + 1,
   'client gone: Stripe charged once');
is(scalar @hup, 1, 'client gone: the notify backend still got the outcome');
my (undef, $hup_body) = split /\r\n\r\n/, $hup[0] // '', 2;
is((json_decode($hup_body // '') || {})->{result}, 'success',
   'client gone: the module read the charge (notify says success)');
like($t->read_file('journal.log'),
     qr/"type":"outcome"[^\n]*"requestId":"HUP-1"[^\n]*"kind":"succeeded"|"type":"outcome"[^\n]*"kind":"succeeded"[^\n]*"requestId":"HUP-1"/,
     'client gone: the journal has the succeeded outcome');

# 8. Limits.
$r = $t->request('/complete-tiny', token => $token,
                 body => shipped_body('TINY-1'));
is($r->{json}{result}, 'success',
   'a Stripe answer over subrequest_output_buffer_size is still read');

$r = load({ invoiceId => 'bigheaders' });
is($r->{status}, 502, '20k of backend headers: 502');
like($t->error_log, qr/opay: invoice backend answer has \d+ bytes of headers, over 16384/,
     '20k of backend headers: logged');

$r = load({ invoiceId => 'items101' });
is($r->{status}, 502, '101 display items: 502');
like($t->error_log, qr/101 displayItems, over the limit of 100/,
     '101 display items: logged');

$r = shipping_change('12345', 11);
is($r->{status}, 400, '11 address lines: 400');
like($r->{json}{error}{message}, qr/addressLine has more than 10 lines/,
     '11 address lines: says why');
$r = shipping_change('many', 1);
is($r->{status}, 502, '51 shipping options: 502');
like($t->error_log, qr/51 shippingOptions, over the limit of 50/,
     '51 shipping options: logged');

my $deep = '{"a":' x 40 . '1' . '}' x 40;
$text = json_encode(loadentity_body(invoiceId => '12345'));
$text =~ s/"12345"/"12345","deep":$deep/;
$r = $t->request('/pr', token => $token, body => $text);
is($r->{status}, 400, 'JSON nested 40 deep: 400');
like($t->error_log, qr/nested too deeply/, 'JSON depth: logged');

$r = load({ invoiceId => '12345', note => 'n' x 17000 });
is($r->{status}, 400, 'a 17000-byte string: 400');
like($t->error_log, qr/string longer than 16384 bytes/, 'string length: logged');

$t->stop;
# nginx -t of section 5 wrote its refusals to the same log
$t->check_error_log(expected => qr/opay_journal "[^"]+\/(?:link|hard)\.log"/);

done_testing;
