# Bearer token checks in front of the PaymentRequest webhook: every kind of
# bad token gets the same 401 shape, and never reaches the invoice backend.

use strict;
use warnings;
use Test::More;
use Crypt::JWT qw(encode_jwt);
use MIME::Base64 ();
use OpayTest qw(loadentity_body reference_invoice json_response json_decode
                json_encode b64u);

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
my $stranger = $t->make_key('key-2');
$t->write_jwks('jwks.json', $key);
$t->backend('invoice', sub { json_response(200, reference_invoice()) });

$t->write_conf(<<'EOF');
    opay_merchant_id  merchant-0001;
    opay_jwks_file    %%DIR%%/jwks.json;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location = /pay {
            opay_payment_request;
            opay_invoice_uri /_invoices/$opay_ctx_invoiceId;
        }

        location = /senders {
            opay_payment_request;
            opay_invoice_uri /_invoices/$opay_ctx_invoiceId;
            opay_allowed_senders billing@contoso.com accounts@contoso.com;
        }

        location /_invoices/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_invoice%%/invoices/;
        }
    }
EOF
$t->run;

my $body = loadentity_body();
my $now = time;

sub refused {
    my ($name, $reason, %req) = @_;
    my $r = $t->request($req{path} // '/pay', body => $body, %req);
    is($r->{status}, 401, "$name: 401");
    is($r->{headers}{'www-authenticate'}, 'Bearer error="invalid_token"',
       "$name: WWW-Authenticate");
    is_deeply($r->{json}, { error => { code => 'invalid_token',
                                       message => $reason } },
              "$name: body is only the short reason code");
}

sub unb64u {
    my ($s) = @_;
    $s =~ tr{-_}{+/};
    return MIME::Base64::decode_base64($s);
}

my $good = $t->token($key, claims => { aud => 'merchant-0001' });

refused('no header', 'missing_token');
refused('Basic scheme', 'bad_scheme',
        headers => { Authorization => 'Basic dXNlcjpwYXNz' });
refused('alg none', 'bad_alg',
        token => encode_jwt(payload => { aud => 'merchant-0001',
                                         exp => $now + 600 },
                            alg => 'none', allow_none => 1,
                            extra_headers => { kid => 'key-1' }));
refused('HS256 keyed with the public key', 'bad_alg',
        token => encode_jwt(payload => { aud => 'merchant-0001',
                                         exp => $now + 600 },
                            alg => 'HS256', key => $key->{public_pem},
                            extra_headers => { kid => 'key-1' }));
refused('unknown kid', 'unknown_key', token => $t->token($stranger));
refused('signed by another key under our kid', 'bad_signature',
        token => $t->token({ %$stranger, kid => 'key-1' }));
refused('expired', 'expired',
        token => $t->token($key, claims => { iat => $now - 7200,
                                             nbf => $now - 7200,
                                             exp => $now - 3600 }));
refused('nbf in the future', 'not_yet_valid',
        token => $t->token($key, claims => { nbf => $now + 3600 }));
refused('iat in the future', 'issued_in_future',
        token => $t->token($key, claims => { iat => $now + 3600 }));
refused('no exp', 'missing_exp',
        token => $t->token($key, claims => { exp => undef }));
refused('wrong aud', 'bad_audience',
        token => $t->token($key, claims => { aud => 'someone-else' }));
refused('wrong iss', 'bad_issuer',
        token => $t->token($key, claims => {
            iss => 'https://substrate.office.com/sts' }));
refused('wrong appid', 'bad_appid',
        token => $t->token($key, claims => { appid => 'not-the-app' }));

my ($h, $p, $s) = split /\./, $good;
my $claims = json_decode(unb64u($p));
$claims->{sub} = 'mallory@example.com';
refused('tampered payload', 'bad_signature',
        token => join '.', $h, b64u(json_encode($claims)), $s);
refused('padded base64url', 'malformed', token => "$h.$p.$s=");
refused('standard base64 alphabet', 'malformed',
        token => "$h.$p." . ($s =~ tr{-_}{+/}r) . '+');
refused('two parts', 'malformed', token => "$h.$p");
refused('four parts', 'malformed', token => "$h.$p.$s.$s");
refused('header not JSON', 'malformed', token => b64u('{"alg":') . ".$p.$s");

is(scalar @{ $t->backend_requests('invoice') }, 0,
   'no refused call reached the invoice backend');

# Accepted variants.
my $r = $t->request('/pay', body => $body, token => $good);
is($r->{status}, 200, 'valid token accepted');

$r = $t->request('/pay', body => $body, headers => {
    'Action-Authorization' => "Bearer $good" });
is($r->{status}, 200, 'Action-Authorization: Bearer is accepted');

$r = $t->request('/pay', body => $body, headers => {
    Authorization => "Bearer $good",
    'Action-Authorization' => 'Bearer garbage' });
is($r->{status}, 200, 'Authorization wins over Action-Authorization');

$r = $t->request('/pay', body => $body, token => $t->token($key, claims => {
    appid => '48AF08DC-F6D2-435F-B2A7-069ABD99C086' }));
is($r->{status}, 200, 'appid compared case-insensitively');

$r = $t->request('/pay', body => $body, token => $t->token($key, claims => {
    aud => [ 'other', 'merchant-0001' ] }));
is($r->{status}, 200, 'aud array containing the merchant id');

$r = $t->request('/pay', body => $body, token => $t->token($key, claims => {
    iat => $now - 3700, nbf => $now - 3700, exp => $now - 60 }));
is($r->{status}, 200, 'expired a minute ago: within the 5m leeway');

$r = $t->request('/senders', body => $body, token => $t->token($key,
    claims => { aud => 'merchant-0001', sender => 'Billing@Contoso.com' }));
is($r->{status}, 200, 'allowed sender (any case) accepted');
refused('sender not allowed', 'bad_sender', path => '/senders',
        token => $t->token($key, claims => { sender => 'evil@example.com' }));
refused('no sender where senders are required', 'bad_sender',
        path => '/senders', token => $t->token($key, claims => {
            sender => undef }));

my $backend = $t->backend_requests('invoice');
is(scalar @$backend, 7, 'each accepted call fetched the invoice once');
ok(!grep({ exists $_->{headers}{authorization}
           || exists $_->{headers}{'action-authorization'} } @$backend),
   'the payer\'s bearer token is never passed to the backend');

my $log = $t->error_log;
like($log, qr/\[info\].*opay: bearer token refused: expired/,
     'refusal logged at info with its reason');
unlike($log, qr/\Q$s\E/, 'no token in the error log');

$t->stop;
$t->check_error_log;
done_testing;
