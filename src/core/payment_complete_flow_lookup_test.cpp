// The PaymentComplete flow for an invoice that says it is paid: its one
// PaymentIntent looked up at this payer's amount, one made only for the
// lookup canceled, and what the payer is answered.
#include "payment_complete_flow.h"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "payment_complete_flow_fixture.h"

namespace opay {
namespace {

using namespace complete_test;

TEST_F(CompleteTest, APaidInvoiceIsLookedUpThroughItsOneIntent) {
    config.journal = config.notify = false;
    // a total of 0 now: the lookup is the invoice's intent, in its currency
    PaymentCompleteFlow f(config, input());
    f.resolve(OPAY_CLAIM_NEW, {});
    f.feed(0, 200, paid_invoice("0"));
    ASSERT_EQ(kind(f), OPAY_STEP_FETCH);
    EXPECT_EQ(f.fetches()[0].idempotency_key,
              intent_key(test::sha256(), "m1", "12345", "usd", 0));
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
              intent_key(test::sha256(), "m1", "12345", "usd", 1));
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
              intent_key(test::sha256(), "m1", "12345", "usd", 1));
    f.feed(0, 200, intent("requires_payment_method", 99999999, nullptr,
                          nullptr, "pi_2"));  // made here, fresh
    answer(f);
    EXPECT_NE(f.response().body.find("not due"), std::string::npos);
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
    ASSERT_NO_FATAL_FAILURE(found_charged_by_another(f));
    const std::string record = f.fetches()[0].body;
    EXPECT_EQ(record.find("Mallory"), std::string::npos) << record;
    EXPECT_EQ(record.find("shippingAddress"), std::string::npos) << record;
    EXPECT_NE(record.find("\"kind\":\"already_paid\""), std::string::npos);
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
