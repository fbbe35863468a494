# The suite's Stripe-compatible server (lib/StripeMock.pm) over real HTTP
# on loopback, no nginx: its own specification. Every request is checked
# against Stripe's published OpenAPI subset (testdata/stripe/) and a
# violation is refused and recorded; PaymentMethods from single-use card
# tokens; PaymentIntents created, updated, confirmed with what is set on
# them, cancelled and read back as Stripe documents them; its idempotency
# rules, its lock, and each fault word the other tests rely on.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);
use OpayTest qw(json_decode json_encode wait_for);
use StripeMock;

# OpayTest->new only records the nginx binary; this test never starts it.
$ENV{TEST_NGINX_BINARY} ||= '/nonexistent/nginx';
my $t = OpayTest->new;
# This test sends requests outside the API on purpose, and checks each.
my $stripe = StripeMock->new($t->dir . '/stripe', expect_violations => 1);
my $port = $t->backend('stripe', $stripe->handler);

sub enc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# api(METHOD, PATH, [k => v, ...], %opt): opt key (Idempotency-Key),
# auth (default sk_test_opay; undef for none), type, timeout. GET
# parameters go in the query string.
sub api {
    my ($method, $path, $params, %opt) = @_;
    my @p = @{ $params || [] };
    my $form = join '&', map { enc($p[2 * $_]) . '=' . enc($p[2 * $_ + 1]) }
        0 .. @p / 2 - 1;
    $path .= "?$form" if $method ne 'POST' && length $form;
    my %headers;
    $headers{'Idempotency-Key'} = $opt{key} if defined $opt{key};
    my $auth = exists $opt{auth} ? $opt{auth} : 'sk_test_opay';
    return $t->request($path, port => $port, method => $method,
        headers => \%headers, timeout => $opt{timeout} // 10,
        (defined $auth ? (token => $auth) : ()),
        content_type => $method eq 'POST'
            ? $opt{type} // 'application/x-www-form-urlencoded' : undef,
        ($method eq 'POST' ? (body => $form) : ()));
}

my $n = 0;
sub create_params {
    my (%o) = @_;
    my $inv = $o{invoice} // 'INV-' . ++$n;
    return [ amount => $o{amount} // 1000, currency => $o{currency} // 'usd',
             'payment_method_types[]' => 'card',
             description => "Invoice $inv", 'metadata[invoice]' => $inv ];
}

sub create { api(POST => '/v1/payment_intents', create_params(@_)) }
sub create_id { create(@_)->{json}{id} }

# A PaymentMethod from a fresh token that pays as test token $like.
sub pm {
    my ($like, %opt) = @_;
    return api(POST => '/v1/payment_methods',
               [ type => 'card', 'card[token]' => $stripe->token($like) ],
               %opt)->{json}{id};
}

sub update {
    my ($id, $params, %opt) = @_;
    return api(POST => "/v1/payment_intents/$id", $params, %opt);
}

sub confirm {
    my ($id, %opt) = @_;
    my @p = $opt{error_on_requires_action}
        ? (error_on_requires_action => 'true') : ();
    return api(POST => "/v1/payment_intents/$id/confirm", \@p, %opt);
}

# A payer's step: amount and card set together, then confirm.
sub pay {
    my ($id, $like, $amount, %opt) = @_;
    my $pm = pm($like);
    my $u = update($id, [ amount => $amount, payment_method => $pm ]);
    die "update: $u->{status} $u->{content}" if $u->{status} != 200;
    return (confirm($id, %opt), $pm);
}

sub readback { api(GET => "/v1/payment_intents/$_[0]") }

sub err { $_[0]{json}{error} // {} }

sub starts {
    my ($got, $prefix, $name) = @_;
    is(substr($got // '', 0, length $prefix), $prefix, $name);
}

sub violations { scalar @{ $stripe->violations } }

# Auth, wire format, unknown paths.
my $v0 = violations();
my $r = api(POST => '/v1/payment_intents', create_params(), auth => undef);
is($r->{status}, 401, 'no key: 401');
is(err($r)->{message}, 'Invalid API Key provided.', 'no key: message');
$r = api(POST => '/v1/payment_intents', create_params(),
         auth => 'sk_live_opay');
is($r->{status}, 401, 'live key: 401');
is(violations(), $v0, 'a refused key is not a violation');
$r = api(POST => '/v1/payment_intents', create_params(),
         type => 'application/json');
is($r->{status}, 400, 'JSON body: 400');
is($stripe->violations->[-1]{rule}, 'content-type',
   'JSON body: recorded as a violation');
$r = api(POST => '/v1/charges', [ amount => 1000, currency => 'usd',
                                  source => 'tok_visa' ]);
is($r->{status}, 404, 'legacy /v1/charges: 404');
is(err($r)->{message}, 'Unrecognized request URL (POST: /v1/charges).',
   'unrecognized URL message');
is_deeply([ @{ $stripe->violations->[-1] }{qw(method path rule)} ],
          [ 'POST', '/v1/charges', 'path' ], 'unknown URL: recorded');
$r = api(GET => '/v1/payment_intents');
is($r->{status}, 400, 'GET list: in the spec, not implemented: 400');
is($stripe->violations->[-1]{rule}, 'unsupported',
   'GET list: recorded as unsupported');
$r = api(GET => '/v1/payment_intents/search', [ query => 'status:"x"' ]);
is($stripe->violations->[-1]{op}, 'search', 'search: routed, refused');
is(scalar keys %{ $stripe->intents }, 0, 'nothing created so far');

# Create.
$r = create(invoice => 'V-1');
is($r->{status}, 200, 'create: 200');
my $pi = $r->{json};
like($pi->{id}, qr/^pi_[A-Za-z0-9]{24}$/, 'create: pi_ id');
is($pi->{object}, 'payment_intent', 'create: object');
is($pi->{status}, 'requires_payment_method', 'create: status');
is($pi->{amount}, 1000, 'create: amount');
ok($r->{content} =~ /"amount":1000[,}]/, 'create: amount is a JSON number');
is($pi->{currency}, 'usd', 'create: currency');
is($pi->{description}, 'Invoice V-1', 'create: description');
is_deeply($pi->{metadata}, { invoice => 'V-1' }, 'create: metadata');
is($pi->{payment_method}, undef, 'create: no payment_method');
is($pi->{latest_charge}, undef, 'create: latest_charge null');
ok(!$pi->{livemode}, 'create: livemode false');
is_deeply($pi->{payment_method_types}, ['card'], 'create: card only');
is_deeply($stripe->intents->{ $pi->{id} }, $pi, 'create: stored');
$r = readback($pi->{id});
is($r->{status}, 200, 'read back: 200');
is_deeply($r->{json}, $pi, 'read back: the object');
is(@{ $stripe->intent_charges($pi->{id}) }, 0, 'create moved no money');
$r = api(POST => '/v1/payment_intents',
         [ amount => 1000, currency => 'usd',
           'payment_method_types[0]' => 'card' ]);
is($r->{status}, 200, 'arrays with indices: accepted');

# Validation against the spec: 400, nothing stored for the key, nothing
# created, one violation with the parameter.
my $before = scalar keys %{ $stripe->intents };
my $key = 0;
for my $case (
    # name, param, code, message (prefix or regex), over, drop
    [ 'unknown param', 'source', 'parameter_unknown',
      'Received unknown parameter: source', [ source => 'tok_visa' ] ],
    [ 'nested unknown', 'shipping[foo]', 'parameter_unknown',
      'Received unknown parameter: shipping[foo]', [ 'shipping[foo]' => 1 ] ],
    [ 'amount abc', 'amount', 'parameter_invalid_integer',
      'Invalid integer: abc', [ amount => 'abc' ] ],
    [ 'amount 10.50', 'amount', 'parameter_invalid_integer',
      'Invalid integer: 10.50', [ amount => '10.50' ] ],
    [ 'amount empty', 'amount', 'parameter_invalid_empty',
      "You passed an empty string for 'amount'.", [ amount => '' ] ],
    [ 'amount 0', 'amount', 'parameter_invalid_integer',
      'Invalid positive integer', [ amount => 0 ] ],
    [ 'amount -5', 'amount', 'parameter_invalid_integer',
      'Invalid positive integer', [ amount => -5 ] ],
    [ 'amount of nine digits', 'amount', 'amount_too_large',
      'Amount must be no more than 99999999', [ amount => 100000000 ] ],
    [ 'no currency', 'currency', 'parameter_missing',
      'Missing required param: currency.', [], 'currency' ],
    [ 'currency USD', 'currency', undef, 'Invalid currency: USD',
      [ currency => 'USD' ] ],
    [ 'enum', 'capture_method', undef, 'Invalid capture_method: must be '
      . 'one of automatic, automatic_async, or manual',
      [ capture_method => 'later' ] ],
    [ 'boolean', 'confirm', undef, 'Invalid boolean: yes',
      [ confirm => 'yes' ] ],
    [ 'maxLength', 'description', undef, 'Invalid string: description '
      . 'must be at most 1000 characters long',
      [ description => 'x' x 1001 ] ],
    [ 'a hash for a string', 'metadata[a]', undef, 'Invalid string',
      [ 'metadata[a][b]' => 1 ] ],
    [ 'a string for an array', 'payment_method_types', undef,
      'Invalid array', [ payment_method_types => 'card' ],
      'payment_method_types[]' ],
    [ 'a string for a hash', 'shipping', undef, 'Invalid hash',
      [ shipping => 'x' ] ],
    [ 'nested missing', 'shipping[address]', 'parameter_missing',
      'Missing required param: shipping[address].',
      [ 'shipping[name]' => 'A' ] ],
    [ 'metadata key of 41', 'metadata[' . 'k' x 41 . ']', undef,
      'Metadata keys can have up to 40 characters',
      [ 'metadata[' . 'k' x 41 . ']' => 1 ] ],
    [ 'metadata value of 501', 'metadata[v]', undef,
      'Metadata values can have up to 500 characters',
      [ 'metadata[v]' => 'x' x 501 ] ],
    [ 'metadata of 51 keys', 'metadata', undef, 'Invalid metadata: '
      . 'metadata can have up to 50 keys, but you passed in 51 keys.',
      [ map { ("metadata[k$_]" => 1) } 1 .. 50 ] ],
    [ 'in the spec, not here', 'capture_method', undef,
      'This test server does not implement capture_method',
      [ capture_method => 'manual' ] ],
) {
    my ($name, $param, $code, $message, $over, $drop) = @$case;
    my @p = @{ create_params(invoice => 'BAD') };
    my %over = @$over;
    my @kv;
    for (my $i = 0; $i < @p; $i += 2) {
        next if exists $over{ $p[$i] } || ($drop && $p[$i] eq $drop);
        push @kv, $p[$i], $p[$i + 1];
    }
    push @kv, @$over;
    my $vn = violations();
    $r = api(POST => '/v1/payment_intents', \@kv, key => 'bad-' . ++$key);
    is($r->{status}, 400, "$name: 400");
    is(err($r)->{type}, 'invalid_request_error', "$name: type");
    is(err($r)->{param}, $param, "$name: param $param");
    is(err($r)->{code}, $code, "$name: code " . ($code // 'none'));
    starts(err($r)->{message}, $message, "$name: message");
    is(violations(), $vn + 1, "$name: one violation recorded");
    is($stripe->violations->[-1]{param}, $param, "$name: recorded param");
    $r = api(POST => '/v1/payment_intents', create_params(invoice => 'OK'),
             key => "bad-$key");
    is($r->{status}, 200, "$name: the key was not saved");
    ok(!$r->{headers}{'idempotent-replayed'}, "$name: not a replay");
    $before++;
}
is(scalar keys %{ $stripe->intents }, $before,
   'validation failures created nothing');

# Business refusals: Stripe's answers to valid requests, not violations,
# not stored for the key.
my $vb = violations();
$r = api(POST => '/v1/payment_intents',
         [ @{ create_params() }, 'payment_method_types[]' => 'sepa_debit' ]);
is($r->{status}, 400, 'sepa_debit: 400');
is(err($r)->{param}, 'payment_method_types[1]', 'sepa_debit: param');
is(err($r)->{code}, 'payment_intent_invalid_parameter', 'sepa_debit: code');
for my $cur (qw(bhd jod kwd omr tnd)) {
    $r = create(currency => $cur, amount => 10005);
    is($r->{status}, 400, "$cur 10005: 400");
    is(err($r)->{code}, 'invalid_charge_amount', "$cur: code");
    like(err($r)->{message}, qr/last digit must be 0/, "$cur: message");
    is(create(currency => $cur, amount => 10010)->{status}, 200,
       "$cur 10010: 200");
}
$r = create(currency => 'isk', amount => 150);
is(err($r)->{code}, 'invalid_charge_amount_no_decimal_compatible',
   'isk 150: invalid_charge_amount_no_decimal_compatible');
is(create(currency => 'isk', amount => 500)->{status}, 200, 'isk 500: 200');
is(create(currency => 'ugx', amount => 150)->{status}, 400, 'ugx 150: 400');
is(create(currency => 'jpy', amount => 501)->{status}, 200,
   'jpy 501: 200 (zero-decimal, no rule)');
is(create(amount => 99999999)->{status}, 200, 'eight digits: 200');
$stripe->mode('min=5000 max=200000');
my $mk = 'k-min';
$r = api(POST => '/v1/payment_intents', create_params(amount => 4999),
         key => $mk);
is($r->{status}, 400, 'min=5000, 4999: 400');
is(err($r)->{code}, 'amount_too_small', 'min: amount_too_small');
is(err($r)->{param}, 'amount', 'min: param amount');
starts(err($r)->{message}, 'Amount must be at least 5000 in the smallest '
       . 'unit of USD.', 'min: message');
$r = create(amount => 200001);
is(err($r)->{code}, 'amount_too_large', 'max=200000: amount_too_large');
my $mid = create_id(amount => 5000);
ok($mid, 'min=5000, 5000: created');
$r = update($mid, [ amount => 100 ]);
is(err($r)->{code}, 'amount_too_small', 'min: the update too');
is($stripe->intent($mid)->{amount}, 5000, 'min: the update changed nothing');
$stripe->mode('max=update:5000');
is(create(amount => 99999999)->{status}, 200,
   'max=update:5000: a create is not limited');
$r = update($mid, [ amount => 5001 ]);
is(err($r)->{code}, 'amount_too_large', 'max=update:5000: an update is');
$stripe->mode('normal');
$r = api(POST => '/v1/payment_intents', create_params(amount => 4999),
         key => $mk);
is($r->{status}, 200, 'amount_too_small was not stored for the key');
is(violations(), $vb, 'business refusals are no violations');

# PaymentMethods: single-use tokens, brand and last4 from the card.
my $tok = $stripe->token('tok_visa');
like($tok, qr/^tok_[A-Za-z0-9]{24}$/, 'token(): a fresh token');
$r = api(POST => '/v1/payment_methods',
         [ type => 'card', 'card[token]' => $tok ], key => "pm-$tok");
is($r->{status}, 200, 'PaymentMethod: 200');
my $pmv = $r->{json};
like($pmv->{id}, qr/^pm_[A-Za-z0-9]{24}$/, 'PaymentMethod: pm_ id');
is($pmv->{object}, 'payment_method', 'PaymentMethod: object');
is($pmv->{type}, 'card', 'PaymentMethod: type');
is($pmv->{card}{brand}, 'visa', 'PaymentMethod: brand');
is($pmv->{card}{last4}, '4242', 'PaymentMethod: last4');
ok(!exists $pmv->{x_test_token}, 'PaymentMethod: only Stripe fields');
is_deeply(api(GET => "/v1/payment_methods/$pmv->{id}")->{json}, $pmv,
          'PaymentMethod: read back');
ok($stripe->payment_methods->{ $pmv->{id} }, 'payment_methods(): by id');
$r = api(POST => '/v1/payment_methods',
         [ type => 'card', 'card[token]' => $tok ], key => "pm-$tok");
is($r->{headers}{'idempotent-replayed'}, 'true', 'same key: replayed');
is($r->{json}{id}, $pmv->{id}, 'same key: the same PaymentMethod');
$r = api(POST => '/v1/payment_methods',
         [ type => 'card', 'card[token]' => $tok ], key => "pm2-$tok");
is($r->{status}, 400, 'the token again, another key: 400');
is(err($r)->{code}, 'token_already_used', 'token_already_used');
is(err($r)->{param}, 'card[token]', 'token_already_used: param');
is(scalar keys %{ $stripe->payment_methods }, 1, 'one PaymentMethod');
$r = api(POST => '/v1/payment_methods',
         [ type => 'card', 'card[token]' => 'tok_visa' ]);
is($r->{status}, 200, 'a test token itself: once');
$r = api(POST => '/v1/payment_methods',
         [ type => 'card', 'card[token]' => 'tok_visa' ]);
is(err($r)->{code}, 'token_already_used', 'a test token itself: not twice');
$r = api(POST => '/v1/payment_methods',
         [ type => 'card', 'card[token]' => $stripe->token('tok_amex') ]);
is_deeply([ @{ $r->{json}{card} }{qw(brand last4)} ], [ 'amex', '0005' ],
          'tok_amex: amex 0005');
$r = api(POST => '/v1/payment_methods',
         [ type => 'card', 'card[token]' => 'tok_nope' ], key => 'k-nope');
is($r->{status}, 400, 'unknown token: 400');
is(err($r)->{code}, 'resource_missing', 'unknown token: resource_missing');
is(err($r)->{message}, "No such token: 'tok_nope'", 'unknown token: message');
$r = api(POST => '/v1/payment_methods',
         [ type => 'card', 'card[token]' => $stripe->token('tok_visa') ],
         key => 'k-nope');
is($r->{status}, 200, 'unknown token: not stored for the key');
$r = api(POST => '/v1/payment_methods',
         [ type => 'card', 'card[number]' => '4242424242424242',
           'card[exp_month]' => 12, 'card[exp_year]' => 2030 ]);
is($stripe->violations->[-1]{rule}, 'unsupported',
   'card numbers: refused as unsupported');
$r = api(GET => '/v1/payment_methods/pm_doesnotexist00000000000');
is($r->{status}, 404, 'unknown PaymentMethod: 404');
is(err($r)->{code}, 'resource_missing', 'unknown PaymentMethod: code');

# Update: amount and card together; metadata merged and unset.
my $u = create_id(invoice => 'U-1');
my $pmu = pm('tok_mastercard');
$r = update($u, [ amount => 1300, payment_method => $pmu,
                  'metadata[shipping]' => 'priority',
                  'metadata[attempt]' => 'a1' ], key => 'k-u1');
is($r->{status}, 200, 'update: 200');
is($r->{json}{amount}, 1300, 'update: amount');
is($r->{json}{payment_method}, $pmu, 'update: payment_method');
is($r->{json}{status}, 'requires_confirmation', 'update: requires_confirmation');
is_deeply($r->{json}{metadata}, { invoice => 'U-1', shipping => 'priority',
          attempt => 'a1' }, 'update: metadata merged');
$r = update($u, [ 'metadata[attempt]' => '' ]);
is_deeply($r->{json}{metadata}, { invoice => 'U-1', shipping => 'priority' },
          'update: metadata[k]= unsets a key');
$r = update($u, [ receipt_email => '' ]);
is($r->{status}, 200, 'update: anyOf with "" unsets (receipt_email=)');
$r = update($u, [ description => '' ]);
is(err($r)->{code}, 'parameter_invalid_empty',
   'update: description= cannot be unset');
$r = update($u, [ metadata => '' ]);
is_deeply($r->{json}{metadata}, {}, 'update: metadata= unsets them all');
$r = update($u, [ payment_method => 'pm_doesnotexist00000000000' ]);
is($r->{status}, 404, 'update: unknown PaymentMethod: 404');
is(err($r)->{param}, 'payment_method', 'update: unknown pm: param');
$r = update('pi_doesnotexist0000000000', [ amount => 100 ]);
is(err($r)->{code}, 'resource_missing', 'update: unknown intent');
$r = update($u, [ amount => 1300, payment_method => $pmu,
                  'metadata[shipping]' => 'priority',
                  'metadata[attempt]' => 'a1' ], key => 'k-u1');
is($r->{headers}{'idempotent-replayed'}, 'true', 'update: replayed by key');

# Confirm what is set: the charge is that amount on that card.
my $nopm = create_id();
$r = confirm($nopm, key => 'k-nopm');
is($r->{status}, 400, 'confirm without a payment method: 400');
is(err($r)->{param}, 'payment_method', 'no payment method: param');
$r = confirm($u, key => 'k-c-u');
is($r->{status}, 200, 'confirm: 200');
my $ok = $r->{json};
is($ok->{status}, 'succeeded', 'confirm: succeeded');
is($ok->{amount_received}, 1300, 'confirm: amount_received');
like($ok->{latest_charge}, qr/^ch_[A-Za-z0-9]{24}$/, 'confirm: latest_charge');
is($ok->{payment_method}, $pmu, 'confirm: the payment_method set');
my $ch = $stripe->intent_charges($u);
is(@$ch, 1, 'confirm: one charge');
is_deeply($ch->[0], { id => $ok->{latest_charge}, payment_intent => $u,
    amount => 1300, currency => 'usd', payment_method => $pmu,
    source => 'tok_mastercard', last4 => '4444', livemode => JSON::PP::false,
    idempotency_key => 'k-c-u' }, 'charges(): the charge line');
$r = confirm($u, key => 'k-c-u');
is($r->{headers}{'idempotent-replayed'}, 'true', 'confirm: replayed');
is($r->{content}, json_encode($ok), 'confirm replay: the same body');
$r = confirm($u, key => 'k-c-u-2');
is(err($r)->{code}, 'payment_intent_unexpected_state',
   'confirm a succeeded intent: payment_intent_unexpected_state');
starts(err($r)->{message}, 'You cannot confirm this PaymentIntent because '
       . 'it has a status of succeeded.', 'unexpected state: message');
is(err($r)->{payment_intent}{status}, 'succeeded', 'the intent attached');
$r = update($u, [ amount => 999, payment_method => pm('tok_visa') ]);
is(err($r)->{code}, 'payment_intent_unexpected_state',
   'update a succeeded intent: refused');
starts(err($r)->{message}, 'You cannot update this PaymentIntent because '
       . 'it has a status of succeeded.', 'update refused: message');
is($stripe->intent($u)->{amount}, 1300, 'update refused: nothing changed');
is(api(POST => "/v1/payment_intents/$u/cancel")->{json}{error}{code},
   'payment_intent_unexpected_state', 'cancel a succeeded intent: refused');
is(@{ $stripe->intent_charges($u) }, 1, 'still one charge');
$r = api(POST => "/v1/payment_intents/$u/confirm",
         [ 'payment_method_data[type]' => 'card',
           'payment_method_data[card][token]' => 'tok_visa' ]);
is($r->{status}, 400, 'payment_method_data[card][token]: 400');
is(err($r)->{code}, 'parameter_unknown',
   'payment_method_data[card]: not in the published API');
is(err($r)->{param}, 'payment_method_data[card]', 'param named');
my $cp = create_id();
my $pmc = pm('tok_visa');
$r = api(POST => "/v1/payment_intents/$cp/confirm",
         [ payment_method => $pmc ]);
is($r->{json}{status}, 'succeeded', 'confirm with payment_method: charged');
is($stripe->intent_charges($cp)->[0]{payment_method}, $pmc, 'with payment_method: it');

# Declines: the error names the declined PaymentMethod; then another card.
for my $d (grep { defined $_->{token} }
           @{ StripeMock::tokens()->{decline_tokens} }) {
    my $id = create_id();
    my ($res, $dpm) = pay($id, $d->{token}, 2000, key => "k-$d->{token}");
    is($res->{status}, 402, "$d->{token}: 402");
    my $e = err($res);
    is($e->{type}, $d->{type}, "$d->{token}: $d->{type}");
    is($e->{code}, $d->{code}, "$d->{token}: $d->{code}");
    is($e->{decline_code}, $d->{decline_code},
       "$d->{token}: decline_code " . ($d->{decline_code} // 'none'));
    is($e->{message}, $d->{message}, "$d->{token}: message");
    is($e->{payment_method}{id}, $dpm, "$d->{token}: error.payment_method");
    is($e->{payment_intent}{last_payment_error}{payment_method}{id}, $dpm,
       "$d->{token}: last_payment_error.payment_method");
    is($e->{payment_intent}{status}, 'requires_payment_method',
       "$d->{token}: requires_payment_method");
    is($e->{payment_intent}{payment_method}, undef,
       "$d->{token}: the card detached");
    is(@{ $stripe->intent_charges($id) }, 0, "$d->{token}: no charge");
    $res = confirm($id, key => "k-$d->{token}");
    is($res->{headers}{'idempotent-replayed'}, 'true',
       "$d->{token}: the 402 was stored");
    ($res) = pay($id, 'tok_mastercard', 2100);
    is($res->{json}{status}, 'succeeded', "$d->{token}, then: succeeded");
    is($res->{json}{last_payment_error}, undef,
       "$d->{token}, then: last_payment_error cleared");
    is_deeply([ map { $_->{amount} } @{ $stripe->intent_charges($id) } ], [2100],
              "$d->{token}, then: one charge, the new amount");
}

# 3-D Secure 2 (4000000000003220).
my $s = create_id();
my ($res3, $pm3) = pay($s, 'tok_threeDSecure2Required', 1000,
                       error_on_requires_action => 1);
is($res3->{status}, 402, '3DS, error_on_requires_action: 402');
is(err($res3)->{code}, 'authentication_required', '3DS: code');
is(err($res3)->{payment_method}{id}, $pm3, '3DS: names the card');
is(err($res3)->{payment_intent}{status}, 'requires_payment_method',
   '3DS: back to requires_payment_method');
($res3) = pay($s, 'tok_threeDSecure2Required', 1000);
is($res3->{json}{status}, 'requires_action', '3DS without the flag');
is(ref $res3->{json}{next_action}, 'HASH', '3DS: next_action');
is(@{ $stripe->intent_charges($s) }, 0, '3DS: nothing charged');
($res3) = pay($s, 'tok_visa', 1000);
is($res3->{json}{status}, 'succeeded', '3DS, then another card: succeeded');
is($res3->{json}{next_action}, undef, '3DS, then: next_action cleared');

# Cancel.
my $cc = create_id();
$r = api(POST => "/v1/payment_intents/$cc/cancel",
         [ cancellation_reason => 'abandoned' ], key => 'k-cancel');
is($r->{status}, 200, 'cancel: 200');
is($r->{json}{status}, 'canceled', 'cancel: canceled');
is($r->{json}{cancellation_reason}, 'abandoned', 'cancel: the reason');
ok($r->{json}{canceled_at}, 'cancel: canceled_at');
is(err(confirm($cc))->{code}, 'payment_intent_unexpected_state',
   'confirm a canceled intent: refused');
is(err(update($cc, [ amount => 5 ]))->{code},
   'payment_intent_unexpected_state', 'update a canceled intent: refused');
$r = api(POST => "/v1/payment_intents/$cc/cancel",
         [ cancellation_reason => 'bored' ]);
is($stripe->violations->[-1]{rule}, 'enum', 'cancellation_reason: enum');

# Idempotency: other parameters, another endpoint, a stale replay, length.
my $cp1 = create_params(invoice => 'I-1');
$r = api(POST => '/v1/payment_intents', $cp1, key => 'k-I-1');
my $created = $r->{content};
my $i1 = $r->{json}{id};
$r = api(POST => '/v1/payment_intents', create_params(invoice => 'I-2'),
         key => 'k-I-1');
is($r->{status}, 400, 'same key, other params: 400');
is(err($r)->{type}, 'idempotency_error', 'other params: idempotency_error');
starts(err($r)->{message}, 'Keys for idempotent requests can only be used '
       . 'with the same parameters they were first used with.',
       'other params: message');
$r = confirm($i1, key => 'k-I-1');
is(err($r)->{type}, 'idempotency_error', 'key reused on confirm: error');
like(err($r)->{message}, qr/same endpoint/, 'key reused: the endpoint');
pay($i1, 'tok_visa', 1000);
$r = api(POST => '/v1/payment_intents', $cp1, key => 'k-I-1');
is($r->{headers}{'idempotent-replayed'}, 'true', 'create: replayed');
is($r->{content}, $created, 'create replayed: the body as at creation');
is($r->{json}{status}, 'requires_payment_method', 'create replay: stale');
$r = api(POST => '/v1/payment_intents', $cp1, key => 'x' x 256);
is($r->{status}, 400, 'key of 256 characters: 400');
is($stripe->violations->[-1]{rule}, 'idempotency-key', 'recorded');
my $vg = violations();
$r = api(GET => "/v1/payment_intents/$i1", [], key => 'k-get');
is($r->{status}, 200, 'a key on a GET: answered');
is(violations(), $vg + 1, 'a key on a GET: recorded (it does nothing)');

# Faults of create. =N: the next N, then not.
$stripe->mode('create-500=1');
$cp = create_params(invoice => 'C500');
$before = scalar keys %{ $stripe->intents };
$r = api(POST => '/v1/payment_intents', $cp, key => 'k-c500');
is($r->{status}, 500, 'create-500: 500');
is(err($r)->{type}, 'api_error', 'create-500: api_error');
is(scalar keys %{ $stripe->intents }, $before, 'create-500: nothing created');
$r = api(POST => '/v1/payment_intents', $cp, key => 'k-c500');
is($r->{status}, 500, 'create-500: the key replays 500');
is($r->{headers}{'idempotent-replayed'}, 'true', 'create-500: replayed');
$r = api(POST => '/v1/payment_intents', $cp, key => 'k-c500-2');
is($r->{status}, 200, 'create-500=1: the next create is made');

$stripe->mode('create-then-500');
$before = scalar keys %{ $stripe->intents };
$r = api(POST => '/v1/payment_intents', $cp, key => 'k-ct500');
is($r->{status}, 500, 'create-then-500: 500');
is(scalar keys %{ $stripe->intents }, $before + 1,
   'create-then-500: the PaymentIntent exists');
$stripe->mode('normal');
$r = api(POST => '/v1/payment_intents', $cp, key => 'k-ct500');
is($r->{status}, 500, 'create-then-500: the key replays 500');
is($r->{headers}{'idempotent-replayed'}, 'true',
   'create-then-500: Idempotent-Replayed');

for my $w ('create-fresh-500', 'create-503') {
    $stripe->mode($w);
    $before = scalar keys %{ $stripe->intents };
    $r = api(POST => '/v1/payment_intents', $cp, key => "k-$w");
    is($r->{status}, $w =~ /503/ ? 503 : 500, "$w: the status");
    ok(!$r->{headers}{'idempotent-replayed'}, "$w: not a replay");
    is(scalar keys %{ $stripe->intents }, $before, "$w: nothing created");
    $stripe->mode('normal');
    $r = api(POST => '/v1/payment_intents', $cp, key => "k-$w");
    is($r->{status}, 200, "$w: the same key then runs");
    ok(!$r->{headers}{'idempotent-replayed'}, "$w: nothing was stored");
}

for my $w (qw(create-then-hang create-then-garbage create-then-fresh-500)) {
    $stripe->mode($w);
    $before = scalar keys %{ $stripe->intents };
    $r = api(POST => '/v1/payment_intents', $cp, key => "k-$w",
             timeout => 2);
    if ($w =~ /hang/) {
        is($r->{status}, 599, "$w: no answer");
    } elsif ($w =~ /garbage/) {
        is($r->{status}, 200, "$w: 200");
        ok(!defined json_decode($r->{content}), "$w: a cut body");
    } else {
        is($r->{status}, 500, "$w: 500");
        ok(!$r->{headers}{'idempotent-replayed'}, "$w: not a replay");
    }
    is(scalar keys %{ $stripe->intents }, $before + 1, "$w: created");
    $stripe->mode('normal');
    $r = api(POST => '/v1/payment_intents', $cp, key => "k-$w");
    is($r->{status}, 200, "$w: the key replays 200");
    is($r->{headers}{'idempotent-replayed'}, 'true', "$w: replayed");
    ok($stripe->intent($r->{json}{id}), "$w: the PaymentIntent made");
}

# Faults of update and of PaymentMethods.
my $uf = create_id();
my $pmf = pm('tok_visa');
$stripe->mode('update-503');
$r = update($uf, [ amount => 700, payment_method => $pmf ], key => 'k-uf');
is($r->{status}, 503, 'update-503: 503');
is($stripe->intent($uf)->{amount}, 1000, 'update-503: nothing changed');
$stripe->mode('update-then-hang');
$r = update($uf, [ amount => 700, payment_method => $pmf ], key => 'k-uf',
            timeout => 2);
is($r->{status}, 599, 'update-then-hang: no answer');
is($stripe->intent($uf)->{amount}, 700, 'update-then-hang: applied');
$stripe->mode('update-then-garbage');
$r = update($uf, [ amount => 800 ], key => 'k-uf2');
ok(!defined json_decode($r->{content}), 'update-then-garbage: cut');
is($stripe->intent($uf)->{amount}, 800, 'update-then-garbage: applied');
$stripe->mode('normal');
$r = update($uf, [ amount => 700, payment_method => $pmf ], key => 'k-uf');
is($r->{headers}{'idempotent-replayed'}, 'true', 'update: the key replays');
is($r->{json}{amount}, 700, 'update replay: the stored answer');
$stripe->mode('pm-create-then-hang');
my $ptok = $stripe->token('tok_visa');
$r = api(POST => '/v1/payment_methods',
         [ type => 'card', 'card[token]' => $ptok ], key => 'k-pmh',
         timeout => 2);
is($r->{status}, 599, 'pm-create-then-hang: no answer');
$stripe->mode('normal');
$r = api(POST => '/v1/payment_methods',
         [ type => 'card', 'card[token]' => $ptok ], key => 'k-pmh');
is($r->{headers}{'idempotent-replayed'}, 'true',
   'pm-create-then-hang: the key replays the PaymentMethod');
like($r->{json}{id}, qr/^pm_/, 'pm-create-then-hang: a pm_');

# Faults of confirm: 500 (legacy word), hang, charge-then-*.
$stripe->mode('500');
my $e5 = create_id();
update($e5, [ payment_method => pm('tok_visa') ]);
$r = confirm($e5, key => 'k-500');
is($r->{status}, 500, 'mode 500: 500');
is_deeply($r->{json}, { error => { type => 'api_error',
    message => 'An unknown error occurred.' } }, 'mode 500: api_error');
$stripe->mode('normal');
$r = confirm($e5, key => 'k-500');
is($r->{status}, 500, 'mode 500: the key replays 500');
is(@{ $stripe->intent_charges($e5) }, 0, 'mode 500: nothing charged');
is(confirm($e5, key => 'k-500-new')->{json}{status}, 'succeeded',
   'mode 500, another key: charged');

$stripe->mode('hang');
my $h = create_id();
update($h, [ payment_method => pm('tok_visa') ]);
$r = confirm($h, key => 'k-hang', timeout => 2);
is($r->{status}, 599, 'mode hang: no answer');
$stripe->mode('normal');
$r = confirm($h, key => 'k-hang');
is($r->{status}, 409, 'key still in flight: 409');
is(err($r)->{type}, 'idempotency_error', '409: idempotency_error');
is(err($r)->{code}, 'idempotency_key_in_use', '409: idempotency_key_in_use');
is(@{ $stripe->intent_charges($h) }, 0, 'mode hang: nothing charged');

for my $w (qw(charge-then-500 charge-then-hang charge-then-garbage
              confirm-then-fresh-500)) {
    $stripe->mode($w);
    my $id = create_id();
    update($id, [ payment_method => pm('tok_visa') ]);
    $r = confirm($id, key => "k-$w", timeout => 2);
    my %want = ('charge-then-500' => 500, 'charge-then-hang' => 599,
                'charge-then-garbage' => 200, 'confirm-then-fresh-500' => 500);
    is($r->{status}, $want{$w}, "$w: $want{$w}");
    is(@{ $stripe->intent_charges($id) }, 1, "$w: charged");
    $stripe->mode('normal');
    is(readback($id)->{json}{status}, 'succeeded', "$w: read back says so");
    $r = confirm($id, key => "k-$w");
    is($r->{status}, $w eq 'charge-then-500' ? 500 : 200,
       "$w: the key replays what was stored");
    is($r->{headers}{'idempotent-replayed'}, 'true', "$w: replayed");
    is(@{ $stripe->intent_charges($id) }, 1, "$w: one charge");
}
$stripe->mode('charge-then-500');
my $dd = create_id();
update($dd, [ payment_method => pm('tok_chargeDeclined') ]);
is(confirm($dd)->{status}, 402, 'charge-then-500, a decline: the 402');
$stripe->mode('confirm-then-hang');
$r = confirm($dd, timeout => 2);
is($r->{status}, 599, 'confirm-then-hang: no answer, whatever the outcome');
$stripe->mode('charge-then-huge');
my $hg = create_id();
update($hg, [ payment_method => pm('tok_visa') ]);
$r = confirm($hg);
ok(length $r->{content} > 1536 * 1024, 'charge-then-huge: 1.5 MB');
$stripe->mode('normal');

# The lock: slow holds it 1 s; a concurrent confirm or update meets 429
# lock_timeout, which is not stored for the key.
$stripe->mode('slow');
my $c = create_id();
update($c, [ payment_method => pm('tok_visa') ]);
my @res = $t->at_once(map { my $i = $_;
    sub { confirm($c, key => "k-slow-$i") } } 1, 2);
is_deeply([ sort map { $_->{status} } @res ], [ 200, 429 ],
          'slow: one 200, one 429');
my ($locked) = grep { $_->{status} == 429 } @res;
is($locked->{json}{error}{code}, 'lock_timeout', '429: lock_timeout');
is($locked->{json}{error}{type}, 'invalid_request_error', '429: type');
is(@{ $stripe->intent_charges($c) }, 1, 'slow: one charge');
my $lu = create_id();
update($lu, [ payment_method => pm('tok_visa') ]);
my $job = $t->in_background(sub { confirm($lu) });
ok(wait_for(sub { $stripe->locked($lu) }, 5, 0.01),
   'locked(): the confirm holds the lock');
$r = update($lu, [ amount => 4242 ], key => 'k-locked-update');
diag(explain($r->{json})) if $r->{status} != 429;
is($r->{status}, 429, 'an update while a confirm holds the lock: 429');
is(err($r)->{code}, 'lock_timeout', 'update: lock_timeout');
$t->answers($job);
$stripe->mode('normal');
is($stripe->intent($lu)->{amount}, 1000, 'the locked update changed nothing');
$r = update($lu, [ amount => 4242 ], key => 'k-locked-update');
is(err($r)->{code}, 'payment_intent_unexpected_state',
   '429 not stored: the retry runs (and meets succeeded)');

# pause=confirm: an update lands between another payer's update and
# confirm; the charge is the pair set last.
my $il = create_id(invoice => 'INTERLEAVE');
my $pa = pm('tok_visa');
my $pb = pm('tok_mastercard');
update($il, [ amount => 1000, payment_method => $pa ]);
$stripe->mode('pause=confirm');
$job = $t->in_background(sub { confirm($il, key => 'k-a') });
ok($stripe->wait_paused(1, 5), 'pause=confirm: the confirm waits');
$r = update($il, [ amount => 1300, payment_method => $pb ]);
is($r->{status}, 200, 'pause: the other payer\'s update lands');
is($stripe->release, 1, 'release(): one request let go');
my ($pay_a) = $t->answers($job);
$stripe->mode('normal');
is($pay_a->{status}, 200, 'the paused confirm: 200');
is_deeply([ @{ $stripe->intent_charges($il)->[0] }{qw(amount payment_method)} ],
          [ 1300, $pb ], 'the charge: the pair set last (B\'s)');
is($pay_a->{json}{payment_method}, $pb, 'the answer names B\'s card');

$stripe->mode('delay=confirm:300');
my $dl = create_id();
update($dl, [ payment_method => pm('tok_visa') ]);
my $t0 = time;
confirm($dl);
ok(time - $t0 >= 0.3, 'delay=confirm:300: the confirm waited');
$stripe->mode('readback-500');
is(readback($dl)->{status}, 500, 'readback-500: 500');
$stripe->mode('normal');
is(readback($dl)->{status}, 200, 'normal: read back 200');

# live-keys: sk_live_ accepted, livemode objects apart from test mode.
$stripe->mode('live-keys');
$r = api(POST => '/v1/payment_intents', create_params(invoice => 'L-1'),
         auth => 'sk_live_opay', key => 'k-live');
is($r->{status}, 200, 'live-keys: a live key creates');
ok($r->{json}{livemode}, 'live-keys: livemode true');
my $live = $r->{json}{id};
is(readback($live)->{status}, 404, 'a test key does not see it');
$r = api(POST => '/v1/payment_intents', create_params(invoice => 'L-1'),
         key => 'k-live');
ok(!$r->{headers}{'idempotent-replayed'}, 'keys are per mode');
ok(!$r->{json}{livemode}, 'the test key: a test object');
$stripe->mode('normal');

# requests(), charges(), intents(), violations().
my $reqs = $stripe->requests;
my ($first) = grep { ($_->{idempotency_key} // '') eq 'k-u1' } @$reqs;
is($first->{op}, 'update', 'requests(): op');
is($first->{path}, "/v1/payment_intents/$u", 'requests(): path');
is_deeply($first->{params}, { amount => 1300, payment_method => $pmu,
    metadata => { shipping => 'priority', attempt => 'a1' } },
    'requests(): params decoded');
is($first->{form}[0][0], 'amount', 'requests(): form pairs as sent');
like($first->{headers}{authorization}, qr/^Bearer sk_test\.\.\.$/,
     'requests(): headers, the key masked');
is(scalar @$reqs, scalar @{ $t->backend_requests('stripe') },
   'requests(): every request');
is(scalar grep({ $_->{status} eq 'succeeded' } values %{ $stripe->intents }),
   scalar @{ $stripe->charges }, 'one charge per succeeded intent');
my ($pv) = grep { ($_->{param} // '') eq 'payment_method_data[card]' }
    @{ $stripe->violations };
is_deeply([ @$pv{qw(method op code rule)} ],
          [ 'POST', 'confirm', 'parameter_unknown', 'unknown' ],
          'violations(): method, op, code, rule');

# OpayTest's final check fails a test on a violation it did not expect.
my $strict = StripeMock->new($t->dir . '/strict');
$t->backend('strict', $strict->handler);
$t->request('/v1/payment_intents',
    port => $t->port('strict'), token => 'sk_test_x',
    content_type => 'application/x-www-form-urlencoded',
    body => 'amount=1000&currency=usd&source=tok_visa');
my @seen;
{
    no warnings 'redefine';
    local *OpayTest::ok = sub { push @seen, [@_]; $_[0] };
    local *OpayTest::diag = sub { push @{ $seen[-1] }, @_ };
    OpayTest::check_stripe_mocks();
}
is(scalar @seen, 1, 'check_stripe_mocks: one check (the strict mock)');
ok(!$seen[0][0], 'check_stripe_mocks: fails on the violation');
like($seen[0][2] // '', qr/Received unknown parameter: source/,
     'check_stripe_mocks: says which');
@seen = ();
{
    no warnings 'redefine';
    local *OpayTest::ok = sub { push @seen, [@_]; $_[0] };
    OpayTest::check_stripe_mocks();
}
ok($seen[0][0], 'check_stripe_mocks: each violation reported once');
$strict->expect_violations(1);

$t->stop;
done_testing;
