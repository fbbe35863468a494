# The suite's Stripe-compatible server (lib/StripeMock.pm) over real HTTP
# on loopback, no nginx: PaymentIntents create, confirm and read back as
# Stripe documents them, its idempotency rules, its lock, and each failure
# mode the other tests rely on.

use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use OpayTest qw(json_decode json_encode);
use StripeMock;

# OpayTest->new only records the nginx binary; this test never starts it.
$ENV{TEST_NGINX_BINARY} ||= '/nonexistent/nginx';
my $t = OpayTest->new;
my $stripe = StripeMock->new($t->dir . '/stripe');
my $port = $t->backend('stripe', $stripe->handler);

sub enc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# api(METHOD, PATH, [k => v, ...], %opt): opt key (Idempotency-Key),
# auth (default sk_test_opay; undef for none), type, timeout.
sub api {
    my ($method, $path, $params, %opt) = @_;
    my @p = @{ $params || [] };
    my $body = join '&', map { enc($p[2 * $_]) . '=' . enc($p[2 * $_ + 1]) }
        0 .. @p / 2 - 1;
    my %headers;
    $headers{'Idempotency-Key'} = $opt{key} if defined $opt{key};
    my $auth = exists $opt{auth} ? $opt{auth} : 'sk_test_opay';
    return $t->request($path, port => $port, method => $method,
        headers => \%headers, timeout => $opt{timeout} // 10,
        (defined $auth ? (token => $auth) : ()),
        content_type => $method eq 'POST'
            ? $opt{type} // 'application/x-www-form-urlencoded' : undef,
        ($method eq 'POST' ? (body => $body) : ()));
}

my $n = 0;
sub create_params {
    my (%o) = @_;
    my $inv = $o{invoice} // 'INV-' . ++$n;
    return [ amount => $o{amount} // 1000, currency => $o{currency} // 'usd',
             'payment_method_types[]' => 'card',
             description => "Invoice $inv", 'metadata[invoice]' => $inv,
             'metadata[request_id]' => $inv ];
}

sub create { api(POST => '/v1/payment_intents', create_params(@_)) }

sub confirm_params {
    my ($token, @more) = @_;
    return [ 'payment_method_data[type]' => 'card',
             'payment_method_data[card][token]' => $token, @more ];
}

sub confirm {
    my ($id, $token, %opt) = @_;
    my @more = $opt{error_on_requires_action}
        ? (error_on_requires_action => 'true') : ();
    return api(POST => "/v1/payment_intents/$id/confirm",
               confirm_params($token, @more), %opt);
}

sub readback { api(GET => "/v1/payment_intents/$_[0]") }

sub charges_of {
    my ($id) = @_;
    return scalar grep { $_->{payment_intent} eq $id } @{ $stripe->charges };
}

sub err { $_[0]{json}{error} // {} }

sub starts {
    my ($got, $prefix, $name) = @_;
    is(substr($got // '', 0, length $prefix), $prefix, $name);
}

# Auth, wire format, unknown paths.
my $r = api(POST => '/v1/payment_intents', create_params(), auth => undef);
is($r->{status}, 401, 'no key: 401');
is(err($r)->{message}, 'Invalid API Key provided.', 'no key: message');
$r = api(POST => '/v1/payment_intents', create_params(),
         auth => 'sk_live_opay');
is($r->{status}, 401, 'live key: 401');
$r = api(POST => '/v1/payment_intents', create_params(),
         type => 'application/json');
is($r->{status}, 400, 'JSON body: 400');
$r = api(POST => '/v1/charges', [ amount => 1000, currency => 'usd',
                                  source => 'tok_visa' ]);
is($r->{status}, 404, 'legacy /v1/charges: 404');
is(err($r)->{message}, 'Unrecognized request URL (POST: /v1/charges).',
   'unrecognized URL message');
$r = api(GET => '/v1/payment_intents');
is($r->{status}, 404, 'GET list: unrecognized');
is(scalar keys %{ $stripe->intents }, 0, 'nothing created so far');

# Create.
$r = create(invoice => 'V-1');
is($r->{status}, 200, 'create: 200');
my $pi = $r->{json};
like($pi->{id}, qr/^pi_[A-Za-z0-9]{24}$/, 'create: pi_ id');
is($pi->{object}, 'payment_intent', 'create: object');
is($pi->{status}, 'requires_payment_method', 'create: status');
is($pi->{amount}, 1000, 'create: amount');
ok(!ref $pi->{amount} && $r->{content} =~ /"amount":1000[,}]/,
   'create: amount is a JSON number');
is($pi->{currency}, 'usd', 'create: currency');
is($pi->{description}, 'Invoice V-1', 'create: description');
is_deeply($pi->{metadata}, { invoice => 'V-1', request_id => 'V-1' },
          'create: metadata');
is($pi->{latest_charge}, undef, 'create: latest_charge null');
is($pi->{last_payment_error}, undef, 'create: last_payment_error null');
ok(!$pi->{livemode}, 'create: livemode false');
is_deeply($pi->{payment_method_types}, ['card'], 'create: card only');
is_deeply($stripe->intents->{ $pi->{id} }, $pi, 'create: stored');
ok(-f $t->dir . "/stripe/pi/$pi->{id}.json", 'create: DIR/pi/ID.json');
$r = readback($pi->{id});
is($r->{status}, 200, 'read back: 200');
is_deeply($r->{json}, $pi, 'read back: the object');
is(charges_of($pi->{id}), 0, 'create moved no money');

# Validation: 400 with param, not saved for the key, nothing created.
my $before = scalar keys %{ $stripe->intents };
for my $case (
    [ 'amount 0', 'amount', [ amount => 0 ] ],
    [ 'amount -5', 'amount', [ amount => -5 ] ],
    [ 'amount 10.50', 'amount', [ amount => '10.50' ] ],
    [ 'currency USD', 'currency', [ currency => 'USD' ] ],
    [ 'currency dollars', 'currency', [ currency => 'dollars' ] ],
    [ 'no amount', 'amount', [], 'amount' ],
    [ 'sepa_debit', 'payment_method_types[]',
      [ 'payment_method_types[]' => 'sepa_debit' ] ],
    [ 'unknown param', 'source', [ source => 'tok_visa' ] ],
) {
    my ($name, $param, $over, $drop) = @$case;
    my %p = (@{ create_params(invoice => 'BAD') }, @$over);
    delete $p{$drop} if $drop;
    $r = api(POST => '/v1/payment_intents', [ %p ], key => "bad-$name");
    is($r->{status}, 400, "$name: 400");
    is(err($r)->{type}, 'invalid_request_error', "$name: type");
    is(err($r)->{param}, $param, "$name: param $param");
    $r = api(POST => '/v1/payment_intents', create_params(invoice => 'OK'),
             key => "bad-$name");
    is($r->{status}, 200, "$name: the key was not saved");
    ok(!$r->{headers}{'idempotent-replayed'}, "$name: not a replay");
    $before++;
}
is(scalar keys %{ $stripe->intents }, $before,
   'validation failures created nothing');

# Currency rules: three-decimal currencies end in 0; ISK is whole kronur.
for my $cur (qw(bhd jod kwd omr tnd)) {
    $r = create(currency => $cur, amount => 10005);
    is($r->{status}, 400, "$cur 10005: 400");
    is(err($r)->{param}, 'amount', "$cur 10005: param amount");
    like(err($r)->{message}, qr/last digit must be 0/, "$cur: message");
    $r = create(currency => $cur, amount => 10010);
    is($r->{status}, 200, "$cur 10010: 200");
}
$r = create(currency => 'isk', amount => 150);
is($r->{status}, 400, 'isk 150: 400');
is(err($r)->{code}, 'invalid_charge_amount_no_decimal_compatible',
   'isk 150: invalid_charge_amount_no_decimal_compatible');
is(err($r)->{param}, 'amount', 'isk 150: param amount');
$r = create(currency => 'isk', amount => 500);
is($r->{status}, 200, 'isk 500: 200');
$r = create(currency => 'jpy', amount => 501);
is($r->{status}, 200, 'jpy 501: 200 (zero-decimal, no rule)');
is(scalar keys %{ $stripe->intents }, $before + 7,
   'refused amounts created nothing');

# Confirm: success, one charge; again: payment_intent_unexpected_state.
$r = confirm($pi->{id}, 'tok_visa', key => 'k-V-1');
is($r->{status}, 200, 'confirm tok_visa: 200');
my $ok = $r->{json};
is($ok->{status}, 'succeeded', 'confirm: succeeded');
like($ok->{latest_charge}, qr/^ch_[A-Za-z0-9]{24}$/, 'confirm: latest_charge');
like($ok->{payment_method}, qr/^pm_\w+$/, 'confirm: payment_method');
is($ok->{last_payment_error}, undef, 'confirm: no last_payment_error');
is(charges_of($pi->{id}), 1, 'confirm: one charge');
my ($charge) = grep { $_->{payment_intent} eq $pi->{id} }
    @{ $stripe->charges };
is_deeply($charge, { id => $ok->{latest_charge}, payment_intent => $pi->{id},
    amount => 1000, currency => 'usd', source => 'tok_visa',
    idempotency_key => 'k-V-1' }, 'charges.log line');
is(readback($pi->{id})->{json}{status}, 'succeeded', 'read back: succeeded');

$r = confirm($pi->{id}, 'tok_visa', key => 'k-V-1');
is($r->{status}, 200, 'same key: 200');
is($r->{headers}{'idempotent-replayed'}, 'true', 'same key: replayed');
is($r->{content}, json_encode($ok), 'same key: the same body');
is(charges_of($pi->{id}), 1, 'same key: no new charge');

$r = confirm($pi->{id}, 'tok_visa', key => 'k-V-1-again');
is($r->{status}, 400, 'confirm a succeeded intent: 400');
is(err($r)->{code}, 'payment_intent_unexpected_state',
   'payment_intent_unexpected_state');
starts(err($r)->{message}, 'You cannot confirm this PaymentIntent '
       . 'because it has a status of succeeded.', 'unexpected state: message');
is(err($r)->{payment_intent}{status}, 'succeeded',
   'unexpected state: the intent attached');
is(charges_of($pi->{id}), 1, 'still one charge');

# Idempotency: params, endpoint, stale replay of a create.
$r = confirm($pi->{id}, 'tok_mastercard', key => 'k-V-1');
is($r->{status}, 400, 'same key, other params: 400');
is(err($r)->{type}, 'idempotency_error', 'other params: idempotency_error');
starts(err($r)->{message}, 'Keys for idempotent requests can only be used '
       . 'with the same parameters they were first used with.',
       'other params: message');
my $cp = create_params(invoice => 'I-1');
$r = api(POST => '/v1/payment_intents', $cp, key => 'k-I-1');
is($r->{status}, 200, 'create with a key');
my $created = $r->{content};
my $i1 = $r->{json}{id};
$r = api(POST => "/v1/payment_intents/$i1/confirm",
         confirm_params('tok_visa'), key => 'k-I-1');
is(err($r)->{type}, 'idempotency_error', 'key reused on confirm: error');
like(err($r)->{message}, qr/same endpoint/, 'key reused: the endpoint');
is(charges_of($i1), 0, 'key reused: nothing charged');
is(confirm($i1, 'tok_visa')->{status}, 200, 'confirm without a key');
$r = api(POST => '/v1/payment_intents', $cp, key => 'k-I-1');
is($r->{status}, 200, 'create replayed');
is($r->{headers}{'idempotent-replayed'}, 'true', 'create: replayed header');
is($r->{content}, $created, 'create replayed: the body as at creation');
is($r->{json}{status}, 'requires_payment_method', 'create replay: stale');
is(scalar grep({ $_->{metadata}{invoice} eq 'I-1' }
               values %{ $stripe->intents }), 1, 'create replay: one intent');
$r = api(POST => '/v1/payment_intents', create_params(invoice => 'I-2'),
         key => 'k-I-1');
is(err($r)->{type}, 'idempotency_error', 'create, other params: error');
$r = api(POST => '/v1/payment_intents', $cp, key => 'x' x 256);
is($r->{status}, 400, 'key of 256 characters: 400');

# Declines, then another card: exactly one charge.
my $tokens = StripeMock::tokens();
for my $d (grep { defined $_->{token} } @{ $tokens->{decline_tokens} }) {
    my $id = create()->{json}{id};
    $r = confirm($id, $d->{token}, key => "k-$d->{token}");
    is($r->{status}, 402, "$d->{token}: 402");
    my $e = err($r);
    is($e->{type}, $d->{type}, "$d->{token}: $d->{type}");
    is($e->{code}, $d->{code}, "$d->{token}: $d->{code}");
    is($e->{decline_code}, $d->{decline_code},
       "$d->{token}: decline_code " . ($d->{decline_code} // 'none'));
    is($e->{message}, $d->{message}, "$d->{token}: message");
    is($e->{payment_intent}{id}, $id, "$d->{token}: payment_intent");
    is($e->{payment_intent}{status}, 'requires_payment_method',
       "$d->{token}: requires_payment_method");
    is($e->{payment_intent}{last_payment_error}{code}, $d->{code},
       "$d->{token}: last_payment_error");
    is(charges_of($id), 0, "$d->{token}: no charge");
    $r = confirm($id, $d->{token}, key => "k-$d->{token}");
    is($r->{status}, 402, "$d->{token}: replayed 402");
    is($r->{headers}{'idempotent-replayed'}, 'true',
       "$d->{token}: the 402 was saved");
    $r = confirm($id, 'tok_mastercard', key => "k2-$d->{token}");
    is($r->{status}, 200, "$d->{token}, then tok_mastercard: 200");
    is($r->{json}{status}, 'succeeded', "$d->{token}, then: succeeded");
    is($r->{json}{last_payment_error}, undef,
       "$d->{token}, then: last_payment_error cleared");
    is(charges_of($id), 1, "$d->{token}, then: exactly one charge");
}

# Unknown token, unknown intent.
my $u = create()->{json}{id};
$r = confirm($u, 'tok_nope', key => 'k-nope');
is($r->{status}, 400, 'unknown token: 400');
is(err($r)->{code}, 'resource_missing', 'unknown token: resource_missing');
is(err($r)->{param}, 'payment_method_data[card][token]',
   'unknown token: param');
is(err($r)->{message}, "No such token: 'tok_nope'", 'unknown token: message');
is(readback($u)->{json}{status}, 'requires_payment_method',
   'unknown token: intent unchanged');
$r = confirm($u, 'tok_visa', key => 'k-nope');
is($r->{status}, 200, 'unknown token: not saved for the key');
$r = confirm('pi_doesnotexist0000000000', 'tok_visa');
is($r->{status}, 404, 'unknown intent: 404');
is(err($r)->{code}, 'resource_missing', 'unknown intent: resource_missing');
$r = readback('pi_doesnotexist0000000000');
is($r->{status}, 404, 'read back unknown: 404');
is(err($r)->{code}, 'resource_missing', 'read back unknown: code');
$r = api(POST => "/v1/payment_intents/$u/confirm",
         [ 'payment_method_data[card][token]' => 'tok_visa' ]);
is($r->{status}, 400, 'confirm without payment_method_data[type]: 400');

# 3-D Secure 2 (4000000000003220).
my $s = create()->{json}{id};
$r = confirm($s, 'tok_threeDSecure2Required', error_on_requires_action => 1);
is($r->{status}, 402, '3DS, error_on_requires_action: 402');
is(err($r)->{type}, 'card_error', '3DS: card_error');
is(err($r)->{code}, 'authentication_required', '3DS: code');
is(err($r)->{decline_code}, 'authentication_required', '3DS: decline_code');
is(err($r)->{message}, 'Your card was declined. This transaction requires '
   . 'authentication.', '3DS: message');
is(err($r)->{payment_intent}{status}, 'requires_payment_method',
   '3DS: back to requires_payment_method');
is(charges_of($s), 0, '3DS refused: nothing charged');
$r = confirm($s, 'tok_threeDSecure2Required');
is($r->{status}, 200, '3DS without the flag: 200');
is($r->{json}{status}, 'requires_action', '3DS: requires_action');
is(ref $r->{json}{next_action}, 'HASH', '3DS: next_action');
is(charges_of($s), 0, '3DS requires_action: nothing charged');
$r = confirm($s, 'tok_visa');
is($r->{json}{status}, 'succeeded', '3DS, then tok_visa: succeeded');
is($r->{json}{next_action}, undef, '3DS, then: next_action cleared');
is(charges_of($s), 1, '3DS, then: one charge');

# Mode 500: saved for the key, still 500 once the mode is normal.
$stripe->mode('500');
my $e = create()->{json}{id};
$r = confirm($e, 'tok_visa', key => 'k-500');
is($r->{status}, 500, 'mode 500: 500');
is_deeply($r->{json}, { error => { type => 'api_error',
    message => 'An unknown error occurred.' } }, 'mode 500: api_error');
my $body500 = $r->{content};
$stripe->mode('normal');
$r = confirm($e, 'tok_visa', key => 'k-500');
is($r->{status}, 500, 'mode 500, replay: still 500');
is($r->{headers}{'idempotent-replayed'}, 'true', 'mode 500: replayed');
is($r->{content}, $body500, 'mode 500: the same body');
is(charges_of($e), 0, 'mode 500: nothing charged');
is(readback($e)->{json}{status}, 'requires_payment_method',
   'mode 500: intent unchanged');
is(confirm($e, 'tok_visa', key => 'k-500-new')->{status}, 200,
   'mode 500, new key: charged');
is(charges_of($e), 1, 'mode 500, new key: one charge');

# Mode hang: no answer, nothing charged, the key in flight (409).
$stripe->mode('hang');
my $h = create()->{json}{id};
my $t0 = time;
$r = confirm($h, 'tok_visa', key => 'k-hang', timeout => 2);
is($r->{status}, 599, 'mode hang: no answer');
ok(time - $t0 >= 1.5, 'mode hang: waited for the timeout');
$stripe->mode('normal');
$r = confirm($h, 'tok_visa', key => 'k-hang');
is($r->{status}, 409, 'key still in flight: 409');
is(err($r)->{type}, 'idempotency_error', '409: idempotency_error');
is(err($r)->{code}, 'idempotency_key_in_use', '409: idempotency_key_in_use');
is(charges_of($h), 0, 'mode hang: nothing charged');
$r = confirm($h, 'tok_visa', key => 'k-hang-2');
is($r->{status}, 200, 'mode hang released the lock');
is(charges_of($h), 1, 'mode hang, then: one charge');

# Mode slow: two concurrent confirms, one gets lock_timeout.
$stripe->mode('slow');
my $c = create()->{json}{id};
my @kids;
for my $i (1, 2) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $res = confirm($c, 'tok_visa', key => "k-slow-$i");
        $t->write_file("slow-$i.json", json_encode({ status => $res->{status},
            body => json_decode($res->{content}) }));
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid $_, 0 for @kids;
$stripe->mode('normal');
my @res = map { json_decode($t->read_file("slow-$_.json")) } 1, 2;
is_deeply([ sort map { $_->{status} } @res ], [ 200, 429 ],
          'slow: one 200, one 429');
my ($locked) = grep { $_->{status} == 429 } @res;
is($locked->{body}{error}{code}, 'lock_timeout', '429: lock_timeout');
is($locked->{body}{error}{type}, 'invalid_request_error',
   '429: invalid_request_error');
starts($locked->{body}{error}{message}, 'This object cannot be accessed '
       . 'right now because another API request or Stripe process is '
       . 'currently accessing it.', '429: message');
is(charges_of($c), 1, 'slow: one charge');
my ($slow_key) = map { "k-slow-$_" } grep { $res[$_ - 1]{status} == 429 }
    1, 2;
$r = confirm($c, 'tok_visa', key => $slow_key);
is($r->{status}, 400, '429 not saved: the retry runs (and meets succeeded)');
is(err($r)->{code}, 'payment_intent_unexpected_state',
   '429 retry: payment_intent_unexpected_state');

# charge-then-500: charged, a 500 saved for the key.
$stripe->mode('charge-then-500');
my $c5 = create()->{json}{id};
$r = confirm($c5, 'tok_visa', key => 'k-c5');
is($r->{status}, 500, 'charge-then-500: 500');
is(err($r)->{type}, 'api_error', 'charge-then-500: api_error');
is(charges_of($c5), 1, 'charge-then-500: charged');
$stripe->mode('normal');
is(readback($c5)->{json}{status}, 'succeeded',
   'charge-then-500: read back says succeeded');
$r = confirm($c5, 'tok_visa', key => 'k-c5');
is($r->{status}, 500, 'charge-then-500, replay: 500');
is($r->{headers}{'idempotent-replayed'}, 'true',
   'charge-then-500: the 500 was saved');
is(charges_of($c5), 1, 'charge-then-500, replay: one charge');

# charge-then-hang: charged, no answer; the outcome is saved.
$stripe->mode('charge-then-hang');
my $ch = create()->{json}{id};
$r = confirm($ch, 'tok_visa', key => 'k-ch', timeout => 2);
is($r->{status}, 599, 'charge-then-hang: no answer');
is(charges_of($ch), 1, 'charge-then-hang: charged');
$stripe->mode('normal');
$r = confirm($ch, 'tok_visa', key => 'k-ch');
is($r->{status}, 200, 'charge-then-hang, replay: 200');
is($r->{json}{status}, 'succeeded', 'charge-then-hang, replay: succeeded');
is(charges_of($ch), 1, 'charge-then-hang, replay: one charge');

# charge-then-garbage: charged, a 200 that is not JSON.
$stripe->mode('charge-then-garbage');
my $cg = create()->{json}{id};
$r = confirm($cg, 'tok_visa', key => 'k-cg');
is($r->{status}, 200, 'charge-then-garbage: 200');
ok(!defined json_decode($r->{content}), 'charge-then-garbage: not JSON');
is(charges_of($cg), 1, 'charge-then-garbage: charged');
$stripe->mode('normal');
$r = confirm($cg, 'tok_visa', key => 'k-cg');
is($r->{json}{status}, 'succeeded', 'charge-then-garbage, replay: JSON');
is(charges_of($cg), 1, 'charge-then-garbage, replay: one charge');

# A charge-then-* mode moves nothing for a decline.
$stripe->mode('charge-then-500');
$r = confirm(create()->{json}{id}, 'tok_chargeDeclined');
is($r->{status}, 402, 'charge-then-500, decline: the 402');
$stripe->mode('normal');

# create-500, readback-500, several words at once.
$stripe->mode('create-500');
$before = scalar keys %{ $stripe->intents };
$cp = create_params(invoice => 'C500');
$r = api(POST => '/v1/payment_intents', $cp, key => 'k-create-500');
is($r->{status}, 500, 'create-500: 500');
is(err($r)->{type}, 'api_error', 'create-500: api_error');
is(scalar keys %{ $stripe->intents }, $before, 'create-500: nothing created');
is(confirm($cg, 'tok_visa')->{status}, 400,
   'create-500 leaves confirm alone');
$stripe->mode('normal');
$r = api(POST => '/v1/payment_intents', $cp, key => 'k-create-500');
is($r->{status}, 500, 'create-500, replay: the saved 500');
$r = api(POST => '/v1/payment_intents', $cp, key => 'k-create-500-2');
is($r->{status}, 200, 'create-500, new key: created');

$stripe->mode('readback-500 create-500');
is($stripe->mode, 'readback-500 create-500', 'mode: several words');
$r = readback($cg);
is($r->{status}, 500, 'readback-500: 500');
is(err($r)->{type}, 'api_error', 'readback-500: api_error');
is(create()->{status}, 500, 'both words apply');
$stripe->mode('normal');
is(readback($cg)->{status}, 200, 'normal: read back 200');

# requests.log, intents().
my $reqs = $stripe->requests;
my ($first) = grep { ($_->{idempotency_key} // '') eq 'k-V-1' } @$reqs;
is($first->{method}, 'POST', 'requests(): method');
is($first->{path}, "/v1/payment_intents/$pi->{id}/confirm",
   'requests(): path');
is_deeply($first->{params}, { @{ confirm_params('tok_visa') } },
          'requests(): params');
is($reqs->[0]{path}, '/v1/payment_intents', 'requests(): from the first');
is(scalar @$reqs, scalar @{ $t->backend_requests('stripe') },
   'requests(): every request');
is(ref $stripe->intents, 'HASH', 'intents(): by id');
is(scalar grep({ $_->{status} eq 'succeeded' } values %{ $stripe->intents }),
   scalar @{ $stripe->charges }, 'one charge per succeeded intent');

$t->stop;
done_testing;
