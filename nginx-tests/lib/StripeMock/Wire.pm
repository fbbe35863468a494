package StripeMock::Wire;

# Stripe's wire format as the mock speaks it: the JSON codec, ids, form
# bodies in Stripe's bracket encoding (../shared/spec/stripe/
# FORM-ENCODING.md), the error envelope and the standard answers.

use strict;
use warnings;

use Exporter qw(import);
use JSON::PP ();

our @EXPORT = qw($JSON $TRUE $FALSE random_id response error api_error
    edge_503 lock_timeout missing refusal form_pairs decode_form);

# JSON::XS when there (Debian's libjson-xs-perl): the spec is 1.1 MB.
our $JSON = eval { require JSON::XS; JSON::XS->new->canonical }
    || JSON::PP->new->canonical;
our ($TRUE, $FALSE) = @{ $JSON->decode('[true,false]') };

sub random_id {
    my ($prefix, $n) = @_;
    my @c = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
    my $bytes = '';
    if (open my $fh, '<:raw', '/dev/urandom') {
        read $fh, $bytes, $n;
        close $fh;
    }
    $bytes = join '', map { chr int rand 256 } 1 .. $n
        if length $bytes != $n;
    return $prefix . join '', map { $c[ord($_) % @c] } split //, $bytes;
}

sub response {
    my ($status, $data) = @_;
    return [ $status, { 'Content-Type' => 'application/json' },
             ref $data ? $JSON->encode($data) : $data ];
}

sub error {
    my ($status, %e) = @_;
    return response($status, { error => \%e });
}

sub api_error {
    return error(500, type => 'api_error',
                 message => 'An unknown error occurred.');
}

sub edge_503 {
    return error(503, type => 'api_error',
                 message => 'The server is temporarily unavailable.');
}

sub lock_timeout {
    return error(429, type => 'invalid_request_error',
        code => 'lock_timeout',
        doc_url => 'https://stripe.com/docs/error-codes/lock-timeout',
        message => 'This object cannot be accessed right now because '
            . 'another API request or Stripe process is currently '
            . 'accessing it. If you see this error intermittently, '
            . 'retry the request. If you see this error frequently '
            . 'and are making multiple concurrent requests to a single '
            . 'object, make your requests serially or at a lower rate. '
            . 'See https://stripe.com/docs/rate-limits for more '
            . 'details.');
}

sub missing {
    my ($kind, $param, $id) = @_;
    return error(404, type => 'invalid_request_error',
                 code => 'resource_missing', param => $param,
                 message => "No such $kind: '$id'");
}

# A business refusal before the endpoint runs (nothing stored, not a
# violation): Stripe's answer for a valid request it will not do.
sub refusal {
    my ($param, $message, %e) = @_;
    return error(400, type => 'invalid_request_error', param => $param,
                 message => $message, %e);
}

sub form_pairs {
    my ($body) = @_;
    my @pairs;
    for my $pair (split /&/, $body // '') {
        next if $pair eq '';
        my ($k, $v) = split /=/, $pair, 2;
        for ($k, $v) {
            $_ //= '';
            tr/+/ /;
            s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        }
        push @pairs, [ $k, $v ];
    }
    return @pairs;
}

# Stripe's bracket encoding to a tree: a[b][c]=v nests hashes, x[]=v
# appends to an array, x[0]=v is a hash with digit keys (an array where
# the schema says so). Returns ($tree) or (undef, $param, $message).
sub decode_form {
    my (@pairs) = @_;
    my %root;
  PAIR:
    for my $pair (@pairs) {
        my ($k, $v) = @$pair;
        my ($head, $rest) = $k =~ /^([^\[\]]+)((?:\[[^\[\]]*\])*)$/
            or return (undef, $k, "Invalid parameter name: $k");
        my @parts = ($head, $rest =~ /\[([^\[\]]*)\]/g);
        my $node = \%root;
        for my $i (0 .. $#parts - 1) {
            my $p = $parts[$i];
            return (undef, $k, "Invalid array: use indices for an array of "
                    . "hashes ($k)") if $p eq '';
            if ($parts[$i + 1] eq '') {
                return (undef, $k, "Invalid array: use indices for an "
                        . "array of hashes ($k)") if $i + 1 != $#parts;
                my $slot = $node->{$p} //= [];
                return (undef, $k, "Invalid array ($k mixes kinds)")
                    if ref $slot ne 'ARRAY';
                push @$slot, $v;
                next PAIR;
            }
            my $slot = $node->{$p} //= {};
            return (undef, $k, "Invalid hash ($k mixes kinds)")
                if ref $slot ne 'HASH';
            $node = $slot;
        }
        return (undef, $k, "Invalid hash ($k mixes kinds)")
            if ref $node->{ $parts[-1] };
        $node->{ $parts[-1] } = $v;
    }
    return (\%root);
}

1;
