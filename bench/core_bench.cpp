// Benchmarks of the core's request path: token verification, the strict
// JSON parser, and a whole loadentity call (token, payload, invoice,
// answer). `make bench` runs them; results are CPU time per call.
#include <benchmark/benchmark.h>

#include <string>

#include "base64url.h"
#include "json.h"
#include "jwt.h"
#include "payment_complete_flow.h"
#include "payment_request_flow.h"
#include "test_util.h"

namespace {

using opay::test::TestKey;

constexpr int64_t kNow = 1700000000;
constexpr const char* kClaims =
    R"({"iss":"iss","aud":"m1","sub":"p@x","exp":1700003600})";
constexpr const char* kLoad = R"({"methodData":[{
    "supportedMethods":"https://pay.microsoft.com/microsoftpay",
    "data":{"productContext":{"invoiceId":"12345"},"event":"loadentity"}}]})";
constexpr const char* kInvoice = R"({"entity":{"@type":"Invoice",
    "@context":"http://schema.org","identifier":"12345",
    "url":"https://contoso.com/invoice",
    "broker":{"@type":"LocalBusiness","name":"Contoso"},
    "paymentDueDate":"2019-01-31T00:00:00","paymentStatus":"PaymentDue",
    "totalPaymentDue":{"@type":"PriceSpecification","price":10,
                       "priceCurrency":"USD"}},
    "displayItems":[
      {"label":"Large Widget","amount":{"currency":"USD","value":"7.00"}},
      {"label":"Small Widget","amount":{"currency":"USD","value":"3.00"}}]})";

struct Fixture {
    TestKey key{"k1"};
    opay::Config config;
    std::string bearer;

    Fixture() {
        config.keys = std::get<opay::KeySet>(opay::load_jwks(key.jwks()));
        config.token.issuer = "iss";
        config.token.audience = "m1";
        config.networks = {"visa", "mastercard"};
        config.types = {"credit"};
        bearer = "Bearer " + key.token(kClaims);
    }
};

const Fixture& fixture() {
    static const Fixture f;
    return f;
}

void BM_VerifyToken(benchmark::State& state) {
    const Fixture& f = fixture();
    std::string token = f.bearer.substr(7);
    for (auto _ : state) {
        auto r = opay::verify_token(token, f.config.keys, f.config.token, kNow);
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(BM_VerifyToken);

void BM_ParseJson64k(benchmark::State& state) {
    std::string body = R"({"methodData":[],"pad":[)";
    while (body.size() < 64 * 1024) body += R"({"a":"bcdefgh","n":12.5},)";
    body += "1]}";
    for (auto _ : state) {
        opay::json::Document d;
        benchmark::DoNotOptimize(opay::json::parse(body, d));
    }
    state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_ParseJson64k);

// The same, with the document's pool on memory kept between parses.
void BM_ParseJson64kArena(benchmark::State& state) {
    std::string body = R"({"methodData":[],"pad":[)";
    while (body.size() < 64 * 1024) body += R"({"a":"bcdefgh","n":12.5},)";
    body += "1]}";
    opay::json::Arena arena;
    for (auto _ : state) {
        opay::json::Pool pool(arena.data(), arena.size());
        opay::json::Document d(&pool);
        benchmark::DoNotOptimize(opay::json::parse(body, d));
    }
    state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_ParseJson64kArena);

void BM_LoadentityCall(benchmark::State& state) {
    const Fixture& f = fixture();
    opay::Input in;
    in.method = "POST";
    in.content_type = "application/json";
    in.authorization = f.bearer;
    in.body = kLoad;
    in.now = kNow;
    for (auto _ : state) {
        opay::PaymentRequestFlow flow(f.config, in);
        flow.feed(0, 200, kInvoice);
        benchmark::DoNotOptimize(flow.response().body.data());
    }
}
BENCHMARK(BM_LoadentityCall);

// A whole PaymentComplete call in the core: claim, invoice, journal,
// charge, journal, notify, journal, settle, answer.
void BM_PaymentCompleteCall(benchmark::State& state) {
    Fixture f;
    f.config.test_mode = true;
    f.config.processor = f.config.journal = f.config.notify = true;
    std::string token = opay::base64url_encode(
                            R"({"Format":"Stripe","TestMode":true})") +
                        "." + opay::base64url_encode("tok_visa") + ".c2ln";
    std::string body = R"({"requestId":"12345",
        "methodName":"https://pay.microsoft.com/microsoftpay",
        "details":{"productContext":{"invoiceId":"12345"},
        "paymentToken":")" + token + R"(",
        "amount":{"currency":"USD","value":"10.00"}}})";
    opay::Input in;
    in.method = "POST";
    in.content_type = "application/json";
    in.authorization = f.bearer;
    in.body = body;
    in.now = kNow;
    for (auto _ : state) {
        opay::PaymentCompleteFlow flow(f.config, in);
        flow.resolve(OPAY_CLAIM_NEW, {});
        flow.feed(0, 200, kInvoice);
        flow.resolve(0, {});
        flow.feed(0, 200, R"({"id":"ch_1","status":"succeeded"})");
        flow.resolve(0, {});
        flow.feed(0, 204, "");
        flow.resolve(0, {});
        flow.resolve(0, {});
        if (!flow.responding()) state.SkipWithError("no answer");
        benchmark::DoNotOptimize(flow.response().body.data());
    }
}
BENCHMARK(BM_PaymentCompleteCall);

void BM_RefusedToken(benchmark::State& state) {
    const Fixture& f = fixture();
    std::string bad = f.bearer;
    bad[bad.size() - 3] ^= 1;
    opay::Input in;
    in.method = "POST";
    in.content_type = "application/json";
    in.authorization = bad;
    in.body = kLoad;
    in.now = kNow;
    for (auto _ : state) {
        opay::PaymentRequestFlow flow(f.config, in);
        benchmark::DoNotOptimize(flow.response().status);
    }
}
BENCHMARK(BM_RefusedToken);

}  // namespace

BENCHMARK_MAIN();
