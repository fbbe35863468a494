// Benchmarks of the core's request path: token verification, the strict
// JSON parser, and whole calls (token, payload, invoice, answer), run as
// the module runs them: each flow's body parsed into one of the worker's
// arenas (json::Arenas, opay_arenas_create). `make bench` runs them;
// results are CPU time per call. After the table it prints each target of
// issue 12 against its reference, measured in the same run.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <rapidjson/document.h>

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

// A webhook call as nginx hands it to the core.
opay::Input webhook(std::string_view bearer, std::string_view body,
                    const std::shared_ptr<opay::json::Arenas>& arenas) {
    opay::Input in;
    in.method = "POST";
    in.content_type = "application/json";
    in.authorization = bearer;
    in.body = body;
    in.now = kNow;
    in.arenas = arenas;
    return in;
}

// A worker's arenas as the module makes them (ngx_http_opay_module.c):
// eight, each five times the default opay_max_body_size of 64 KiB.
std::shared_ptr<opay::json::Arenas> worker_arenas() {
    return std::make_shared<opay::json::Arenas>(8, 5 * 64 * 1024);
}

void BM_VerifyToken(benchmark::State& state) {
    const Fixture& f = fixture();
    std::string token = f.bearer.substr(7);
    for (auto _ : state) {
        // as the flows call it: every check, no detail text
        auto r = opay::verify_token(token, f.config.keys, f.config.token, kNow,
                                    false);
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(BM_VerifyToken);

// The reference for the token check: one EVP_DigestVerify of the same
// signature over the same signing input, with the key already built and
// SHA-256 already fetched, in a reused context. No parsing, no claims.
void BM_RawDigestVerify(benchmark::State& state) {
    const Fixture& f = fixture();
    std::string token = f.bearer.substr(7);
    auto d2 = token.rfind('.');
    std::string input = token.substr(0, d2);
    std::string sig = *opay::base64url_decode(token.substr(d2 + 1));
    EVP_PKEY* key = f.config.keys.keys.front().key.get();
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    for (auto _ : state) {
        int ok = EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key) == 1 &&
                 EVP_DigestVerify(
                     ctx, reinterpret_cast<const unsigned char*>(sig.data()),
                     sig.size(),
                     reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) == 1;
        if (!ok) state.SkipWithError("reference verify failed");
        benchmark::DoNotOptimize(ok);
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
}
BENCHMARK(BM_RawDigestVerify);

// Context, not a target: the floor of any RSA-2048 verify on this
// machine, OpenSSL's modular exponentiation alone (s^65537 mod n with the
// Montgomery context made once; no digest, no padding check, no EVP
// layer). What BM_RawDigestVerify spends beyond it is all that a
// different way of calling OpenSSL could save.
void BM_RsaPublicOpAlone(benchmark::State& state) {
    const Fixture& f = fixture();
    std::string token = f.bearer.substr(7);
    std::string sig =
        *opay::base64url_decode(token.substr(token.rfind('.') + 1));
    EVP_PKEY* key = f.config.keys.keys.front().key.get();
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    BN_CTX* bn = BN_CTX_new();
    BN_MONT_CTX* mont = BN_MONT_CTX_new();
    BIGNUM* s = BN_new();
    BIGNUM* m = BN_new();
    std::string em(sig.size(), '\0');
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1 ||
        bn == nullptr || mont == nullptr || s == nullptr || m == nullptr ||
        BN_MONT_CTX_set(mont, n, bn) != 1) {
        state.SkipWithError("no Montgomery context for the key");
    } else {
        for (auto _ : state) {
            auto* out = reinterpret_cast<unsigned char*>(em.data());
            bool ok =
                BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()),
                          static_cast<int>(sig.size()), s) != nullptr &&
                BN_mod_exp_mont(m, s, e, n, bn, mont) == 1 &&
                BN_bn2binpad(m, out, static_cast<int>(em.size())) ==
                    static_cast<int>(em.size()) &&
                out[0] == 0 && out[1] == 1;  // PKCS#1 v1.5 type 1 block
            if (!ok) state.SkipWithError("the public operation failed");
            benchmark::DoNotOptimize(out);
        }
    }
    BN_free(m);
    BN_free(s);
    BN_MONT_CTX_free(mont);
    BN_CTX_free(bn);
    BN_free(e);
    BN_free(n);
}
BENCHMARK(BM_RsaPublicOpAlone);

std::string json64k() {
    std::string body = R"({"methodData":[],"pad":[)";
    while (body.size() < 64 * 1024) body += R"({"a":"bcdefgh","n":12.5},)";
    body += "1]}";
    return body;
}

void BM_ParseJson64k(benchmark::State& state) {
    std::string body = json64k();
    for (auto _ : state) {
        opay::json::Document d;
        benchmark::DoNotOptimize(opay::json::parse(body, d));
    }
    state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_ParseJson64k);

// The same, with the document's pool on memory kept between parses.
void BM_ParseJson64kArena(benchmark::State& state) {
    std::string body = json64k();
    opay::json::Arena arena;
    for (auto _ : state) {
        opay::json::Pool pool(arena.data(), arena.size());
        opay::json::Document d(&pool);
        benchmark::DoNotOptimize(opay::json::parse(body, d));
    }
    state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_ParseJson64kArena);

// The flows' own parse of a 64 KiB body, as the module runs it: a
// loadentity call whose body is the 64 KiB text (one method, padded),
// parsed into a worker arena, through the token check and the payload's
// reading, up to its invoice fetch. BM_Flow64kTokenOnly, the same call
// with a body too small to matter, is taken off in the summary: what is
// left is the flow's parse of the body.
std::string load64k() {
    std::string body = R"({"methodData":[{
        "supportedMethods":"https://pay.microsoft.com/microsoftpay",
        "data":{"productContext":{"invoiceId":"12345"},
                "event":"loadentity"}}],"pad":[)";
    while (body.size() < 64 * 1024) body += R"({"a":"bcdefgh","n":12.5},)";
    body += "1]}";
    return body;
}

void flow_until_fetch(benchmark::State& state, const std::string& body,
                      const std::shared_ptr<opay::json::Arenas>& arenas) {
    const Fixture& f = fixture();
    opay::Input in = webhook(f.bearer, body, arenas);
    for (auto _ : state) {
        opay::PaymentRequestFlow flow(f.config, in);
        if (flow.responding() || flow.fetches().empty()) {
            state.SkipWithError("the call did not reach its invoice fetch");
        }
        benchmark::DoNotOptimize(flow.fetches().begin());
    }
}

void BM_Flow64kArena(benchmark::State& state) {
    flow_until_fetch(state, load64k(), worker_arenas());
}
BENCHMARK(BM_Flow64kArena);

void BM_Flow64kFresh(benchmark::State& state) {
    flow_until_fetch(state, load64k(), nullptr);
}
BENCHMARK(BM_Flow64kFresh);

void BM_Flow64kTokenOnly(benchmark::State& state) {
    flow_until_fetch(state, kLoad, worker_arenas());
}
BENCHMARK(BM_Flow64kTokenOnly);

// Context, not a target: plain RapidJSON, in situ into a fresh document,
// with none of the checks (no UTF-8, depth or duplicate checks).
void BM_RapidJsonNoChecks64k(benchmark::State& state) {
    std::string body = json64k();
    std::string buffer;
    for (auto _ : state) {
        buffer = body;
        rapidjson::Document d;
        d.ParseInsitu<rapidjson::kParseNumbersAsStringsFlag>(buffer.data());
        benchmark::DoNotOptimize(d.HasParseError());
    }
    state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_RapidJsonNoChecks64k);

// A whole loadentity call, its body in a worker arena as in the module
// (BM_LoadentityCallFresh: a fresh document, for comparison).
void loadentity(benchmark::State& state,
                const std::shared_ptr<opay::json::Arenas>& arenas) {
    const Fixture& f = fixture();
    opay::Input in = webhook(f.bearer, kLoad, arenas);
    for (auto _ : state) {
        opay::PaymentRequestFlow flow(f.config, in);
        flow.feed(0, 200, kInvoice);
        benchmark::DoNotOptimize(flow.response().body.data());
    }
}

void BM_LoadentityCall(benchmark::State& state) {
    loadentity(state, worker_arenas());
}
BENCHMARK(BM_LoadentityCall);

void BM_LoadentityCallFresh(benchmark::State& state) {
    loadentity(state, nullptr);
}
BENCHMARK(BM_LoadentityCallFresh);

// A whole PaymentComplete call in the core: claim, invoice, create the
// PaymentIntent, payment method, update, journal, confirm, journal, notify,
// journal, settle, answer.
// Its body in a worker arena as in the module (BM_PaymentCompleteCallFresh:
// a fresh document).
void payment_complete(benchmark::State& state,
                      const std::shared_ptr<opay::json::Arenas>& arenas) {
    // the shared fixture's key: no RSA key generated per benchmark run
    const Fixture& f = fixture();
    opay::Config config = f.config;
    config.test_mode = true;
    config.processor = config.journal = config.notify = true;
    std::string token = opay::base64url_encode(
                            R"({"Format":"Stripe","TestMode":true})") +
                        "." + opay::base64url_encode("tok_visa") + ".c2ln";
    std::string body = R"({"requestId":"12345",
        "methodName":"https://pay.microsoft.com/microsoftpay",
        "details":{"productContext":{"invoiceId":"12345"},
        "paymentToken":")" + token + R"(",
        "amount":{"currency":"USD","value":"10.00"}}})";
    opay::Input in = webhook(f.bearer, body, arenas);
    for (auto _ : state) {
        opay::PaymentCompleteFlow flow(config, in);
        flow.resolve(OPAY_CLAIM_NEW, {});
        flow.feed(0, 200, kInvoice);
        flow.feed(0, 200, R"({"id":"pi_1","object":"payment_intent",
            "status":"requires_payment_method","amount":99999999,
            "currency":"usd","payment_method":null})");
        flow.feed(0, 200, R"({"id":"pm_1","object":"payment_method"})");
        flow.feed(0, 200, R"({"id":"pi_1","object":"payment_intent",
            "status":"requires_confirmation","amount":1000,
            "currency":"usd","payment_method":"pm_1"})");
        flow.resolve(0, {});
        flow.feed(0, 200, R"({"id":"pi_1","object":"payment_intent",
            "status":"succeeded","latest_charge":"ch_1","amount":1000,
            "currency":"usd","payment_method":"pm_1"})");
        flow.resolve(0, {});
        flow.feed(0, 204, "");
        flow.resolve(0, {});
        flow.resolve(0, {});
        if (!flow.responding()) state.SkipWithError("no answer");
        benchmark::DoNotOptimize(flow.response().body.data());
    }
}

void BM_PaymentCompleteCall(benchmark::State& state) {
    payment_complete(state, worker_arenas());
}
BENCHMARK(BM_PaymentCompleteCall);

void BM_PaymentCompleteCallFresh(benchmark::State& state) {
    payment_complete(state, nullptr);
}
BENCHMARK(BM_PaymentCompleteCallFresh);

void BM_RefusedToken(benchmark::State& state) {
    const Fixture& f = fixture();
    std::string bad = f.bearer;
    // another valid base64url letter: refused by the RSA check itself
    char& c = bad[bad.size() - 3];
    c = c == 'A' ? 'B' : 'A';
    opay::Input in = webhook(bad, kLoad, nullptr);
    for (auto _ : state) {
        opay::PaymentRequestFlow flow(f.config, in);
        benchmark::DoNotOptimize(flow.response().status);
    }
}
BENCHMARK(BM_RefusedToken);

// Keeps each benchmark's CPU time per iteration (ns) for the summary.
// With --benchmark_repetitions (make bench asks for 3), the median of the
// repetitions: one run of a 20 µs benchmark moves by a fifth on a shared
// machine.
class Collector : public benchmark::ConsoleReporter {
  public:
    std::map<std::string, double> ns;
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& r : runs) {
            bool median = r.run_type == Run::RT_Aggregate &&
                          r.aggregate_name == "median";
            if (r.error_occurred ||
                (r.run_type != Run::RT_Iteration && !median)) {
                continue;
            }
            ns[r.run_name.str()] =
                r.GetAdjustedCPUTime() * 1e9 /
                benchmark::GetTimeUnitMultiplier(r.time_unit);
        }
        ConsoleReporter::ReportRuns(runs);
    }
};

void print_targets(const std::map<std::string, double>& ns) {
    auto get = [&](const char* name) {
        auto it = ns.find(name);
        return it == ns.end() ? 0.0 : it->second;
    };
    auto ratio = [&](const char* what, const char* a, const char* b,
                     double target) {
        double x = get(a), y = get(b);
        if (x == 0 || y == 0) return;
        double r = x / y;
        std::printf("%-46s %7.2fx  target <= %.2fx  %s\n", what, r, target,
                    r <= target ? "met" : "MISSED");
    };
    // bytes per ns of a minus b (b: what a does besides the parse)
    auto rate_of = [&](const char* what, const char* a, const char* b,
                       std::size_t bytes, double target) {
        double x = get(a) - (b != nullptr ? get(b) : 0.0);
        if (get(a) == 0 || (b != nullptr && get(b) == 0) || x <= 0) return;
        double mbs = static_cast<double>(bytes) / x * 1e3;
        if (target > 0) {
            std::printf("%-46s %7.0f MB/s target >= %.0f  %s\n", what, mbs,
                        target, mbs >= target ? "met" : "MISSED");
        } else {
            std::printf("%-46s %7.0f MB/s\n", what, mbs);
        }
    };
    auto rate = [&](const char* what, const char* a, double target) {
        rate_of(what, a, nullptr, json64k().size(), target);
    };
    std::printf("\nTargets (issue 12), CPU time, same run:\n");
    ratio("token check / raw EVP_DigestVerify", "BM_VerifyToken",
          "BM_RawDigestVerify", 1.15);
    ratio("loadentity call / token check", "BM_LoadentityCall",
          "BM_VerifyToken", 1.5);
    ratio("PaymentComplete call / token check", "BM_PaymentCompleteCall",
          "BM_VerifyToken", 2.0);
    rate_of("flows' JSON parse 64 KiB, worker arena", "BM_Flow64kArena",
            "BM_Flow64kTokenOnly", load64k().size(), 400);
    rate_of("flows' JSON parse 64 KiB, fresh document", "BM_Flow64kFresh",
            "BM_Flow64kTokenOnly", load64k().size(), 0);
    rate("JSON parse 64 KiB, all checks, arena", "BM_ParseJson64kArena",
         400);
    rate("JSON parse 64 KiB, all checks, fresh document", "BM_ParseJson64k",
         0);
    rate("RapidJSON 64 KiB, no checks (context)", "BM_RapidJsonNoChecks64k",
         0);
    double op = get("BM_RsaPublicOpAlone");
    double raw = get("BM_RawDigestVerify");
    if (op > 0 && raw > 0) {
        std::printf("%-46s %7.2fx  (context: the rest is SHA-256, padding"
                    " and EVP)\n",
                    "RSA-2048 public op alone / raw EVP_DigestVerify",
                    op / raw);
    }
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    Collector collector;
    benchmark::RunSpecifiedBenchmarks(&collector);
    print_targets(collector.ns);
    benchmark::Shutdown();
    return 0;
}
