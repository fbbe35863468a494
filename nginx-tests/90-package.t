# make deb's package, installed into the system nginx the Debian way
# (apt-get install ./libnginx-mod-http-opay_*.deb), serving a configuration
# with the module that the packaged opay simulate proves, then removed and
# purged without a trace; it ships the operator's docs, the change log,
# the licence and the manual page, not the contributors' page. Needs root
# (it installs packages): make package-test sets TEST_OPAY_DEB; anywhere
# else the test says it skipped.

use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use OpayTest;

my $deb = $ENV{TEST_OPAY_DEB}
    or plan skip_all => 'TEST_OPAY_DEB not set (make package-test sets it)';
plan skip_all => 'not root: installing a package needs root' if $> != 0;
plan skip_all => "$deb not built" if !-f $deb;

my $root = abs_path(dirname(__FILE__) . '/..');
my $pkg = 'libnginx-mod-http-opay';
my $link = '/etc/nginx/modules-enabled/50-mod-http-opay.conf';
my $so = '/usr/lib/nginx/modules/ngx_http_opay_module.so';
my $apt = 'DEBIAN_FRONTEND=noninteractive apt-get -y -q '
        . '-o DPkg::Lock::Timeout=120';

# whatever happens, the system is left as it was found
END {
    local $?;    # the test's own exit status stands
    system("$apt purge $pkg >/dev/null 2>&1") if $pkg && $apt;
}

sub run { my $out = `$_[0] 2>&1`; return ($? >> 8, $out); }

my ($rc, $out) = run("$apt install '$deb'");
is($rc, 0, "apt-get install ./$pkg.deb") or diag($out);
like(`dpkg-query -W -f='\${Status}' $pkg`, qr/install ok installed/,
     'dpkg: installed');
like(`dpkg-query -W -f='\${Depends}' $pkg`, qr/^nginx-abi-1\.22\.1-7, /,
     'Depends on the exact nginx ABI');
ok(-f $so, "module in /usr/lib/nginx/modules");
ok(-x '/usr/bin/opay', 'opay in /usr/bin');

# What ships besides: the operator's documentation as it is in the
# repository, the change log, the licence and the manual page; not the
# contributors' page.
my $doc = "/usr/share/doc/$pkg";
sub slurp { open(my $fh, '<', $_[0]) or return ''; local $/; <$fh> }
for (['README.md', 'README.md.gz'],
     map({ ["docs/$_.md", "docs/$_.md.gz"] } qw(README ngx_http_opay_module
         backends payment-complete operations security)),
     ['CHANGES', 'changelog.gz']) {
    my ($src, $shipped) = @$_;
    is(`gzip -dc '$doc/$shipped' 2>&1`, slurp("$root/$src"),
       "$src ships as $doc/$shipped");
}
is(`find $doc -name 'development*'`, '',
   'the contributors\' docs/development.md is not shipped');
my $copyright = slurp("$doc/copyright");
like($copyright, qr/^License: BSD-2-Clause\n/m, 'copyright: BSD-2-Clause');
my ($terms) = slurp("$root/LICENSE") =~ /^(Redistribution.*)/ms;
(my $indented = $terms) =~ s/^$/./mg;
$indented =~ s/^/ /mg;
ok(index($copyright, $indented) >= 0, 'copyright: the LICENSE terms');
is(`man -w opay 2>&1`, "/usr/share/man/man1/opay.1.gz\n",
   'man opay finds the manual page');
is(`gzip -dc /usr/share/man/man1/opay.1.gz`, slurp("$root/docs/opay.1"),
   'the manual page is docs/opay.1');
($rc, $out) = run("man /usr/share/man/man1/opay.1.gz | col -b");
like($out, qr/^\s+opay card --view FILE$/m, 'the manual page renders');
($rc, $out) = run("lintian --fail-on error '$deb'");
is($rc, 0, 'lintian reports no error') or diag($out);
unlike($out, qr/^[EW]: .*(manpage|copyright|changelog\.gz)/m,
       'lintian: nothing about the manual page, copyright or change log')
    or diag($out);
is(readlink($link), '/usr/share/nginx/modules-available/mod-http-opay.conf',
   'enabled the Debian way: modules-enabled symlink');
($rc, $out) = run('/usr/sbin/nginx -t');
is($rc, 0, "the system nginx.conf loads the module (nginx -t)")
    or diag($out);

# A configuration with the module, loaded through the package's snippet.
$ENV{TEST_NGINX_BINARY} = '/usr/sbin/nginx';
delete $ENV{TEST_NGINX_MODULE};
my $t = OpayTest->new(prefix => '/usr/share/nginx/');
my $dir = $t->dir;
my $conf = "include $link;\n" . $t->main_conf . <<"EOF";
http {
@{[ $t->http_conf_prefix ]}
    access_log $dir/access.log;
    opay_merchant_id  3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10;
    opay_jwks_file    $root/conf-examples/demo-only-jwks.json;
    opay_mode         test;
    server {
        listen 127.0.0.1:@{[ $t->port('http') ]};
        location = /opay/payment-request {
            opay_payment_request;
            opay_invoice_uri   /_invoices/\$opay_ctx_invoiceId.json;
            opay_shipping_uri  /_shipping;
        }
        location /_invoices/ {
            internal;
            alias $root/conf-examples/invoices/;
            default_type application/json;
        }
        location = /_shipping {
            internal;
            default_type application/json;
            return 200 '{"shippingOptions":[{"id":"std","label":"Standard",
                "amount":{"currency":"USD","value":"4.50"}}]}';
        }
    }
}
EOF
$t->write_file('nginx.conf', $conf);
$t->run;

($rc, $out) = run("/usr/bin/opay simulate --url http://127.0.0.1:"
    . $t->port('http') . " --key $root/conf-examples/demo-only-key.pem"
    . " --kid demo-only --merchant-id 3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10"
    . " --invoice 12345");
is($rc, 0, 'the packaged opay simulate passes against the packaged module')
    or diag($out);
like($out, qr/std selected, total 14\.50 USD/, 'the whole conversation');

($rc, $out) = run("/usr/bin/opay card --merchant-id "
    . "3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10 --display-id d-1 "
    . "--originator o-1 --invoice $root/conf-examples/invoices/12345.json "
    . "--out $dir/card.html && /usr/bin/opay card --check $dir/card.html");
is($rc, 0, 'the packaged opay card writes and checks a card') or diag($out);
$t->stop;
$t->check_error_log;

($rc, $out) = run("$apt remove $pkg");
is($rc, 0, 'apt-get remove') or diag($out);
ok(!-e $so, 'module removed');
ok(!-e '/usr/bin/opay', 'opay removed');
ok(!-e '/usr/share/man/man1/opay.1.gz', 'manual page removed');
ok(!-e $link, 'no longer enabled');
($rc, $out) = run('/usr/sbin/nginx -t');
is($rc, 0, 'the system nginx.conf is valid without it') or diag($out);

($rc, $out) = run("$apt purge $pkg");
is($rc, 0, 'apt-get purge') or diag($out);
ok(!-e "$link.removed" && !-e $link, 'purge leaves nothing in modules-enabled');
ok(!-e "/usr/share/doc/$pkg", 'no documentation left');
unlike(`dpkg-query -W -f='\${Status}' $pkg 2>&1`, qr/installed/,
       'dpkg: not installed');

done_testing;
