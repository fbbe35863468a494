#include "stripe.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace opay {
namespace {

Money money(int64_t minor, const char* code) {
    return Money{minor, *parse_currency(code)};
}

// amount in Stripe's units, or -1 when refused
int64_t units(int64_t minor, const char* code) {
    auto r = stripe_amount(money(minor, code));
    auto* a = std::get_if<StripeAmount>(&r);
    return a ? a->amount : -1;
}

TEST(StripeUnits, TwoDecimalCurrenciesAsIso) {
    EXPECT_EQ(units(1000, "USD"), 1000);
    EXPECT_EQ(units(1, "EUR"), 1);
    // whole units only for payouts: charges take two decimals
    EXPECT_EQ(units(1045, "HUF"), 1045);
    EXPECT_EQ(units(1001, "TWD"), 1001);
    auto r = stripe_amount(money(1300, "USD"));
    EXPECT_EQ(std::get<StripeAmount>(r).currency, "usd");
}

TEST(StripeUnits, ZeroDecimalCurrenciesInWholeUnits) {
    for (const char* code : {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW",
                             "PYG", "RWF", "VND", "VUV", "XAF", "XOF",
                             "XPF"}) {
        EXPECT_EQ(units(500, code), 500) << code;
    }
}

TEST(StripeUnits, MgaIsZeroDecimalAtStripeTwoInIso) {
    // 10000.00 MGA: 1000000 ISO minor units, 10000 at Stripe (not a 100x
    // overcharge)
    EXPECT_EQ(money(1000000, "MGA").currency.exponent, 2);
    EXPECT_EQ(units(1000000, "MGA"), 10000);
    // a fraction of an ariary cannot be charged: refused, never rounded
    EXPECT_EQ(units(1000050, "MGA"), -1);
}

TEST(StripeUnits, IskAndUgxKeepTwoDecimalsAtStripe) {
    EXPECT_EQ(money(500, "ISK").currency.exponent, 0);
    EXPECT_EQ(units(500, "ISK"), 50000);  // 500 kronur
    EXPECT_EQ(money(5, "UGX").currency.exponent, 0);
    EXPECT_EQ(units(5, "UGX"), 500);  // 5 shillings, not a hundredth
    EXPECT_EQ(units(60000, "UGX"), 6000000);
}

TEST(StripeUnits, ThreeDecimalCurrenciesInTens) {
    for (const char* code : {"BHD", "JOD", "KWD", "OMR", "TND"}) {
        EXPECT_EQ(units(5120, code), 5120) << code;
        EXPECT_EQ(units(5124, code), -1) << code;
    }
}

TEST(StripeUnits, UnknownUnitsAndNonPositiveAmountsRefused) {
    EXPECT_EQ(units(1000, "IQD"), -1);  // three decimals in ISO, not Stripe's
    EXPECT_EQ(units(1000, "CLF"), -1);  // four decimals
    EXPECT_EQ(units(0, "USD"), -1);
    EXPECT_EQ(units(-5, "USD"), -1);
    auto r = stripe_amount(money(1000050, "MGA"));
    EXPECT_NE(std::get<std::string>(r).find("MGA"), std::string::npos);
    EXPECT_EQ(units(INT64_MAX / 10, "ISK"), -1);  // overflow, not a wrap
}

TEST(Stripe, IntentKeyPerMerchantInvoiceCurrencyAmount) {
    std::string k = intent_key("merchant-1", "12345", money(1000, "USD"));
    EXPECT_EQ(k, intent_key("merchant-1", "12345", money(1000, "USD")));
    EXPECT_NE(k, intent_key("merchant-2", "12345", money(1000, "USD")));
    EXPECT_NE(k, intent_key("merchant-1", "12346", money(1000, "USD")));
    EXPECT_NE(k, intent_key("merchant-1", "12345", money(1300, "USD")));
    EXPECT_NE(k, intent_key("merchant-1", "12345", money(1000, "EUR")));
    EXPECT_EQ(k.rfind("opay-", 0), 0u);
    EXPECT_EQ(k.size(), 5u + 64u);  // "opay-" + hex SHA-256, under 255
}

TEST(Stripe, ConfirmKeyFreshPerNonce) {
    EXPECT_EQ(confirm_key("pi_1", "tok_visa", "a"),
              confirm_key("pi_1", "tok_visa", "a"));
    EXPECT_NE(confirm_key("pi_1", "tok_visa", "a"),
              confirm_key("pi_1", "tok_visa", "b"));
    EXPECT_NE(confirm_key("pi_1", "tok_visa", "a"),
              confirm_key("pi_1", "tok_amex", "a"));
}

TEST(Stripe, Forms) {
    IntentRequest r{{1300, "usd"}, "Invoice 12345", "12345", "12345"};
    EXPECT_EQ(create_form(r),
              "amount=1300&currency=usd&payment_method_types%5B%5D=card&"
              "description=Invoice%2012345&metadata%5Binvoice%5D=12345&"
              "metadata%5Brequest_id%5D=12345");
    EXPECT_EQ(confirm_form("tok_a&b=c"),
              "payment_method_data%5Btype%5D=card&"
              "payment_method_data%5Bcard%5D%5Btoken%5D=tok_a%26b%3Dc&"
              "error_on_requires_action=true");
    EXPECT_EQ(intent_path("pi_1"), "v1/payment_intents/pi_1");
    EXPECT_EQ(confirm_path("pi_1"), "v1/payment_intents/pi_1/confirm");
}

TEST(Stripe, OnlyStripeIdsReachAPath) {
    EXPECT_TRUE(valid_intent_id("pi_3MtwBwLkdIwHu7ix28a3tqPa"));
    EXPECT_FALSE(valid_intent_id("pi_"));
    EXPECT_FALSE(valid_intent_id("ch_1"));
    EXPECT_FALSE(valid_intent_id("pi_1/../../v1/refunds"));
    EXPECT_FALSE(valid_intent_id("pi_1?x=1"));
    EXPECT_FALSE(valid_intent_id(std::string("pi_1\0", 5)));
}

TEST(Stripe, IntentAnswer) {
    auto a = read_stripe_answer(200, R"({"id":"pi_1","object":"payment_intent",
        "status":"succeeded","latest_charge":"ch_1"})");
    EXPECT_EQ(a.kind, StripeAnswer::Kind::kIntent);
    EXPECT_EQ(a.id, "pi_1");
    EXPECT_EQ(a.status, "succeeded");
}

TEST(Stripe, Every402TokenMapsToAnInnerCode) {
    auto tokens = test::load_json("stripe_test_tokens.json");
    int checked = 0;
    for (const auto& d : tokens["decline_tokens"].GetArray()) {
        if (!d["token"].IsString()) continue;
        rapidjson::Document envelope(rapidjson::kObjectType);
        rapidjson::Value e(d, envelope.GetAllocator());
        e.RemoveMember("token");
        e.RemoveMember("card");
        rapidjson::Value pi(rapidjson::kObjectType);
        pi.AddMember("id", "pi_7", envelope.GetAllocator());
        e.AddMember("payment_intent", pi, envelope.GetAllocator());
        envelope.AddMember("error", e, envelope.GetAllocator());
        auto a = read_stripe_answer(402, test::to_json(envelope));
        EXPECT_EQ(a.kind, StripeAnswer::Kind::kCardError);
        EXPECT_EQ(a.id, "pi_7");
        EXPECT_EQ(inner_error_code(a.code), d["code"].GetString())
            << d["token"].GetString();
        EXPECT_EQ(a.message, d["message"].GetString());
        ++checked;
    }
    EXPECT_GE(checked, 10);
}

TEST(Stripe, InnerCodes) {
    EXPECT_EQ(inner_error_code("rate_limit"), "processing_error");
    EXPECT_EQ(inner_error_code("incorrect_zip"), "incorrect_zip");
    EXPECT_EQ(inner_error_code("authentication_required"), "card_declined");
}

TEST(Stripe, StatesAndLocks) {
    EXPECT_EQ(read_stripe_answer(400, R"({"error":{"type":
        "invalid_request_error","code":"payment_intent_unexpected_state",
        "payment_intent":{"id":"pi_1","status":"succeeded"}}})")
                  .kind,
              StripeAnswer::Kind::kUnexpectedState);
    EXPECT_EQ(read_stripe_answer(429, R"({"error":{"type":
        "invalid_request_error","code":"lock_timeout"}})")
                  .kind,
              StripeAnswer::Kind::kBusy);
    EXPECT_EQ(read_stripe_answer(409, R"({"error":{"type":
        "idempotency_error","code":"idempotency_key_in_use"}})")
                  .kind,
              StripeAnswer::Kind::kBusy);
    EXPECT_EQ(read_stripe_answer(400, R"({"error":{"type":
        "invalid_request_error","code":"resource_missing"}})")
                  .kind,
              StripeAnswer::Kind::kRefused);
}

TEST(Stripe, NoVerdictIsUnknownNeverAnAnswer) {
    using Kind = StripeAnswer::Kind;
    for (int status : {0, 500, 502, 503, 504}) {
        EXPECT_EQ(read_stripe_answer(status, "").kind, Kind::kUnknown)
            << status;
    }
    // cut, not JSON, not an intent, a bad id, no status
    EXPECT_EQ(read_stripe_answer(200, R"({"id":"pi_1","object":"payment_)")
                  .kind,
              Kind::kUnknown);
    EXPECT_EQ(read_stripe_answer(200, "not json").kind, Kind::kUnknown);
    EXPECT_EQ(read_stripe_answer(200, R"({"id":"ch_1","object":"charge",
        "status":"succeeded"})").kind, Kind::kUnknown);
    EXPECT_EQ(read_stripe_answer(200, R"({"id":"pi_1/x",
        "object":"payment_intent","status":"succeeded"})").kind,
              Kind::kUnknown);
    EXPECT_EQ(read_stripe_answer(200, R"({"id":"pi_1",
        "object":"payment_intent"})").kind, Kind::kUnknown);
    // a 4xx that is not Stripe speaking (a proxy's page) says nothing
    EXPECT_EQ(read_stripe_answer(404, "<html>").kind, Kind::kUnknown);
}

TEST(Stripe, AnsweredTellsStripeFromSilence) {
    EXPECT_TRUE(read_stripe_answer(500, R"({"error":{"type":"api_error"}})")
                    .answered);
    EXPECT_FALSE(read_stripe_answer(504, "").answered);
    EXPECT_FALSE(read_stripe_answer(0, "").answered);
    EXPECT_FALSE(read_stripe_answer(502, "<html>bad gateway</html>").answered);
    EXPECT_FALSE(read_stripe_answer(200, "{\"id\":").answered);
    EXPECT_TRUE(read_stripe_answer(402, R"({"error":{"type":"card_error"}})")
                    .answered);
}

}  // namespace
}  // namespace opay
