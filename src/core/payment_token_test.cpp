#include "payment_token.h"

#include <gtest/gtest.h>

#include "base64url.h"

namespace opay {
namespace {

std::string token(const std::string& header, const std::string& payload) {
    return base64url_encode(header) + "." + base64url_encode(payload) + "." +
           base64url_encode("sig");
}

std::string error_of(const std::string& t) {
    auto r = parse_payment_token(t);
    auto* e = std::get_if<std::string>(&r);
    return e ? *e : "";
}

TEST(PaymentToken, ReadsHeaderAndRawPayload) {
    auto r = parse_payment_token(token(
        R"({"Format":"Stripe","TestMode":true,"Amount":{"currency":"USD","value":"10.00"}})",
        "tok_visa"));
    ASSERT_TRUE(std::holds_alternative<PaymentToken>(r)) << error_of("");
    const auto& t = std::get<PaymentToken>(r);
    EXPECT_EQ(t.format, "Stripe");
    EXPECT_TRUE(t.test_mode);
    ASSERT_TRUE(t.amount);
    EXPECT_EQ(t.amount->minor, 1000);
    EXPECT_EQ(t.processor_token, "tok_visa");
}

TEST(PaymentToken, AmountIsOptional) {
    auto r = parse_payment_token(
        token(R"({"Format":"Stripe","TestMode":false})", "tok_1Abc"));
    ASSERT_TRUE(std::holds_alternative<PaymentToken>(r));
    EXPECT_FALSE(std::get<PaymentToken>(r).amount);
    EXPECT_FALSE(std::get<PaymentToken>(r).test_mode);
}

TEST(PaymentToken, RefusesMalformedTokens) {
    const std::string h = R"({"Format":"Stripe","TestMode":true})";
    EXPECT_NE(error_of("abc"), "");
    EXPECT_NE(error_of(token(h, "tok") + ".x"), "");
    EXPECT_NE(error_of(token(h, "tok") + "="), "");
    EXPECT_NE(error_of(token("[]", "tok")), "");
    EXPECT_NE(error_of(token(R"({"TestMode":true})", "tok")), "");
    EXPECT_NE(error_of(token(R"({"Format":"Stripe"})", "tok")), "");
    EXPECT_NE(error_of(token(R"({"Format":"Stripe","TestMode":"true"})", "tok")),
              "");
    EXPECT_NE(error_of(token(R"({"Format":"Stripe","TestMode":true,
                               "Amount":{"currency":"USD","value":"1e3"}})",
                             "tok")),
              "");
    EXPECT_NE(error_of(token(h, "")), "");
    EXPECT_NE(error_of(token(h, "tok visa")), "");
    // form metacharacters are fine: the charge form encodes them
    EXPECT_EQ(error_of(token(h, "tok&amount=1")), "");
    EXPECT_NE(error_of(token(h, std::string(256, 'a'))), "");
}

TEST(PaymentToken, ErrorsNeverEchoTheToken) {
    std::string e = error_of(token(R"({"TestMode":true})", "tok_secret"));
    EXPECT_EQ(e.find("tok_secret"), std::string::npos);
}

}  // namespace
}  // namespace opay
