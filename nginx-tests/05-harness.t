#!/usr/bin/perl
# The harness itself: a sanitizer report or a memcheck error anywhere nginx
# writes (error log, stderr, valgrind's logs) is found, whatever the test
# expects otherwise. (make test SANITIZE=1 and make valgrind rely on it.)

use strict;
use warnings;
use Test::More;
use lib 'nginx-tests/lib';
use OpayTest;

my $t = OpayTest->new;

is_deeply([ $t->sanitizer_reports ], [], 'nothing to report in a new dir');

$t->write_file('error.log',
    "2024/01/01 00:00:00 [info] 1#1: *1 client closed connection\n"
    . "2024/01/01 00:00:00 [notice] 1#1: worker process 2 exited with code 0\n");
$t->write_file('stderr.log', "nginx: configuration file test is successful\n");
$t->write_file('valgrind.1.log',
    "==1== Memcheck, a memory error detector\n"
    . "==1== ERROR SUMMARY: 0 errors from 0 contexts (suppressed: 0 from 0)\n");
is_deeply([ $t->sanitizer_reports ], [], 'ordinary log lines are no report');

my %reports = (
    'error.log' => "==12==ERROR: AddressSanitizer: heap-use-after-free on "
        . "address 0x602000000010",
    'stderr.log' => "src/core/json.cpp:40:5: runtime error: signed integer "
        . "overflow",
    'valgrind.2.log' => "==2== Invalid read of size 1\n"
        . "==2== ERROR SUMMARY: 1 errors from 1 contexts",
);
for my $name (sort keys %reports) {
    my $u = OpayTest->new;
    $u->write_file($name, "$reports{$name}\n");
    my @found = $u->sanitizer_reports;
    ok(@found && $found[0] =~ /\Q$name\E/, "a report in $name is found")
        or diag explain \@found;
}
my $u = OpayTest->new;
$u->write_file('error.log', "[notice] 1#1: worker process 3 exited with "
    . "code 99\n");
ok(scalar $u->sanitizer_reports, "memcheck's exit code is a report");

done_testing;
