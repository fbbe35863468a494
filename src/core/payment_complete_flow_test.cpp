// The PaymentComplete flow step by step: claim, fetch, journal, charge,
// journal, notify, journal, settle, answer; and each way out of it.
#include "payment_complete_flow.h"

#include <gtest/gtest.h>

#include "base64url.h"
#include "test_util.h"

namespace opay {
namespace {

using test::TestKey;

constexpr int64_t kNow = 1700000000;
constexpr const char* kInvoice = R"({"entity":{"@type":"Invoice",
    "identifier":"12345","paymentStatus":"PaymentDue",
    "totalPaymentDue":{"price":10,"priceCurrency":"USD"}}})";
constexpr const char* kCharge =
    R"({"id":"ch_1","object":"charge","status":"succeeded"})";

std::string payment_token(const std::string& header) {
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

    static json::Document reply(const Flow& f) {
        json::Document d;
        EXPECT_FALSE(json::parse(f.response().body, d)) << f.response().body;
        return d;
    }
};

TEST_F(CompleteTest, HappyPathRunsEveryStepInOrder) {
    PaymentCompleteFlow f(config, input());
    ASSERT_EQ(kind(f), OPAY_STEP_CLAIM);
    EXPECT_EQ(f.action()->key, "m1\n12345");
    f.resolve(OPAY_CLAIM_NEW, {});
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    ASSERT_EQ(f.fetches().size(), 1u);
    EXPECT_EQ(f.fetches()[0].target, OPAY_TARGET_INVOICE);
    f.feed(0, 200, kInvoice);
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    EXPECT_NE(f.action()->data.find("\"type\":\"attempt\""), std::string::npos);
    EXPECT_EQ(f.action()->data.find("tok_visa"), std::string::npos);
    f.resolve(0, {});
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    const Fetch& charge = f.fetches()[0];
    EXPECT_EQ(charge.target, OPAY_TARGET_PROCESSOR);
    EXPECT_EQ(charge.content_type, "application/x-www-form-urlencoded");
    EXPECT_EQ(charge.idempotency_key, idempotency_key("m1", "12345"));
    EXPECT_NE(charge.body.find("amount=1000&currency=usd&source=tok_visa"),
              std::string::npos);
    f.feed(0, 200, kCharge);
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    EXPECT_NE(f.action()->data.find("\"type\":\"outcome\""), std::string::npos);
    f.resolve(0, {});
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    EXPECT_EQ(f.fetches()[0].target, OPAY_TARGET_NOTIFY);
    json::Document record;
    ASSERT_FALSE(json::parse(f.fetches()[0].body, record));
    EXPECT_EQ(json::write(record["confirmationNumber"]), "\"ch_1\"");
    EXPECT_EQ(json::write(record["payer"]),
              R"({"sub":"p@x","name":"P","email":"","phone":""})");
    f.feed(0, 204, "");
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    f.resolve(0, {});
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_TRUE(f.action()->store);
    std::string stored = f.action()->data;
    f.resolve(0, {});
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(f.response().body, stored);
    auto d = reply(f);
    EXPECT_EQ(json::write(d["result"]), "\"success\"");
    EXPECT_EQ(json::write(d["entity"]["paymentStatus"]), "\"PaymentComplete\"");
    EXPECT_EQ(json::write(d["entity"]["totalPaymentDue"]["price"]), "0");
    EXPECT_EQ(json::write(d["entity"]["confirmationNumber"]), "\"ch_1\"");
    EXPECT_EQ(f.variable(OPAY_VAR_RESULT), "success");
    EXPECT_EQ(f.variable(OPAY_VAR_REQUEST_ID), "12345");
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "succeeded");
    EXPECT_FALSE(f.variable(OPAY_VAR_CHARGE_CODE));
}

TEST_F(CompleteTest, ReplaysAFinishedPayment) {
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_DONE, R"({"requestId":"12345","result":"success"})");
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(f.response().body, R"({"requestId":"12345","result":"success"})");
    EXPECT_EQ(f.variable(OPAY_VAR_RESULT), "success");
    EXPECT_FALSE(f.variable(OPAY_VAR_CHARGE)) << "a replay charges nothing";
}

TEST_F(CompleteTest, InFlightDuplicateGets409) {
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_BUSY, {});
    EXPECT_EQ(f.response().status, 409);
    PaymentCompleteFlow g(config, input());
    g.resolve(OPAY_CLAIM_FAILED, {});
    EXPECT_EQ(g.response().status, 503);
}

TEST_F(CompleteTest, RefusalsReleaseTheClaimWithoutCharging) {
    body = payload("9.99", R"({"Format":"Stripe","TestMode":true})");
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_FALSE(f.action()->store);
    f.resolve(0, {});
    auto d = reply(f);
    EXPECT_EQ(json::write(d["result"]), "\"fail\"");
    EXPECT_EQ(json::write(d["error"]["innererror"]["code"]), "\"processing_error\"");
    EXPECT_FALSE(f.variable(OPAY_VAR_CHARGE)) << "refused before charging";
}

TEST_F(CompleteTest, ModeAndFormatAreCheckedBeforeAnything) {
    body = payload("10.00", R"({"Format":"Stripe","TestMode":false})");
    PaymentCompleteFlow live(config, input());
    ASSERT_TRUE(live.responding());
    EXPECT_NE(live.response().log_message.find("live payment token refused in "
                                               "test mode"),
              std::string::npos);
    body = payload("10.00", R"({"Format":"Adyen","TestMode":true})");
    EXPECT_TRUE(PaymentCompleteFlow(config, input()).responding());
    config.test_mode = false;
    body = payload("10.00", R"({"Format":"Stripe","TestMode":true})");
    EXPECT_EQ(json::write(reply(PaymentCompleteFlow(config, input()))["result"]),
              "\"fail\"");
}

TEST_F(CompleteTest, PaidInvoiceIsNotCharged) {
    std::string paid = kInvoice;
    paid.replace(paid.find("PaymentDue"), 10, "https://schema.org/PaymentComplete");
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, paid);
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_FALSE(f.action()->store);
    EXPECT_TRUE(payment_due("PaymentPastDue"));
    EXPECT_FALSE(payment_due("PaymentAutomaticallyApplied"));
    EXPECT_FALSE(payment_due("SomethingNew"));
}

TEST_F(CompleteTest, JournalFailureMeansNoCharge) {
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.resolve(-1, {});  // the attempt could not be written
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    f.resolve(0, {});
    EXPECT_EQ(f.response().status, 503);
}

TEST_F(CompleteTest, OutcomeJournalFailureLogsNoPersonalData) {
    body = std::string(R"({"requestId":"12345",
        "methodName":"https://pay.microsoft.com/microsoftpay",
        "details":{"productContext":{"invoiceId":"12345"},
                   "paymentToken":")") +
           payment_token(R"({"Format":"stripe","TestMode":true})") +
           R"(","amount":{"currency":"USD","value":"10.00"}},
        "payerName":"Jane Payer","payerEmail":"jane@example.com",
        "payerPhone":"+1 425 555 0100"})";
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.resolve(0, {});
    f.feed(0, 200, kCharge);
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    EXPECT_NE(f.action()->data.find("jane@example.com"), std::string::npos)
        << "the journal keeps the record";
    f.resolve(-1, {});  // the outcome could not be written
    f.feed(0, 204, "");
    f.resolve(0, {});
    f.resolve(0, {});
    ASSERT_TRUE(f.responding());
    const std::string& log = f.response().log_message;
    EXPECT_NE(log.find("journal write failed, outcome entry"),
              std::string::npos) << log;
    EXPECT_NE(log.find("ch_1"), std::string::npos) << log;
    for (const char* personal : {"Jane", "jane@example.com", "555", "p@x"}) {
        EXPECT_EQ(log.find(personal), std::string::npos) << log;
    }
}

TEST_F(CompleteTest, RefusesControlCharactersInRequestId) {
    body = payload("10.00", R"({"Format":"stripe","TestMode":true})");
    body.replace(body.find("\"12345\""), 7, "\"12\\r\\n345\"");
    PaymentCompleteFlow f(config, input());
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(f.response().status, 400);
    EXPECT_NE(f.response().body.find("requestId must not contain control"),
              std::string::npos) << f.response().body;
}

TEST_F(CompleteTest, UnknownOutcomeIsNotStored) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.feed(0, 504, "");
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_FALSE(f.action()->store) << "a retry must ask the processor again";
    f.resolve(0, {});
    EXPECT_EQ(json::write(reply(f)["error"]["innererror"]["code"]),
              "\"processing_error\"");
    EXPECT_EQ(f.response().log, OPAY_LOG_ERROR);
}

TEST_F(CompleteTest, DeclineIsStoredAndMapped) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.feed(0, 402, R"({"error":{"type":"card_error","code":"expired_card",
        "message":"Your card has expired."}})");
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_TRUE(f.action()->store);
    f.resolve(0, {});
    auto d = reply(f);
    EXPECT_EQ(json::write(d["error"]["code"]), "\"card_error\"");
    EXPECT_EQ(json::write(d["error"]["innererror"]),
              R"({"code":"expired_card","message":"Your card has expired."})");
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "declined");
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE_CODE), "expired_card");
}

TEST_F(CompleteTest, NotifyFailureStillAnswersTheCharge) {
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.resolve(0, {});
    f.feed(0, 200, kCharge);
    f.resolve(0, {});
    f.feed(0, 502, "");
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    EXPECT_NE(f.action()->data.find("\"ok\":false"), std::string::npos);
    f.resolve(0, {});
    f.resolve(0, {});
    EXPECT_EQ(json::write(reply(f)["result"]), "\"success\"");
    EXPECT_EQ(f.response().log, OPAY_LOG_ERROR);
    EXPECT_NE(f.response().log_message.find("opay journal replay"),
              std::string::npos);
}

TEST_F(CompleteTest, ProcessorInFlightIs409AndNotStored) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.feed(0, 409, R"({"error":{"type":"idempotency_error",
        "code":"idempotency_key_in_use"}})");
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_FALSE(f.action()->store);
    f.resolve(0, {});
    EXPECT_EQ(f.response().status, 409);
}

TEST_F(CompleteTest, RefusesMalformedPayloads) {
    for (const char* bad : {
             R"({})",
             R"({"requestId":"1","methodName":"x","details":{}})",
             R"({"requestId":"1","methodName":"https://pay.microsoft.com/microsoftpay","details":{"productContext":{},"paymentToken":"a.b.c"}})",
             R"({"requestId":"","methodName":"https://pay.microsoft.com/microsoftpay","details":{}})"}) {
        body = bad;
        PaymentCompleteFlow f(config, input());
        ASSERT_TRUE(f.responding()) << bad;
        EXPECT_EQ(f.response().status, 400) << bad;
    }
}

}  // namespace
}  // namespace opay
