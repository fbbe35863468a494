# nginx -t catches configuration mistakes, each with an [emerg] that names
# the directive (or key) at fault. A good configuration also survives a
# reload with new keys.

use strict;
use warnings;
use Test::More;
use OpayTest qw(loadentity_body reference_invoice json_response json_encode);

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);

sub conf_with {
    my ($location, $http) = @_;
    $http //= "    opay_merchant_id merchant-0001;\n"
            . "    opay_jwks_file %%DIR%%/jwks.json;\n";
    $t->write_conf($http . <<"EOF");
    server {
        listen 127.0.0.1:%%PORT_http%%;
        location = /pay {
$location
        }
    }
EOF
}

sub refused {
    my ($name, $expect, $location, $http) = @_;
    conf_with($location, $http);
    my ($rc, $out) = $t->test_conf;
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\].*$expect/, "$name: says why");
}

my $handler = "opay_payment_request; opay_invoice_uri /_i/\$opay_ctx_id;";

refused('no merchant id', qr/"opay_merchant_id" is not set/, $handler,
        "    opay_jwks_file %%DIR%%/jwks.json;\n");
refused('no keys', qr/"opay_jwks_file" is not set/, $handler,
        "    opay_merchant_id merchant-0001;\n");
refused('no invoice uri', qr/"opay_invoice_uri" is not set/,
        'opay_payment_request;');
refused('unreadable jwks', qr/opay_jwks_file ".*missing.json" cannot be read/,
        $handler, "    opay_merchant_id m;\n"
                . "    opay_jwks_file %%DIR%%/missing.json;\n");

$t->write_file('not-json.json', '{"keys": [');
refused('jwks not JSON', qr/JWKS is not valid JSON/, $handler,
        "    opay_merchant_id m;\n    opay_jwks_file %%DIR%%/not-json.json;\n");

my $small = $t->make_key('small-key', 1024);
$t->write_jwks('small.json', $small);
refused('1024-bit key', qr/key "small-key": RSA key is 1024 bits; at least 2048/,
        $handler,
        "    opay_merchant_id m;\n    opay_jwks_file %%DIR%%/small.json;\n");

my $enc = { %{ $key->{jwk} }, use => 'enc' };
$t->write_file('enc.json', json_encode({ keys => [ $enc ] }));
refused('only an encryption key', qr/no RS256 signature key.*use is not "sig"/,
        $handler,
        "    opay_merchant_id m;\n    opay_jwks_file %%DIR%%/enc.json;\n");

refused('unknown network', qr/unknown name "maestro" in "opay_supported_networks"/,
        "$handler opay_supported_networks visa maestro;");
refused('unknown type', qr/unknown name "gift" in "opay_supported_types"/,
        "$handler opay_supported_types credit gift;");
refused('bad payer field', qr/invalid value "address" in "opay_request_payer"/,
        "$handler opay_request_payer name address;");
refused('bad mode', qr/invalid value "sandbox"/, "$handler opay_mode sandbox;");
refused('bad leeway', qr/"opay_jwt_leeway" directive invalid value/,
        "$handler opay_jwt_leeway soon;");

my $complete = "opay_payment_complete; opay_invoice_uri /_i/\$opay_ctx_id;";
refused('complete without processor', qr/"opay_processor" is not set for "opay_payment_complete"/,
        $complete);
refused('unknown processor', qr/unknown processor "paypal" in "opay_processor"/,
        "$complete opay_processor paypal /_p;");
refused('processor URI of the Charges API',
        qr/"opay_processor" takes the prefix of a location that proxies to Stripe's API root, starting and ending with "\/", without arguments \("\/_stripe\/v1\/charges" given\)/,
        "$complete opay_processor stripe /_stripe/v1/charges;");
refused('processor prefix with arguments', qr/without arguments \("\/_s\/\?a=\/" given\)/,
        "$complete opay_processor stripe /_s/?a=/;");
refused('journal in a missing directory',
        qr/opay_journal ".*nowhere\/journal.log" cannot be opened/,
        "$complete opay_processor stripe /_p/; "
        . "opay_journal %%DIR%%/nowhere/journal.log;");
refused('zone too small', qr/"opay_zone_size" is too small/,
        $complete, "    opay_merchant_id m;\n    opay_jwks_file %%DIR%%/jwks.json;\n"
        . "    opay_zone_size 4k;\n");
refused('bad shipping type', qr/invalid value "drone"/,
        "$handler opay_shipping_type drone;");

# Settings without a handler are fine: they are inherited.
conf_with('return 204;');
my ($rc, $out) = $t->test_conf;
is($rc, 0, 'settings at http level without a handler: ok') or diag $out;

# A working configuration, then a reload that swaps the keys.
$t->backend('invoice', sub { json_response(200, reference_invoice()) });
conf_with("$handler\n        }\n        location /_i/ { internal; "
          . "proxy_pass http://127.0.0.1:%%PORT_invoice%%/;");
$t->write_file('error.log', '');  # the refusals above were expected
$t->run;
my $r = $t->request('/pay', token => $t->token($key, claims => {
    aud => 'merchant-0001' }), body => loadentity_body(id => '12345'));
is($r->{status}, 200, 'before reload: key-1 accepted');

my $key2 = $t->make_key('key-2');
$t->write_jwks('jwks.json', $key2);
$t->reload;
$r = $t->request('/pay', token => $t->token($key2, claims => {
    aud => 'merchant-0001' }), body => loadentity_body(id => '12345'));
is($r->{status}, 200, 'after reload: key-2 accepted');
$r = $t->request('/pay', token => $t->token($key, claims => {
    aud => 'merchant-0001' }), body => loadentity_body(id => '12345'));
is($r->{status}, 401, 'after reload: key-1 refused');

$t->stop;
$t->check_error_log;
done_testing;
