# The quickstart pointed at a key URL, as README says: the commented
# opay_jwks_url / opay_jwks_cache lines of conf-examples/quickstart.conf
# turned on, the opay_jwks_file line removed, and the demo key set served
# over HTTPS by a local key server.

use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use KeyServer;
use OpayTest qw(loadentity_body);

my $root = abs_path(dirname(__FILE__) . '/..');
my $opay = $ENV{OPAY} or plan skip_all => 'OPAY (the opay tool) not set';

my $t = OpayTest->new(prefix => "$root/");
my $dir = $t->dir;
mkdir "$dir/tmp";

KeyServer::make_cert($dir, 'ca', 'issuer', 'IP:127.0.0.1');
$t->write_file('keys-issuer.json',
               $t->read_file("$root/conf-examples/demo-only-jwks.json"));
KeyServer::start($t, 'issuer', 'issuer');
my $url = 'https://127.0.0.1:' . $t->port('issuer') . '/keys';

open my $fh, '<', "$root/conf-examples/quickstart.conf" or die $!;
my $conf = do { local $/; <$fh> };
close $fh;
like($conf, qr/^\s*# opay_jwks_url\s+\S+;$/m,
     'quickstart.conf carries the opay_jwks_url line, commented out');
$conf =~ s/^\s*opay_jwks_file\s.*\n//m;
$conf =~ s{^(\s*)# opay_jwks_url\s+\S+;}
          {${1}opay_jwks_url $url;\n${1}opay_jwks_ca_file $dir/ca.crt;}m;
$conf =~ s{^(\s*)# (opay_jwks_cache\s+\S+;)}{$1$2}m;
$conf =~ s/127\.0\.0\.1:8080/'127.0.0.1:' . $t->port('http')/ge;
$conf =~ s{build/run/}{$dir/}g;
$conf = "daemon off;\n" . $conf;
$conf = "user root;\n" . $conf if $> == 0;
$conf = "load_module $ENV{TEST_NGINX_MODULE};\n" . $conf
    if $ENV{TEST_NGINX_MODULE};
unlike($conf, qr/^\s*opay_jwks_file\s/m, 'no key file left');
$t->write_file('nginx.conf', $conf);
$t->run;

my ($merchant) = $conf =~ /opay_merchant_id\s+(\S+);/;
my $token = `$opay mint-token --key $root/conf-examples/demo-only-key.pem --kid demo-only --claim aud=$merchant --claim sub=payer\@example.com`;
chomp $token;

my $r = $t->request('/opay/payment-request', token => $token,
                    body => loadentity_body(invoiceId => '12345'));
is($r->{status}, 200, 'the quickstart answers with keys from the URL');
is($r->{json}{details}{total}{amount}{value}, '10.00', 'invoice 12345 total');
like($t->error_log, qr/keys refreshed from "\Q$url\E": kids demo-only/,
     'the fetch is logged');
like($t->read_file("$dir/issuer-keys.json"), qr/^opay-jwks-cache 2 /,
     'the cache is written');

$t->stop;
$t->check_error_log;
done_testing;
