#include "stripe.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace opay {
namespace {

TEST(Stripe, IdempotencyKeyIsStablePerPayment) {
    std::string k = idempotency_key("merchant-1", "12345");
    EXPECT_EQ(k, idempotency_key("merchant-1", "12345"));
    EXPECT_NE(k, idempotency_key("merchant-2", "12345"));
    EXPECT_NE(k, idempotency_key("merchant-1", "12346"));
    EXPECT_EQ(k.rfind("opay-", 0), 0u);
    EXPECT_LE(k.size(), 255u);
    EXPECT_EQ(k.size(), 5u + 64u);  // "opay-" + hex SHA-256
}

TEST(Stripe, ChargeFormInMinorUnits) {
    ChargeRequest c{{1300, *parse_currency("USD")}, "tok_visa",
                    "Invoice 12345", "12345", "12345"};
    EXPECT_EQ(charge_form(c),
              "amount=1300&currency=usd&source=tok_visa&"
              "description=Invoice%2012345&metadata%5Binvoice%5D=12345&"
              "metadata%5Brequest_id%5D=12345");
    ChargeRequest jpy{{500, *parse_currency("JPY")}, "tok_a&b=c", "d", "i", "r"};
    EXPECT_NE(charge_form(jpy).find("amount=500&currency=jpy&source=tok_a%26b%3Dc"),
              std::string::npos);
}

TEST(Stripe, Success) {
    auto o = read_charge_answer(200, R"({"id":"ch_1","object":"charge",
        "status":"succeeded","paid":true})");
    EXPECT_EQ(o.kind, ChargeOutcome::Kind::kSucceeded);
    EXPECT_EQ(o.charge_id, "ch_1");
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
        envelope.AddMember("error", e, envelope.GetAllocator());
        auto o = read_charge_answer(402, test::to_json(envelope));
        EXPECT_EQ(o.kind, ChargeOutcome::Kind::kDeclined);
        EXPECT_EQ(o.inner_code, d["code"].GetString()) << d["token"].GetString();
        EXPECT_EQ(o.message, d["message"].GetString());
        ++checked;
    }
    EXPECT_GE(checked, 10);
}

TEST(Stripe, UnknownCodesBecomeProcessingError) {
    EXPECT_EQ(inner_error_code("rate_limit"), "processing_error");
    EXPECT_EQ(inner_error_code("incorrect_zip"), "incorrect_zip");
    auto o = read_charge_answer(402, R"({"error":{"type":"card_error",
        "code":"authentication_required","message":"Auth needed."}})");
    EXPECT_EQ(o.inner_code, "processing_error");
}

TEST(Stripe, NoVerdictIsUnknownNeverSuccess) {
    for (int status : {0, 500, 502, 503, 504}) {
        EXPECT_EQ(read_charge_answer(status, "").kind,
                  ChargeOutcome::Kind::kUnknown)
            << status;
    }
    EXPECT_EQ(read_charge_answer(200, "not json").kind,
              ChargeOutcome::Kind::kUnknown);
    EXPECT_EQ(read_charge_answer(200, R"({"id":"ch_1","status":"pending"})").kind,
              ChargeOutcome::Kind::kUnknown);
    EXPECT_EQ(read_charge_answer(409, R"({"error":{"type":"idempotency_error"}})")
                  .kind,
              ChargeOutcome::Kind::kInFlight);
    auto bad = read_charge_answer(400, R"({"error":{"type":"idempotency_error",
        "message":"Keys for idempotent requests..."}})");
    EXPECT_EQ(bad.kind, ChargeOutcome::Kind::kRejected);
    EXPECT_EQ(bad.inner_code, "processing_error");
    EXPECT_EQ(read_charge_answer(401, "").kind, ChargeOutcome::Kind::kRejected);
}

}  // namespace
}  // namespace opay
