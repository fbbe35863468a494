#include "flow.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace opay {
namespace {

using test::TestKey;

constexpr int64_t kNow = 1700000000;
constexpr const char* kLoad = R"({"methodData":[{
    "supportedMethods":"https://pay.microsoft.com/microsoftpay",
    "data":{"productContext":{"invoiceId":"12345","n":7},
            "event":"loadentity"}}]})";
constexpr const char* kInvoice = R"({"entity":{"@type":"Invoice",
    "identifier":"12345","totalPaymentDue":{"price":10,"priceCurrency":"USD"}},
    "displayItems":[{"label":"A","amount":{"currency":"USD","value":"10.00"}}]})";

struct FlowTest : ::testing::Test {
    TestKey key{"k1"};
    Config config;
    std::string token;

    FlowTest() {
        config.keys = std::get<KeySet>(load_jwks(key.jwks()));
        config.token.issuer = "iss";
        config.token.audience = "m1";
        config.networks = {"visa"};
        config.types = {"credit"};
        token = "Bearer " +
                key.token(R"({"iss":"iss","aud":"m1","sub":"p@x","exp":1700003600})");
    }

    Input input(std::string_view body = kLoad) const {
        Input in;
        in.method = "POST";
        in.content_type = "application/json";
        in.authorization = token;
        in.body = body;
        in.now = kNow;
        return in;
    }

    static std::string code(const Flow& f) {
        json::Document d;
        EXPECT_FALSE(json::parse(f.response().body, d));
        auto c = json::string_member(*json::object_member(d, "error"), "code");
        return c ? std::string(*c) : "";
    }
};

TEST_F(FlowTest, LoadentityFetchesTheInvoiceThenAnswers) {
    Flow f(config, input());
    ASSERT_FALSE(f.responding());
    ASSERT_EQ(f.fetches().size(), 1u);
    EXPECT_EQ(f.fetches()[0].target, OPAY_TARGET_INVOICE);
    EXPECT_FALSE(f.fetches()[0].post);
    EXPECT_EQ(f.context_field("invoiceId"), "12345");
    EXPECT_EQ(f.context_field("invoiceid"), "12345");
    EXPECT_EQ(f.context_field("n"), "7");
    EXPECT_FALSE(f.context_field("missing"));
    f.feed(0, 200, kInvoice);
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(f.response().status, 200);
    EXPECT_EQ(f.variable(OPAY_VAR_EVENT), "loadentity");
    EXPECT_EQ(f.variable(OPAY_VAR_SUB), "p@x");
    EXPECT_EQ(f.variable(OPAY_VAR_REQUEST_ID), "12345");
    EXPECT_FALSE(f.variable(OPAY_VAR_ERROR));
    json::Document d;
    ASSERT_FALSE(json::parse(f.response().body, d));
    EXPECT_EQ(json::write(d["details"]["total"]),
              R"({"label":"Total Due","amount":{"currency":"USD","value":"10.00"},"pending":false})");
    EXPECT_FALSE(d["methodData"][0]["data"].HasMember("mode"));
}

TEST_F(FlowTest, TestModeAddsMode) {
    config.test_mode = true;
    Flow f(config, input());
    f.feed(0, 200, kInvoice);
    json::Document d;
    ASSERT_FALSE(json::parse(f.response().body, d));
    EXPECT_EQ(json::write(d["methodData"][0]["data"]["mode"]), "\"TEST\"");
}

TEST_F(FlowTest, RefusesBeforeTheToken) {
    Input in = input();
    in.method = "GET";
    Flow get(config, in);
    EXPECT_EQ(get.response().status, 405);
    EXPECT_EQ(code(get), "method_not_allowed");
    in = input();
    in.too_large = true;
    Flow big(config, in);
    EXPECT_EQ(big.response().status, 413);
}

TEST_F(FlowTest, RefusesBadTokensWith401) {
    Input in = input();
    in.authorization = "";
    Flow none(config, in);
    EXPECT_EQ(none.response().status, 401);
    EXPECT_TRUE(none.response().www_authenticate);
    EXPECT_EQ(none.response().body,
              R"({"error":{"code":"invalid_token","message":"missing_token"}})");
    EXPECT_EQ(none.variable(OPAY_VAR_ERROR), "missing_token");
    EXPECT_EQ(none.response().log, OPAY_LOG_INFO);

    in.authorization = "Basic abc";
    EXPECT_EQ(Flow(config, in).response().body,
              R"({"error":{"code":"invalid_token","message":"bad_scheme"}})");

    in.authorization = "";
    in.action_authorization = token;
    EXPECT_FALSE(Flow(config, in).responding());

    in = input();
    in.now = kNow + 7200;
    Flow expired(config, in);
    EXPECT_EQ(expired.response().status, 401);
    EXPECT_NE(expired.response().log_message.find("expired"), std::string::npos);
    EXPECT_EQ(expired.response().log_message.find("eyJ"), std::string::npos)
        << "no token in the log";
}

TEST_F(FlowTest, RefusesBadPayloads) {
    struct Case {
        const char* body;
        int status;
        const char* code;
    };
    const Case cases[] = {
        {"{", 400, "malformed_json"},
        {"{\"a\":1,\"a\":1}", 400, "malformed_json"},
        {"[]", 400, "invalid_payload"},
        {R"({"methodData":[]})", 400, "invalid_payload"},
        {R"({"methodData":[{"supportedMethods":"x","data":{}}]})", 400,
         "invalid_payload"},
        {R"({"methodData":[{"supportedMethods":"https://pay.microsoft.com/microsoftpay"}]})",
         400, "invalid_payload"},
        {R"({"methodData":[{"supportedMethods":"https://pay.microsoft.com/microsoftpay","data":{"event":"loadentity"}}]})",
         400, "invalid_payload"},
        {R"({"methodData":[{"supportedMethods":"https://pay.microsoft.com/microsoftpay","data":{"event":"x","productContext":{}}}]})",
         400, "invalid_payload"},
        {R"({"methodData":[{"supportedMethods":"https://pay.microsoft.com/microsoftpay","data":{"event":"shippingaddresschange","productContext":{}}}]})",
         400, "unsupported_event"},
    };
    for (const auto& c : cases) {
        Flow f(config, input(c.body));
        ASSERT_TRUE(f.responding()) << c.body;
        EXPECT_EQ(f.response().status, c.status) << c.body;
        EXPECT_EQ(code(f), c.code) << c.body;
    }
    Input in = input();
    in.content_type = "text/json";
    EXPECT_EQ(Flow(config, in).response().status, 415);
    in.content_type = "application/json;charset=UTF-8";
    EXPECT_FALSE(Flow(config, in).responding());
}

TEST_F(FlowTest, MapsInvoiceBackendFailures) {
    struct Case {
        int status;
        const char* body;
        int answer;
        const char* code;
        opay_log_e log;
    };
    const Case cases[] = {
        {404, "", 404, "unknown_invoice", OPAY_LOG_INFO},
        {500, "", 502, "backend_error", OPAY_LOG_ERROR},
        {504, "", 504, "backend_timeout", OPAY_LOG_ERROR},
        {OPAY_FETCH_FAILED, "", 502, "backend_error", OPAY_LOG_ERROR},
        {200, "not json", 502, "backend_error", OPAY_LOG_ERROR},
        {200, R"({"@type":"Invoice","identifier":"1"})", 502, "backend_error",
         OPAY_LOG_ERROR},
    };
    for (const auto& c : cases) {
        Flow f(config, input());
        f.feed(0, c.status, c.body);
        ASSERT_TRUE(f.responding());
        EXPECT_EQ(f.response().status, c.answer) << c.status << c.body;
        EXPECT_EQ(code(f), c.code);
        EXPECT_EQ(f.response().log, c.log);
        EXPECT_FALSE(f.response().log_message.empty());
    }
}

TEST_F(FlowTest, IgnoresStrayFeeds) {
    Flow f(config, input());
    f.feed(5, 200, kInvoice);
    EXPECT_FALSE(f.responding());
    f.feed(0, 200, kInvoice);
    std::string first = f.response().body;
    f.feed(0, 500, "");
    EXPECT_EQ(f.response().body, first);
}

constexpr const char* kAddressChange = R"({"id":"12345","methodData":[{
    "supportedMethods":"https://pay.microsoft.com/microsoftpay",
    "data":{"productContext":{"invoiceId":"12345"},
            "event":"shippingaddresschange"}}],
    "details":{"id":"12345"},"shippingAddress":{"country":"US"}})";
constexpr const char* kOptions = R"({"shippingOptions":[
    {"id":"norush","label":"R","amount":{"currency":"USD","value":"0.00"}},
    {"id":"priority","label":"P","amount":{"currency":"USD","value":"3.00"}}]})";

TEST_F(FlowTest, ShippingEventsNeedAShippingBackend) {
    Flow f(config, input(kAddressChange));
    EXPECT_EQ(f.response().status, 400);
    EXPECT_EQ(code(f), "unsupported_event");
}

TEST_F(FlowTest, AddressChangeFetchesInvoiceAndOptionsInParallel) {
    config.shipping = true;
    Flow f(config, input(kAddressChange));
    ASSERT_FALSE(f.responding());
    ASSERT_EQ(f.fetches().size(), 2u);
    EXPECT_EQ(f.fetches()[0].target, OPAY_TARGET_INVOICE);
    EXPECT_EQ(f.fetches()[1].target, OPAY_TARGET_SHIPPING);
    EXPECT_TRUE(f.fetches()[1].post);
    EXPECT_EQ(f.fetches()[1].content_type, "application/json");
    EXPECT_EQ(f.fetches()[1].body,
              R"({"invoice":"12345","productContext":{"invoiceId":"12345"},)"
              R"("shippingAddress":{"country":"US"}})");
    f.feed(1, 200, kOptions);  // either order
    EXPECT_FALSE(f.responding());
    f.feed(0, 200, kInvoice);
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(f.response().status, 200);
    EXPECT_EQ(f.variable(OPAY_VAR_EVENT), "shippingaddresschange");
}

TEST_F(FlowTest, OptionChangeIsRecognisedByShippingOption) {
    config.shipping = true;
    std::string body = kAddressChange;
    body.insert(body.size() - 1, R"(,"shippingOption":"priority")");
    Flow f(config, input(body));
    EXPECT_EQ(f.variable(OPAY_VAR_EVENT), "shippingoptionchange");
    f.feed(0, 200, kInvoice);
    f.feed(1, 200, kOptions);
    ASSERT_EQ(f.response().status, 200);
    json::Document d;
    ASSERT_FALSE(json::parse(f.response().body, d));
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"13.00\"");
}

TEST_F(FlowTest, ShippingFailuresAndMismatches) {
    config.shipping = true;
    struct Case {
        int invoice_status;
        const char* options;
        int options_status;
        int answer;
    };
    const Case cases[] = {
        {200, "", 500, 502},
        {200, "", 504, 504},
        {200, R"({"shippingOptions":[{"id":"x","label":"x",
            "amount":{"currency":"EUR","value":"1"}}]})", 200, 502},
        {404, "", 200, 404},
    };
    for (const auto& c : cases) {
        Flow f(config, input(kAddressChange));
        f.feed(0, c.invoice_status, c.invoice_status == 200 ? kInvoice : "");
        f.feed(1, c.options_status, c.options);
        EXPECT_EQ(f.response().status, c.answer) << c.options;
    }
    std::string other = kAddressChange;
    other.replace(other.find(R"("details":{"id":"12345"})"), 24,
                  R"("details":{"id":"999"})");
    Flow f(config, input(other));
    f.feed(0, 200, kInvoice);
    f.feed(1, 200, kOptions);
    EXPECT_EQ(f.response().status, 400);
    for (const char* bad : {R"({"country":"USA"})", "null"}) {
        std::string body = kAddressChange;
        body.replace(body.find(R"({"country":"US"})"), 16, bad);
        EXPECT_EQ(Flow(config, input(body)).response().status, 400) << bad;
    }
}

}  // namespace
}  // namespace opay
