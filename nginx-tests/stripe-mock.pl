#!/usr/bin/perl
# The suite's Stripe-compatible TEST server, on its own: `make run` starts
# it for the quickstart. It charges nothing real. Usage:
#   stripe-mock.pl ADDR:PORT STATE-DIR
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use OpayTest;
use StripeMock;

my ($addr, $dir) = @ARGV;
die "usage: $0 ADDR:PORT STATE-DIR\n" if !$dir;
OpayTest::serve($addr, StripeMock->new($dir)->handler, undef);
