# conf-examples/quickstart.conf, as `make run` starts it (repository as the
# prefix), on a free port: the documented curl call gets the loadentity
# answer, with a token minted by `opay mint-token` as make run does.

use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use OpayTest qw(loadentity_body json_decode);
use StripeMock;

my $root = abs_path(dirname(__FILE__) . '/..');
my $opay = $ENV{OPAY} or plan skip_all => 'OPAY (the opay tool) not set';

my $t = OpayTest->new(prefix => "$root/");
my $dir = $t->dir;
mkdir "$dir/tmp";
my $port = $t->port('http');

open my $fh, '<', "$root/conf-examples/quickstart.conf" or die $!;
my $conf = do { local $/; <$fh> };
close $fh;
like($conf, qr/listen\s+127\.0\.0\.1:8080;/, 'quickstart listens on 8080');
$conf =~ s/127\.0\.0\.1:8080/127.0.0.1:$port/g;
# the quickstart's TEST Stripe-compatible server, as make run starts it
my $stripe = StripeMock->new("$dir/stripe");
my $stripe_port = $t->backend('stripe', $stripe->handler);
like($conf, qr{proxy_pass\s+http://127\.0\.0\.1:8099/;},
     'quickstart processor points at the test server on 8099');
$conf =~ s/127\.0\.0\.1:8099/127.0.0.1:$stripe_port/g;
$conf =~ s{build/run/}{$dir/}g;
$conf =~ s{(opay_jwks_file\s+)(demo-only-jwks\.json)}{$1$root/conf-examples/$2};
$conf = "daemon off;\n" . $conf;
$conf = "user root;\n" . $conf if $> == 0;
$conf = "load_module $ENV{TEST_NGINX_MODULE};\n" . $conf
    if $ENV{TEST_NGINX_MODULE};
$t->write_file('nginx.conf', $conf);
$t->run;

my ($merchant) = $conf =~ /opay_merchant_id\s+(\S+);/;
my $token = `$opay mint-token --key $root/conf-examples/demo-only-key.pem --kid demo-only --claim aud=$merchant --claim sub=payer\@example.com`;
chomp $token;
ok(length $token, 'opay mint-token made a token');

my $verify = `$opay verify-token --jwks $root/conf-examples/demo-only-jwks.json --audience $merchant $token`;
is($? >> 8, 0, 'opay verify-token accepts it');
like($verify, qr/"ok":true/, 'verify-token report says ok');

# verify-token runs the module's checks, the ver claim too
# (opay_jwt_version's default; --ver S, --no-ver as the directive's off).
my $jwks = "$root/conf-examples/demo-only-jwks.json";
my $v2 = `$opay mint-token --key $root/conf-examples/demo-only-key.pem --kid demo-only --claim aud=$merchant --claim ver=STI.ExternalAccessToken.V2`;
chomp $v2;
$verify = `$opay verify-token --jwks $jwks --audience $merchant $v2`;
is($? >> 8, 1, 'verify-token refuses another ver');
like($verify, qr/"reason":"bad_version"/, 'verify-token says bad_version');
`$opay verify-token --jwks $jwks --audience $merchant --ver STI.ExternalAccessToken.V2 $v2`;
is($? >> 8, 0, 'verify-token --ver accepts that ver');
`$opay verify-token --jwks $jwks --audience $merchant --no-ver $v2`;
is($? >> 8, 0, 'verify-token --no-ver accepts any ver');

my $r = $t->request('/opay/payment-request', token => $token,
                    body => loadentity_body(invoiceId => '12345'));
is($r->{status}, 200, 'quickstart answers loadentity');
is($r->{json}{details}{total}{amount}{value}, '10.00', 'invoice 12345 total');
is($r->{json}{methodData}[0]{data}{mode}, 'TEST', 'quickstart is in test mode');
is(scalar @{ $r->{json}{details}{displayItems} }, 2, 'two display items');

$r = $t->request('/opay/payment-request', token => $token,
                 body => loadentity_body(invoiceId => '67890'));
is($r->{json}{details}{total}{amount}{value}, '2500',
   'invoice 67890 (bare schema.org, JPY)');

# The conversation README and make run show: the reference's three calls.
my %total;
for my $event (qw(loadentity shippingaddresschange shippingoptionchange)) {
    open my $rq, '<', "$root/conf-examples/requests/$event.json" or die $!;
    my $body = do { local $/; <$rq> };
    $r = $t->request('/opay/payment-request', token => $token, body => $body);
    is($r->{status}, 200, "quickstart $event: 200");
    is($r->{json}{methodData}[0]{data}{event}, $event, "answered as $event");
    $total{$event} = $r->{json}{details}{total}{amount}{value};
}
is_deeply(\%total, { loadentity => '10.00', shippingaddresschange => '10.00',
                     shippingoptionchange => '13.00' },
          'quickstart conversation: 10.00, 10.00, then 13.00 with priority');
is($r->{json}{details}{displayItems}[-1]{label}, 'Shipping',
   'Shipping line added');

open my $pc, '<', "$root/conf-examples/requests/paymentcomplete.json" or die;
my $pay = do { local $/; <$pc> };
$r = $t->request('/opay/payment-complete', token => $token, body => $pay);
is($r->{status}, 200, 'quickstart paymentcomplete: 200');
is($r->{json}{result}, 'success', 'paid');
is($stripe->charges->[0]{amount}, 1300, 'the test server charged 13.00');
like($r->{json}{entity}{confirmationNumber}, qr/^pi_/,
     'confirmation number: the PaymentIntent');
$r = $t->request('/opay/payment-complete', token => $token, body => $pay);
is($r->{json}{entity}{confirmationNumber},
   $stripe->charges->[0]{payment_intent}, 'paying again replays the outcome');
is(scalar @{ $stripe->charges }, 1, 'one charge');
my @journal = map { json_decode($_) } split /\n/, $t->read_file('journal.log');
is_deeply([ map { $_->{type} } @journal ], [qw(attempt outcome notify)],
          'journal: attempt, outcome, notify');

$r = $t->request('/opay/status', method => 'GET');
is($r->{status}, 200, 'quickstart metrics on /opay/status');
like($r->{content}, qr/^opay_charges_total\{result="succeeded",code=""\} 1$/m,
     'one charge counted');

$r = $t->request('/_invoices/12345.json', method => 'GET');
is($r->{status}, 404, 'the embedded invoice backend is internal');

$t->stop;
$t->check_error_log;
done_testing;
