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

# what the payer sees: the same summary in the card and in the HTML body
for my $format (sort keys %script) {
    my $html = $t->read_file("$format.html");
    like($html, qr{<caption>Contoso</caption>\n.*<td\ align="right">12345</td>.*
                   <tr><td>Large\ Widget</td><td\ align="right">7\.00\ USD</td></tr>\n
                   <tr><td>Small\ Widget</td><td\ align="right">3\.00\ USD</td></tr>\n
                   <tr><th\ align="left">Total\ due</th><td\ align="right">10\.00\ USD</td></tr>}sx,
         "$format: the HTML body's table");
    ($rc, $out) = opay('card', '--view', "$dir/$format.html");
    is($rc, 0, "$format: --view");
    like($out, qr/^\{"type":"AdaptiveCard".*"version":"1\.0".*"text":"Contoso".*
                  Large\ Widget.*7\\\\\.00\ USD.*Small\ Widget.*Total\ due.*
                  10\\\\\.00\ USD.*"type":"Action\.Transaction","title":"Review\ and\ pay"/sx,
         "$format: the card a payer sees: merchant, items, total, the button");
}

# a paid invoice: said plainly, nothing to pay
$t->write_file('paid.json', <<'EOF');
{"entity": {"@type": "Invoice", "identifier": "A-7",
  "broker": {"name": "Fabrikam"}, "paymentStatus": "PaymentComplete",
  "totalPaymentDue": {"price": 2500, "priceCurrency": "JPY"}}}
EOF
for my $format (sort keys %script) {
    ($rc, $out) = opay('card', @ids[0 .. 5], '--invoice', "$dir/paid.json",
                       '--format', $format, '--out', "$dir/paid-$format.html");
    is($rc, 0, "paid, $format: written");
    my $html = $t->read_file("paid-$format.html");
    unlike($html, qr/PaymentAction|Transaction|Review and pay/,
           "paid, $format: no pay action");
    like($html, qr{<th align="left">Status</th><td align="right">This invoice has already been paid\.</td>},
         "paid, $format: says so");
    ($rc, $out) = opay('card', '--check', "$dir/paid-$format.html");
    is($rc, 0, "paid, $format: passes --check");
}

# an adaptive card edited to lose what the payer needs: each named
$html = $t->read_file('adaptive-card.html');
$html =~ s/"id":"merchant",//;
$html =~ s/"wrap":true/"wrap":false/;
$html =~ s/"type":"Action.Transaction"/"type":"Action.OpenUrl"/;
$t->write_file('edited-card.html', $html);
($rc, $out) = opay('card', '--check', "$dir/edited-card.html");
is($rc, 1, 'edited adaptive card: exit 1');
like($out, qr/problem: body\[0\]\.wrap: is not true: a long text would be cut off\n/,
     'names the text that would be cut off');
like($out, qr/problem: body: no element with id "merchant" \(the merchant's name\)\n/,
     "names the missing merchant");
like($out, qr/problem: actions: holds no Action\.Transaction\n/,
     'names the missing pay action');
like($out, qr/INVALID: 3 problem\(s\)/, 'three problems');

# the writer refuses what the checker would
($rc, $out) = opay('card', @ids[0 .. 1], '--display-id', 'x',
                   '--originator', '', @ids[6 .. 7]);
is($rc, 1, 'bad input: exit 1, no card');
like($out, qr/opay card: originator: is empty/, 'names the originator');

done_testing;
