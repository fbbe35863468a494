#include "stripe.h"

#include <cstdio>
#include <utility>
#include <vector>

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

TEST(Stripe, IntentKeyPerMerchantInvoiceCurrencyGeneration) {
    std::string k = intent_key(test::sha256(), "merchant-1", "12345", "usd", 0);
    EXPECT_EQ(k, intent_key(test::sha256(), "merchant-1", "12345", "usd", 0));
    EXPECT_NE(k, intent_key(test::sha256(), "merchant-2", "12345", "usd", 0));
    EXPECT_NE(k, intent_key(test::sha256(), "merchant-1", "12346", "usd", 0));
    EXPECT_NE(k, intent_key(test::sha256(), "merchant-1", "12345", "eur", 0));
    EXPECT_NE(k, intent_key(test::sha256(), "merchant-1", "12345", "usd", 1));
    EXPECT_EQ(k.rfind("opay-", 0), 0u);
    EXPECT_EQ(k.size(), 5u + 64u);  // "opay-" + hex SHA-256, under 255
}

TEST(Stripe, PlaceholderIsTheLargestAmountTheCurrencyTakes) {
    EXPECT_EQ(placeholder_amount(money(1000, "USD")).amount, 99999999);
    EXPECT_EQ(placeholder_amount(money(1000, "USD")).currency, "usd");
    EXPECT_EQ(placeholder_amount(money(5, "JPY")).amount, 99999999);
    EXPECT_EQ(placeholder_amount(money(5120, "KWD")).amount, 99999990);
    EXPECT_EQ(placeholder_amount(money(5, "UGX")).amount, 99999900);
    // whatever the amount due: the create never depends on it
    EXPECT_EQ(placeholder_amount(money(1, "EUR")).amount,
              placeholder_amount(money(123456789, "EUR")).amount);
}

TEST(Stripe, StripeUnitsBack) {
    for (auto [minor, code] : std::vector<std::pair<int64_t, const char*>>{
             {1000, "USD"}, {500, "JPY"}, {1000000, "MGA"}, {500, "ISK"},
             {5120, "KWD"}}) {
        Money m = money(minor, code);
        auto units = std::get<StripeAmount>(stripe_amount(m));
        auto back = from_stripe_amount(units.amount, m.currency);
        ASSERT_TRUE(back) << code;
        EXPECT_EQ(back->minor, minor) << code;
    }
    EXPECT_FALSE(from_stripe_amount(50050, money(1, "ISK").currency))
        << "not whole kronur";
    EXPECT_FALSE(from_stripe_amount(0, money(1, "USD").currency));
    EXPECT_FALSE(from_stripe_amount(100000000, money(1, "USD").currency));
}

TEST(Stripe, PaymentMethodKeyIsTheTokens) {
    EXPECT_EQ(payment_method_key(test::sha256(), "tok_visa"),
              payment_method_key(test::sha256(), "tok_visa"));
    EXPECT_NE(payment_method_key(test::sha256(), "tok_visa"),
              payment_method_key(test::sha256(), "tok_amex"));
}

// Keys are what every node and every version computes, so that a retry
// during a rolling upgrade replays the same request: SHA-256 of the parts
// (here from Python's hashlib), with the fetched digest or without one.
TEST(Stripe, KeysAreTheSha256OfTheirParts) {
    for (const EVP_MD* md : {test::sha256(), (const EVP_MD*)nullptr}) {
        EXPECT_EQ(intent_key(md, "m1", "12345", "usd", 0),
                  "opay-691fcb3081577d338cdb58cbe898da13"
                  "9271cd9f032351b668c81731a074d038");
        EXPECT_EQ(payment_method_key(md, "tok_visa"),
                  "opay-b03b8e1f92108f6bd0f78992688144b1"
                  "0c59f944f988ae5bb2556a04d3695cb4");
        EXPECT_EQ(attempt_key(md, "confirm", "pi_1", "a"),
                  "opay-dc6a65f8ec5756f0b808a2530db5add4"
                  "d2a40e1d65d879b04c236cc20de60e0d");
    }
}

TEST(Stripe, AttemptKeysFreshPerNonce) {
    EXPECT_EQ(attempt_key(test::sha256(), "confirm", "pi_1", "a"),
              attempt_key(test::sha256(), "confirm", "pi_1", "a"));
    EXPECT_NE(attempt_key(test::sha256(), "confirm", "pi_1", "a"),
              attempt_key(test::sha256(), "confirm", "pi_1", "b"));
    EXPECT_NE(attempt_key(test::sha256(), "confirm", "pi_1", "a"),
              attempt_key(test::sha256(), "update", "pi_1", "a"));
    EXPECT_NE(attempt_key(test::sha256(), "confirm", "pi_1", "a"),
              attempt_key(test::sha256(), "confirm", "pi_2", "a"));
}

TEST(Stripe, Forms) {
    IntentRequest r{{99999999, "usd"}, "Invoice 12345", "12345"};
    EXPECT_EQ(create_form(r),
              "amount=99999999&currency=usd&payment_method_types%5B%5D=card&"
              "description=Invoice%2012345&metadata%5Binvoice%5D=12345");
    EXPECT_EQ(payment_method_form("tok_a&b=c"),
              "type=card&card%5Btoken%5D=tok_a%26b%3Dc");
    EXPECT_EQ(update_form({1300, "pm_1", "priority", "n1"}),
              "amount=1300&payment_method=pm_1&"
              "metadata%5Bshipping_option%5D=priority&"
              "metadata%5Battempt%5D=n1");
    // no payment method on the confirm: it confirms what is set
    EXPECT_EQ(confirm_form(), "error_on_requires_action=true");
    EXPECT_EQ(cancel_form(), "cancellation_reason=abandoned");
    EXPECT_EQ(intent_path("pi_1"), "v1/payment_intents/pi_1");
    EXPECT_EQ(confirm_path("pi_1"), "v1/payment_intents/pi_1/confirm");
    EXPECT_EQ(cancel_path("pi_1"), "v1/payment_intents/pi_1/cancel");
}

// Every byte: RFC 3986's unreserved ASCII as it is, every other byte
// (UTF-8's included) as %XX in capitals.
TEST(Stripe, FormEncodesEveryByte) {
    const std::string unreserved =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    std::string all;
    std::string want;
    for (int c = 0; c < 256; ++c) {
        all += static_cast<char>(c);
        if (unreserved.find(static_cast<char>(c)) != std::string::npos) {
            want += static_cast<char>(c);
        } else {
            char hex[4];
            std::snprintf(hex, sizeof(hex), "%%%02X", c);
            want += hex;
        }
    }
    EXPECT_EQ(payment_method_form(all), "type=card&card%5Btoken%5D=" + want);
    EXPECT_EQ(payment_method_form(""), "type=card&card%5Btoken%5D=");
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
        "status":"succeeded","latest_charge":"ch_1","amount":1300,
        "currency":"usd","payment_method":"pm_2",
        "metadata":{"shipping_option":"priority"}})");
    EXPECT_EQ(a.kind, StripeAnswer::Kind::kIntent);
    EXPECT_EQ(a.id, "pi_1");
    EXPECT_EQ(a.status, "succeeded");
    EXPECT_EQ(a.amount, 1300);
    EXPECT_EQ(a.currency, "usd");
    EXPECT_EQ(a.payment_method, "pm_2");
    EXPECT_EQ(a.shipping_option, "priority");
    EXPECT_FALSE(a.replayed);
    // an expanded payment method, the last decline's
    auto d = read_stripe_answer(200, R"({"id":"pi_1","object":"payment_intent",
        "status":"requires_payment_method","amount":99999999,"currency":"usd",
        "payment_method":null,"last_payment_error":{"code":"card_declined",
        "message":"Your card was declined.",
        "payment_method":{"id":"pm_3","object":"payment_method"}}})");
    EXPECT_EQ(d.payment_method, "");
    EXPECT_EQ(d.declined_payment_method, "pm_3");
    EXPECT_EQ(d.code, "card_declined");
    // no amount, no currency, an amount that is no integer: not readable
    EXPECT_EQ(read_stripe_answer(200, R"({"id":"pi_1",
        "object":"payment_intent","status":"succeeded"})").kind,
              StripeAnswer::Kind::kUnknown);
    EXPECT_EQ(read_stripe_answer(200, R"({"id":"pi_1",
        "object":"payment_intent","status":"succeeded","amount":1.5,
        "currency":"usd"})").kind,
              StripeAnswer::Kind::kUnknown);
    // a payment method id that could not be Stripe's is none
    EXPECT_EQ(read_stripe_answer(200, R"({"id":"pi_1",
        "object":"payment_intent","status":"succeeded","amount":1,
        "currency":"usd","payment_method":"pm_1/x"})").payment_method, "");
}

TEST(Stripe, PaymentMethodAnswer) {
    auto a = read_stripe_answer(200, R"({"id":"pm_1",
        "object":"payment_method","type":"card"})");
    EXPECT_EQ(a.kind, StripeAnswer::Kind::kPaymentMethod);
    EXPECT_EQ(a.id, "pm_1");
    EXPECT_EQ(read_stripe_answer(200, R"({"id":"pi_1",
        "object":"payment_method"})").kind,
              StripeAnswer::Kind::kUnknown);
}

TEST(Stripe, ReplayedAnswersSaySo) {
    auto a = read_stripe_answer(500, "", true);
    EXPECT_EQ(a.kind, StripeAnswer::Kind::kUnknown);
    EXPECT_TRUE(a.replayed) << "a cut stored 500 still says it";
    EXPECT_NE(a.log.find("replayed"), std::string::npos);
    EXPECT_FALSE(read_stripe_answer(500, "").replayed);
    EXPECT_FALSE(read_stripe_answer(0, "", true).replayed) << "no answer";
}

TEST(Stripe, ADeclineNamesItsPaymentMethod) {
    auto a = read_stripe_answer(402, R"({"error":{"type":"card_error",
        "code":"card_declined","payment_method":{"id":"pm_1"}}})");
    EXPECT_EQ(a.declined_payment_method, "pm_1");
    auto b = read_stripe_answer(402, R"({"error":{"type":"card_error",
        "code":"card_declined","payment_intent":{"id":"pi_1",
        "last_payment_error":{"payment_method":{"id":"pm_2"}}}}})");
    EXPECT_EQ(b.declined_payment_method, "pm_2");
    EXPECT_EQ(b.id, "pi_1");
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
    // the ten codes of the protocol, the simulator's check too
    for (const char* c : {"invalid_number", "invalid_expiry_month",
                          "invalid_expiry_year", "invalid_cvc",
                          "incorrect_number", "expired_card", "incorrect_cvc",
                          "incorrect_zip", "card_declined",
                          "processing_error"}) {
        EXPECT_TRUE(is_inner_error_code(c)) << c;
        EXPECT_EQ(inner_error_code(c), c);
    }
    EXPECT_FALSE(is_inner_error_code("authentication_required"));
    EXPECT_FALSE(is_inner_error_code("rate_limit"));
    EXPECT_FALSE(is_inner_error_code(""));
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
