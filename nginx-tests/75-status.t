# opay_status: Prometheus text exposition of the webhook counters, scraped
# before and after a known sequence of calls served by two workers: the
# exact deltas of every counter and histogram count; counters kept across
# nginx -s reload; access is the operator's (allow/deny).

use strict;
use warnings;
use Test::More;
use MIME::Base64 ();
use OpayTest qw(loadentity_body reference_invoice json_response b64u
                PAY_METHOD proxy_location stripe_location);
use StripeMock;

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);
my $other = $t->make_key('key-1');

$t->backend('invoice', sub {
    my ($req) = @_;
    my ($id) = $req->{path} =~ m{^/invoices/(.+)$};
    return json_response(404, { error => 'no such invoice' })
        if $id =~ /^MISSING/;
    my $inv = reference_invoice();
    $inv->{entity}{identifier} = $id;
    return json_response(200, $inv);
});
my $stripe = StripeMock->new($t->dir . '/stripe');
$t->backend('stripe', $stripe->handler);

my $conf = <<'EOF'
    log_format workers '$pid $request_uri $status';

    opay_merchant_id   merchant-0001;
    opay_jwks_file     %%DIR%%/jwks.json;
    opay_invoice_uri   /_invoices/$opay_ctx_invoiceId;
    opay_processor     stripe /_stripe/;
    opay_journal       %%DIR%%/journal.log;
    opay_mode          test;

    server {
        listen 127.0.0.1:%%PORT_http%% reuseport;
        access_log %%DIR%%/workers.log workers;

        location = /opay/payment-request  { opay_payment_request; }
        location = /opay/payment-complete { opay_payment_complete; }
        location = "/opay/q\"uo\\te"   { opay_payment_request; }
        location = /opay/caf%%E9%%      { opay_payment_request; }
        location = /opay/%%LONG%%       { opay_payment_request; }

        location = /metrics {
            opay_status;
            allow 127.0.0.1;
            deny all;
        }

        location = /metrics-closed {
            opay_status;
            deny all;
        }

EOF
    . proxy_location('/_invoices/', 'invoice', '/invoices/')
    . stripe_location('/_stripe/', 'sk_test_opaytests')
    . "    }\n";
my $long = 'x' x 120;
$conf =~ s/%%LONG%%/$long/;
$conf =~ s/%%E9%%/\xe9/;    # a name in Latin-1: not UTF-8
$t->write_conf($conf, workers => 2);
$t->run;

my $token = $t->token($key, claims => { aud => 'merchant-0001' });
my $forged = $t->token($other, claims => { aud => 'merchant-0001' });

# name{labels} => value, and the answer, from one scrape
sub scrape { $t->scrape }

sub delta {
    my ($before, $after) = @_;
    my %d;
    for my $k (keys %$after) {
        next if $k =~ /_sum\{|_sum$|_bucket\{/;
        my $d = $after->{$k} - ($before->{$k} // 0);
        $d{$k} = $d if $d;
    }
    return \%d;
}

sub pay {
    my ($invoice, $card) = @_;
    my $pt = b64u('{"Format":"Stripe","TestMode":true}') . '.' . b64u($card)
           . '.' . b64u('sig');
    return $t->request('/opay/payment-complete', token => $token, body => {
        requestId => $invoice, methodName => PAY_METHOD,
        details => { productContext => { invoiceId => $invoice },
                     paymentToken => $pt,
                     amount => { currency => 'USD', value => '10.00' } } });
}

my ($before, $r) = scrape();
is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
   'Prometheus text format 0.0.4');
is($before->{opay_status_dropped_total}, 0, 'nothing dropped');

# The known sequence.
for my $i (1 .. 10) {
    is($t->request('/opay/payment-request', token => $token,
                   body => loadentity_body(invoiceId => "INV-$i"))->{status},
       200, "loadentity $i");
}
is($t->request('/opay/payment-request', token => $forged,
               body => loadentity_body())->{status}, 401, 'forged token');
is($t->request('/opay/payment-request', token => $token,
               body => loadentity_body(invoiceId => 'MISSING-1'))->{status},
   404, 'unknown invoice');
is(pay('PAY-1', 'tok_visa')->{json}{result}, 'success', 'paid');
is(pay('PAY-2', 'tok_chargeDeclined')->{json}{result}, 'fail', 'declined');
is(pay('PAY-1', 'tok_visa')->{json}{result}, 'success', 'replayed');

my %pids = map { (split / /)[0] => 1 } grep { m{/opay/} }
    split /\n/, $t->read_file('workers.log');
is(scalar keys %pids, 2, 'two workers served the calls');

my ($after, $scraped) = scrape();
my $rq = 'location="/opay/payment-request",webhook="payment_request"';
my $pc = 'location="/opay/payment-complete",webhook="payment_complete"';
is_deeply(delta($before, $after), {
    qq(opay_requests_total{$rq,event="loadentity",outcome="ok",status="200"}) => 10,
    qq(opay_requests_total{$rq,event="none",outcome="refused",status="401"}) => 1,
    qq(opay_requests_total{$rq,event="loadentity",outcome="refused",status="404"}) => 1,
    qq(opay_requests_total{$pc,event="paymentcomplete",outcome="success",status="200"}) => 2,
    qq(opay_requests_total{$pc,event="paymentcomplete",outcome="fail",status="200"}) => 1,
    q(opay_refusals_total{location="/opay/payment-request",reason="bad_signature"}) => 1,
    q(opay_refusals_total{location="/opay/payment-request",reason="unknown_invoice"}) => 1,
    q(opay_charges_total{result="succeeded",code=""}) => 1,
    q(opay_charges_total{result="declined",code="card_declined"}) => 1,
    q(opay_request_duration_seconds_count{location="/opay/payment-request"}) => 12,
    q(opay_request_duration_seconds_count{location="/opay/payment-complete"}) => 3,
    q(opay_backend_duration_seconds_count{backend="invoice"}) => 13,
    # per payment: the PaymentIntent's create, the token's PaymentMethod,
    # the update, then its confirmation
    q(opay_processor_duration_seconds_count) => 8,
}, 'exact deltas: calls, refusals by reason, charges, histogram counts')
    or diag(explain(delta($before, $after)));

ok($after->{'opay_request_duration_seconds_sum{location="/opay/payment-request"}'}
   > 0, 'histogram: a sum of real durations (microsecond clock)');
my $h = 'opay_request_duration_seconds_bucket{location="/opay/payment-request"';
is($after->{qq($h,le="+Inf"\}) }, 12, 'histogram: +Inf bucket is the count');
ok($after->{qq($h,le="0.005"\}) } <= $after->{qq($h,le="10"\}) },
   'histogram: buckets are cumulative');
like($scraped->{content}, qr/^# TYPE opay_requests_total counter$/m,
     'TYPE line');
like($scraped->{content},
     qr/^# TYPE opay_request_duration_seconds histogram$/m, 'histogram TYPE');

# Reload: same zone, same counters.
$t->reload;
my ($reloaded) = scrape();
is_deeply(delta($after, $reloaded), {}, 'counters kept across reload');
is($t->request('/opay/payment-request', token => $token,
               body => loadentity_body())->{status}, 200, 'one more call');
my ($more) = scrape();
is_deeply(delta($reloaded, $more), {
    qq(opay_requests_total{$rq,event="loadentity",outcome="ok",status="200"}) => 1,
    q(opay_request_duration_seconds_count{location="/opay/payment-request"}) => 1,
    q(opay_backend_duration_seconds_count{backend="invoice"}) => 1,
}, 'and counting on after it');

# Label values escaped as the exposition format wants (\\ and \"), and
# UTF-8 (a byte of an invalid sequence written as U+FFFD); a call whose
# labels do not fit a series is counted as dropped, never lost.
is($t->request('/opay/q%22uo%5Cte', token => $token,
               body => loadentity_body())->{status}, 200, 'quoted location');
is($t->request('/opay/caf%E9', token => $token,
               body => loadentity_body())->{status}, 200, 'Latin-1 location');
is($t->request("/opay/$long", token => $token,
               body => loadentity_body())->{status}, 200, 'long location');
my ($escaped) = scrape();
is_deeply(delta($more, $escaped), {
    qq(opay_requests_total{location="/opay/q\\"uo\\\\te",webhook="payment_request",event="loadentity",outcome="ok",status="200"}) => 1,
    qq(opay_request_duration_seconds_count{location="/opay/q\\"uo\\\\te"}) => 1,
    qq(opay_request_duration_seconds_count{location="/opay/$long"}) => 1,
    qq(opay_requests_total{location="/opay/caf\xef\xbf\xbd",webhook="payment_request",event="loadentity",outcome="ok",status="200"}) => 1,
    qq(opay_request_duration_seconds_count{location="/opay/caf\xef\xbf\xbd"}) => 1,
    q(opay_backend_duration_seconds_count{backend="invoice"}) => 3,
    q(opay_status_dropped_total) => 1,
}, 'label values escaped and UTF-8; a key too long is counted as dropped')
    or diag(explain(delta($more, $escaped)));

is($t->request('/metrics-closed', method => 'GET')->{status}, 403,
   'deny all: the operator restricts access');
is($t->request('/metrics', method => 'POST', body => '{}')->{status}, 405,
   'only GET');

# The whole page, the quoted and the Latin-1 locations' labels included,
# as Prometheus' own checker reads it (promtool, from Debian's prometheus
# package): one byte that is not UTF-8 would make it refuse the page.
SKIP: {
    my ($promtool) = grep { defined && -x } $ENV{PROMTOOL},
        map { "$_/promtool" } split(/:/, $ENV{PATH} // ''), '/usr/bin';
    skip 'promtool not found (make test gets it: scripts/promtool.sh)', 1
        unless $promtool;
    my $page = $t->request('/metrics', method => 'GET')->{content};
    my $out = $t->dir . '/promtool.out';
    open(my $p, '|-', "$promtool check metrics >$out 2>&1")
        or die "promtool: $!";
    print $p $page;
    close $p;
    is($?, 0, 'promtool check metrics: a valid exposition, no lint')
        or diag($t->read_file('promtool.out'));
}

$t->stop;
$t->check_error_log;
done_testing;
