// The fixture the flow tests share: a key, a configuration, a valid bearer
// token, and a loadentity call with its invoice (the PaymentRequest flow is
// the concrete flow the shared checks are run through).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "flow.h"
#include "jwks.h"
#include "payment_request.h"
#include "test_util.h"

namespace opay::test {

inline constexpr int64_t kNow = 1700000000;
inline constexpr const char* kLoad = R"({"methodData":[{
    "supportedMethods":"https://pay.microsoft.com/microsoftpay",
    "data":{"productContext":{"invoiceId":"12345","n":7},
            "event":"loadentity"}}]})";
inline constexpr const char* kInvoice = R"({"entity":{"@type":"Invoice",
    "identifier":"12345","totalPaymentDue":{"price":10,"priceCurrency":"USD"}},
    "displayItems":[{"label":"A","amount":{"currency":"USD","value":"10.00"}}]})";
// A shipping address change, and the options the backend has for it.
inline constexpr const char* kAddressChange = R"({"id":"12345","methodData":[{
    "supportedMethods":"https://pay.microsoft.com/microsoftpay",
    "data":{"productContext":{"invoiceId":"12345"},
            "event":"shippingaddresschange"}}],
    "details":{"id":"12345"},"shippingAddress":{"country":"US"}})";
inline constexpr const char* kOptions = R"({"shippingOptions":[
    {"id":"norush","label":"R","amount":{"currency":"USD","value":"0.00"}},
    {"id":"priority","label":"P","amount":{"currency":"USD","value":"3.00"}}]})";

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
        config.answer_parts = render_answer_parts(config);
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

}  // namespace opay::test
