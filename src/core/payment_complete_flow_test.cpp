// The PaymentComplete flow step by step: claim, fetch, create the
// PaymentIntent, journal, confirm (and read back), journal, notify,
// journal, settle, answer; and each way out of it.
#include "payment_complete_flow.h"

#include <memory>
#include <string>

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
constexpr const char* kCreated = R"({"id":"pi_1","object":"payment_intent",
    "status":"requires_payment_method","amount":1000,"currency":"usd"})";
constexpr const char* kSucceeded = R"({"id":"pi_1",
    "object":"payment_intent","status":"succeeded","latest_charge":"ch_1"})";
constexpr const char* kWaiting = R"({"id":"pi_1","object":"payment_intent",
    "status":"requires_payment_method"})";

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
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    const Fetch create = f.fetches()[0];  // a copy: fetches() moves on
    EXPECT_EQ(create.target, OPAY_TARGET_PROCESSOR);
    EXPECT_TRUE(create.post);
    EXPECT_EQ(create.path, "v1/payment_intents");
    EXPECT_EQ(create.content_type, "application/x-www-form-urlencoded");
    Money due{1000, *parse_currency("USD")};
    EXPECT_EQ(create.idempotency_key, intent_key("m1", "12345", due));
    EXPECT_NE(create.body.find("amount=1000&currency=usd&"
                               "payment_method_types%5B%5D=card"),
              std::string::npos);
    EXPECT_EQ(create.body.find("tok_visa"), std::string::npos);
    f.feed(0, 200, kCreated);
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    EXPECT_NE(f.action()->data.find("\"type\":\"attempt\""), std::string::npos);
    EXPECT_NE(f.action()->data.find("\"paymentIntent\":\"pi_1\""),
              std::string::npos);
    EXPECT_EQ(f.action()->data.find("tok_visa"), std::string::npos);
    f.resolve(0, {});
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    const Fetch& confirm = f.fetches()[0];
    EXPECT_EQ(confirm.target, OPAY_TARGET_PROCESSOR);
    EXPECT_EQ(confirm.path, "v1/payment_intents/pi_1/confirm");
    EXPECT_FALSE(confirm.idempotency_key.empty());
    EXPECT_NE(confirm.idempotency_key, create.idempotency_key);
    EXPECT_NE(confirm.body.find("payment_method_data%5Bcard%5D%5Btoken%5D="
                                "tok_visa"),
              std::string::npos);
    f.feed(0, 200, kSucceeded);
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    EXPECT_NE(f.action()->data.find("\"type\":\"outcome\""), std::string::npos);
    f.resolve(0, {});
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    EXPECT_EQ(f.fetches()[0].target, OPAY_TARGET_NOTIFY);
    json::Document record;
    ASSERT_FALSE(json::parse(f.fetches()[0].body, record));
    EXPECT_EQ(json::write(record["confirmationNumber"]), "\"pi_1\"");
    EXPECT_EQ(json::write(record["paymentIntent"]), "\"pi_1\"");
    EXPECT_EQ(json::write(record["kind"]), "\"succeeded\"");
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
    EXPECT_EQ(json::write(d["entity"]["confirmationNumber"]), "\"pi_1\"");
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
    // its PaymentIntent is looked up: found (a replay), then read back
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents");
    f.feed(0, 200, kCreated);
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    EXPECT_FALSE(f.fetches()[0].post);
    EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1");
    f.feed(0, 200, kWaiting);  // paid some other way: the refusal stands
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_FALSE(f.action()->store);
    f.resolve(0, {});
    EXPECT_NE(f.response().body.find("not due"), std::string::npos);
    EXPECT_FALSE(f.variable(OPAY_VAR_CHARGE));
    EXPECT_TRUE(payment_due("PaymentPastDue"));
    EXPECT_FALSE(payment_due("PaymentAutomaticallyApplied"));
    EXPECT_FALSE(payment_due("SomethingNew"));
}

TEST_F(CompleteTest, PaidThroughItsIntentIsTheSameSuccess) {
    std::string paid = kInvoice;
    paid.replace(paid.find("PaymentDue"), 10, "PaymentComplete");
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, paid);
    f.feed(0, 200, kCreated);
    f.feed(0, 200, kSucceeded);
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL) << "no attempt: nothing confirmed";
    EXPECT_NE(f.action()->data.find("\"type\":\"outcome\""),
              std::string::npos);
    f.resolve(0, {});
    f.feed(0, 204, "");
    f.resolve(0, {});
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_TRUE(f.action()->store);
    f.resolve(0, {});
    EXPECT_EQ(json::write(reply(f)["entity"]["confirmationNumber"]),
              "\"pi_1\"");
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "already_paid");
}

TEST_F(CompleteTest, APaidInvoiceWhoseIntentCannotBeReadIsNoFailure) {
    config.journal = config.notify = false;
    std::string paid = kInvoice;
    paid.replace(paid.find("PaymentDue"), 10, "PaymentComplete");
    for (auto [status, body] : std::vector<std::pair<int, const char*>>{
             {500, ""},
             {200, "cut"},
             {200, R"({"id":"pi_1","object":"payment_intent",
                 "status":"processing"})"}}) {
        PaymentCompleteFlow f(config, input());
        f.resolve(OPAY_CLAIM_NEW, {});
        f.feed(0, 200, paid);
        f.feed(0, 200, kCreated);
        f.feed(0, status, body);
        ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
        f.resolve(0, {});
        EXPECT_EQ(f.response().status, 409) << body;
        EXPECT_FALSE(f.variable(OPAY_VAR_RESULT));
    }
}

TEST_F(CompleteTest, JournalFailureMeansNoCharge) {
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.feed(0, 200, kCreated);  // creating charges nothing
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
    f.feed(0, 200, kCreated);
    f.resolve(0, {});
    f.feed(0, 200, kSucceeded);
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
    EXPECT_NE(log.find("pi_1"), std::string::npos) << log;
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

// Up to the confirmation, without journal and notify.
// The whole call with its body in an arena (and that arena still lent
// while it runs) says and asks exactly what it does in a fresh pool.
TEST_F(CompleteTest, RunsTheSameInAnArena) {
    auto run = [this](const std::shared_ptr<json::Arenas>& arenas) {
        Input in = input();
        in.arenas = arenas;
        PaymentCompleteFlow f(config, in);
        EXPECT_EQ(f.arena() != nullptr, arenas != nullptr);
        std::string steps;
        auto note = [&f, &steps] {
            if (f.action()) {
                // the journal entry's id is random: left out
                std::string data = f.action()->data;
                auto at = data.find("\"entry\":\"");
                if (at != std::string::npos) {
                    at += 9;
                    data.erase(at, data.find('"', at) - at);
                }
                steps += f.action()->key + "|" + data + "\n";
            }
            for (const auto& fetch : f.fetches()) {
                steps += fetch.path + "|" + fetch.body + "\n";
            }
        };
        note();
        f.resolve(OPAY_CLAIM_NEW, {});
        note();
        f.feed(0, 200, kInvoice);
        note();
        f.feed(0, 200, kCreated);
        note();
        f.resolve(0, {});
        note();
        if (arenas) {
            EXPECT_EQ(arenas->lent(), 1u);
        }
        f.feed(0, 200, kSucceeded);
        note();
        f.resolve(0, {});
        note();
        f.feed(0, 204, "");
        note();
        f.resolve(0, {});
        note();
        f.resolve(0, {});
        EXPECT_TRUE(f.responding());
        return steps + f.response().body;
    };
    auto arenas = std::make_shared<json::Arenas>(2, 64 * 1024);
    std::string fresh = run(nullptr);
    EXPECT_EQ(run(arenas), fresh);
    EXPECT_EQ(run(arenas), fresh);  // the arena again, reused
    EXPECT_EQ(arenas->made(), 1u);
    EXPECT_EQ(arenas->lent(), 0u);
    EXPECT_NE(fresh.find("\"result\":\"success\""), std::string::npos);
}

void up_to_confirm(PaymentCompleteFlow& f) {
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.feed(0, 200, kCreated);
    ASSERT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1/confirm");
}

TEST_F(CompleteTest, APaidInvoiceIsRefusedWhenStripeHasNoSuccessForIt) {
    config.journal = config.notify = false;
    std::string paid = kInvoice;
    paid.replace(paid.find("PaymentDue"), 10, "PaymentComplete");
    // an amount Stripe cannot take has no PaymentIntent: nothing is asked
    body = payload("10.005", R"({"Format":"stripe","TestMode":true})");
    body.replace(body.find("USD"), 3, "KWD");
    PaymentCompleteFlow units(config, input());
    units.resolve(OPAY_CLAIM_NEW, {});
    units.feed(0, 200, paid);
    ASSERT_EQ(kind(units), OPAY_STEP_SETTLE) << "nothing asked of Stripe";
    units.resolve(0, {});
    EXPECT_NE(units.response().body.find("not due"), std::string::npos);
    // Stripe refuses the create's replay (another key's parameters)
    body = payload("10.00", R"({"Format":"stripe","TestMode":true})");
    PaymentCompleteFlow refused(config, input());
    refused.resolve(OPAY_CLAIM_NEW, {});
    refused.feed(0, 200, paid);
    refused.feed(0, 400, R"({"error":{"type":"idempotency_error"}})");
    ASSERT_EQ(kind(refused), OPAY_STEP_SETTLE);
    refused.resolve(0, {});
    EXPECT_EQ(refused.response().status, 200);
    EXPECT_NE(refused.response().body.find("not due"), std::string::npos);
}

TEST_F(CompleteTest, ACanceledIntentChargesNothing) {
    config.journal = config.notify = false;
    const char* canceled = R"({"id":"pi_1","object":"payment_intent",
        "status":"canceled"})";
    // found canceled by the create: never confirmed
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.feed(0, 200, canceled);
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE) << "nothing confirmed";
    f.resolve(0, {});
    EXPECT_EQ(json::write(reply(f)["error"]["innererror"]["code"]),
              "\"processing_error\"");
    // canceled while a confirmation's answer was lost
    PaymentCompleteFlow g(config, input());
    up_to_confirm(g);
    g.feed(0, 500, R"({"error":{"type":"api_error"}})");
    g.feed(0, 200, canceled);
    ASSERT_EQ(kind(g), OPAY_STEP_SETTLE) << "not confirmed again";
    g.resolve(0, {});
    EXPECT_EQ(json::write(reply(g)["result"]), "\"fail\"");
    EXPECT_EQ(g.variable(OPAY_VAR_CHARGE), "rejected");
}

TEST_F(CompleteTest, ARefusedConfirmationIsReadBackBeforeAFailure) {
    config.journal = config.notify = false;
    const char* refused = R"({"error":{"type":"invalid_request_error",
        "code":"resource_missing"}})";
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 400, refused);
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1");
    f.feed(0, 200, kWaiting);
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE) << "no second confirmation";
    f.resolve(0, {});
    EXPECT_EQ(json::write(reply(f)["error"]["innererror"]["code"]),
              "\"processing_error\"");
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "rejected");
    // refused because an earlier confirmation had gone through
    PaymentCompleteFlow g(config, input());
    up_to_confirm(g);
    g.feed(0, 400, refused);
    g.feed(0, 200, kSucceeded);
    g.resolve(0, {});
    EXPECT_EQ(json::write(reply(g)["result"]), "\"success\"");
    EXPECT_EQ(g.variable(OPAY_VAR_CHARGE), "already_paid");
}

TEST_F(CompleteTest, DeclineIsMappedAndNotFinal) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 402, R"({"error":{"type":"card_error","code":"expired_card",
        "message":"Your card has expired.",
        "payment_intent":{"id":"pi_1","status":"requires_payment_method"}}})");
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_FALSE(f.action()->store) << "the next card must reach Stripe";
    f.resolve(0, {});
    auto d = reply(f);
    EXPECT_EQ(json::write(d["error"]["code"]), "\"card_error\"");
    EXPECT_EQ(json::write(d["error"]["innererror"]),
              R"({"code":"expired_card","message":"Your card has expired."})");
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "declined");
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE_CODE), "expired_card");
}

TEST_F(CompleteTest, AuthenticationRequiredIsADeclineThePayerUnderstands) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 402, R"({"error":{"type":"card_error",
        "code":"authentication_required",
        "message":"requires authentication"}})");
    f.resolve(0, {});
    auto d = reply(f);
    EXPECT_EQ(json::write(d["error"]["innererror"]["code"]),
              "\"card_declined\"");
    EXPECT_NE(f.response().body.find("another card"), std::string::npos);
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "requires_action");
    // and a requires_action status read anywhere is the same
    PaymentCompleteFlow g(config, input());
    up_to_confirm(g);
    g.feed(0, 200, R"({"id":"pi_1","object":"payment_intent",
        "status":"requires_action"})");
    g.resolve(0, {});
    EXPECT_EQ(g.variable(OPAY_VAR_CHARGE), "requires_action");
    EXPECT_EQ(json::write(reply(g)["result"]), "\"fail\"");
}

TEST_F(CompleteTest, UnknownAnswersAreReadBack) {
    config.journal = config.notify = false;
    for (auto [status, body] : std::vector<std::pair<int, const char*>>{
             {500, R"({"error":{"type":"api_error"}})"},
             {504, ""},
             {0, ""},
             {200, R"({"id":"pi_1","object":"payment_in)"},
             {429, R"({"error":{"type":"invalid_request_error",
                 "code":"lock_timeout"}})"}}) {
        PaymentCompleteFlow f(config, input());
        up_to_confirm(f);
        f.feed(0, status, body);
        ASSERT_EQ(kind(f), OPAY_STEP_FETCH) << status;
        EXPECT_FALSE(f.fetches()[0].post);
        EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1");
        f.feed(0, 200, kSucceeded);  // it had charged
        ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
        EXPECT_TRUE(f.action()->store);
        f.resolve(0, {});
        EXPECT_EQ(json::write(reply(f)["result"]), "\"success\"") << status;
        // after a lock, the confirmation holding it charged, not ours
        EXPECT_EQ(f.variable(OPAY_VAR_CHARGE),
                  status == 429 ? "already_paid" : "succeeded");
    }
}

TEST_F(CompleteTest, AlreadySucceededAnswersTheSameSuccess) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 400, R"({"error":{"type":"invalid_request_error",
        "code":"payment_intent_unexpected_state"}})");
    f.feed(0, 200, kSucceeded);
    f.resolve(0, {});
    EXPECT_EQ(json::write(reply(f)["entity"]["confirmationNumber"]),
              "\"pi_1\"");
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "already_paid");
}

TEST_F(CompleteTest, NothingChargedIsConfirmedOnceMoreThenLeftToTheNext) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    std::string first = f.fetches()[0].idempotency_key;
    const char* api_error = R"({"error":{"type":"api_error"}})";
    f.feed(0, 500, api_error);  // Stripe answered: the request ended
    f.feed(0, 200, kWaiting);   // nothing charged: confirm again
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1/confirm");
    EXPECT_NE(f.fetches()[0].idempotency_key, first) << "a fresh key";
    f.feed(0, 500, api_error);
    f.feed(0, 200, kWaiting);
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_FALSE(f.action()->store);
    f.resolve(0, {});
    EXPECT_EQ(f.response().status, 200);
    EXPECT_EQ(json::write(reply(f)["error"]["innererror"]["code"]),
              "\"processing_error\"");
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "rejected");
}

TEST_F(CompleteTest, NoAnswerMayStillChargeSoNeverAFailure) {
    config.journal = config.notify = false;
    for (auto [status, body] : std::vector<std::pair<int, const char*>>{
             {504, ""}, {0, ""}, {502, "<html>"}, {200, "{\"id\""}}) {
        PaymentCompleteFlow f(config, input());
        up_to_confirm(f);
        f.feed(0, status, body);
        f.feed(0, 200, kWaiting);  // a running confirmation shows this too
        ASSERT_EQ(kind(f), OPAY_STEP_SETTLE) << "no second confirmation";
        f.resolve(0, {});
        EXPECT_EQ(f.response().status, 409) << status;
        EXPECT_FALSE(f.variable(OPAY_VAR_RESULT)) << "not a fail";
        EXPECT_EQ(f.variable(OPAY_VAR_ERROR), "payment_in_progress");
    }
}

TEST_F(CompleteTest, ALockedIntentIsLeftToTheConfirmationHoldingIt) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 429, R"({"error":{"type":"invalid_request_error",
        "code":"lock_timeout"}})");
    f.feed(0, 200, kWaiting);
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE) << "no second confirmation";
    f.resolve(0, {});
    EXPECT_EQ(f.response().status, 409);
}

TEST_F(CompleteTest, UnreadableOrProcessingIsInProgressNeverAGuess) {
    config.journal = config.notify = false;
    for (auto [status, body] : std::vector<std::pair<int, const char*>>{
             {500, ""},
             {200, "cut"},
             {200, R"({"id":"pi_1","object":"payment_intent",
                 "status":"processing"})"},
             {200, R"({"id":"pi_2","object":"payment_intent",
                 "status":"succeeded"})"}}) {
        PaymentCompleteFlow f(config, input());
        up_to_confirm(f);
        f.feed(0, 504, "");
        f.feed(0, status, body);
        ASSERT_EQ(kind(f), OPAY_STEP_SETTLE) << body;
        EXPECT_FALSE(f.action()->store);
        f.resolve(0, {});
        EXPECT_EQ(f.response().status, 409) << body;
        auto d = reply(f);
        EXPECT_EQ(json::write(d["requestId"]), "\"12345\"");
        EXPECT_EQ(json::write(d["error"]["code"]), "\"payment_in_progress\"");
        EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "unknown");
        EXPECT_EQ(f.response().log, OPAY_LOG_ERROR);
    }
}

TEST_F(CompleteTest, CreateFailureChargesNothing) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.feed(0, 500, R"({"error":{"type":"api_error"}})");
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_FALSE(f.action()->store);
    f.resolve(0, {});
    // the processor's failure, not the payer's: its status, not "fail"
    EXPECT_EQ(f.response().status, 502);
    EXPECT_EQ(json::write(reply(f)["error"]["code"]), "\"backend_error\"");
    EXPECT_FALSE(f.variable(OPAY_VAR_RESULT));
    PaymentCompleteFlow t(config, input());
    t.resolve(OPAY_CLAIM_NEW, {});
    t.feed(0, 200, kInvoice);
    t.feed(0, 504, "");
    t.resolve(0, {});
    EXPECT_EQ(t.response().status, 504);
    // Stripe refused the create: nothing can be charged, a payment answer
    PaymentCompleteFlow n(config, input());
    n.resolve(OPAY_CLAIM_NEW, {});
    n.feed(0, 200, kInvoice);
    n.feed(0, 400, R"({"error":{"type":"invalid_request_error",
        "code":"amount_too_small"}})");
    n.resolve(0, {});
    EXPECT_EQ(json::write(reply(n)["error"]["innererror"]["code"]),
              "\"processing_error\"");
    PaymentCompleteFlow g(config, input());
    g.resolve(OPAY_CLAIM_NEW, {});
    g.feed(0, 200, kInvoice);
    g.feed(0, 409, R"({"error":{"type":"idempotency_error",
        "code":"idempotency_key_in_use"}})");
    g.resolve(0, {});
    EXPECT_EQ(g.response().status, 409);
}

TEST_F(CompleteTest, AmountsStripeCannotTakeAreRefused) {
    config.journal = config.notify = false;
    std::string inv = kInvoice;
    inv.replace(inv.find("\"price\":10"), 10, "\"price\":\"10000.50\"");
    inv.replace(inv.find("USD"), 3, "MGA");
    body = payload("10000.50", R"({"Format":"stripe","TestMode":true})");
    body.replace(body.find("USD"), 3, "MGA");
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, inv);
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE) << "nothing asked of Stripe";
    f.resolve(0, {});
    EXPECT_NE(f.response().body.find("cannot be charged in MGA"),
              std::string::npos);
    // 10000.00 MGA is amount=10000 at Stripe
    inv.replace(inv.find("10000.50"), 8, "10000.00");
    body.replace(body.find("10000.50"), 8, "10000.00");
    PaymentCompleteFlow g(config, input());
    g.resolve(OPAY_CLAIM_NEW, {});
    g.feed(0, 200, inv);
    ASSERT_EQ(kind(g), OPAY_STEP_FETCH);
    EXPECT_NE(g.fetches()[0].body.find("amount=10000&currency=mga"),
              std::string::npos) << g.fetches()[0].body;
}

TEST_F(CompleteTest, PaymentRefusalsSpeakTheProtocol) {
    config.journal = config.notify = false;
    PaymentCompleteFlow unknown(config, input());
    unknown.resolve(OPAY_CLAIM_NEW, {});
    unknown.feed(0, 404, "");
    unknown.resolve(0, {});
    EXPECT_EQ(unknown.response().status, 200);
    EXPECT_EQ(json::write(reply(unknown)["result"]), "\"fail\"");
    std::string other = kInvoice;
    other.replace(other.find("12345"), 5, "99999");
    PaymentCompleteFlow mismatch(config, input());
    mismatch.resolve(OPAY_CLAIM_NEW, {});
    mismatch.feed(0, 200, other);
    mismatch.resolve(0, {});
    EXPECT_EQ(mismatch.response().status, 200);
    auto d = reply(mismatch);
    EXPECT_EQ(json::write(d["requestId"]), "\"12345\"");
    EXPECT_EQ(json::write(d["error"]["innererror"]["code"]),
              "\"processing_error\"");
    // an infrastructure failure keeps its status, and says the requestId
    PaymentCompleteFlow down(config, input());
    down.resolve(OPAY_CLAIM_NEW, {});
    down.feed(0, 502, "");
    down.resolve(0, {});
    EXPECT_EQ(down.response().status, 502);
    EXPECT_EQ(json::write(reply(down)["requestId"]), "\"12345\"");
}

TEST_F(CompleteTest, NotifyFailureStillAnswersTheCharge) {
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.feed(0, 200, kCreated);
    f.resolve(0, {});
    f.feed(0, 200, kSucceeded);
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
