// The PaymentComplete webhook's journal lines (the flow that writes them is
// tested in payment_complete_flow_test.cpp).
#include "payment_complete.h"

#include <gtest/gtest.h>

namespace opay {
namespace {

TEST(Journal, LinesAreOneJsonObjectEach) {
    Outcome o{"12345/1/ab", "success", "ch_1", "", "succeeded"};
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
