// The PaymentComplete flow step by step: claim, fetch, create the
// invoice's PaymentIntent, make the token a PaymentMethod, update the
// intent with this payer's pair, journal, confirm (and read back),
// journal, notify, journal, settle, answer; and each way out of it.
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
// A PaymentIntent answer: status, amount (Stripe's units), payment method,
// the payment method of its last decline.
std::string intent(const char* status, int64_t amount = 99999999,
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
const std::string kCreated = intent("requires_payment_method");
const std::string kSet = intent("requires_confirmation", 1000, "pm_1");
const std::string kSucceeded = intent("succeeded", 1000, "pm_1");
constexpr const char* kMethod = R"({"id":"pm_1","object":"payment_method",
    "type":"card"})";
constexpr const char* kApiError = R"({"error":{"type":"api_error"}})";

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

TEST_F(CompleteTest, HappyPathRunsEveryStepInOrder) {
    config.processor_prefix = "/stripe/";
    PaymentCompleteFlow f(config, input());
    ASSERT_EQ(kind(f), OPAY_STEP_CLAIM);
    EXPECT_EQ(f.action()->key, "m1\ntest\n/stripe/\n12345");
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
    EXPECT_EQ(create.idempotency_key, intent_key("m1", "12345", "usd", 0));
    // the placeholder: nothing a payer chose, nothing the backend said
    EXPECT_EQ(create.body,
              "amount=99999999&currency=usd&payment_method_types%5B%5D=card&"
              "description=Invoice%2012345&metadata%5Binvoice%5D=12345");
    f.feed(0, 200, kCreated);
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    const Fetch method = f.fetches()[0];
    EXPECT_TRUE(method.post);
    EXPECT_EQ(method.path, "v1/payment_methods");
    EXPECT_EQ(method.body, "type=card&card%5Btoken%5D=tok_visa");
    EXPECT_EQ(method.idempotency_key, payment_method_key("tok_visa"));
    f.feed(0, 200, kMethod);
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    const Fetch update = f.fetches()[0];
    EXPECT_TRUE(update.post);
    EXPECT_EQ(update.path, "v1/payment_intents/pi_1");
    EXPECT_EQ(update.body.find("amount=1000&payment_method=pm_1&"
                               "metadata%5Bshipping_option%5D=&"
                               "metadata%5Battempt%5D="),
              0u)
        << update.body;
    EXPECT_NE(update.idempotency_key, create.idempotency_key);
    f.feed(0, 200, kSet);
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    EXPECT_NE(f.action()->data.find("\"type\":\"attempt\""), std::string::npos);
    EXPECT_NE(f.action()->data.find("\"paymentIntent\":\"pi_1\""),
              std::string::npos);
    EXPECT_EQ(f.action()->data.find("tok_visa"), std::string::npos);
    f.resolve(0, {});
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    const Fetch confirm = f.fetches()[0];
    EXPECT_EQ(confirm.target, OPAY_TARGET_PROCESSOR);
    EXPECT_EQ(confirm.path, "v1/payment_intents/pi_1/confirm");
    EXPECT_FALSE(confirm.idempotency_key.empty());
    EXPECT_NE(confirm.idempotency_key, update.idempotency_key);
    // confirmed as set: no payment method on the confirm
    EXPECT_EQ(confirm.body, "error_on_requires_action=true");
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
    EXPECT_EQ(json::write(record["mode"]), "\"test\"");
    EXPECT_EQ(json::write(record["paymentMethod"]), "\"pm_1\"");
    EXPECT_EQ(json::write(record["amount"]),
              R"({"currency":"USD","value":"10.00"})");
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
    // kept with the amount it answers for
    EXPECT_EQ(stored, "10.00 USD\n" + f.response().body);
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

TEST_F(CompleteTest, TheClaimBelongsToOneLocation) {
    auto claim = [this] {
        return PaymentCompleteFlow(config, input()).action()->key;
    };
    config.processor_prefix = "/stripe-test/";
    std::string test = claim();
    config.processor_prefix = "/stripe-live/";
    EXPECT_NE(claim(), test) << "another Stripe account";
    config.test_mode = false;
    body = payload("10.00", R"({"Format":"stripe","TestMode":false})");
    std::string live = claim();
    EXPECT_EQ(live, "m1\nlive\n/stripe-live/\n12345");
    config.processor_prefix = "/stripe-test/";
    EXPECT_NE(claim(), test) << "the same account in another mode";
}

TEST_F(CompleteTest, AStoredSuccessAnswersOnlyItsAmount) {
    std::string stored = R"({"requestId":"12345","result":"success"})";
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_DONE, "10.00 USD\n" + stored);
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(f.response().body, stored);
    EXPECT_EQ(f.variable(OPAY_VAR_RESULT), "success");
    EXPECT_FALSE(f.variable(OPAY_VAR_CHARGE)) << "a replay charges nothing";
    // another amount (another shipping option, another device)
    body = payload("13.00", R"({"Format":"stripe","TestMode":true})");
    PaymentCompleteFlow other(config, input());
    other.resolve(OPAY_CLAIM_DONE, "10.00 USD\n" + stored);
    ASSERT_TRUE(other.responding());
    EXPECT_EQ(other.response().status, 200);
    auto d = reply(other);
    EXPECT_EQ(json::write(d["result"]), "\"fail\"");
    EXPECT_EQ(json::write(d["error"]["innererror"]["message"]),
              "\"This invoice has already been paid.\"");
    EXPECT_FALSE(other.variable(OPAY_VAR_CHARGE));
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

TEST_F(CompleteTest, AReplayedCreateIsReadBackBeforeDeciding) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.feed(0, 200, kCreated, true);  // as it was created, long ago
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    EXPECT_FALSE(f.fetches()[0].post);
    EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1");
    f.feed(0, 200, intent("succeeded", 1000, "pm_9"));
    // at this amount, before paying: whose charge, by this payer's card
    ASSERT_EQ(f.fetches().at(0).path, "v1/payment_methods");
    f.feed(0, 200, kMethod);  // pm_1: not the one charged
    const Response& r = answer(f);
    EXPECT_EQ(json::write(reply(f)["result"]), "\"success\"") << r.body;
    // before this payer's card was made a PaymentMethod: at this amount,
    // the success this payer (another device, a retry) is owed
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "already_paid");
}

TEST_F(CompleteTest, OnlyAReplayed5xxMovesTheGeneration) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    std::string key0 = intent_key("m1", "12345", "usd", 0);
    ASSERT_EQ(f.fetches()[0].idempotency_key, key0);
    // a fresh 500 or the edge's 503 may hide a stored 200: the same key
    f.feed(0, 500, kApiError);
    ASSERT_EQ(f.fetches()[0].idempotency_key, key0);
    // now Stripe says the key's first answer was a 500 (even cut): next
    f.feed(0, 500, "", true);
    ASSERT_EQ(f.fetches()[0].idempotency_key,
              intent_key("m1", "12345", "usd", 1));
    f.feed(0, 503, "");
    ASSERT_EQ(f.fetches()[0].idempotency_key,
              intent_key("m1", "12345", "usd", 1));
    f.feed(0, 200, kCreated);
    EXPECT_EQ(f.fetches()[0].path, "v1/payment_methods");
    // two fresh failures in a row: the processor's failure, nothing moved
    PaymentCompleteFlow g(config, input());
    g.resolve(OPAY_CLAIM_NEW, {});
    g.feed(0, 200, kInvoice);
    g.feed(0, 503, "");
    g.feed(0, 500, kApiError);
    EXPECT_EQ(answer(g).status, 502);
    EXPECT_FALSE(g.variable(OPAY_VAR_RESULT));
}

TEST_F(CompleteTest, GenerationsAreBounded) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    for (int g = 0; g < kMaxGenerations; ++g) {
        ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
        ASSERT_EQ(f.fetches()[0].idempotency_key,
                  intent_key("m1", "12345", "usd", g));
        // a canceled intent moves it as a stored 500 does
        if (g % 2) {
            f.feed(0, 500, kApiError, true);
        } else {
            f.feed(0, 200, intent("canceled"));
        }
    }
    const Response& r = answer(f);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(json::write(reply(f)["result"]), "\"fail\"");
    EXPECT_NE(r.log_message.find("keys are used up"), std::string::npos);
}

TEST_F(CompleteTest, APaidInvoiceIsLookedUpThroughItsOneIntent) {
    config.journal = config.notify = false;
    // a total of 0 now: the lookup is the invoice's intent, in its currency
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, paid_invoice("0"));
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    EXPECT_EQ(f.fetches()[0].idempotency_key,
              intent_key("m1", "12345", "usd", 0));
    EXPECT_EQ(f.fetches()[0].body.find("amount=99999999&currency=usd"), 0u);
    EXPECT_EQ(f.fetches()[0].body.find("1000"), std::string::npos);
    f.feed(0, 200, kCreated, true);
    f.feed(0, 200, kSucceeded);
    ASSERT_EQ(f.fetches().at(0).path, "v1/payment_methods");
    f.feed(0, 200, R"({"id":"pm_2","object":"payment_method"})");
    EXPECT_TRUE(f.action() && f.action()->store);
    answer(f);
    EXPECT_EQ(json::write(reply(f)["entity"]["confirmationNumber"]),
              "\"pi_1\"");
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "already_paid");
    // another amount: already paid, nothing asked beyond the read-back
    body = payload("13.00", R"({"Format":"stripe","TestMode":true})");
    PaymentCompleteFlow other(config, input());
    other.resolve(OPAY_CLAIM_NEW, {});
    other.feed(0, 200, paid_invoice());
    other.feed(0, 200, kCreated, true);
    other.feed(0, 200, kSucceeded);
    EXPECT_FALSE(other.action()->store);
    answer(other);
    EXPECT_NE(other.response().body.find("already been paid"),
              std::string::npos);
    // another currency, or an amount over eight digits: Stripe not asked
    for (const char* value : {"1.00", "1000000.00"}) {
        body = payload(value, R"({"Format":"stripe","TestMode":true})");
        if (value[0] == '1' && value[1] == '.') {
            body.replace(body.find("USD"), 3, "EUR");
        }
        PaymentCompleteFlow none(config, input());
        none.resolve(OPAY_CLAIM_NEW, {});
        none.feed(0, 200, paid_invoice());
        ASSERT_EQ(kind(none), OPAY_STEP_SETTLE) << value;
        answer(none);
        EXPECT_NE(none.response().body.find("not due"), std::string::npos);
    }
    EXPECT_TRUE(payment_due("PaymentPastDue"));
    EXPECT_FALSE(payment_due("PaymentAutomaticallyApplied"));
    EXPECT_FALSE(payment_due("SomethingNew"));
}

TEST_F(CompleteTest, AnIntentMadeOnlyForALookupIsCanceled) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, paid_invoice());
    f.feed(0, 200, kCreated);  // not a replay: this call made it
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    EXPECT_TRUE(f.fetches()[0].post);
    EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1/cancel");
    EXPECT_EQ(f.fetches()[0].body, "cancellation_reason=abandoned");
    f.feed(0, 200, intent("canceled"));
    answer(f);
    EXPECT_NE(f.response().body.find("not due"), std::string::npos);
    EXPECT_FALSE(f.variable(OPAY_VAR_CHARGE));
    // one found open (a replay) is not ours to cancel: the refusal stands
    PaymentCompleteFlow g(config, input());
    g.resolve(OPAY_CLAIM_NEW, {});
    g.feed(0, 200, paid_invoice());
    g.feed(0, 200, kCreated, true);
    g.feed(0, 200, kCreated);
    answer(g);
    EXPECT_NE(g.response().body.find("not due"), std::string::npos);
    // found canceled: the next generation is looked up too
    PaymentCompleteFlow h(config, input());
    h.resolve(OPAY_CLAIM_NEW, {});
    h.feed(0, 200, paid_invoice());
    h.feed(0, 200, intent("canceled"), true);
    h.feed(0, 200, intent("canceled"));
    ASSERT_EQ(kind(h), OPAY_STEP_FETCH);
    EXPECT_EQ(h.fetches()[0].idempotency_key,
              intent_key("m1", "12345", "usd", 1));
}

TEST_F(CompleteTest, APaidInvoiceWhoseIntentCannotBeReadIsNoFailure) {
    config.journal = config.notify = false;
    for (auto [status, body] : std::vector<std::pair<int, std::string>>{
             {500, ""}, {200, "cut"}, {200, intent("processing", 1000)}}) {
        PaymentCompleteFlow f(config, input());
        f.resolve(OPAY_CLAIM_NEW, {});
        f.feed(0, 200, paid_invoice());
        f.feed(0, 200, kCreated, true);
        f.feed(0, status, body);
        EXPECT_EQ(answer(f).status, 409) << body;
        EXPECT_FALSE(f.variable(OPAY_VAR_RESULT));
    }
}

TEST_F(CompleteTest, JournalFailureMeansNoCharge) {
    PaymentCompleteFlow f(config, input());
    up_to_update(f);
    f.feed(0, 200, kSet);
    f.resolve(-1, {});  // the attempt could not be written
    EXPECT_EQ(answer(f).status, 503);
}

TEST_F(CompleteTest, AJournalFailureAfterAnUnansweredConfirmIsNo503) {
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 504, "");    // no answer: it may still charge
    f.feed(0, 200, kSet);  // not yet: confirm again, journalled first
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    f.resolve(-1, {});
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL) << "the unknown outcome";
    f.resolve(-1, {});
    f.feed(0, 204, "");
    f.resolve(-1, {});
    EXPECT_EQ(answer(f).status, 409);
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "unknown");
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
    up_to_confirm(f);
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
                // the attempt's nonce is random: left out
                steps += fetch.path + "|" +
                         fetch.body.substr(0, fetch.body.find("attempt")) +
                         "\n";
            }
        };
        note();
        f.resolve(OPAY_CLAIM_NEW, {});
        note();
        f.feed(0, 200, kInvoice);
        note();
        f.feed(0, 200, kCreated);
        note();
        f.feed(0, 200, kMethod);
        note();
        f.feed(0, 200, kSet);
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

TEST_F(CompleteTest, TheTokensPaymentMethod) {
    config.journal = config.notify = false;
    auto to_method = [this](PaymentCompleteFlow& f) {
        f.resolve(OPAY_CLAIM_NEW, {});
        f.feed(0, 200, kInvoice);
        f.feed(0, 200, kCreated);
        ASSERT_EQ(f.fetches()[0].path, "v1/payment_methods");
    };
    // a used or unknown token: nothing charged, a final answer
    PaymentCompleteFlow used(config, input());
    to_method(used);
    used.feed(0, 400, R"({"error":{"type":"invalid_request_error",
        "code":"token_already_used"}})");
    answer(used);
    EXPECT_EQ(json::write(reply(used)["result"]), "\"fail\"");
    EXPECT_NE(used.response().body.find("another card"), std::string::npos);
    // no answer: the processor's failure, nothing of this payer's is set
    PaymentCompleteFlow down(config, input());
    to_method(down);
    down.feed(0, 500, kApiError);
    EXPECT_EQ(answer(down).status, 502);
    // a card error on the token itself is this payer's decline
    PaymentCompleteFlow bad(config, input());
    to_method(bad);
    bad.feed(0, 402, R"({"error":{"type":"card_error",
        "code":"incorrect_number",
        "message":"Your card number is incorrect."}})");
    answer(bad);
    EXPECT_EQ(bad.variable(OPAY_VAR_CHARGE), "declined");
    EXPECT_EQ(bad.variable(OPAY_VAR_CHARGE_CODE), "incorrect_number");
}

TEST_F(CompleteTest, OnlyAnOptionPricedInReachesStripe) {
    config.journal = config.notify = false;
    config.shipping = true;
    // an unshipped invoice owes its total whatever option is sent: the
    // payer's text is not the intent's metadata
    std::string unshipped =
        R"({"requestShipping":false,)" + std::string(kInvoice).substr(1);
    body = payload("10.00", R"({"Format":"stripe","TestMode":true})");
    body.replace(body.rfind('}'), 1,
                 R"(,"shippingOption":")" + std::string(600, 'x') + "\"}");
    PaymentCompleteFlow f(config, input());
    up_to_update(f, unshipped);
    EXPECT_NE(f.fetches()[0].body.find("metadata%5Bshipping_option%5D=&"),
              std::string::npos)
        << f.fetches()[0].body;
    EXPECT_EQ(f.fetches()[0].body.find("xxx"), std::string::npos);
}

TEST_F(CompleteTest, AnUpdateThatMeetsALockOrAStateIsReadBack) {
    config.journal = config.notify = false;
    for (auto [status, body] : std::vector<std::pair<int, const char*>>{
             {429, R"({"error":{"type":"invalid_request_error",
                 "code":"lock_timeout"}})"},
             {400, R"({"error":{"type":"invalid_request_error",
                 "code":"payment_intent_unexpected_state"}})"},
             {500, ""},
             {0, ""}}) {
        PaymentCompleteFlow f(config, input());
        up_to_update(f);
        f.feed(0, status, body);
        ASSERT_EQ(kind(f), OPAY_STEP_FETCH) << status;
        EXPECT_FALSE(f.fetches()[0].post);
        EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1");
        // our pair was set by it after all: confirmed
        f.feed(0, 200, kSet);
        ASSERT_EQ(kind(f), OPAY_STEP_FETCH) << status;
        EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1/confirm");
    }
    // the confirm holding the lock charged another payer's pair
    PaymentCompleteFlow g(config, input());
    up_to_update(g);
    g.feed(0, 429, R"({"error":{"type":"invalid_request_error",
        "code":"lock_timeout"}})");
    g.feed(0, 200, intent("succeeded", 1300, "pm_2"));
    ASSERT_EQ(kind(g), OPAY_STEP_SETTLE);
    answer(g);
    EXPECT_NE(g.response().body.find("already been paid"), std::string::npos);
}

TEST_F(CompleteTest, StripesAmountLimitsAreFinalAndExplained) {
    config.journal = config.notify = false;
    for (auto [code, words] : std::vector<std::pair<const char*, const char*>>{
             {"amount_too_small", "less than the smallest"},
             {"amount_too_large", "more than the largest"}}) {
        PaymentCompleteFlow f(config, input());
        up_to_update(f);
        f.feed(0, 400, std::string(R"({"error":{"type":"invalid_request_error",
            "code":")") + code + R"("}})");
        answer(f);
        EXPECT_EQ(f.response().status, 200);
        EXPECT_NE(f.response().body.find(words), std::string::npos);
        EXPECT_EQ(f.response().body.find("try again"), std::string::npos);
    }
    // over eight digits in Stripe's units: Stripe is never asked
    std::string big = kInvoice;
    big.replace(big.find("\"price\":10"), 10, "\"price\":1000000");
    body = payload("1000000.00", R"({"Format":"stripe","TestMode":true})");
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, big);
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE) << "nothing asked of Stripe";
    answer(f);
    EXPECT_NE(f.response().body.find("more than the largest"),
              std::string::npos);
}

TEST_F(CompleteTest, ACanceledIntentChargesNothingAndMovesOn) {
    config.journal = config.notify = false;
    // canceled while our confirmation's answer was lost: the next
    // generation's intent, never a confirm of the canceled one
    PaymentCompleteFlow g(config, input());
    up_to_confirm(g);
    g.feed(0, 500, kApiError);
    g.feed(0, 200, intent("canceled", 1000, "pm_1"));
    ASSERT_EQ(kind(g), OPAY_STEP_FETCH);
    EXPECT_EQ(g.fetches()[0].idempotency_key,
              intent_key("m1", "12345", "usd", 1));
    g.feed(0, 200, intent("requires_payment_method", 99999999, nullptr,
                          nullptr, "pi_2"));
    ASSERT_EQ(kind(g), OPAY_STEP_FETCH);
    EXPECT_EQ(g.fetches()[0].path, "v1/payment_intents/pi_2")
        << "the payment method is kept: straight to the update";
}

TEST_F(CompleteTest, ADeclineIsOursOnlyIfItNamesOurPaymentMethod) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 402, R"({"error":{"type":"card_error","code":"expired_card",
        "message":"Your card has expired.",
        "payment_method":{"id":"pm_1","object":"payment_method"},
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
    // another payer's card (named by the intent's last error): ours again,
    // once; then 409, never their decline
    const std::string theirs = R"({"error":{"type":"card_error",
        "code":"card_declined","message":"Your card was declined.",
        "payment_intent":{"id":"pi_1","status":"requires_payment_method",
          "last_payment_error":{"payment_method":{"id":"pm_2"}}}}})";
    PaymentCompleteFlow g(config, input());
    up_to_confirm(g);
    g.feed(0, 402, theirs);
    ASSERT_EQ(kind(g), OPAY_STEP_FETCH);
    EXPECT_EQ(g.fetches()[0].path, "v1/payment_intents/pi_1");
    EXPECT_TRUE(g.fetches()[0].post) << "our pair set again";
    g.feed(0, 200, kSet);
    g.feed(0, 402, theirs);
    EXPECT_EQ(answer(g).status, 409);
    EXPECT_FALSE(g.variable(OPAY_VAR_RESULT));
    // our decline read back from the intent
    PaymentCompleteFlow h(config, input());
    up_to_confirm(h);
    h.feed(0, 504, "");
    h.feed(0, 200, intent("requires_payment_method", 1000, nullptr, "pm_1"));
    answer(h);
    EXPECT_EQ(h.variable(OPAY_VAR_CHARGE), "declined");
    EXPECT_NE(h.response().body.find("Your card was declined."),
              std::string::npos);
}

TEST_F(CompleteTest, AuthenticationRequiredIsADeclineThePayerUnderstands) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 402, R"({"error":{"type":"card_error",
        "code":"authentication_required",
        "message":"requires authentication",
        "payment_method":{"id":"pm_1"}}})");
    answer(f);
    auto d = reply(f);
    EXPECT_EQ(json::write(d["error"]["innererror"]["code"]),
              "\"card_declined\"");
    EXPECT_NE(f.response().body.find("another card"), std::string::npos);
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "requires_action");
    // and a requires_action status of our pair read anywhere is the same
    PaymentCompleteFlow g(config, input());
    up_to_confirm(g);
    g.feed(0, 200, intent("requires_action", 1000, "pm_1"));
    answer(g);
    EXPECT_EQ(g.variable(OPAY_VAR_CHARGE), "requires_action");
    EXPECT_EQ(json::write(reply(g)["result"]), "\"fail\"");
}

TEST_F(CompleteTest, WhoWasChargedIsTheSucceededIntents) {
    // another payer's update landed between ours and our confirm: their
    // pair was charged; journalled and notified as their success, and
    // this payer told the invoice is paid
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 200, intent("succeeded", 1300, "pm_2"));
    ASSERT_EQ(kind(f), OPAY_STEP_JOURNAL);
    f.resolve(0, {});
    json::Document record;
    ASSERT_FALSE(json::parse(f.fetches()[0].body, record));
    EXPECT_EQ(json::write(record["result"]), "\"success\"");
    EXPECT_EQ(json::write(record["kind"]), "\"other_payer\"");
    EXPECT_EQ(json::write(record["paymentMethod"]), "\"pm_2\"");
    EXPECT_EQ(json::write(record["amount"]),
              R"({"currency":"USD","value":"13.00"})");
    EXPECT_FALSE(record.HasMember("payer")) << "not this payer's charge";
    f.feed(0, 204, "");
    f.resolve(0, {});
    ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
    EXPECT_FALSE(f.action()->store);
    f.resolve(0, {});
    auto d = reply(f);
    EXPECT_EQ(json::write(d["result"]), "\"fail\"");
    EXPECT_EQ(json::write(d["error"]["innererror"]["message"]),
              "\"This invoice has already been paid.\"");
    // their pair at this payer's amount: that success, not "charged by us"
    config.journal = config.notify = false;
    PaymentCompleteFlow g(config, input());
    up_to_confirm(g);
    g.feed(0, 200, intent("succeeded", 1000, "pm_2"));
    ASSERT_TRUE(g.action()->store);
    answer(g);
    EXPECT_EQ(json::write(reply(g)["result"]), "\"success\"");
    EXPECT_EQ(g.variable(OPAY_VAR_CHARGE), "other_payer");
}

TEST_F(CompleteTest, AnotherPayersPairSetIsReplacedByOurs) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    // our confirm met a lock; the read-back shows another payer's pair
    f.feed(0, 429, R"({"error":{"type":"invalid_request_error",
        "code":"lock_timeout"}})");
    f.feed(0, 200, intent("requires_confirmation", 1300, "pm_2"));
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    EXPECT_TRUE(f.fetches()[0].post);
    EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1");
    EXPECT_NE(f.fetches()[0].body.find("amount=1000&payment_method=pm_1"),
              std::string::npos);
    f.feed(0, 200, kSet);
    f.feed(0, 200, kSucceeded);
    answer(f);
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "succeeded");
}

TEST_F(CompleteTest, UnknownConfirmAnswersAreReadBack) {
    config.journal = config.notify = false;
    for (auto [status, body] : std::vector<std::pair<int, const char*>>{
             {500, kApiError},
             {504, ""},
             {0, ""},
             {200, R"({"id":"pi_1","object":"payment_in)"},
             {400, R"({"error":{"type":"invalid_request_error",
                 "code":"payment_intent_unexpected_state"}})"},
             {429, R"({"error":{"type":"invalid_request_error",
                 "code":"lock_timeout"}})"}}) {
        PaymentCompleteFlow f(config, input());
        up_to_confirm(f);
        f.feed(0, status, body);
        ASSERT_EQ(kind(f), OPAY_STEP_FETCH) << status;
        EXPECT_FALSE(f.fetches()[0].post);
        EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1");
        f.feed(0, 200, kSucceeded);  // our pair was charged
        ASSERT_EQ(kind(f), OPAY_STEP_SETTLE);
        EXPECT_TRUE(f.action()->store);
        f.resolve(0, {});
        EXPECT_EQ(json::write(reply(f)["result"]), "\"success\"") << status;
        EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "succeeded");
    }
}

TEST_F(CompleteTest, OurPairNotChargedIsConfirmedAgainThenLeft) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    std::string first = f.fetches()[0].idempotency_key;
    for (int i = 0; i < 2; ++i) {
        f.feed(0, 504, "");      // no answer: it may still run
        f.feed(0, 200, kSet);    // not run yet: confirming again is one
        ASSERT_EQ(kind(f), OPAY_STEP_FETCH);  // charge at most (the lock)
        EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1/confirm");
        EXPECT_NE(f.fetches()[0].idempotency_key, first) << "a fresh key";
    }
    f.feed(0, 504, "");
    f.feed(0, 200, kSet);
    EXPECT_EQ(answer(f).status, 409);
    EXPECT_FALSE(f.variable(OPAY_VAR_RESULT)) << "not a fail";
    EXPECT_EQ(f.variable(OPAY_VAR_ERROR), "payment_in_progress");
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "unknown");
    // Stripe answered each (its own 500: the request ended there) and
    // nothing was charged: a true fail, the next delivery tries again
    PaymentCompleteFlow g(config, input());
    up_to_confirm(g);
    for (int i = 0; i < 3; ++i) {
        g.feed(0, 500, kApiError);
        g.feed(0, 200, kSet);
    }
    ASSERT_EQ(kind(g), OPAY_STEP_SETTLE);
    EXPECT_FALSE(g.action()->store);
    answer(g);
    EXPECT_EQ(json::write(reply(g)["error"]["innererror"]["code"]),
              "\"processing_error\"");
    EXPECT_EQ(g.variable(OPAY_VAR_CHARGE), "rejected");
    // one unanswered among them: never a fail
    PaymentCompleteFlow h(config, input());
    up_to_confirm(h);
    for (int status : {504, 500, 500}) {
        h.feed(0, status, status == 500 ? kApiError : "");
        h.feed(0, 200, kSet);
    }
    EXPECT_EQ(answer(h).status, 409);
}

TEST_F(CompleteTest, UnreadableOrProcessingIsInProgressNeverAGuess) {
    config.journal = config.notify = false;
    for (auto [status, body] : std::vector<std::pair<int, std::string>>{
             {500, ""},
             {200, "cut"},
             {200, intent("processing", 1000, "pm_1")},
             {200, intent("succeeded", 1000, "pm_1", nullptr, "pi_2")}}) {
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
    PaymentCompleteFlow t(config, input());
    t.resolve(OPAY_CLAIM_NEW, {});
    t.feed(0, 200, kInvoice);
    t.feed(0, 504, "");
    t.feed(0, 504, "");
    EXPECT_EQ(answer(t).status, 504);
    EXPECT_EQ(json::write(reply(t)["error"]["code"]), "\"backend_timeout\"");
    // Stripe refused the create: nothing can be charged, a payment answer
    PaymentCompleteFlow n(config, input());
    n.resolve(OPAY_CLAIM_NEW, {});
    n.feed(0, 200, kInvoice);
    n.feed(0, 400, R"({"error":{"type":"invalid_request_error",
        "code":"parameter_unknown"}})");
    answer(n);
    EXPECT_EQ(json::write(reply(n)["error"]["innererror"]["code"]),
              "\"processing_error\"");
    PaymentCompleteFlow g(config, input());
    g.resolve(OPAY_CLAIM_NEW, {});
    g.feed(0, 200, kInvoice);
    g.feed(0, 409, R"({"error":{"type":"idempotency_error",
        "code":"idempotency_key_in_use"}})");
    EXPECT_EQ(answer(g).status, 409);
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
    // 10000.00 MGA is amount=10000 at Stripe, set by the update
    inv.replace(inv.find("10000.50"), 8, "10000.00");
    body.replace(body.find("10000.50"), 8, "10000.00");
    PaymentCompleteFlow g(config, input());
    g.resolve(OPAY_CLAIM_NEW, {});
    g.feed(0, 200, inv);
    ASSERT_EQ(kind(g), OPAY_STEP_FETCH);
    EXPECT_NE(g.fetches()[0].body.find("amount=99999999&currency=mga"),
              std::string::npos) << g.fetches()[0].body;
    std::string created = kCreated;
    created.replace(created.find("usd"), 3, "mga");
    g.feed(0, 200, created);
    g.feed(0, 200, kMethod);
    EXPECT_EQ(g.fetches()[0].body.find("amount=10000&"), 0u)
        << g.fetches()[0].body;
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
    up_to_confirm(f);
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

// Stripe's maximum depends on the merchant's settlement currency: a
// placeholder over it (or under its minimum) is refused. That is final and
// explained, and nothing else is created: another amount would need
// another key, and a refusal that changes within 24 h would then give two
// PaymentIntents and two charges.
TEST_F(CompleteTest, ARefusedPlaceholderIsAFinalFailAndNothingElseIsCreated) {
    config.journal = config.notify = false;
    for (const char* code : {"amount_too_large", "amount_too_small"}) {
        PaymentCompleteFlow f(config, input());
        f.resolve(OPAY_CLAIM_NEW, {});
        f.feed(0, 200, kInvoice);
        ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
        EXPECT_EQ(f.fetches()[0].idempotency_key,
                  intent_key("m1", "12345", "usd", 0));
        EXPECT_EQ(f.fetches()[0].body.find("amount=99999999&"), 0u);
        f.feed(0, 400, std::string(R"({"error":{"type":)") +
                           R"("invalid_request_error","code":")" + code +
                           R"("}})");
        const Response& r = answer(f);  // no second create
        EXPECT_EQ(r.status, 200) << code;
        EXPECT_EQ(json::write(reply(f)["result"]), "\"fail\"") << code;
        EXPECT_NE(r.body.find("Please contact the merchant"),
                  std::string::npos) << r.body;
        EXPECT_EQ(r.body.find("try again"), std::string::npos) << r.body;
        EXPECT_FALSE(f.action() && f.action()->store) << code;
    }
}

// A lookup whose own create got no answer made the placeholder its retry
// replays (untouched since): it is canceled all the same. One someone
// touched since is not its to cancel.
TEST_F(CompleteTest, ALookupWhoseCreateAnswerWasLostStillCancelsIt) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, paid_invoice());
    f.feed(0, OPAY_FETCH_FAILED, "");     // made, answer lost
    f.feed(0, 200, kCreated, true);       // the retry: a replay
    f.feed(0, 200, kCreated);             // read back: the placeholder
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH) << "no cancel: placeholder lingers";
    EXPECT_EQ(f.fetches()[0].path, "v1/payment_intents/pi_1/cancel");
    PaymentCompleteFlow g(config, input());
    g.resolve(OPAY_CLAIM_NEW, {});
    g.feed(0, 200, paid_invoice());
    g.feed(0, OPAY_FETCH_FAILED, "");
    g.feed(0, 200, kCreated, true);
    g.feed(0, 200, intent("requires_payment_method", 99999999, nullptr,
                          "pm_B"));  // a payer's card was declined on it
    answer(g);
    EXPECT_NE(g.response().body.find("not due"), std::string::npos);
}

// Lookups of an invoice not due yet cannot use up its generations: one
// made past a canceled generation stays open for the next payer.
TEST_F(CompleteTest, ALookupPastACanceledGenerationLeavesItsPlaceholder) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, paid_invoice());
    f.feed(0, 200, intent("canceled"), true);
    f.feed(0, 200, intent("canceled"));
    ASSERT_EQ(f.fetches().at(0).idempotency_key,
              intent_key("m1", "12345", "usd", 1));
    f.feed(0, 200, intent("requires_payment_method", 99999999, nullptr,
                          nullptr, "pi_2"));  // made here, fresh
    answer(f);
    EXPECT_NE(f.response().body.find("not due"), std::string::npos);
}

// Payer B (another device, the same amount) finds payer A's charge before
// making a PaymentMethod: B is answered that success, but the record is
// A's charge and names neither B nor B's address.
TEST_F(CompleteTest, AChargeFoundBeforePayingNamesNoPayerInItsRecord) {
    config.journal = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, kInvoice);
    f.feed(0, 200, kCreated, true);
    f.feed(0, 200, intent("succeeded", 1000, "pm_A"));
    ASSERT_EQ(f.fetches().at(0).path, "v1/payment_methods");
    f.feed(0, 200, kMethod);  // pm_1: not the one charged
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    ASSERT_EQ(f.fetches()[0].target, OPAY_TARGET_NOTIFY);
    json::Document record;
    ASSERT_FALSE(json::parse(f.fetches()[0].body, record));
    EXPECT_EQ(json::write(record["paymentMethod"]), "\"pm_A\"");
    EXPECT_EQ(json::write(record["kind"]), "\"already_paid\"");
    EXPECT_FALSE(record.HasMember("payer")) << f.fetches()[0].body;
    f.feed(0, 204, "");
    answer(f);
    EXPECT_EQ(json::write(reply(f)["result"]), "\"success\"");
}

// Any valid-token delivery at a paid invoice's amount is answered its
// success, but its record never names the sender nor their address: a
// merchant shipping on records cannot be steered to them.
TEST_F(CompleteTest, ALookupsRecordNamesNeitherItsSenderNorTheirAddress) {
    config.journal = false;
    body.replace(body.find(R"("payerName":"P")"), 15,
                 R"("payerName":"Mallory",)"
                 R"("shippingAddress":{"country":"US","city":"Elsewhere"})");
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, paid_invoice());
    f.feed(0, 200, kCreated, true);
    f.feed(0, 200, intent("succeeded", 1000, "pm_A"));
    ASSERT_EQ(f.fetches().at(0).path, "v1/payment_methods");
    f.feed(0, 200, kMethod);  // pm_1: not the one charged
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    ASSERT_EQ(f.fetches()[0].target, OPAY_TARGET_NOTIFY);
    const std::string record = f.fetches()[0].body;
    EXPECT_EQ(record.find("Mallory"), std::string::npos) << record;
    EXPECT_EQ(record.find("shippingAddress"), std::string::npos) << record;
    EXPECT_NE(record.find("\"kind\":\"already_paid\""), std::string::npos);
}

// This payer's card was declined, then another payer's update set their
// pair before the read-back: still this payer's decline, not a retry.
TEST_F(CompleteTest, OwnDeclineSeenAfterAnotherPayersUpdateIsADecline) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    f.feed(0, 429, R"({"error":{"type":"invalid_request_error",
        "code":"lock_timeout"}})");
    ASSERT_EQ(f.fetches().at(0).path, "v1/payment_intents/pi_1");
    f.feed(0, 200, intent("requires_confirmation", 1300, "pm_B", "pm_1"));
    answer(f);
    EXPECT_EQ(f.response().status, 200);
    EXPECT_EQ(json::write(reply(f)["error"]["innererror"]["code"]),
              "\"card_declined\"") << f.response().body;
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "declined");
}


// review18b: the charged payer's own retry. Delivery 1's confirm answer is
// lost and the read-back shows processing: its record is "unknown". The
// service resends the same payment (same single-use token, hence the same
// PaymentMethod pm_1 under payment_method_key): it finds the intent
// succeeded with pm_1 at its amount. That is this payer's charge, but the
// record is already_paid with no payer and no address, and the README
// says to ship only to a succeeded record's address: nobody ships.
TEST_F(CompleteTest, Review18bChargedPayersOwnRetryRecordNamesThePayer) {
    config.journal = false;
    PaymentCompleteFlow d1(config, input());
    up_to_confirm(d1);
    d1.feed(0, OPAY_FETCH_FAILED, "");              // confirm: no answer
    d1.feed(0, 200, intent("processing", 1000, "pm_1"));  // read back
    ASSERT_EQ(d1.fetches().at(0).target, OPAY_TARGET_NOTIFY);
    EXPECT_NE(d1.fetches()[0].body.find("\"kind\":\"unknown\""),
              std::string::npos);
    PaymentCompleteFlow d2(config, input());       // the same payment again
    d2.resolve(OPAY_CLAIM_NEW, {});
    d2.feed(0, 200, kInvoice);
    d2.feed(0, 200, kCreated, true);
    d2.feed(0, 200, kSucceeded);                   // pm_1 at 1000
    ASSERT_EQ(d2.fetches().at(0).path, "v1/payment_methods");
    d2.feed(0, 200, kMethod, true);                // the token's pm_1 again
    ASSERT_EQ(d2.fetches().at(0).target, OPAY_TARGET_NOTIFY);
    const std::string record = d2.fetches()[0].body;
    EXPECT_NE(record.find("\"kind\":\"succeeded\""), std::string::npos)
        << record;
    EXPECT_NE(record.find("\"payer\""), std::string::npos) << record;
}

// review18b: a lookup cancels the placeholder it made, but a payer on
// another node (whose backend already said due) confirmed it first: the
// cancel is refused, the intent succeeded at this delivery's amount. The
// lookup answers "not due" (fail) for a charged invoice at the paid amount
// instead of that success.
TEST_F(CompleteTest, Review18bLookupCancelRefusedBecauseItSucceeded) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, paid_invoice());
    f.feed(0, 200, kCreated);                       // fresh: made here
    ASSERT_EQ(f.fetches().at(0).path, "v1/payment_intents/pi_1/cancel");
    f.feed(0, 400, R"({"error":{"type":"invalid_request_error",
        "code":"payment_intent_unexpected_state",
        "payment_intent":{"id":"pi_1","object":"payment_intent",
        "status":"succeeded","amount":1000,"currency":"usd",
        "payment_method":"pm_B"}}})");
    ASSERT_EQ(f.fetches().at(0).path, "v1/payment_intents/pi_1");
    f.feed(0, 200, intent("succeeded", 1000, "pm_B"));  // read back
    ASSERT_EQ(f.fetches().at(0).path, "v1/payment_methods");
    f.feed(0, 200, kMethod);  // pm_1: not the one charged
    answer(f);
    EXPECT_EQ(json::write(reply(f)["result"]), "\"success\"")
        << f.response().body;
}

// A lookup's cancel refused, the intent read back still open (not paid):
// "not due", and no second cancel (no loop).
TEST_F(CompleteTest, ALookupCancelRefusedOnAnOpenIntentIsNotDue) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, paid_invoice());
    f.feed(0, 200, kCreated);
    ASSERT_EQ(f.fetches().at(0).path, "v1/payment_intents/pi_1/cancel");
    f.feed(0, 400, R"({"error":{"type":"invalid_request_error",
        "code":"payment_intent_unexpected_state"}})");
    ASSERT_EQ(f.fetches().at(0).path, "v1/payment_intents/pi_1");
    f.feed(0, 200, kSet);  // another payer's pair, not confirmed
    answer(f);
    EXPECT_NE(f.response().body.find("not due"), std::string::npos)
        << f.response().body;
}

}  // namespace
}  // namespace opay
