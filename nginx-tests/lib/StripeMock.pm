package StripeMock;

# A Stripe-compatible PaymentIntents server for the tests: the only
# stand-in in the suite, since Stripe itself is unreachable here. It speaks
# Stripe's wire format (bearer secret key, form-encoded POSTs, JSON
# objects, the error envelope) for
#   POST /v1/payment_intents               create
#   POST /v1/payment_intents/ID/confirm    confirm with a card token
#   GET  /v1/payment_intents/ID            read back
# answers every test token of testdata/stripe_test_tokens.json as Stripe
# does (and tok_threeDSecure2Required, the 3-D Secure 2 card), and keeps
# Stripe's documented rules: a PaymentIntent is confirmed under a lock
# (lock_timeout, 429), cannot be confirmed once succeeded, stays
# confirmable after a decline; three-decimal currencies end in 0, ISK and
# UGX are multiples of 100; Idempotency-Key saves the first response once the
# endpoint executes (5xx included) and replays it, other parameters or
# another endpoint are an idempotency_error, a key still running is a 409;
# nothing is saved for a validation failure or a 429.
#
# State lives in files under DIR (the backend forks per connection):
#   mode          space-separated words, see handle_confirm; normal
#   charges.log   one JSON line per charge that moved money
#   requests.log  one JSON line per request received
#   pi/ID.json    each PaymentIntent; pi/ID.lock its lock
#   idem/         one record per Idempotency-Key; idem.lock guards them

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use JSON::PP;
use Time::HiRes qw(sleep time);

my $JSON = JSON::PP->new->canonical;

use constant THREE_DS => 'tok_threeDSecure2Required';   # 4000000000003220
use constant LOCK_WAIT => 0.8;    # seconds a confirm waits for the lock
my %THREE_DECIMAL = map { $_ => 1 } qw(bhd jod kwd omr tnd);
my %CONFIRMABLE = map { $_ => 1 }
    qw(requires_payment_method requires_confirmation requires_action);

sub tokens {
    my $file = dirname(__FILE__) . '/../../testdata/stripe_test_tokens.json';
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    return $JSON->decode(<$fh>);
}

sub new {
    my ($class, $dir) = @_;
    mkdir $dir;
    mkdir "$dir/$_" for qw(idem pi);
    my $self = bless { dir => $dir, tokens => tokens() }, $class;
    $self->mode('normal');
    return $self;
}

# The failure mode: get, or set (one word or several, space-separated).
sub mode {
    my ($self, $mode) = @_;
    my $file = "$self->{dir}/mode";
    if (defined $mode) {
        open my $fh, '>', "$file.tmp" or die $!;
        print $fh $mode;
        close $fh;
        rename "$file.tmp", $file or die $!;
        return $mode;
    }
    open my $fh, '<', $file or return 'normal';
    return scalar(<$fh>) // 'normal';
}

sub modes {
    my ($self) = @_;
    return map { $_ => 1 } split ' ', $self->mode;
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
# source, idempotency_key }.
sub charges { $_[0]->read_log('charges.log') }

# Every request received: { method, path, idempotency_key, params }.
sub requests { $_[0]->read_log('requests.log') }

# One PaymentIntent by id (undef if none), as stored now.
sub intent {
    my ($self, $id) = @_;
    return undef if ($id // '') !~ /^pi_[A-Za-z0-9]+$/;
    open my $fh, '<', "$self->{dir}/pi/$id.json" or return undef;
    local $/;
    return $JSON->decode(scalar <$fh>);
}

# All PaymentIntents: { id => object }.
sub intents {
    my ($self) = @_;
    my %all;
    for my $file (glob "$self->{dir}/pi/pi_*.json") {
        my ($id) = $file =~ m{/(pi_[A-Za-z0-9]+)\.json$} or next;
        my $pi = $self->intent($id) or next;
        $all{$id} = $pi;
    }
    return \%all;
}

sub save {
    my ($file, $data) = @_;
    open my $fh, '>', "$file.tmp.$$" or die $!;
    print $fh $JSON->encode($data);
    close $fh;
    rename "$file.tmp.$$", $file or die $!;
}

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

sub form {
    my ($body) = @_;
    return { map { @$_ } form_pairs($body) };
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
    my $body = $method eq 'POST' ? $req->{body} : $query;
    my $f = form($body);
    $self->append_log('requests.log', { method => $method,
        path => $req->{path}, idempotency_key => $key, params => $f });

    my ($route, $id);
    if ($method eq 'POST' && $path eq '/v1/payment_intents') {
        $route = 'create';
    } elsif ($method eq 'POST'
             && $path =~ m{^/v1/payment_intents/([^/]+)/confirm$}) {
        ($route, $id) = ('confirm', $1);
    } elsif ($method eq 'GET' && $path =~ m{^/v1/payment_intents/([^/]+)$}) {
        ($route, $id) = ('retrieve', $1);
    } else {
        return error(404, type => 'invalid_request_error',
                     message => "Unrecognized request URL ($method: "
                                . "$path).");
    }
    return error(401, type => 'invalid_request_error',
                 message => 'Invalid API Key provided.')
        if ($req->{headers}{authorization} // '') !~ /^Bearer sk_test_\w+$/;

    my $pi = defined $id ? $self->intent($id) : undef;
    if (defined $id && !$pi) {
        return error(404, type => 'invalid_request_error',
                     code => 'resource_missing', param => 'intent',
                     message => "No such payment_intent: '$id'");
    }
    if ($route eq 'retrieve') {
        my %m = $self->modes;
        return api_error() if $m{'readback-500'};
        return response(200, $pi);
    }

    return error(400, type => 'invalid_request_error',
                 message => 'Invalid request: expected form data.')
        if ($req->{headers}{'content-type'} // '')
           !~ m{^application/x-www-form-urlencoded};
    my $invalid = $route eq 'create' ? $self->check_create($body, $f)
                                     : $self->check_confirm($f);
    return $invalid if $invalid;

    my $run = $route eq 'create'
        ? sub { $self->create($f) }
        : sub { $self->confirm($id, $f, $key) };
    return $self->idempotent($key, "$method $path", $f, $run);
}

# Parameter validation: a 400 before the endpoint executes (nothing saved
# for an Idempotency-Key), or undef.
sub invalid {
    my ($param, $message, %e) = @_;
    return error(400, type => 'invalid_request_error', param => $param,
                 message => $message, %e);
}

sub unknown_params {
    my ($f, @known) = @_;
    for my $k (sort keys %$f) {
        next if grep { $k =~ $_ } @known;
        return invalid($k, "Received unknown parameter: $k",
                       code => 'parameter_unknown');
    }
    return undef;
}

sub check_create {
    my ($self, $body, $f) = @_;
    my $bad = unknown_params($f, qr/^(amount|currency|description)$/,
        qr/^metadata\[[^\]]+\]$/, qr/^payment_method_types\[\d*\]$/,
        qr/^(statement_descriptor(_suffix)?|receipt_email)$/,
        qr/^expand\[\d*\]$/);
    return $bad if $bad;
    for my $p (qw(amount currency)) {
        return invalid($p, "Missing required param: $p.",
                       code => 'parameter_missing')
            if !defined $f->{$p} || $f->{$p} eq '';
    }
    return invalid('amount', 'Invalid positive integer',
                   code => 'parameter_invalid_integer')
        if $f->{amount} !~ /^[1-9][0-9]{0,15}$/;
    return invalid('currency', "Invalid currency: $f->{currency}. Stripe "
                   . 'currently supports these currencies in lower case.',
                   code => 'parameter_invalid_string')
        if $f->{currency} !~ /^[a-z]{3}$/;
    for my $pair (form_pairs($body)) {
        next if $pair->[0] !~ /^payment_method_types\[\d*\]$/
                || $pair->[1] eq 'card';
        return invalid($pair->[0], 'The payment method type provided: '
            . "$pair->[1] is invalid. This account supports: card.",
            code => 'payment_intent_invalid_parameter');
    }
    my $cur = uc $f->{currency};
    return invalid('amount', "Invalid amount. Currency $cur is a "
        . 'three-decimal currency: the last digit must be 0 (round to '
        . 'the nearest ten). See https://stripe.com/docs/currencies'
        . '#three-decimal for more information.',
        code => 'invalid_charge_amount')
        if $THREE_DECIMAL{ $f->{currency} } && $f->{amount} % 10;
    return invalid('amount', "Invalid amount. Currency $cur has become "
        . 'effectively zero-decimal and charged amounts must be evenly '
        . 'divisible by 100. See https://stripe.com/docs/currencies'
        . '#special-cases for more information.',
        code => 'invalid_charge_amount_no_decimal_compatible')
        if $f->{currency} =~ /^(isk|ugx)$/ && $f->{amount} % 100;
    return undef;
}

sub decline {
    my ($self, $token) = @_;
    for my $d (@{ $self->{tokens}{decline_tokens} }) {
        return $d if defined $d->{token} && $d->{token} eq $token;
    }
    return undef;
}

sub check_confirm {
    my ($self, $f) = @_;
    my $bad = unknown_params($f,
        qr/^payment_method_data\[(type|card\]\[token)\]$/,
        qr/^payment_method_data\[(billing_details|metadata)\]\[/,
        qr/^(error_on_requires_action|return_url)$/, qr/^expand\[\d*\]$/);
    return $bad if $bad;
    my $tp = 'payment_method_data[type]';
    my $kp = 'payment_method_data[card][token]';
    for my $p ($tp, $kp) {
        return invalid($p, "Missing required param: $p.",
                       code => 'parameter_missing')
            if !defined $f->{$p} || $f->{$p} eq '';
    }
    return invalid($tp, "Invalid $tp: must be card",
                   code => 'parameter_invalid_string')
        if $f->{$tp} ne 'card';
    my $flag = $f->{error_on_requires_action};
    return invalid('error_on_requires_action', 'Invalid boolean: ' . $flag,
                   code => 'parameter_invalid_boolean')
        if defined $flag && $flag !~ /^(true|false)$/;
    my $token = $f->{$kp};
    return invalid($kp, "No such token: '$token'",
                   code => 'resource_missing')
        if !$self->{tokens}{success_tokens}{$token} && !$self->decline($token)
           && $token ne THREE_DS;
    return undef;
}

# Runs the endpoint under Idempotency-Key rules. $run returns
# ($answer, $saved): the answer for this request ('hang' for none) and
# what the key replays: a response, 'none' (nothing saved: the key may be
# used again) or 'in_flight' (the request never ends).
sub idempotent {
    my ($self, $key, $endpoint, $f, $run) = @_;
    my %headers = ('Request-Id' => random_id('req_', 14));
    if (!defined $key) {
        my ($answer) = $run->();
        return with_headers($answer, %headers);
    }
    return error(400, type => 'invalid_request_error',
                 message => 'Keys for idempotent requests can only be up '
                          . 'to 255 characters long.')
        if length $key > 255 || $key eq '';
    $headers{'Idempotency-Key'} = $key;
    my $params = $JSON->encode($f);
    my $record = "$self->{dir}/idem/" . sha256_hex($key);
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

# POST /v1/payment_intents. Mode create-500: a 500, nothing created.
sub create {
    my ($self, $f) = @_;
    my %m = $self->modes;
    if ($m{'create-500'}) {
        my $res = api_error();
        return ($res, $res);
    }
    my $id = random_id('pi_', 24);
    my $pi = {
        id => $id, object => 'payment_intent',
        amount => int $f->{amount}, amount_received => 0,
        currency => $f->{currency},
        status => 'requires_payment_method',
        description => $f->{description},
        metadata => { map { /^metadata\[(.+)\]$/ ? ($1 => $f->{$_}) : () }
                      keys %$f },
        latest_charge => undef, last_payment_error => undef,
        payment_method => undef, next_action => undef,
        livemode => JSON::PP::false, payment_method_types => ['card'],
        capture_method => 'automatic', confirmation_method => 'automatic',
        client_secret => $id . random_id('_secret_', 25),
        created => int time, canceled_at => undef,
    };
    save("$self->{dir}/pi/$id.json", $pi);
    my $res = response(200, $pi);
    return ($res, $res);
}

# The per-PaymentIntent lock, non-blocking, retried for LOCK_WAIT s.
sub lock_intent {
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

sub card_pm {
    my ($token, $number) = @_;
    return { id => random_id('pm_', 24), object => 'payment_method',
             type => 'card', card => { last4 => substr($number, -4) },
             livemode => JSON::PP::false };
}

# POST /v1/payment_intents/ID/confirm. Modes:
#   slow                 sleep 1 s holding the lock, then as normal
#   hang                 no answer, nothing charged (key stays in flight)
#   500                  a 500 before charging (saved for the key)
#   charge-then-500      charge, then a 500 (the 500 is saved)
#   charge-then-hang     charge, then no answer (the outcome is saved)
#   charge-then-garbage  charge, then 200 with a cut body (outcome saved)
#   charge-then-huge     charge, then the succeeded intent padded to 1.5 MB
#                        (a metadata value; Stripe's answers can be large)
# The charge-then-* modes only act when money moved.
sub confirm {
    my ($self, $id, $f, $key) = @_;
    my $lock = $self->lock_intent($id);
    if (!$lock) {
        return (error(429, type => 'invalid_request_error',
            code => 'lock_timeout',
            message => 'This object cannot be accessed right now because '
                . 'another API request or Stripe process is currently '
                . 'accessing it. If you see this error intermittently, '
                . 'retry the request. If you see this error frequently '
                . 'and are making multiple concurrent requests to a single '
                . 'object, make your requests serially or at a lower rate. '
                . 'See https://stripe.com/docs/rate-limits for more '
                . 'details.'), 'none');
    }
    my %m = $self->modes;
    sleep 1 if $m{slow};
    if ($m{hang}) {
        close $lock;
        return ('hang', 'in_flight');
    }
    if ($m{500}) {
        close $lock;
        my $res = api_error();
        return ($res, $res);
    }
    my $pi = $self->intent($id);
    if (!$CONFIRMABLE{ $pi->{status} }) {
        close $lock;
        my $res = error(400, type => 'invalid_request_error',
            code => 'payment_intent_unexpected_state',
            message => 'You cannot confirm this PaymentIntent because it '
                . "has a status of $pi->{status}. Only a PaymentIntent "
                . 'with one of the following statuses may be confirmed: '
                . 'requires_payment_method, requires_confirmation, '
                . 'requires_action.',
            payment_intent => $pi);
        return ($res, $res);
    }

    my $token = $f->{'payment_method_data[card][token]'};
    my $charged = 0;
    my $res;
    $pi->{next_action} = undef;
    if (my $number = $self->{tokens}{success_tokens}{$token}) {
        my $ch = random_id('ch_', 24);
        my $pm = card_pm($token, $number);
        @$pi{qw(status latest_charge payment_method last_payment_error
                amount_received)}
            = ('succeeded', $ch, $pm->{id}, undef, $pi->{amount});
        save("$self->{dir}/pi/$id.json", $pi);
        $self->append_log('charges.log', { id => $ch, payment_intent => $id,
            amount => $pi->{amount}, currency => $pi->{currency},
            source => $token, idempotency_key => $key // '' });
        $charged = 1;
        $res = response(200, $pi);
    } elsif ($token eq THREE_DS) {
        my $pm = card_pm($token, '4000000000003220');
        if (($f->{error_on_requires_action} // '') eq 'true') {
            my %e = (type => 'card_error', code => 'authentication_required',
                decline_code => 'authentication_required',
                message => 'Your card was declined. This transaction '
                         . 'requires authentication.');
            @$pi{qw(status payment_method last_payment_error)}
                = ('requires_payment_method', undef,
                   { %e, payment_method => $pm });
            save("$self->{dir}/pi/$id.json", $pi);
            $res = error(402, %e, payment_intent => $pi,
                         payment_method => $pm);
        } else {
            @$pi{qw(status payment_method last_payment_error next_action)}
                = ('requires_action', $pm->{id}, undef,
                   { type => 'use_stripe_sdk', use_stripe_sdk => {
                       type => 'stripe_3ds2_fingerprint',
                       three_d_secure_2_source => random_id('src_', 24),
                       directory_server_name => 'visa' } });
            save("$self->{dir}/pi/$id.json", $pi);
            $res = response(200, $pi);
        }
    } else {
        my $d = $self->decline($token);
        my $ch = random_id('ch_', 24);     # a failed charge: no money
        my $pm = card_pm($token, $d->{card});
        my %e = (type => $d->{type}, code => $d->{code},
                 message => $d->{message}, charge => $ch,
                 map { defined $d->{$_} ? ($_ => $d->{$_}) : () }
                     qw(decline_code param doc_url));
        @$pi{qw(status latest_charge payment_method last_payment_error)}
            = ('requires_payment_method', $ch, undef,
               { %e, payment_method => $pm });
        save("$self->{dir}/pi/$id.json", $pi);
        $res = error(402, %e, payment_intent => $pi, payment_method => $pm);
    }
    close $lock;

    if ($charged && $m{'charge-then-500'}) {
        my $err = api_error();
        return ($err, $err);
    }
    return ('hang', $res) if $charged && $m{'charge-then-hang'};
    if ($charged && $m{'charge-then-garbage'}) {
        my $cut = substr $res->[2], 0, int(length($res->[2]) / 2);
        return ([ 200, { 'Content-Type' => 'application/json' }, $cut ],
                $res);
    }
    if ($charged && $m{'charge-then-huge'}) {
        my $big = $JSON->decode($res->[2]);
        $big->{metadata}{padding} = 'x' x (1536 * 1024);
        return ([ 200, { 'Content-Type' => 'application/json' },
                  $JSON->encode($big) ], $res);
    }
    return ($res, $res);
}

1;
