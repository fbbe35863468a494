// The fixture the PaymentComplete flow's tests share
// (payment_complete_flow*_test.cpp, split as the flow is): a key, a
// configuration, a payload, Stripe's answers, and the steps up to the
// update and the confirm.
#pragma once

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "base64url.h"
#include "payment_complete_flow.h"
#include "test_util.h"

namespace opay::complete_test {

using test::TestKey;

using test::TestKey;

inline constexpr int64_t kNow = 1700000000;
inline constexpr const char* kInvoice = R"({"entity":{"@type":"Invoice",
    "identifier":"12345","paymentStatus":"PaymentDue",
    "totalPaymentDue":{"price":10,"priceCurrency":"USD"}}})";
// A PaymentIntent answer: status, amount (Stripe's units), payment method,
// the payment method of its last decline.
inline std::string intent(const char* status, int64_t amount = 99999999,
                   const char* pm = nullptr, const char* declined = nullptr,
                   const char* id = "pi_1") {
    std::string out = std::string(R"({"id":")") + id +
                      R"(","object":"payment_intent","status":")" + status +
                      R"(","amount":)" + std::to_string(amount) +
                      R"(,"currency":"usd","payment_method":)" +
                      (pm ? std::string("\"") + pm + "\"" : "null");
    if (declined) {
        out += std::string(R"(,"last_payment_error":{"type":"card_error",)") +
               R"("code":"card_declined",)" +
               R"("message":"Your card was declined.",)" +
               R"("payment_method":{"id":")" + declined + R"(","object":)" +
               R"("payment_method"}})";
    }
    return out + "}";
}
inline const std::string kCreated = intent("requires_payment_method");
inline const std::string kSet = intent("requires_confirmation", 1000, "pm_1");
inline const std::string kSucceeded = intent("succeeded", 1000, "pm_1");
inline constexpr const char* kMethod =
    R"({"id":"pm_1","object":"payment_method",
    "type":"card"})";
inline constexpr const char* kApiError = R"({"error":{"type":"api_error"}})";
// Stripe's 429: another request holds the PaymentIntent's lock.
inline constexpr const char* kLockTimeout =
    R"({"error":{"type":"invalid_request_error","code":"lock_timeout"}})";

inline std::string payment_token(const std::string& header) {
    return base64url_encode(header) + "." + base64url_encode("tok_visa") +
           "." + base64url_encode("s");
}

struct CompleteTest : ::testing::Test {
    TestKey key{"k1"};
    Config config;
    std::string bearer;
    std::string body;

    CompleteTest() {
        config.keys = std::get<KeySet>(load_jwks(key.jwks()));
        config.token.issuer = "iss";
        config.token.audience = "m1";
        config.test_mode = true;
        config.processor = config.journal = config.notify = true;
        bearer = "Bearer " +
                 key.token(R"({"iss":"iss","aud":"m1","sub":"p@x","exp":1700003600})");
        body = payload("10.00", R"({"Format":"stripe","TestMode":true})");
    }

    static std::string payload(const char* value, const std::string& header) {
        return std::string(R"({"requestId":"12345",
            "methodName":"https://pay.microsoft.com/microsoftpay",
            "details":{"productContext":{"invoiceId":"12345"},
                       "paymentToken":")") +
               payment_token(header) +
               R"(","amount":{"currency":"USD","value":")" + value +
               R"(","currencySystem":null}},"payerName":"P"})";
    }

    Input input() const {
        Input in;
        in.method = "POST";
        in.content_type = "application/json";
        in.authorization = bearer;
        in.body = body;
        in.now = kNow;
        return in;
    }

    static opay_step_e kind(const Flow& f) {
        if (f.responding()) return OPAY_STEP_RESPOND;
        if (f.action()) return f.action()->kind;
        return OPAY_STEP_FETCH;
    }

    // claim, invoice, a fresh create, the payment method: the update next
    static void up_to_update(PaymentCompleteFlow& f,
                             const std::string& invoice = kInvoice) {
        f.resolve(OPAY_CLAIM_NEW, {});
        f.feed(0, 200, invoice);
        f.feed(0, 200, kCreated);
        ASSERT_EQ(f.fetches().at(0).path, "v1/payment_methods");
        f.feed(0, 200, kMethod);
        ASSERT_EQ(f.fetches().at(0).path, "v1/payment_intents/pi_1");
    }

    // ... the update set our pair, the attempt journalled: confirm next
    void up_to_confirm(PaymentCompleteFlow& f) const {
        up_to_update(f);
        f.feed(0, 200, kSet);
        if (config.journal) f.resolve(0, {});
        ASSERT_EQ(f.fetches().at(0).path, "v1/payment_intents/pi_1/confirm");
    }

    // the update or confirm just sent meets another request's lock
    static void meet_lock(PaymentCompleteFlow& f) {
        f.feed(0, 429, kLockTimeout);
    }

    // the invoice's intent, found (a replay) charged with pm_A at this
    // payer's amount before paying; this payer's PaymentMethod (pm_1) made
    // to tell whose charge it is: not theirs, the notify next
    static void found_charged_by_another(PaymentCompleteFlow& f) {
        f.feed(0, 200, kCreated, true);
        f.feed(0, 200, intent("succeeded", 1000, "pm_A"));
        ASSERT_EQ(f.fetches().at(0).path, "v1/payment_methods");
        f.feed(0, 200, kMethod);  // pm_1: not the one charged
        ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
        ASSERT_EQ(f.fetches()[0].target, OPAY_TARGET_NOTIFY);
    }

    // settle and answer: the response
    static const Response& answer(PaymentCompleteFlow& f) {
        EXPECT_EQ(kind(f), OPAY_STEP_SETTLE);
        if (kind(f) == OPAY_STEP_SETTLE) f.resolve(0, {});
        return f.response();
    }

    static std::string paid_invoice(const char* price = "10") {
        std::string paid = kInvoice;
        paid.replace(paid.find("PaymentDue"), 10, "PaymentComplete");
        paid.replace(paid.find("\"price\":10"), 10,
                     std::string("\"price\":") + price);
        return paid;
    }

    static json::Document reply(const Flow& f) {
        json::Document d;
        EXPECT_FALSE(json::parse(f.response().body, d)) << f.response().body;
        return d;
    }
};

}  // namespace opay::complete_test
