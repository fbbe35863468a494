package StripeMock::Spec;

# Stripe's published OpenAPI subset (testdata/stripe/openapi-subset.json):
# the routes of the operations the mock knows, and the check of a decoded
# request against its operation's requestBody schema or query parameters
# (type, required, unknown, empty, enum, maxLength, and the metadata limits
# Stripe documents outside the schema). A fault is { param, message, code?,
# rule }; StripeMock's invalid() answers it with Stripe's 400 and records
# it in violations.log.

use strict;
use warnings;

use Exporter qw(import);
use File::Basename qw(dirname);

use StripeMock::Wire;

our @EXPORT = qw(spec_file spec resolve fault_of list_words check_value
    check_object check_metadata params_schema);

# The operations: Stripe's operationId, our name, the parameters this
# server implements (others valid in the spec are refused as unsupported).
my %OPS = (
    PostPaymentIntents => [ 'create', qw(amount currency description
        metadata payment_method_types receipt_email statement_descriptor
        statement_descriptor_suffix) ],
    GetPaymentIntentsIntent => [ 'retrieve' ],
    PostPaymentIntentsIntent => [ 'update', qw(amount currency description
        metadata payment_method payment_method_types receipt_email
        statement_descriptor statement_descriptor_suffix) ],
    PostPaymentIntentsIntentConfirm => [ 'confirm',
        qw(error_on_requires_action payment_method) ],
    PostPaymentIntentsIntentCancel => [ 'cancel', qw(cancellation_reason) ],
    PostPaymentMethods => [ 'pm-create', qw(type card metadata) ],
    GetPaymentMethodsPaymentMethod => [ 'pm-retrieve' ],
    GetPaymentIntents => [ 'list' ],
    GetPaymentIntentsSearch => [ 'search' ],
);

my %SPEC;    # path => the parsed spec and its routes, once per process

sub spec_file {
    return dirname(__FILE__) . '/../../../testdata/stripe/openapi-subset.json';
}

sub spec {
    my $file = spec_file();
    return $SPEC{$file} //= do {
        open my $fh, '<:raw', $file or die "$file: $!";
        local $/;
        my $doc = $JSON->decode(scalar <$fh>);
        my @routes;
        for my $tpl (keys %{ $doc->{paths} }) {
            (my $re = $tpl) =~ s/\{\w+\}/([^\/]+)/g;
            for my $m (keys %{ $doc->{paths}{$tpl} }) {
                my $op = $doc->{paths}{$tpl}{$m};
                my $def = $OPS{ $op->{operationId} } or next;
                push @routes, { method => uc $m, re => qr/^$re$/,
                    template => $tpl, op => $op, name => $def->[0],
                    implemented => { map { $_ => 1 } @$def[1 .. $#$def] },
                    literal => ($tpl =~ tr/{//) };
            }
        }
        # /v1/payment_intents/search before /v1/payment_intents/{intent}
        @routes = sort { $a->{literal} <=> $b->{literal}
                         || length $b->{template} <=> length $a->{template} }
                  @routes;
        { doc => $doc, routes => \@routes };
    };
}

sub resolve {
    my ($self, $s) = @_;
    while (my $ref = $s->{'$ref'}) {
        my ($name) = $ref =~ m{^#/components/schemas/(.+)$};
        $s = $self->{spec}{doc}{components}{schemas}{$name}
            // die "no schema $ref";
    }
    return $s;
}

sub fault_of { { param => $_[0], message => $_[1], @_[2 .. $#_] } }

sub list_words {
    my (@w) = @_;
    return $w[0] if @w == 1;
    return join(', ', @w[0 .. $#w - 1]) . ", or $w[-1]";
}

# Checks $v against $schema; undef or { param, message, code?, rule }.
# $in_map: a value of an additionalProperties map (metadata[key]= unsets).
sub check_value {
    my ($self, $schema, $v, $param, $in_map) = @_;
    $schema = $self->resolve($schema);
    if (my $any = $schema->{anyOf}) {
        my $first;
        for my $s (map { $self->resolve($_) } @$any) {
            my $e = $self->check_value($s, $v, $param, $in_map) or return;
            my $unset = $s->{enum} && @{ $s->{enum} } == 1
                        && $s->{enum}[0] eq '';
            $first //= $e if !$unset;
        }
        return $first;
    }
    my $type = $schema->{type} // '';
    if (!ref $v && $v eq '') {
        return if $schema->{enum} && grep { $_ eq '' } @{ $schema->{enum} };
        return if $in_map || $type eq 'array'
                  || ($type eq 'object' && ref $schema->{additionalProperties} eq 'HASH');
        return fault_of($param, "You passed an empty string for '$param'. "
            . 'We assume empty values are an attempt to unset a parameter; '
            . "however '$param' cannot be unset. You should remove "
            . "'$param' from your request or supply a non-empty value.",
            code => 'parameter_invalid_empty', rule => 'empty');
    }
    if ($type eq 'object') {
        return fault_of($param, 'Invalid hash', rule => 'type')
            if ref $v ne 'HASH';
        return $self->check_object($schema, $v, $param);
    }
    if ($type eq 'array') {
        my @items;
        if (ref $v eq 'ARRAY') {
            @items = @$v;
        } elsif (ref $v eq 'HASH' && !grep { !/^\d+$/ } keys %$v) {
            @items = map { $v->{$_} } sort { $a <=> $b } keys %$v;
        } else {
            return fault_of($param, 'Invalid array', rule => 'type');
        }
        for my $i (0 .. $#items) {
            my $e = $self->check_value($schema->{items}, $items[$i],
                                       "${param}[$i]");
            return $e if $e;
        }
        return;
    }
    return fault_of($param, "Invalid $type: a hash or array was given",
                    rule => 'type')
        if ref $v && $type ne '';
    if ($type eq 'integer' && $v !~ /^-?[0-9]+$/) {
        return fault_of($param, "Invalid integer: $v",
                        code => 'parameter_invalid_integer',
                        rule => 'type');
    }
    if ($type eq 'number' && $v !~ /^-?[0-9]+(\.[0-9]+)?$/) {
        return fault_of($param, "Invalid decimal: $v", rule => 'type');
    }
    if ($type eq 'boolean' && $v !~ /^(true|false)$/) {
        return fault_of($param, "Invalid boolean: $v", rule => 'type');
    }
    if (defined $schema->{maxLength} && length $v > $schema->{maxLength}) {
        return fault_of($param, "Invalid string: $param must be at most "
                        . "$schema->{maxLength} characters long",
                        rule => 'maxLength');
    }
    # x-stripeBypassValidation enums too: only documented values are sent
    if ($schema->{enum} && !grep { $_ eq $v } @{ $schema->{enum} }) {
        return fault_of($param, "Invalid $param: must be one of "
                        . list_words(@{ $schema->{enum} }), rule => 'enum');
    }
    return;
}

sub check_object {
    my ($self, $schema, $h, $param) = @_;
    my $props = $schema->{properties} // {};
    my $extra = $schema->{additionalProperties};
    for my $k (sort keys %$h) {
        my $p = $param eq '' ? $k : "${param}[$k]";
        if (my $ps = $props->{$k}) {
            my $e = $self->check_value($ps, $h->{$k}, $p);
            return $e if $e;
        } elsif (ref $extra eq 'HASH') {
            my $e = $self->check_value($extra, $h->{$k}, $p, 1);
            return $e if $e;
        } else {
            return fault_of($p, "Received unknown parameter: $p",
                            code => 'parameter_unknown', rule => 'unknown');
        }
    }
    for my $r (@{ $schema->{required} // [] }) {
        next if exists $h->{$r};
        my $p = $param eq '' ? $r : "${param}[$r]";
        return fault_of($p, "Missing required param: $p.",
                        code => 'parameter_missing', rule => 'missing');
    }
    return check_metadata($h->{metadata}) if $param eq '';
    return;
}

# Metadata limits Stripe documents outside the schema.
sub check_metadata {
    my ($m) = @_;
    return if ref $m ne 'HASH';
    my @keys = keys %$m;
    return fault_of('metadata', 'Invalid metadata: metadata can have up to '
        . '50 keys, but you passed in ' . @keys . ' keys.', rule => 'metadata')
        if @keys > 50;
    for my $k (sort @keys) {
        return fault_of("metadata[$k]", 'Metadata keys can have up to 40 '
            . 'characters, but you passed in a key with ' . length($k)
            . ' characters.', rule => 'metadata')
            if length $k > 40;
        return fault_of("metadata[$k]", 'Metadata values can have up to 500 '
            . 'characters, but you passed in a value with '
            . length($m->{$k}) . ' characters.', rule => 'metadata')
            if !ref $m->{$k} && length $m->{$k} > 500;
    }
    return;
}

# The schema a request's parameters must meet: the form body's, or one
# made of the query parameters.
sub params_schema {
    my ($op, $method) = @_;
    if ($method eq 'POST') {
        return $op->{requestBody}{content}
            {'application/x-www-form-urlencoded'}{schema};
    }
    my @q = grep { $_->{in} eq 'query' } @{ $op->{parameters} // [] };
    return { type => 'object',
             properties => { map { $_->{name} => $_->{schema} } @q },
             required => [ map { $_->{name} } grep { $_->{required} } @q ] };
}

1;
