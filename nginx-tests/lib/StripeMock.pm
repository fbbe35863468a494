package StripeMock;

# A Stripe-compatible server for the tests: the only stand-in in the suite,
# since Stripe itself is unreachable here. It speaks Stripe's wire format
# (bearer secret key, form-encoded bodies with Stripe's bracket rules, JSON
# answers, the error envelope) for the operations of Stripe's published
# OpenAPI subset in testdata/stripe/openapi-subset.json:
#   POST /v1/payment_intents               create
#   GET  /v1/payment_intents/ID            retrieve (read back)
#   POST /v1/payment_intents/ID            update
#   POST /v1/payment_intents/ID/confirm    confirm what is set on it
#   POST /v1/payment_intents/ID/cancel     cancel
#   POST /v1/payment_methods               create (type=card, card[token])
#   GET  /v1/payment_methods/ID            retrieve
# (list and search are in the subset but not implemented: refused, and
# recorded as a violation, rather than answered wrongly). Enums are
# checked even where the spec marks x-stripeBypassValidation: only
# documented values should go out.
#
# Helpers for the tests: mode, charges, requests, violations, intent,
# intents, payment_method, payment_methods, token (a fresh single-use
# token paying as a test token), paused, wait_paused, release, locked,
# expect_violations; each described where it is defined.
#
# Every request is checked against the spec subset first (path and method
# to the operation, the decoded form against its requestBody schema or its
# query parameters): an unknown parameter, a wrong type, a missing required
# one, an empty string where the parameter cannot be unset, an enum or
# maxLength broken, metadata over Stripe's limits, a body that is not form
# data, a key over 255 characters, an amount that is not a positive
# integer of at most eight digits, an upper-case currency, or a parameter
# this server does not implement: a 400 invalid_request_error as Stripe
# answers, nothing stored for the Idempotency-Key, and one line in
# violations.log. OpayTest fails a test whose StripeMock recorded any,
# unless the test said it expects some (new(DIR, expect_violations => 1)).
#
# Stripe's documented rules (../shared/spec/stripe/FORM-ENCODING.md):
# Idempotency-Key stores the status and body once the endpoint started
# executing (5xx included) and replays them with Idempotent-Replayed: true;
# nothing is stored for a validation failure, a 429 or a collision (409
# idempotency_key_in_use while the first still runs); other parameters or
# another endpoint are an idempotency_error. Update, confirm and cancel
# take the PaymentIntent's lock (429 lock_timeout after LOCK_WAIT). A card
# token is single-use (token_already_used). Three-decimal currencies end
# in 0; ISK and UGX are multiples of 100. Test tokens answer as
# testdata/stripe_test_tokens.json says (and tok_threeDSecure2Required,
# the 3-D Secure 2 card). Only sk_test_ keys, unless mode live-keys.
#
# Mode words (mode('w1 w2 ...'); mode() reads them; setting the mode
# resets every counter). OP is one of create, update, confirm, cancel,
# retrieve, pm-create, pm-retrieve. A fault word may end in =N: it then
# acts on the next N requests it applies to, and not after.
#   OP-503            the edge answers 503 before anything: nothing
#                     stored, the same key later runs
#   OP-fresh-500      a 500 in front of the idempotency layer, before the
#                     work: nothing stored
#   OP-500            a 500 stored for the key, before the work (nothing
#                     created, changed or charged)
#   OP-hang           no answer, nothing done; the key stays in flight
#   OP-then-500       the work done, then a 500 stored for the key
#                     (create-then-500: the PaymentIntent exists, its key
#                     replays 500)
#   OP-then-hang      the work done and stored, no answer
#   OP-then-garbage   the work done and stored, a 200 with a cut body
#   OP-then-fresh-500 the work done and stored, a 500 answered that is not
#                     a replay (a retry with the key replays the 200)
#   charge-then-500 | charge-then-hang | charge-then-garbage
#                     as confirm-then-*, but only when money moved
#   charge-then-huge  money moved, then the succeeded PaymentIntent padded
#                     to 1.5 MB (a metadata value; answers can be large)
#   slow              confirm holds the lock 1 s (a concurrent update,
#                     confirm or cancel meets 429 lock_timeout)
#   pause=OP          each OP request waits, before taking the lock or
#                     reading anything, until release() (see paused())
#   delay=OP:MS       each OP request waits MS ms the same way
#   min=N | max=N     amount_too_small below N / amount_too_large above N
#                     (minor units, any currency): Stripe's minimum and
#                     maximum depend on the settlement currency; not
#                     stored for the key, not violations. min=OP:N and
#                     max=OP:N: for OP (create or update) only
#   live-keys         sk_live_ keys accepted too (livemode objects; each
#                     mode sees only its own objects and keys)
#   legacy words: 500 = confirm-500, hang = confirm-hang,
#                 readback-500 = retrieve-fresh-500; normal = none
#
# State lives in files under DIR (the server forks per connection):
#   mode, fired/     the mode words; how often each counted word acted
#   requests.log     one JSON line per request received
#   charges.log      one JSON line per charge that moved money
#   violations.log   one JSON line per request outside the published API
#   pi/ID.json       each PaymentIntent; pi/ID.lock its lock
#   pm/ID.json       each PaymentMethod (with x_test_token, the test token
#                    behind it: not in Stripe's answers); tokens/ the
#                    tokens used; minted/ the tokens token() made
#   idem/            one record per Idempotency-Key; idem.lock guards them
#   paused/          one file per request waiting for release()

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use JSON::PP ();
use Time::HiRes qw(sleep time);

# JSON::XS when there (Debian's libjson-xs-perl): the spec is 1.1 MB.
my $JSON = eval { require JSON::XS; JSON::XS->new->canonical }
    || JSON::PP->new->canonical;
my ($TRUE, $FALSE) = @{ $JSON->decode('[true,false]') };

use constant THREE_DS => 'tok_threeDSecure2Required';   # 4000000000003220
use constant LOCK_WAIT => 0.8;    # seconds a request waits for a lock
use constant MAX_AMOUNT => 99999999;     # eight digits (the spec's text)
my %THREE_DECIMAL = map { $_ => 1 } qw(bhd jod kwd omr tnd);
my %CONFIRMABLE = map { $_ => 1 }
    qw(requires_payment_method requires_confirmation requires_action);
my %UPDATABLE = %CONFIRMABLE;
my %CANCELABLE = map { $_ => 1 } qw(requires_payment_method requires_capture
    requires_confirmation requires_action processing);

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
    return dirname(__FILE__) . '/../../testdata/stripe/openapi-subset.json';
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

sub tokens {
    my $file = dirname(__FILE__) . '/../../testdata/stripe_test_tokens.json';
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    return $JSON->decode(<$fh>);
}

my @MOCKS;    # the mocks this process made, for OpayTest's final check

sub new {
    my ($class, $dir, %opt) = @_;
    mkdir $dir;
    mkdir "$dir/$_" for qw(idem pi pm tokens minted fired paused);
    my $self = bless { dir => $dir, tokens => tokens(), spec => spec(),
                       expect_violations => $opt{expect_violations},
                       owner => $$ }, $class;
    $self->mode('normal');
    push @MOCKS, $self;
    return $self;
}

# The mocks made by this process (OpayTest checks their violations).
sub instances { grep { $_->{owner} == $$ } @MOCKS }

sub expect_violations {
    my ($self, $on) = @_;
    $self->{expect_violations} = $on if @_ > 1;
    return $self->{expect_violations};
}

sub dir { $_[0]{dir} }

# The mode: get, or set (one word or several, space-separated).
sub mode {
    my ($self, $mode) = @_;
    my $file = "$self->{dir}/mode";
    if (defined $mode) {
        unlink glob "$self->{dir}/fired/*";
        save_text($file, $mode);
        return $mode;
    }
    open my $fh, '<', $file or return 'normal';
    return scalar(<$fh>) // 'normal';
}

my %LEGACY = ('500' => 'confirm-500', hang => 'confirm-hang',
              'readback-500' => 'retrieve-fresh-500');

# The mode words as { word => value }: 'create-500=2' is create-500 => 2,
# 'min=5000' is min => 5000, a bare word is word => ''.
sub modes {
    my ($self) = @_;
    my %m;
    for my $w (split ' ', $self->mode) {
        my ($k, $v) = split /=/, $w, 2;
        $m{ $LEGACY{$k} // $k } = $v // '';
    }
    return %m;
}

# Whether fault word $word acts on this request: set, and (with =N) not
# yet used N times. Counts under a lock: requests run in parallel.
sub fires {
    my ($self, $word) = @_;
    my %m = $self->modes;
    return 0 if !exists $m{$word};
    return 1 if $m{$word} eq '';
    open my $lock, '>>', "$self->{dir}/fired.lock" or die $!;
    flock $lock, LOCK_EX;
    my $file = "$self->{dir}/fired/$word";
    my $n = 0;
    if (open my $fh, '<', $file) { $n = int(<$fh> // 0) }
    return 0 if $n >= $m{$word};
    save_text($file, $n + 1);
    return 1;
}

sub read_log {
    my ($self, $name) = @_;
    open my $fh, '<', "$self->{dir}/$name" or return [];
    return [ map { $JSON->decode($_) } grep { /\S/ } <$fh> ];
}

sub append_log {
    my ($self, $name, $data) = @_;
    open my $fh, '>>', "$self->{dir}/$name" or die $!;
    flock $fh, LOCK_EX;
    print $fh $JSON->encode($data), "\n";
    close $fh;
}

# Every charge that moved money: { id, payment_intent, amount, currency,
# payment_method, source (the card token), last4, livemode,
# idempotency_key }.
sub charges { $_[0]->read_log('charges.log') }

# Every request received: { method, path, op, idempotency_key, params
# (decoded: nested hashes and arrays), form ([key, value] pairs as sent),
# headers (lower-case names; the secret key masked) }.
sub requests { $_[0]->read_log('requests.log') }

# Every request refused as outside the published API: { method, path, op,
# param, code, message, rule }.
sub violations { $_[0]->read_log('violations.log') }

sub load {
    my ($self, $kind, $id) = @_;
    return undef if ($id // '') !~ /^[a-z]+_[A-Za-z0-9]+$/;
    open my $fh, '<', "$self->{dir}/$kind/$id.json" or return undef;
    local $/;
    return $JSON->decode(scalar <$fh>);
}

sub all {
    my ($self, $kind) = @_;
    my %all;
    for my $file (glob "$self->{dir}/$kind/*.json") {
        my ($id) = $file =~ m{/([a-z]+_[A-Za-z0-9]+)\.json$} or next;
        my $obj = $self->load($kind, $id) or next;
        $all{$id} = $obj;
    }
    return \%all;
}

# One PaymentIntent by id (undef if none), as stored now; all of them.
sub intent { $_[0]->load(pi => $_[1]) }
sub intents { $_[0]->all('pi') }

# The charges of one PaymentIntent; the PaymentIntents of one invoice (its
# metadata[invoice], as the module sets it) and their charges.
sub intent_charges {
    my ($self, $pi) = @_;
    return [ grep { $_->{payment_intent} eq $pi } @{ $self->charges } ];
}
sub invoice_intents {
    my ($self, $invoice) = @_;
    return [ grep { ($_->{metadata}{invoice} // '') eq $invoice }
             values %{ $self->intents } ];
}
sub invoice_charges {
    my ($self, $invoice) = @_;
    my %pi = map { $_->{id} => 1 } @{ $self->invoice_intents($invoice) };
    return [ grep { $pi{ $_->{payment_intent} } } @{ $self->charges } ];
}

# One PaymentMethod by id; all of them ({ id => object }).
sub payment_method { $_[0]->load(pm => $_[1]) }
sub payment_methods { $_[0]->all('pm') }

# A fresh single-use token that pays as the test token $like
# (tok_visa, tok_chargeDeclined, ...), as Stripe.js would make one.
sub token {
    my ($self, $like) = @_;
    die "no such test token: $like" if !$self->card_of($like);
    my $tok = random_id('tok_', 24);
    save("$self->{dir}/minted/$tok.json", { like => $like });
    return $tok;
}

# Requests waiting under pause=OP; wait until $n wait (1 or 0 after
# $timeout s); let the $n oldest (all) go on.
sub paused {
    my ($self) = @_;
    return scalar(my @f = glob "$self->{dir}/paused/*");
}

sub wait_paused {
    my ($self, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        return 1 if $self->paused >= $n;
        sleep 0.02;
    }
    return 0;
}

# Whether a request holds the lock of PaymentIntent $id now.
sub locked {
    my ($self, $id) = @_;
    open my $lock, '>>', "$self->{dir}/pi/$id.lock" or return 0;
    return !flock $lock, LOCK_EX | LOCK_NB;
}

sub release {
    my ($self, $n) = @_;
    my @f = sort glob "$self->{dir}/paused/*";
    splice @f, $n if defined $n && $n < @f;
    unlink @f;
    return scalar @f;
}

sub save_text {
    my ($file, $text) = @_;
    open my $fh, '>', "$file.tmp.$$" or die "$file: $!";
    print $fh $text;
    close $fh;
    rename "$file.tmp.$$", $file or die $!;
}

sub save { save_text($_[0], $JSON->encode($_[1])) }

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

sub handler {
    my ($self) = @_;
    return sub { $self->handle(@_) };
}

sub handle {
    my ($self, $req) = @_;
    my $method = $req->{method} // '';
    my ($path, $query) = split /\?/, $req->{path} // '', 2;
    my $key = $req->{headers}{'idempotency-key'};
    my @pairs = form_pairs($method eq 'POST' ? $req->{body} : $query);
    my ($tree) = decode_form(@pairs);
    my ($route, @ids);
    for my $r (@{ $self->{spec}{routes} }) {
        next if $r->{method} ne $method;
        next if !(@ids = $path =~ $r->{re});
        @ids = () if $r->{template} !~ /\{/;
        $route = $r;
        last;
    }
    my %headers = %{ $req->{headers} };
    $headers{authorization} =~ s/(sk_\w{4})\w*/$1.../
        if defined $headers{authorization};
    $self->append_log('requests.log', { method => $method,
        path => $req->{path}, op => $route ? $route->{name} : undef,
        idempotency_key => $key, params => $tree,
        form => \@pairs, headers => \%headers });
    my $ctx = { method => $method, path => $path,
                op => $route ? $route->{name} : undef };

    if (!$route) {
        my $res = error(404, type => 'invalid_request_error',
                        message => "Unrecognized request URL ($method: "
                                   . "$path).");
        return $self->refuse($ctx, $res, rule => 'path');
    }
    my $op = $route->{name};
    return edge_503() if $self->fires("$op-503");

    my $auth = $req->{headers}{authorization} // '';
    my %m = $self->modes;
    my $live = exists $m{'live-keys'} && $auth =~ /^Bearer sk_live_\w+$/;
    return error(401, type => 'invalid_request_error',
                 message => 'Invalid API Key provided.')
        if $auth !~ /^Bearer sk_test_\w+$/ && !$live;
    $ctx->{livemode} = $live ? 1 : 0;

    if ($method eq 'POST' && ($req->{headers}{'content-type'} // '')
            !~ m{^application/x-www-form-urlencoded}) {
        return $self->refuse($ctx, error(400, type => 'invalid_request_error',
            message => 'Invalid request: expected form data '
                     . '(application/x-www-form-urlencoded).'),
            rule => 'content-type');
    }
    if (defined $key && $method ne 'POST') {
        # Keys on GET do nothing (FORM-ENCODING.md 2): not refused, noted.
        $self->violation($ctx, { param => 'Idempotency-Key',
            message => 'An Idempotency-Key on a GET does nothing',
            rule => 'idempotency-key-on-get' });
    }
    if (defined $key && ($key eq '' || length $key > 255)) {
        return $self->refuse($ctx, error(400, type => 'invalid_request_error',
            message => 'Keys for idempotent requests can only be up to 255 '
                     . 'characters long.'), rule => 'idempotency-key');
    }
    my ($f, $bad_param, $bad) = decode_form(@pairs);
    return $self->invalid($ctx, fault_of($bad_param, $bad, rule => 'form'))
        if !$f;
    for my $i (0 .. $#ids) {
        return $self->invalid($ctx, fault_of('id', 'Invalid id: too long',
                                             rule => 'maxLength'))
            if length $ids[$i] > 5000;
    }
    my $e = $self->check_value(params_schema($route->{op}, $method), $f, '');
    return $self->invalid($ctx, $e) if $e;
    for my $p (sort keys %$f) {
        next if $route->{implemented}{$p};
        return $self->invalid($ctx, fault_of($p, "This test server does not "
            . "implement $p for $method $route->{template} (Stripe does): "
            . 'add it to StripeMock before sending it.',
            rule => 'unsupported'));
    }
    my $check = $self->can('check_' . ($op =~ tr/-/_/r));
    my $refusal = $check && $self->$check($f, $ctx, @ids);
    return $refusal if $refusal;
    return api_error() if $self->fires("$op-fresh-500");

    my $work = $self->can('do_' . ($op =~ tr/-/_/r));
    return $self->idempotent($key, $ctx, $f,
                             sub { $self->execute($op, $work, $f, $ctx, @ids,
                                                  $key) });
}

# A request outside the published API: the answer, and a violations.log
# line.
sub refuse {
    my ($self, $ctx, $res, %v) = @_;
    my $e = $JSON->decode($res->[2])->{error};
    $self->violation($ctx, { param => $e->{param}, code => $e->{code},
                             message => $e->{message}, %v });
    return $res;
}

sub violation {
    my ($self, $ctx, $v) = @_;
    $self->append_log('violations.log', { method => $ctx->{method},
        path => $ctx->{path}, op => $ctx->{op}, %$v });
}

sub invalid {
    my ($self, $ctx, $e) = @_;
    my %e = %$e;
    my $rule = delete $e{rule};
    return $self->refuse($ctx, error(400, type => 'invalid_request_error',
                                     %e), rule => $rule);
}

# A business refusal before the endpoint runs (nothing stored, not a
# violation): Stripe's answer for a valid request it will not do.
sub refusal {
    my ($param, $message, %e) = @_;
    return error(400, type => 'invalid_request_error', param => $param,
                 message => $message, %e);
}

# The amount rules: spec (a positive integer of at most eight digits:
# violations), then Stripe's currency rules and the mode's min/max.
sub check_amount {
    my ($self, $ctx, $amount, $currency) = @_;
    return if !defined $amount;
    return $self->invalid($ctx, fault_of('amount', 'Invalid positive '
        . "integer: $amount", code => 'parameter_invalid_integer',
        rule => 'amount'))
        if $amount !~ /^[1-9][0-9]*$/;
    return $self->refuse($ctx, refusal('amount', 'Amount must be no more '
        . 'than ' . MAX_AMOUNT . ' (eight digits) in the smallest currency '
        . 'unit.', code => 'amount_too_large'), rule => 'amount')
        if length $amount > length MAX_AMOUNT;
    my $cur = lc($currency // '');
    my $min = $self->limit('min', $ctx->{op});
    return refusal('amount', "Amount must be at least $min in the "
        . "smallest unit of \U$cur\E.", code => 'amount_too_small')
        if defined $min && $amount < $min;
    my $max = $self->limit('max', $ctx->{op});
    return refusal('amount', "Amount must be no more than $max in the "
        . "smallest unit of \U$cur\E.", code => 'amount_too_large')
        if defined $max && $amount > $max;
    return refusal('amount', "Invalid amount. Currency \U$cur\E is a "
        . 'three-decimal currency: the last digit must be 0 (round to '
        . 'the nearest ten). See https://stripe.com/docs/currencies'
        . '#three-decimal for more information.',
        code => 'invalid_charge_amount')
        if $THREE_DECIMAL{$cur} && $amount % 10;
    return refusal('amount', "Invalid amount. Currency \U$cur\E has become "
        . 'effectively zero-decimal and charged amounts must be evenly '
        . 'divisible by 100. See https://stripe.com/docs/currencies'
        . '#special-cases for more information.',
        code => 'invalid_charge_amount_no_decimal_compatible')
        if $cur =~ /^(isk|ugx)$/ && $amount % 100;
    return;
}

# min=N / max=N, or min=OP:N for one operation (create or update).
sub limit {
    my ($self, $word, $op) = @_;
    my %m = $self->modes;
    my ($o, $n) = ($m{$word} // '') =~ /^(?:([\w-]+):)?(\d+)$/ or return;
    return !defined $o || $o eq $op ? $n : undef;
}

sub check_currency {
    my ($self, $ctx, $cur) = @_;
    return if !defined $cur || $cur =~ /^[a-z]{3}$/;
    return $self->invalid($ctx, fault_of('currency', "Invalid currency: "
        . "$cur. Stripe currently supports these currencies in lower case.",
        rule => 'currency'));
}

sub check_types {
    my ($self, $types) = @_;
    my @t = ref $types eq 'ARRAY' ? @$types
          : ref $types eq 'HASH' ? map { $types->{$_} } sort keys %$types
          : ();
    for my $i (0 .. $#t) {
        next if $t[$i] eq 'card';
        return refusal("payment_method_types[$i]", 'The payment method type '
            . "provided: $t[$i] is invalid. This account supports: card.",
            code => 'payment_intent_invalid_parameter');
    }
    return;
}

# Whose object it is: each mode sees its own.
sub object {
    my ($self, $kind, $id, $ctx) = @_;
    my $obj = $self->load($kind, $id) or return undef;
    return undef if ($obj->{livemode} ? 1 : 0) != $ctx->{livemode};
    return $obj;
}

sub check_create {
    my ($self, $f, $ctx) = @_;
    return $self->check_currency($ctx, $f->{currency})
        // $self->check_amount($ctx, $f->{amount}, $f->{currency})
        // $self->check_types($f->{payment_method_types});
}

sub check_retrieve {
    my ($self, $f, $ctx, $id) = @_;
    return $self->object(pi => $id, $ctx) ? undef
        : missing('payment_intent', 'intent', $id);
}
*check_cancel = \&check_retrieve;

sub check_update {
    my ($self, $f, $ctx, $id) = @_;
    my $pi = $self->object(pi => $id, $ctx)
        or return missing('payment_intent', 'intent', $id);
    return $self->check_currency($ctx, $f->{currency})
        // $self->check_amount($ctx, $f->{amount},
                               $f->{currency} // $pi->{currency})
        // $self->check_types($f->{payment_method_types})
        // $self->check_pm_param($f, $ctx);
}

sub check_pm_param {
    my ($self, $f, $ctx) = @_;
    my $pm = $f->{payment_method} // return;
    return $self->object(pm => $pm, $ctx) ? undef
        : missing('PaymentMethod', 'payment_method', $pm);
}

sub check_confirm {
    my ($self, $f, $ctx, $id) = @_;
    return $self->check_retrieve($f, $ctx, $id)
        // $self->check_pm_param($f, $ctx);
}

sub check_pm_retrieve {
    my ($self, $f, $ctx, $id) = @_;
    return $self->object(pm => $id, $ctx) ? undef
        : missing('PaymentMethod', 'payment_method', $id);
}

sub check_pm_create {
    my ($self, $f, $ctx) = @_;
    return $self->invalid($ctx, fault_of('type', 'This test server makes '
        . 'card PaymentMethods only.', rule => 'unsupported'))
        if ($f->{type} // '') ne 'card';
    my $card = $f->{card};
    return $self->invalid($ctx, fault_of('card', 'This test server takes '
        . 'card[token] only (no card numbers).', rule => 'unsupported'))
        if ref $card ne 'HASH' || !defined $card->{token};
    return refusal('card[token]', "No such token: '$card->{token}'",
                   code => 'resource_missing')
        if !$self->card_of($card->{token});
    return;
}

sub check_list {
    my ($self, $f, $ctx) = @_;
    return $self->invalid($ctx, fault_of(undef, 'This test server does not '
        . "implement $ctx->{method} $ctx->{path}.", rule => 'unsupported'));
}
*check_search = \&check_list;

# The card behind a token: { token (the test token), number }, or undef.
sub card_of {
    my ($self, $token) = @_;
    return undef if ($token // '') !~ /^tok_\w+$/;
    if (my $m = $self->load(minted => $token)) {
        $token = $m->{like};
    }
    my $number = $self->{tokens}{success_tokens}{$token};
    $number //= '4000000000003220' if $token eq THREE_DS;
    for my $d (@{ $self->{tokens}{decline_tokens} }) {
        $number //= $d->{card} if ($d->{token} // '') eq $token;
    }
    return $number ? { token => $token, number => $number } : undef;
}

sub decline {
    my ($self, $token) = @_;
    for my $d (@{ $self->{tokens}{decline_tokens} }) {
        return $d if defined $d->{token} && $d->{token} eq $token;
    }
    return undef;
}

sub brand {
    my ($number) = @_;
    return $number =~ /^4/ ? 'visa'
         : $number =~ /^(5[1-5]|2[2-7])/ ? 'mastercard'
         : $number =~ /^3[47]/ ? 'amex'
         : $number =~ /^(6011|65)/ ? 'discover'
         : $number =~ /^3[068]/ ? 'diners'
         : $number =~ /^35/ ? 'jcb'
         : $number =~ /^62/ ? 'unionpay' : 'unknown';
}

# Runs the endpoint under Idempotency-Key rules. $run returns
# ($answer, $saved): the answer for this request ('hang' for none) and
# what the key replays: a response, 'none' (nothing saved: the key may be
# used again) or 'in_flight' (the request never ends).
sub idempotent {
    my ($self, $key, $ctx, $f, $run) = @_;
    my %headers = ('Request-Id' => random_id('req_', 14));
    if (!defined $key || $ctx->{method} ne 'POST') {
        my ($answer) = $run->();
        return with_headers($answer, %headers);
    }
    $headers{'Idempotency-Key'} = $key;
    my $endpoint = "$ctx->{method} $ctx->{path}";
    my $params = $JSON->encode($f);
    my $record = "$self->{dir}/idem/"
        . sha256_hex(($ctx->{livemode} ? 'live:' : 'test:') . $key);
    open my $lock, '>>', "$self->{dir}/idem.lock" or die $!;
    flock $lock, LOCK_EX;
    if (open my $fh, '<', $record) {
        my $saved = $JSON->decode(do { local $/; <$fh> });
        close $lock;
        my $try = "Try using a key other than '$key' if you meant to "
                . 'execute a different request.';
        return error(400, type => 'idempotency_error',
            message => 'Keys for idempotent requests can only be used for '
                     . 'the same endpoint they were first used for '
                     . "('$saved->{endpoint}' vs '$endpoint'). $try")
            if $saved->{endpoint} ne $endpoint;
        return error(400, type => 'idempotency_error',
            message => 'Keys for idempotent requests can only be used '
                     . 'with the same parameters they were first used '
                     . "with. $try")
            if $saved->{params} ne $params;
        return error(409, type => 'idempotency_error',
            code => 'idempotency_key_in_use',
            message => 'There is currently another in-progress request '
                     . 'using this Idempotent Key (that probably means you '
                     . 'submitted twice, and the other request is still '
                     . "going through): '$key'. Please try again later.")
            if $saved->{state} eq 'in_flight';
        return [ $saved->{status},
                 { 'Content-Type' => 'application/json', %headers,
                   'Idempotent-Replayed' => 'true' }, $saved->{body} ];
    }
    save($record, { endpoint => $endpoint, params => $params,
                    state => 'in_flight' });
    close $lock;

    my ($answer, $saved) = $run->();
    if (ref $saved) {
        save($record, { endpoint => $endpoint, params => $params,
                        state => 'done', status => $saved->[0],
                        body => $saved->[2] });
    } elsif ($saved eq 'none') {
        open my $lock2, '>>', "$self->{dir}/idem.lock" or die $!;
        flock $lock2, LOCK_EX;
        unlink $record;
        close $lock2;
    }
    return with_headers($answer, %headers);
}

sub with_headers {
    my ($answer, %headers) = @_;
    return $answer if !ref $answer;
    $answer->[1]{$_} //= $headers{$_} for keys %headers;
    return $answer;
}

# pause=OP and delay=OP:MS: the request waits before it reads anything.
sub hold {
    my ($self, $op) = @_;
    my %m = $self->modes;
    if (exists $m{delay}) {
        for my $d (split /,/, $m{delay}) {
            my ($o, $ms) = split /:/, $d, 2;
            sleep $ms / 1000 if $o eq $op && ($ms // '') =~ /^\d+$/;
        }
    }
    return if ($m{pause} // '') ne $op;
    my $file = sprintf '%s/paused/%017.6f.%d', $self->{dir}, time, $$;
    save_text($file, $op);
    my $deadline = time + 60;
    while (-e $file && time < $deadline) {
        my %now = $self->modes;
        last if ($now{pause} // '') ne $op;
        sleep 0.01;
    }
    unlink $file;
}

# The endpoint with the mode's faults around the work. $work returns
# ($response, { charged, nostore }).
sub execute {
    my ($self, $op, $work, $f, $ctx, @rest) = @_;
    $self->hold($op);
    return ('hang', 'in_flight') if $self->fires("$op-hang");
    if ($self->fires("$op-500")) {
        my $res = api_error();
        return ($res, $res);
    }
    my ($res, $how) = $self->$work($f, $ctx, @rest);
    return ($res, 'none') if $how->{nostore};
    my $charged = $how->{charged};
    my $then = sub {
        my ($fault) = @_;
        return $self->fires("$op-then-$fault")
            || ($charged && $self->fires("charge-then-$fault"));
    };
    if ($then->('500')) {
        my $err = api_error();
        return ($err, $err);
    }
    return ('hang', $res) if $then->('hang');
    if ($then->('garbage')) {
        my $cut = substr $res->[2], 0, int(length($res->[2]) / 2);
        return ([ $res->[0], { 'Content-Type' => 'application/json' },
                  $cut ], $res);
    }
    return (api_error(), $res) if $then->('fresh-500');
    if ($charged && $self->fires('charge-then-huge')) {
        my $big = $JSON->decode($res->[2]);
        $big->{metadata}{padding} = 'x' x (1536 * 1024);
        return ([ 200, { 'Content-Type' => 'application/json' },
                  $JSON->encode($big) ], $res);
    }
    return ($res, $res);
}

# The per-object lock, non-blocking, retried for LOCK_WAIT s.
sub lock_object {
    my ($self, $id) = @_;
    open my $lock, '>>', "$self->{dir}/pi/$id.lock" or die $!;
    my $deadline = time + LOCK_WAIT;
    while (1) {
        return $lock if flock $lock, LOCK_EX | LOCK_NB;
        last if time >= $deadline;
        sleep 0.02;
    }
    close $lock;
    return undef;
}

sub metadata_of {
    my ($m) = @_;
    return ref $m eq 'HASH' ? { %$m } : {};
}

sub do_create {
    my ($self, $f, $ctx) = @_;
    my $id = random_id('pi_', 24);
    my $types = $f->{payment_method_types};
    my $pi = {
        id => $id, object => 'payment_intent',
        amount => int $f->{amount}, amount_received => 0,
        currency => $f->{currency},
        status => 'requires_payment_method',
        description => $f->{description},
        metadata => metadata_of($f->{metadata}),
        latest_charge => undef, last_payment_error => undef,
        payment_method => undef, next_action => undef,
        livemode => $ctx->{livemode} ? $TRUE : $FALSE,
        payment_method_types => ['card'],
        capture_method => 'automatic', confirmation_method => 'automatic',
        client_secret => $id . random_id('_secret_', 25),
        created => int time, canceled_at => undef,
        cancellation_reason => undef,
        receipt_email => $f->{receipt_email},
        statement_descriptor => $f->{statement_descriptor},
        statement_descriptor_suffix => $f->{statement_descriptor_suffix},
    };
    for (keys %{ $pi->{metadata} }) {
        delete $pi->{metadata}{$_} if $pi->{metadata}{$_} eq '';
    }
    save("$self->{dir}/pi/$id.json", $pi);
    return (response(200, $pi), {});
}

sub do_retrieve {
    my ($self, $f, $ctx, $id) = @_;
    return (response(200, $self->intent($id)), {});
}

sub do_pm_retrieve {
    my ($self, $f, $ctx, $id) = @_;
    return (response(200, public_pm($self->payment_method($id))), {});
}

sub unexpected_state {
    my ($pi, $verb, $allowed) = @_;
    my @ok = sort keys %$allowed;
    my $what = $verb eq 'update' ? 'update' : $verb;
    return error(400, type => 'invalid_request_error',
        code => 'payment_intent_unexpected_state',
        message => "You cannot $what this PaymentIntent because it has a "
            . "status of $pi->{status}. Only a PaymentIntent with one of "
            . 'the following statuses may be '
            . ($verb eq 'update' ? 'updated' : "${verb}ed")
            . ': ' . join(', ', @ok) . '.',
        payment_intent => $pi);
}

sub do_update {
    my ($self, $f, $ctx, $id) = @_;
    my $lock = $self->lock_object($id)
        or return (lock_timeout(), { nostore => 1 });
    my $pi = $self->intent($id);
    return (unexpected_state($pi, 'update', \%UPDATABLE), {})
        if !$UPDATABLE{ $pi->{status} };
    $pi->{amount} = int $f->{amount} if defined $f->{amount};
    for my $k (qw(currency description receipt_email statement_descriptor
                  statement_descriptor_suffix)) {
        next if !exists $f->{$k};
        $pi->{$k} = $f->{$k} eq '' ? undef : $f->{$k};
    }
    if (exists $f->{metadata}) {
        my $m = $f->{metadata};
        $pi->{metadata} = {} if !ref $m;    # metadata= unsets them all
        for my $k (ref $m ? keys %$m : ()) {
            if ($m->{$k} eq '') { delete $pi->{metadata}{$k} }
            else { $pi->{metadata}{$k} = $m->{$k} }
        }
    }
    if (defined $f->{payment_method}) {
        @$pi{qw(payment_method status next_action)}
            = ($f->{payment_method}, 'requires_confirmation', undef);
    }
    save("$self->{dir}/pi/$id.json", $pi);
    close $lock;
    return (response(200, $pi), {});
}

sub do_cancel {
    my ($self, $f, $ctx, $id) = @_;
    my $lock = $self->lock_object($id)
        or return (lock_timeout(), { nostore => 1 });
    my $pi = $self->intent($id);
    return (unexpected_state($pi, 'cancel', \%CANCELABLE), {})
        if !$CANCELABLE{ $pi->{status} };
    @$pi{qw(status canceled_at cancellation_reason next_action)}
        = ('canceled', int time, $f->{cancellation_reason}, undef);
    save("$self->{dir}/pi/$id.json", $pi);
    close $lock;
    return (response(200, $pi), {});
}

sub do_pm_create {
    my ($self, $f, $ctx) = @_;
    my $token = $f->{card}{token};
    my $card = $self->card_of($token);
    open my $lock, '>>', "$self->{dir}/tokens.lock" or die $!;
    flock $lock, LOCK_EX;
    if ($self->load(tokens => $token)) {
        return (error(400, type => 'invalid_request_error',
            code => 'token_already_used', param => 'card[token]',
            message => 'You cannot use a Stripe token more than once: '
                     . "$token."), {});
    }
    my $pm = {
        id => random_id('pm_', 24), object => 'payment_method',
        type => 'card', created => int time, customer => undef,
        livemode => $ctx->{livemode} ? $TRUE : $FALSE,
        metadata => metadata_of($f->{metadata}),
        billing_details => { address => { map { $_ => undef }
            qw(city country line1 line2 postal_code state) },
            email => undef, name => undef, phone => undef },
        card => { brand => brand($card->{number}),
                  last4 => substr($card->{number}, -4),
                  exp_month => 12, exp_year => 1900 + (gmtime)[5] + 3,
                  country => 'US', funding => 'credit',
                  fingerprint => substr(sha256_hex($card->{number}), 0, 16),
                  checks => undef, wallet => undef },
        # not Stripe's: the test token behind it, for the outcome
        x_test_token => $card->{token},
    };
    save("$self->{dir}/pm/$pm->{id}.json", $pm);
    save("$self->{dir}/tokens/$token.json", { payment_method => $pm->{id} });
    close $lock;
    return (response(200, public_pm($pm)), {});
}

sub public_pm {
    my ($pm) = @_;
    my %p = %$pm;
    delete $p{x_test_token};
    return \%p;
}

# POST /v1/payment_intents/ID/confirm: confirms the PaymentMethod set on
# the PaymentIntent (or given as payment_method), as its card answers.
sub do_confirm {
    my ($self, $f, $ctx, $id, $key) = @_;
    my $lock = $self->lock_object($id)
        or return (lock_timeout(), { nostore => 1 });
    my %m = $self->modes;
    sleep 1 if exists $m{slow};
    my $pi = $self->intent($id);
    return (unexpected_state($pi, 'confirm', \%CONFIRMABLE), {})
        if !$CONFIRMABLE{ $pi->{status} };
    $pi->{payment_method} = $f->{payment_method}
        if defined $f->{payment_method};
    if (!defined $pi->{payment_method}) {
        return (error(400, type => 'invalid_request_error',
            code => 'payment_intent_unexpected_state',
            param => 'payment_method',
            message => 'You cannot confirm this PaymentIntent because it\'s '
                . 'missing a payment method. You can either update the '
                . 'PaymentIntent with a payment method and then confirm it '
                . 'again, or confirm it again directly with a payment '
                . 'method.', payment_intent => $pi), {});
    }
    my $pm = $self->payment_method($pi->{payment_method});
    my $token = $pm->{x_test_token};
    my $public = public_pm($pm);
    my ($res, $charged);
    $pi->{next_action} = undef;
    if ($self->{tokens}{success_tokens}{$token}) {
        my $ch = random_id('ch_', 24);
        @$pi{qw(status latest_charge last_payment_error amount_received)}
            = ('succeeded', $ch, undef, $pi->{amount});
        save("$self->{dir}/pi/$id.json", $pi);
        $self->append_log('charges.log', { id => $ch, payment_intent => $id,
            amount => $pi->{amount}, currency => $pi->{currency},
            payment_method => $pm->{id}, source => $token,
            last4 => $pm->{card}{last4},
            livemode => $ctx->{livemode} ? $TRUE : $FALSE,
            idempotency_key => $key // '' });
        $charged = 1;
        $res = response(200, $pi);
    } elsif ($token eq THREE_DS
             && ($f->{error_on_requires_action} // '') ne 'true') {
        @$pi{qw(status last_payment_error next_action)}
            = ('requires_action', undef,
               { type => 'use_stripe_sdk', use_stripe_sdk => {
                   type => 'stripe_3ds2_fingerprint',
                   three_d_secure_2_source => random_id('src_', 24),
                   directory_server_name => 'visa' } });
        save("$self->{dir}/pi/$id.json", $pi);
        $res = response(200, $pi);
    } else {
        my %e;
        if ($token eq THREE_DS) {
            %e = (type => 'card_error', code => 'authentication_required',
                  decline_code => 'authentication_required',
                  message => 'Your card was declined. This transaction '
                           . 'requires authentication.');
        } else {
            my $d = $self->decline($token);
            %e = (type => $d->{type}, code => $d->{code},
                  message => $d->{message},
                  charge => random_id('ch_', 24),    # failed: no money
                  map { defined $d->{$_} ? ($_ => $d->{$_}) : () }
                      qw(decline_code param doc_url));
            $pi->{latest_charge} = $e{charge};
        }
        @$pi{qw(status payment_method last_payment_error)}
            = ('requires_payment_method', undef,
               { %e, payment_method => $public });
        save("$self->{dir}/pi/$id.json", $pi);
        $res = error(402, %e, payment_intent => $pi,
                     payment_method => $public);
    }
    close $lock;
    return ($res, { charged => $charged });
}

1;
