# opay card: the payment request e-mail written in each format, signed and
# verified, and opay card --check naming each problem of a broken one.

use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use OpayTest;

my $root = abs_path(dirname(__FILE__) . '/..');
my $opay = $ENV{OPAY} or plan skip_all => 'OPAY (the opay tool) not set';
my $t = OpayTest->new;
my $dir = $t->dir;

my @ids = ('--merchant-id', '3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10',
           '--display-id', '5d1c2b3a-4e5f-4a6b-9c8d-7e6f5a4b3c2d',
           '--originator', '8a0f2c1e-6b3d-4f5a-9e7c-1d2b3a4c5e6f',
           '--invoice', "$root/conf-examples/invoices/12345.json");

sub opay {
    my $cmd = join ' ', map { "'$_'" } $opay, @_;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

my %script = ('action-request' => 'application/ld+json',
              'adaptive-card' => 'application/adaptivecard+json',
              'message-card' => 'application/ld+json');
my %type = ('action-request' => 'ActionRequest',
            'adaptive-card' => 'AdaptiveCard',
            'message-card' => 'MessageCard');
for my $format (sort keys %script) {
    my ($rc, $out) = opay('card', @ids, '--format', $format,
                          '--out', "$dir/$format.html");
    is($rc, 0, "$format written");
    like($t->read_file("$format.html"),
         qr{<head>.*<script type="\Q$script{$format}\E">}s,
         "$format: the card in <script type=\"$script{$format}\"> in <head>");
    ($rc, $out) = opay('card', '--check', "$dir/$format.html");
    is($rc, 0, "$format passes --check");
    like($out, qr/: $type{$format}\nok\n/, "$format: named $type{$format}");
}

my ($rc, $out) = opay('card', @ids, '--sign-key',
    "$root/conf-examples/demo-only-key.pem", '--sign-kid', 'demo-only',
    '--sender', 'billing@contoso.com', '--recipient', 'patti@contoso.com',
    '--out', "$dir/signed.html");
is($rc, 0, 'signed card written');
($rc, $out) = opay('card', '--check', "$dir/signed.html", '--jwks',
                   "$root/conf-examples/demo-only-jwks.json");
is($rc, 0, 'signed card verifies with the public key');
like($out, qr/SignedActionRequest\n  signature: verified\nok/,
     'the report says verified');
my $other = $t->make_key('demo-only');
$t->write_jwks('other.json', $other);
($rc, $out) = opay('card', '--check', "$dir/signed.html", '--jwks',
                   "$dir/other.json");
is($rc, 1, 'another key: exit 1');
like($out, qr/problem: signedActionRequest: signature does not verify/,
     'named');

# a hand-edited card: every problem named
my $html = $t->read_file('action-request.html');
$html =~ s/"merchantId":"[^"]*"/"merchantId":"12345"/;
$html =~ s/"displayId":"[^"]*",//;
$html =~ s/"priceCurrency":"USD"/"priceCurrency":"DOLLARS"/;
$t->write_file('edited.html', $html);
($rc, $out) = opay('card', '--check', "$dir/edited.html");
is($rc, 1, 'edited card: exit 1');
like($out, qr/problem: actions\[0\]\.merchantId: is not a GUID/,
     'names the merchant id');
like($out, qr/problem: actions\[0\]\.displayId: missing/,
     'names the missing display id');
like($out, qr/problem: entity\.totalPaymentDue\.priceCurrency: "DOLLARS" is not an ISO 4217 code/,
     'names the currency');
like($out, qr/INVALID: 3 problem\(s\)/, 'three problems');

# the writer refuses what the checker would
($rc, $out) = opay('card', @ids[0 .. 1], '--display-id', 'x',
                   '--originator', '', @ids[6 .. 7]);
is($rc, 1, 'bad input: exit 1, no card');
like($out, qr/opay card: originator: is empty/, 'names the originator');

done_testing;
