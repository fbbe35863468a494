// The PaymentComplete flow at Stripe: the invoice's PaymentIntent created
// (or found again) and its generations, the token's PaymentMethod, the
// update, the journalled attempt, the confirm and the read-back, and what
// each state or answer of Stripe's comes to.
#include "payment_complete_flow.h"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "payment_complete_flow_fixture.h"

namespace opay {
namespace {

using namespace complete_test;

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
    std::string key0 = intent_key(test::sha256(), "m1", "12345", "usd", 0);
    ASSERT_EQ(f.fetches()[0].idempotency_key, key0);
    // a fresh 500 or the edge's 503 may hide a stored 200: the same key
    f.feed(0, 500, kApiError);
    ASSERT_EQ(f.fetches()[0].idempotency_key, key0);
    // now Stripe says the key's first answer was a 500 (even cut): next
    f.feed(0, 500, "", true);
    ASSERT_EQ(f.fetches()[0].idempotency_key,
              intent_key(test::sha256(), "m1", "12345", "usd", 1));
    f.feed(0, 503, "");
    ASSERT_EQ(f.fetches()[0].idempotency_key,
              intent_key(test::sha256(), "m1", "12345", "usd", 1));
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
                  intent_key(test::sha256(), "m1", "12345", "usd", g));
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

// No random bytes for a key: nothing more is asked of Stripe. Before any
// confirm that is a 500 (nothing charged); after a confirm that went
// unanswered it may have charged: 409, the charge unknown, never a 500.
TEST_F(CompleteTest, NoRandomBytesNeverHidesACharge) {
    config.journal = config.notify = false;
    auto none = [](unsigned char*, int) { return 0; };
    config.random_bytes = none;
    PaymentCompleteFlow before(config, input());
    before.resolve(OPAY_CLAIM_NEW, {});
    before.feed(0, 200, kInvoice);
    before.feed(0, 200, kCreated);
    before.feed(0, 200, kMethod);  // the update next, with no key
    EXPECT_EQ(answer(before).status, 500);
    EXPECT_EQ(before.variable(OPAY_VAR_ERROR), "internal_error");
    EXPECT_FALSE(before.variable(OPAY_VAR_CHARGE));

    // random bytes for the update and the first confirm, then none (a
    // function pointer: the count is the test's static, reset each run)
    static int calls;
    calls = 0;
    config.random_bytes = [](unsigned char* out, int n) {
        return ++calls <= 2 ? RAND_bytes(out, n) : 0;
    };
    PaymentCompleteFlow after(config, input());
    up_to_confirm(after);
    after.feed(0, 504, "");    // no answer: it may still charge
    after.feed(0, 200, kSet);  // not yet: confirm again, with no key
    const Response& r = answer(after);
    EXPECT_EQ(r.status, 409);
    EXPECT_EQ(after.variable(OPAY_VAR_CHARGE), "unknown");
    EXPECT_FALSE(after.variable(OPAY_VAR_RESULT));
    EXPECT_NE(r.log_message.find("no random bytes"), std::string::npos)
        << r.log_message;
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

TEST_F(CompleteTest, AnUpdateThatMeetsALockOrAStateIsReadBack) {
    config.journal = config.notify = false;
    for (auto [status, body] : std::vector<std::pair<int, const char*>>{
             {429, kLockTimeout},
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
    meet_lock(g);
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
              intent_key(test::sha256(), "m1", "12345", "usd", 1));
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

TEST_F(CompleteTest, AnotherPayersPairSetIsReplacedByOurs) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    // our confirm met a lock; the read-back shows another payer's pair
    meet_lock(f);
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
             {429, kLockTimeout}}) {
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
                  intent_key(test::sha256(), "m1", "12345", "usd", 0));
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

// This payer's card was declined, then another payer's update set their
// pair before the read-back: still this payer's decline, not a retry.
TEST_F(CompleteTest, OwnDeclineSeenAfterAnotherPayersUpdateIsADecline) {
    config.journal = config.notify = false;
    PaymentCompleteFlow f(config, input());
    up_to_confirm(f);
    meet_lock(f);
    ASSERT_EQ(f.fetches().at(0).path, "v1/payment_intents/pi_1");
    f.feed(0, 200, intent("requires_confirmation", 1300, "pm_B", "pm_1"));
    answer(f);
    EXPECT_EQ(f.response().status, 200);
    EXPECT_EQ(json::write(reply(f)["error"]["innererror"]["code"]),
              "\"card_declined\"") << f.response().body;
    EXPECT_EQ(f.variable(OPAY_VAR_CHARGE), "declined");
}

}  // namespace
}  // namespace opay
