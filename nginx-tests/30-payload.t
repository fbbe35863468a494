# The webhook's HTTP and payload rules: method, media type, size limits,
# bodies in several buffers or a temp file, and every malformed payload.
# Nothing refused here reaches the invoice backend.

use strict;
use warnings;
use Test::More;
use OpayTest qw(loadentity_body reference_invoice json_response json_encode
                PAY_METHOD);

my $t = OpayTest->new;
my $key = $t->make_key('key-1');
$t->write_jwks('jwks.json', $key);
$t->backend('invoice', sub { json_response(200, reference_invoice()) });

$t->write_conf(<<'EOF');
    opay_merchant_id  merchant-0001;
    opay_jwks_file    %%DIR%%/jwks.json;
    opay_invoice_uri  /_invoices/$opay_ctx_invoiceId;

    server {
        listen 127.0.0.1:%%PORT_http%%;

        location = /pay {
            opay_payment_request;
        }

        location = /small {
            opay_payment_request;
            opay_max_body_size 1k;
        }

        # bodies larger than the buffer spill to a temporary file
        location = /spill {
            opay_payment_request;
            client_body_buffer_size 1k;
        }

        location /_invoices/ {
            internal;
            proxy_pass http://127.0.0.1:%%PORT_invoice%%/invoices/;
        }
    }
EOF
$t->run;

my $token = $t->token($key, claims => { aud => 'merchant-0001' });

sub refused {
    my ($name, $status, $code, %req) = @_;
    my $r = $t->request($req{path} // '/pay', token => $token, %req);
    is($r->{status}, $status, "$name: $status");
    is($r->{json}{error}{code}, $code, "$name: $code");
    ok(length $r->{json}{error}{message}, "$name: has a message");
}

sub with_data {
    my (%data) = @_;
    return { methodData => [ { supportedMethods => PAY_METHOD,
        data => { productContext => { invoiceId => '12345' },
                  event => 'loadentity', %data } } ] };
}

refused('GET', 405, 'method_not_allowed', method => 'GET', body => undef);
refused('PUT', 405, 'method_not_allowed', method => 'PUT',
        body => loadentity_body());
refused('text/plain', 415, 'unsupported_media_type',
        content_type => 'text/plain', body => json_encode(loadentity_body()));
refused('no content type', 415, 'unsupported_media_type',
        content_type => undef, headers => {}, body => '{}');
refused('malformed JSON', 400, 'malformed_json', body => '{"methodData": [');
refused('trailing garbage', 400, 'malformed_json', body => '{} x');
refused('invalid UTF-8', 400, 'malformed_json',
        body => qq({"methodData": "\xff\xfe"}));
refused('duplicate member', 400, 'malformed_json',
        body => '{"methodData": [], "methodData": []}');
refused('deep nesting', 400, 'malformed_json',
        body => ('[' x 10000) . (']' x 10000));
refused('not an object', 400, 'invalid_payload', body => '[]');
refused('no methodData', 400, 'invalid_payload', body => {});
refused('methodData not an array', 400, 'invalid_payload',
        body => { methodData => {} });
refused('wrong supportedMethods', 400, 'invalid_payload', body => {
    methodData => [ { supportedMethods => 'basic-card',
                      data => { event => 'loadentity',
                                productContext => {} } } ] });
refused('productContext not an object', 400, 'invalid_payload',
        body => with_data(productContext => 'x'));
refused('event not a string', 400, 'invalid_payload',
        body => with_data(event => 7));
refused('unknown event', 400, 'invalid_payload',
        body => with_data(event => 'paymentcomplete'));
refused('shippingaddresschange (staged)', 400, 'unsupported_event',
        body => with_data(event => 'shippingaddresschange'));
refused('shippingoptionchange (staged)', 400, 'unsupported_event',
        body => with_data(event => 'shippingoptionchange'));

my $big = json_encode({ %{ loadentity_body() }, pad => 'x' x (70 * 1024) });
refused('over 64k by Content-Length', 413, 'body_too_large', body => $big);
refused('over opay_max_body_size 1k', 413, 'body_too_large', path => '/small',
        body => { %{ loadentity_body() }, pad => 'x' x 2000 });

# Chunked: no Content-Length, so the limit applies after reading.
my @chunks = map { substr($big, $_ * 8192, 8192) } 0 .. length($big) / 8192;
refused('over 64k chunked', 413, 'body_too_large',
        body => sub { shift @chunks });

is(scalar @{ $t->backend_requests('invoice') }, 0,
   'no refused call reached the invoice backend');

my $padded = { %{ loadentity_body() }, pad => [ ('y' x 1024) x 20 ] };
my $r = $t->request('/spill', token => $token, body => $padded);
is($r->{status}, 200, '20k body spilled to a temp file: 200');
is($r->{json}{details}{id}, '12345', '20k body parsed whole');

my $text = json_encode($padded);
my @pieces = map { substr($text, $_ * 1000, 1000) } 0 .. length($text) / 1000;
$r = $t->request('/spill', token => $token, body => sub { shift @pieces });
is($r->{status}, 200, 'chunked body in many buffers: 200');

$r = $t->request('/pay', token => $token, body => loadentity_body(),
                 content_type => 'Application/JSON; charset=utf-8');
is($r->{status}, 200, 'media type with parameters, any case: 200');

like($t->error_log, qr/a client request body is buffered to a temporary file/,
     'the temp-file path was exercised');
like($t->error_log, qr/\[info\].*opay: invalid payload: /,
     'payload refusals logged at info');

$t->stop;
$t->check_error_log;
done_testing;
