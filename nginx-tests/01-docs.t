# The documentation against the code: every directive and variable the
# module registers is in docs/ngx_http_opay_module.md (nginx.org's shape:
# Syntax / Default / Context), nothing is documented that is not
# registered, the README's quickstart commands are the ones "make run"
# runs and prints, every option of the opay tool's usage() is in its
# manual page, every relative link of README.md and docs/ reaches a file
# and a heading, and docs/README.md (the table of contents) is up to date.
# Reads the sources; needs no nginx.

use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $root = abs_path(dirname(__FILE__) . '/..');
# DOCS_ROOT lets the test be pointed at a copy (to see it fail on one).
$root = $ENV{DOCS_ROOT} if $ENV{DOCS_ROOT};

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "$path: $!";
    local $/;
    return scalar <$fh>;
}

# The names inside the module's arrays of TYPE (ngx_command_t,
# ngx_http_variable_t): ngx_string("opay_...") between "TYPE name[] = {"
# and its closing "};".
sub registered {
    my ($type) = @_;
    my %names;
    for my $file (glob("$root/src/ngx/*.c")) {
        my $src = slurp($file);
        while ($src =~ /\b\Q$type\E\s+\w+\[\]\s*=\s*\{(.*?)\n\};/sg) {
            my $array = $1;
            $names{$1} = 1 while $array =~ /ngx_string\("(opay_\w*)"\)/g;
        }
    }
    return sort keys %names;
}

my $ref = slurp("$root/docs/ngx_http_opay_module.md");
my ($directives) = $ref =~ /^## Directives\n(.*?)^## /ms;
my ($variables) = $ref =~ /^## Embedded variables\n(.*?)^## /ms;
ok(defined $directives, 'the reference has a Directives section');
ok(defined $variables, 'the reference has an Embedded variables section');
$directives //= '';
$variables //= '';

# A directive: "### name", then Syntax / Default / Context, then a paragraph.
my %documented;
while ($directives =~ /^### (\S+)\n(.*?)(?=^### |\z)/msg) {
    $documented{$1} = $2;
}

my @commands = registered('ngx_command_t');
cmp_ok(scalar @commands, '>=', 30, 'directives found in src/ngx/*.c')
    or diag("found: @commands");
for my $name (@commands) {
    my $text = $documented{$name};
    ok(defined $text, "directive $name is documented") or next;
    like($text, qr/\A\*\*Syntax:\*\* `\Q$name\E[ ;][^`]*`  \n/,
         "$name: Syntax");
    like($text, qr/^\*\*Default:\*\* \S/m, "$name: Default");
    like($text, qr/^\*\*Context:\*\* `(http|server|location)`/m,
         "$name: Context");
    like($text, qr/^\*\*Context:\*\*.*\n\n\S/m, "$name: a paragraph");
}
my %is_command = map { $_ => 1 } @commands;
for my $name (sort keys %documented) {
    ok($is_command{$name}, "documented directive $name is registered");
}

# A variable: a row of the table; a prefix variable (opay_ctx_) as
# $opay_ctx_NAME.
my @vars = registered('ngx_http_variable_t');
cmp_ok(scalar @vars, '>=', 9, 'variables found in src/ngx/*.c')
    or diag("found: @vars");
my %var_documented;
$var_documented{$1} = 1 while $variables =~ /^\| `\$(opay_\w+)` \|/mg;
for my $name (@vars) {
    my $doc = $name =~ /_\z/ ? "${name}NAME" : $name;
    ok($var_documented{$doc}, "variable \$$doc is documented");
}
for my $doc (sort keys %var_documented) {
    (my $name = $doc) =~ s/NAME\z//;
    ok(grep({ $_ eq $name } @vars), "documented \$$doc is registered");
}

# The quickstart: README's "make run" and "make test", the opay simulate
# command that make run runs, and the curl command it prints.
my $readme = slurp("$root/README.md");
my $makefile = slurp("$root/Makefile");
my %var;
$var{$1} = $2 while $makefile =~ /^(\w+)\s*:?=\s*(.*?)\s*$/mg;
my ($run) = $makefile =~ /^run:[^\n]*\n((?:\t[^\n]*\n)+)/m;
ok(defined $run, 'Makefile has a run target') or $run = '';
$run =~ s/\\\n\t?\s*/ /g;    # one line per command
ok($makefile =~ /^test:/m && $makefile =~ /^stop:/m,
   'Makefile has the test and stop targets');
like($readme, qr/^make run\s.*^make test\s/ms,
     'README: the two commands, make run then make test');

my ($simulate) = $run =~ /^\t\@?\$\(OPAY\) (simulate[^\n]*)$/m;
ok(defined $simulate, 'make run runs opay simulate') or $simulate = '';
$simulate =~ s/\$\((\w+)\)/$var{$1} \/\/ "\$($1)"/ge;
$simulate =~ s/\s+/ /g;
$simulate =~ s/ \z//;
ok(index($readme, "build/cmake/opay $simulate\n") >= 0,
   'README shows the opay simulate command make run runs')
    or diag("make run runs: build/cmake/opay $simulate");

# make run's echo "..." lines from "curl" to the body file, as printed.
my @printed;
for my $line ($run =~ /echo "((?:[^"\\]|\\.)*)"/g) {
    $line =~ s/\$\$/\$/g;    # make
    $line =~ s/\\(["\\\$])/$1/g;    # the shell, in double quotes
    push @printed, $line;
}
my ($first) = grep { $printed[$_] =~ /^curl / } 0 .. $#printed;
ok(defined $first, 'make run prints a curl command') or $first = 0;
my @curl;
for my $line (@printed[$first .. $#printed]) {
    push @curl, $line;
    last if $line !~ /\\\z/;
}
my $curl = join("\n", @curl) . "\n";
ok(index($readme, $curl) >= 0,
   "README shows the curl command make run prints") or diag($curl);

# The man page: every command and option of usage().
my $usage = join('', map { slurp($_) =~ /int usage\(\)(.*?)return 2;/s }
                     glob("$root/src/cli/*.cpp"));
ok(length $usage, 'the opay tool has a usage()');
my $man = slurp("$root/docs/opay.1");
(my $man_text = $man) =~ s/\\-/-/g;
my %seen;
for my $cmd ($usage =~ /"\s*opay ([a-z-]+(?: replay)?)/g) {
    next if $seen{$cmd}++;
    my $pat = join('\s+', map { quotemeta } split / /, $cmd);
    ok($man_text =~ /^\.B opay $pat\b/m, "opay(1) has opay $cmd");
}
for my $opt ($usage =~ /(--[a-z][a-z-]*)/g) {
    next if $seen{$opt}++;
    ok($man_text =~ /(?<![\w-])\Q$opt\E(?![\w-])/, "opay(1) has $opt");
}
# the version: defined once, in include/opay.h (the Makefile reads it)
my ($version) = slurp("$root/include/opay.h")
    =~ /^#define OPAY_VERSION\s+"([^"]+)"$/m;
ok(defined $version, 'include/opay.h defines OPAY_VERSION');
like($makefile, qr{^OPAY_VERSION := \$\(shell .*\\\n\s+\$\(ROOT\)/include/opay\.h\)$}m,
     'the Makefile takes OPAY_VERSION from include/opay.h');
like($man, qr/^\.TH OPAY 1 "[^"]+" "opay \Q$version\E"/m,
     "opay(1) is of version $version");

# Links: a relative link reaches a file, and a #fragment a heading of it.
sub anchors {
    my ($text) = @_;
    my %a;
    my $fence = 0;
    for (split /\n/, $text) {
        $fence = !$fence if /^```/;
        next if $fence || !/^#+ (.*)/;
        (my $h = lc $1) =~ s/[^\w\- ]//g;
        $h =~ tr/ /-/;
        $a{$h} = 1;
    }
    return \%a;
}
for my $page ('README.md', map { "docs/" . (split m{/})[-1] }
              glob("$root/docs/*.md")) {
    my $text = slurp("$root/$page");
    (my $plain = $text) =~ s/^```.*?^```//msg;
    my $dir = dirname("$root/$page");
    while ($plain =~ /\]\(([^)\s]+)\)/g) {
        my $link = $1;
        next if $link =~ m{^[a-z]+:};
        my ($file, $frag) = split /#/, $link, 2;
        my $target = length $file ? "$dir/$file" : "$root/$page";
        ok(-e $target, "$page: link $link reaches a file") or next;
        next if !defined $frag || $target !~ /\.md\z/;
        ok(anchors(slurp($target))->{$frag},
           "$page: link $link reaches a heading");
    }
}

# The table of contents is the one scripts/docs-toc.py makes.
SKIP: {
    skip 'python3 not installed', 1 if system('python3 -c 1 2>/dev/null');
    my $toc = `cd '$root' && python3 scripts/docs-toc.py`;
    is($toc, slurp("$root/docs/README.md"),
       'docs/README.md is up to date (python3 scripts/docs-toc.py)');
}

done_testing;
