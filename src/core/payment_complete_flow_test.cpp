// The PaymentComplete flow step by step: claim, fetch, create the
// invoice's PaymentIntent, make the token a PaymentMethod, update the
// intent with this payer's pair, journal, confirm (and read back),
// journal, notify, journal, settle, answer; the claim, and the checks
// before anything is charged. The steps at Stripe, the lookup of a paid
// invoice and the outcome's record have test files of their own
// (payment_complete_flow_{charge,lookup,outcome}_test.cpp).
#include "payment_complete_flow.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "payment_complete_flow_fixture.h"

namespace opay {
namespace {

using namespace complete_test;

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
    EXPECT_EQ(create.idempotency_key,
              intent_key(test::sha256(), "m1", "12345", "usd", 0));
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
    EXPECT_EQ(method.idempotency_key,
              payment_method_key(test::sha256(), "tok_visa"));
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
