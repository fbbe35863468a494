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
# The mode words (the faults a test sets) are described in
# StripeMock/Faults.pm, the state files under DIR in StripeMock/State.pm.
# The code, by what it holds:
#   StripeMock.pm              the server: new, the helpers above, handle()
#                              (route, checks, refusals)
#   StripeMock/Spec.pm         the OpenAPI subset and request validation
#   StripeMock/Wire.pm         JSON, ids, form decoding, error envelopes
#   StripeMock/Idempotency.pm  Idempotency-Key records and replays
#   StripeMock/Faults.pm       the mode words and the endpoint run with them
#   StripeMock/Intents.pm      PaymentIntents: checks, endpoints, statuses
#   StripeMock/Methods.pm      PaymentMethods and the test cards
#   StripeMock/State.pm        the state files, objects by mode, locks
# Each module exports its subs into StripeMock, where they are methods of
# the mock: handle() finds check_OP and do_OP by name.

use strict;
use warnings;

use Fcntl qw(:flock);
use Time::HiRes qw(sleep time);

use StripeMock::Faults;
use StripeMock::Idempotency;
use StripeMock::Intents;
use StripeMock::Methods;
use StripeMock::Spec;
use StripeMock::State;
use StripeMock::Wire;

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

1;
