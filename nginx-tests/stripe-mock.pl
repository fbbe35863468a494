#!/usr/bin/perl
# The suite's Stripe-compatible TEST server, on its own: `make run` starts
# it for the quickstart. It charges nothing real. Usage:
#   stripe-mock.pl ADDR:PORT STATE-DIR
# Requests outside Stripe's published API (testdata/stripe/) are refused
# and listed in STATE-DIR/violations.log; STATE-DIR/mode takes the fault
# words at the top of lib/StripeMock.pm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use OpayTest;
use StripeMock;

my ($addr, $dir) = @ARGV;
die "usage: $0 ADDR:PORT STATE-DIR\n" if !$dir;
OpayTest::serve(OpayTest::listen_on($addr), StripeMock->new($dir)->handler,
                undef);
