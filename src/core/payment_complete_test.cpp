// The PaymentComplete webhook's journal lines (the flow that writes them is
// tested in payment_complete_flow_test.cpp).
#include "payment_complete.h"

#include <gtest/gtest.h>

namespace opay {
namespace {

TEST(Journal, LinesAreOneJsonObjectEach) {
    Outcome o;
    o.entry = "12345/1/ab";
    o.result = Recorded::kSuccess;
    o.confirmation = "pi_1";
    o.kind = OPAY_CHARGE_SUCCEEDED;
    json::Document d;
    std::string line = journal_outcome(o, "12345", R"({"result":"success"})", 7);
    ASSERT_FALSE(json::parse(line, d)) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(json::write(d["record"]), R"({"result":"success"})");
    EXPECT_EQ(json::write(d["type"]), "\"outcome\"");
    EXPECT_EQ(json::write(d["time"]), "7");
    ASSERT_FALSE(json::parse(journal_notify("e", "12345", false, 502, 8), d));
    EXPECT_EQ(json::write(d), R"({"type":"notify","time":8,"entry":"e",)"
                              R"("requestId":"12345","ok":false,"status":502})");
}

// The record names the charge (amount and payment method read from the
// succeeded PaymentIntent) and the location's mode; a charge of another
// payer's pair names no payer.
TEST(NotifyRecord, TheChargeAndTheMode) {
    json::Document payload;
    ASSERT_FALSE(json::parse(R"({"requestId":"1",
        "methodName":"https://pay.microsoft.com/microsoftpay",
        "details":{"productContext":{"invoiceId":"1"},"paymentToken":"a.b.c",
                   "amount":{"currency":"USD","value":"10.00"}},
        "payerName":"P","shippingAddress":{"country":"US"},
        "shippingOption":"norush"})",
                             payload));
    auto p = std::get<CompletePayload>(read_complete_payload(payload));
    Outcome o;
    o.result = Recorded::kSuccess;
    o.confirmation = o.payment_intent = "pi_1";
    o.kind = OPAY_CHARGE_OTHER_PAYER;
    o.amount = Money{1300, *parse_currency("USD")};
    o.payment_method = "pm_2";
    o.shipping_option = "priority";
    json::Document d;
    ASSERT_FALSE(json::parse(
        notify_record(p, "1", p.amount, o, "p@x", false), d));
    EXPECT_EQ(json::write(d["mode"]), "\"live\"");
    EXPECT_EQ(json::write(d["amount"]),
              R"({"currency":"USD","value":"13.00"})");
    EXPECT_EQ(json::write(d["paymentMethod"]), "\"pm_2\"");
    EXPECT_EQ(json::write(d["shippingOption"]), "\"priority\"");
    EXPECT_FALSE(d.HasMember("payer"));
    EXPECT_FALSE(d.HasMember("shippingAddress"));
    // this payer's decline: the payload's amount, the payer, no method
    o.kind = OPAY_CHARGE_DECLINED;
    o.result = Recorded::kFail;
    o.confirmation.clear();
    ASSERT_FALSE(json::parse(
        notify_record(p, "1", p.amount, o, "p@x", true), d));
    EXPECT_EQ(json::write(d["mode"]), "\"test\"");
    EXPECT_EQ(json::write(d["amount"]),
              R"({"currency":"USD","value":"10.00"})");
    EXPECT_FALSE(d.HasMember("paymentMethod"));
    EXPECT_EQ(json::write(d["payer"]["sub"]), "\"p@x\"");
    EXPECT_EQ(json::write(d["shippingOption"]), "\"norush\"");
    // each recorded result by its name; only a success carries a method
    EXPECT_EQ(json::write(d["result"]), "\"fail\"");
    o.kind = OPAY_CHARGE_UNKNOWN;
    o.result = Recorded::kUnknown;
    o.payment_method = "pm_2";
    ASSERT_FALSE(json::parse(
        notify_record(p, "1", p.amount, o, "p@x", true), d));
    EXPECT_EQ(json::write(d["result"]), "\"unknown\"");
    EXPECT_FALSE(d.HasMember("paymentMethod"));
}

// shippingAddress / shippingOption: null (what our own answers say when
// nothing applies) reads as absent; anything else must be well formed.
TEST(CompletePayload, ShippingNullsAreAbsent) {
    auto read = [](const std::string& shipping) {
        json::Document d;
        EXPECT_FALSE(json::parse(R"({"requestId":"1",
            "methodName":"https://pay.microsoft.com/microsoftpay",
            "details":{"productContext":{},"paymentToken":"a.b.c",
                       "amount":{"currency":"USD","value":"1.00"}})" +
                                     shipping + "}",
                                 d));
        return read_complete_payload(d);
    };
    auto p = std::get<CompletePayload>(
        read(R"(,"shippingAddress":null,"shippingOption":null)"));
    EXPECT_EQ(p.shipping_address, nullptr);
    EXPECT_EQ(p.shipping_option, std::nullopt);
    p = std::get<CompletePayload>(read(R"(,"shippingOption":"norush")"));
    EXPECT_EQ(p.shipping_option, "norush") << "no address: refused later";
    EXPECT_EQ(p.shipping_address, nullptr);
    p = std::get<CompletePayload>(
        read(R"(,"shippingAddress":{"country":"US"},"shippingOption":"x")"));
    ASSERT_NE(p.shipping_address, nullptr);
    EXPECT_EQ(std::get<std::string>(read(R"(,"shippingOption":7)")),
              "shippingOption must be a string or null");
    EXPECT_EQ(std::get<std::string>(
                  read(R"(,"shippingAddress":{"country":"USA"})")),
              "shippingAddress.country must be a two-letter country code");
}

}  // namespace
}  // namespace opay
