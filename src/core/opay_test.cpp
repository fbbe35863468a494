// The C API as the shim uses it: a worker's arenas handed to every flow
// through opay_input_t, lent while a flow lives, given back by
// opay_flow_free.
#include "opay.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "opay_str.h"
#include "test_util.h"

namespace {

using opay::test::TestKey;

constexpr int64_t kNow = 1700000000;
constexpr const char* kLoad = R"({"methodData":[{
    "supportedMethods":"https://pay.microsoft.com/microsoftpay",
    "data":{"productContext":{"invoiceId":"12345"},"event":"loadentity"}}]})";
constexpr const char* kInvoice = R"({"entity":{"@type":"Invoice",
    "identifier":"12345","totalPaymentDue":{"price":10,"priceCurrency":"USD"}},
    "displayItems":[{"label":"A","amount":{"currency":"USD","value":"10.00"}}]})";

using opay::str;

struct ConfFree {
    void operator()(opay_conf_t* c) const noexcept { opay_conf_free(c); }
};
struct FlowFree {
    void operator()(opay_flow_t* f) const noexcept { opay_flow_free(f); }
};
struct ArenasFree {
    void operator()(opay_arenas_t* a) const noexcept { opay_arenas_free(a); }
};
using FlowPtr = std::unique_ptr<opay_flow_t, FlowFree>;

struct CApiTest : ::testing::Test {
    TestKey key{"k1"};
    std::string jwks_path = testing::TempDir() + "opay-capi-" +
                            std::to_string(getpid()) + "-jwks.json";
    std::unique_ptr<opay_conf_t, ConfFree> conf;
    std::string bearer;

    CApiTest() {
        std::ofstream(jwks_path) << key.jwks();
        opay_settings_t s = opay::test::c_api_settings(jwks_path);
        char err[256] = "";
        conf.reset(opay_conf_create(&s, err, sizeof(err)));
        EXPECT_NE(conf, nullptr) << err;
        bearer = "Bearer " + key.token(R"({"iss":"iss","aud":"m1",
            "sub":"p@x","exp":1700003600})");
    }
    ~CApiTest() override { std::remove(jwks_path.c_str()); }

    FlowPtr start(opay_arenas_t* arenas, std::string_view body = kLoad) {
        opay_input_t in{};
        in.webhook = OPAY_PAYMENT_REQUEST;
        in.method = str("POST");
        in.content_type = str("application/json");
        in.authorization = str(bearer);
        in.body = str(body);
        in.now = kNow;
        in.arenas = arenas;
        return FlowPtr(opay_flow_start(conf.get(), &in));
    }

    // The answer to the loadentity call, its invoice fed.
    static std::string answer(opay_flow_t* f) {
        opay_step_t step;
        opay_flow_next(f, &step);
        EXPECT_EQ(step.kind, OPAY_STEP_FETCH);
        opay_flow_feed(f, 0, 200, str(kInvoice), 0);
        opay_flow_next(f, &step);
        EXPECT_EQ(step.kind, OPAY_STEP_RESPOND);
        EXPECT_EQ(step.status, 200);
        return std::string(step.body.data, step.body.len);
    }

    static std::pair<size_t, size_t> stats(const opay_arenas_t* a) {
        size_t lent = 99, made = 99;
        opay_arenas_stats(a, &lent, &made);
        return {lent, made};
    }
};

TEST_F(CApiTest, ArenasAreLentPerFlowAndGivenBackOnFree) {
    std::unique_ptr<opay_arenas_t, ArenasFree> arenas(
        opay_arenas_create(2, 64 * 1024));
    ASSERT_NE(arenas, nullptr);
    EXPECT_EQ(stats(arenas.get()), std::make_pair(size_t{0}, size_t{0}));

    FlowPtr a = start(arenas.get());
    FlowPtr b = start(arenas.get());
    FlowPtr c = start(arenas.get());  // none left: a fresh pool
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(stats(arenas.get()), std::make_pair(size_t{2}, size_t{2}));

    FlowPtr plain = start(nullptr);
    std::string expected = answer(plain.get());
    EXPECT_EQ(answer(a.get()), expected);
    EXPECT_EQ(answer(b.get()), expected);
    EXPECT_EQ(answer(c.get()), expected);
    opay_str_t v;
    ASSERT_EQ(opay_flow_ctx(a.get(), str("invoiceid"), &v), 1);
    EXPECT_EQ(std::string_view(v.data, v.len), "12345");

    a.reset();
    EXPECT_EQ(stats(arenas.get()), std::make_pair(size_t{1}, size_t{2}));
    FlowPtr d = start(arenas.get());
    EXPECT_EQ(stats(arenas.get()), std::make_pair(size_t{2}, size_t{2}));
    EXPECT_EQ(answer(d.get()), expected);
}

// opay_supported_networks and opay_supported_types not set: the core's
// defaults, so the shim needs no list of its own.
TEST_F(CApiTest, UnsetNetworksAndTypesGetTheDefaults) {
    std::string a = answer(start(nullptr).get());
    EXPECT_NE(a.find(R"("supportedNetworks":["visa","mastercard","amex"])"),
              std::string::npos)
        << a;
    EXPECT_NE(a.find(R"("supportedTypes":["credit"])"), std::string::npos)
        << a;
}

// nginx's fast shutdown frees the worker's arenas while flows live.
TEST_F(CApiTest, FlowsMayOutliveTheirArenasHandle) {
    opay_arenas_t* arenas = opay_arenas_create(1, 4096);
    ASSERT_NE(arenas, nullptr);
    FlowPtr f = start(arenas);
    opay_arenas_free(arenas);
    std::string expected = answer(start(nullptr).get());
    EXPECT_EQ(answer(f.get()), expected);
}

// the series of a call, labelled by the core: the shim adds no value
TEST_F(CApiTest, FlowMetricsLabelEveryValue) {
    FlowPtr ok = start(nullptr);
    answer(ok.get());
    opay_metric_t m[OPAY_METRICS_CALL_MAX];
    ASSERT_EQ(opay_flow_metrics(ok.get(), str("/pr"), 200, m), 2u);
    EXPECT_EQ(opay::view(m[0].key),
              "opay_requests_total{location=\"/pr\",webhook=\"payment_"
              "request\",event=\"loadentity\",outcome=\"ok\",status=\"200\"}");
    EXPECT_EQ(m[0].histogram, 0);
    EXPECT_EQ(opay::view(m[1].key),
              "opay_request_duration_seconds{location=\"/pr\"}");
    EXPECT_EQ(m[1].histogram, 1);

    // no token: refused before the event is read
    bearer.clear();
    FlowPtr refused = start(nullptr);
    opay_step_t step;
    opay_flow_next(refused.get(), &step);
    ASSERT_EQ(step.status, 401);
    ASSERT_EQ(opay_flow_metrics(refused.get(), str("/pr"), 401, m), 3u);
    EXPECT_NE(opay::view(m[0].key).find(
                  "event=\"none\",outcome=\"refused\",status=\"401\"}"),
              std::string_view::npos);
    EXPECT_EQ(opay::view(m[1].key),
              "opay_refusals_total{location=\"/pr\",reason=\"missing_token\"}");

    // a location too long for a series: an empty key, counted as dropped
    std::string long_location(OPAY_METRICS_KEY_MAX, 'x');
    ASSERT_EQ(opay_flow_metrics(ok.get(), str(long_location), 200, m), 2u);
    EXPECT_EQ(m[0].key.len, 0u);
    EXPECT_EQ(m[1].key.len, 0u);
}

// the names opay_status and the error log use for each backend
TEST(CApi, TargetNames) {
    EXPECT_STREQ(opay_target_name(OPAY_TARGET_INVOICE), "invoice");
    EXPECT_STREQ(opay_target_name(OPAY_TARGET_SHIPPING), "shipping");
    EXPECT_STREQ(opay_target_name(OPAY_TARGET_PROCESSOR), "processor");
    EXPECT_STREQ(opay_target_name(OPAY_TARGET_NOTIFY), "notify");
}

// the C side gets the escaping and the URI checks through opay.h
TEST(CApi, EscapeAndSplit) {
    opay_str_t v{"../a b", 6};
    char buf[64];
    size_t n = opay_escape_len(v, OPAY_ESCAPE_URI);
    char* end = opay_escape(buf, v, OPAY_ESCAPE_URI);
    EXPECT_EQ(std::string(buf, end), "..%252Fa%20b");
    EXPECT_EQ(static_cast<size_t>(end - buf), n);
    end = opay_escape(buf, opay_str_t{"a\nb", 3}, OPAY_ESCAPE_TEXT);
    EXPECT_EQ(std::string(buf, end), "a%0Ab");

    opay_str_t args{"x", 1};
    size_t len = 0;
    EXPECT_EQ(opay_uri_split(opay_str_t{"/a%41?q=1", 9}, buf, &len, &args), 0);
    EXPECT_EQ(std::string(buf, len), "/aA");
    EXPECT_EQ(std::string(args.data, args.len), "q=1");
    EXPECT_EQ(opay_uri_split(opay_str_t{"/a", 2}, buf, &len, &args), 0);
    EXPECT_EQ(args.data, nullptr);
    EXPECT_EQ(args.len, 0u);
    EXPECT_EQ(opay_uri_split(opay_str_t{"/../a", 5}, buf, &len, &args), -1);
}

// With opay_jwks_url and no keys yet, the shim passes the last fetch's
// kind; the 503's text is the core's.
TEST(CApi, NoKeysYetNamesTheLastFailure) {
    TestKey key{"k1"};
    opay_settings_t s = opay::test::c_api_settings();
    s.jwks_remote = 1;
    char err[256] = "";
    std::unique_ptr<opay_conf_t, ConfFree> conf(
        opay_conf_create(&s, err, sizeof(err)));
    ASSERT_NE(conf, nullptr) << err;
    std::string bearer = "Bearer " + key.token(R"({"iss":"iss","aud":"m1",
        "exp":1700003600})");
    const std::pair<opay_key_result_e, std::string> cases[] = {
        {OPAY_KEY_OK, "the first fetch has not ended"},
        {OPAY_KEY_TLS, "key server failed (tls)"},
        {OPAY_KEY_MEMORY, "key server failed (memory)"}};
    for (const auto& [kind, text] : cases) {
        opay_input_t in{};
        in.webhook = OPAY_PAYMENT_REQUEST;
        in.method = str("POST");
        in.content_type = str("application/json");
        in.authorization = str(bearer);
        in.body = str(kLoad);
        in.now = kNow;
        in.keys_failure = kind;
        FlowPtr f(opay_flow_start(conf.get(), &in));
        ASSERT_NE(f, nullptr);
        opay_step_t step;
        opay_flow_next(f.get(), &step);
        ASSERT_EQ(step.kind, OPAY_STEP_RESPOND);
        EXPECT_EQ(step.status, 503);
        EXPECT_EQ(std::string(step.body.data, step.body.len),
                  R"({"error":{"code":"no_signing_keys","message":)"
                  R"("no signing keys yet: )" + text + R"("}})");
    }
}

TEST(CApi, ArenasRefuseZeroAndFreeNull) {
    EXPECT_EQ(opay_arenas_create(0, 65536), nullptr);
    opay_arenas_free(nullptr);
    size_t lent = 1, made = 1;
    opay_arenas_stats(nullptr, &lent, &made);
    EXPECT_EQ(lent, 0u);
    EXPECT_EQ(made, 0u);
}

}  // namespace
