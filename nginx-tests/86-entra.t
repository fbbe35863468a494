# conf-examples/entra-id.conf, run as written but for its addresses: the
# Entra ID tenant's OpenID metadata and keys come from a local HTTPS key
# server, and tokens carry the claims an Entra v2.0 access token carries.
# conf-examples/microsoft-legacy.conf (the retired documented values)
# passes nginx -t.

use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use KeyServer;
use OpayTest qw(loadentity_body reference_invoice json_response json_encode);

my $root = abs_path(dirname(__FILE__) . '/..');
my $t = OpayTest->new;
my $dir = $t->dir;
my $tenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
my $app = '0b6c1e0e-3f4b-4a53-9d53-1f0e5b2c7a11';
my $key = $t->make_key('entra-1');

KeyServer::make_cert($dir, 'ca', 'login', 'IP:127.0.0.1');
my $login = 'https://127.0.0.1:' . $t->port('login');
$t->write_file('keys-login.meta', json_encode({
    issuer => "https://login.microsoftonline.com/$tenant/v2.0",
    jwks_uri => "$login/$tenant/discovery/v2.0/keys" }));
$t->write_file('keys-login.json',
               json_encode({ keys => [ $key->{jwk} ] }));
KeyServer::start($t, 'login', 'login');
$t->backend('invoice', sub { json_response(200, reference_invoice()) });

sub example {
    my ($name) = @_;
    open my $fh, '<', "$root/conf-examples/$name" or die $!;
    my $conf = do { local $/; <$fh> };
    $conf = "daemon off;\npid $dir/nginx.pid;\nerror_log $dir/error.log info;\n"
          . $conf;
    $conf = "user root;\n" . $conf if $> == 0;
    $conf = "load_module $ENV{TEST_NGINX_MODULE};\n" . $conf
        if $ENV{TEST_NGINX_MODULE};
    $conf =~ s{/var/cache/nginx/}{$dir/}g;
    $conf =~ s{/var/log/nginx/}{$dir/}g;
    $conf =~ s{http://127\.0\.0\.1:8081/}
              {'http://127.0.0.1:' . $t->port('invoice') . '/'}ge;
    $conf =~ s{(http \{\n)}
              {$1 . $t->http_conf_prefix . "    access_log $dir/access.log;\n"}e;
    return $conf;
}

my $conf = example('entra-id.conf');
$conf =~ s/<APP-ID>/$app/g;
$conf =~ s/<TENANT-ID>/$tenant/g;
like($conf, qr{opay_openid_configuration\s+https://login\.microsoftonline\.com/},
     'the example names the tenant\'s OpenID metadata');
$conf =~ s{https://login\.microsoftonline\.com/(\S+/\.well-known/\S+);}
          {$login/$1;\n    opay_jwks_ca_file $dir/ca.crt;};
$conf =~ s{listen\s+443 ssl;}{'listen 127.0.0.1:' . $t->port('http') . ';'}e;
$conf =~ s{\n\s*ssl_certificate\S*\s+\S+;}{}g;
$t->write_file('nginx.conf', $conf);
$t->run;

sub entra_token {
    my (%claims) = @_;
    return $t->token($key, claims => {
        iss => "https://login.microsoftonline.com/$tenant/v2.0",
        aud => $app, ver => '2.0', appid => undef, sender => undef,
        azp => '11111111-2222-3333-4444-555555555555', tid => $tenant,
        %claims });
}

my $r = $t->request('/opay/payment-request', body => loadentity_body(),
                    token => entra_token());
is($r->{status}, 200, 'an Entra v2.0 token is accepted with the keys fetched '
                      . 'through the OpenID metadata');
is_deeply([ map { $_->{path} } @{ $t->backend_requests('login') } ],
          [ "/$tenant/v2.0/.well-known/openid-configuration",
            "/$tenant/discovery/v2.0/keys" ],
          'metadata, then its jwks_uri');
$r = $t->request('/opay/payment-request', body => loadentity_body(),
                 token => entra_token(ver => '1.0'));
is($r->{json}{error}{message}, 'bad_version', 'another ver is refused');
$r = $t->request('/opay/payment-request', body => loadentity_body(),
                 token => $t->token($key));
is($r->{status}, 401, 'a legacy token is refused');
like($t->read_file('opay.log'), qr/error=- keys=url keys_age=\d+/,
     'the access log shows where the keys came from');
$t->stop;
$t->check_error_log;

$t->write_file('nginx.conf', example('microsoft-legacy.conf'));
my ($rc, $out) = $t->test_conf;
is($rc, 0, 'microsoft-legacy.conf passes nginx -t') or diag($out);

done_testing;
