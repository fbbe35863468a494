#include "shipping.h"

#include <gtest/gtest.h>

#include "invoice.h"

namespace opay {
namespace {

Currency usd() { return *parse_currency("USD"); }

std::string error_of(const std::string& body, Currency c = usd()) {
    auto r = parse_shipping_options(body, c);
    auto* e = std::get_if<std::string>(&r);
    return e ? *e : "";
}

TEST(Address, AcceptsAddressInitBothSpellings) {
    json::Document d;
    ASSERT_FALSE(json::parse(R"({"country":"us","addressLine":["1 Main"],
        "dependantLocality":null,"dependentLocality":"x","postalCode":"98052",
        "phone":"","unknown":5})", d));
    EXPECT_EQ(check_address(d), std::nullopt);
}

TEST(Address, RefusesBadFields) {
    for (const char* a : {R"({})", R"({"country":"USA"})",
                          R"({"country":"U1"})", R"({"country":7})",
                          R"({"country":"US","addressLine":"x"})",
                          R"({"country":"US","addressLine":[1]})",
                          R"({"country":"US","city":5})",
                          R"({"country":"US","dependantLocality":[]})",
                          R"([])"}) {
        json::Document d;
        ASSERT_FALSE(json::parse(a, d)) << a;
        EXPECT_NE(check_address(d), std::nullopt) << a;
    }
}

TEST(ShippingOptions, ReadsOptionsExactly) {
    auto r = parse_shipping_options(R"({"shippingOptions":[
        {"id":"norush","label":"Regular","amount":{"currency":"usd","value":"0.00"}},
        {"id":"priority","label":"Priority","amount":{"currency":"USD","value":"3.00"},
         "selected":true}]})", usd());
    ASSERT_TRUE(std::holds_alternative<ShippingOptions>(r));
    const auto& s = std::get<ShippingOptions>(r);
    ASSERT_EQ(s.options.size(), 2u);
    EXPECT_EQ(s.options[1].amount.minor, 300);
    EXPECT_EQ(selected_option(s)->id, "priority");
    EXPECT_FALSE(s.error);
}

TEST(ShippingOptions, LastSelectedWins) {
    auto r = parse_shipping_options(R"({"shippingOptions":[
        {"id":"a","label":"A","amount":{"currency":"USD","value":"1"},"selected":true},
        {"id":"b","label":"B","amount":{"currency":"USD","value":"2"},"selected":true},
        {"id":"c","label":"C","amount":{"currency":"USD","value":"3"},"selected":false}]})",
                                    usd());
    EXPECT_EQ(selected_option(std::get<ShippingOptions>(r))->id, "b");
}

TEST(ShippingOptions, BackendErrorAndEmptyList) {
    auto r = parse_shipping_options(R"({"error":"No ships there"})", usd());
    ASSERT_TRUE(std::holds_alternative<ShippingOptions>(r));
    EXPECT_EQ(std::get<ShippingOptions>(r).error, "No ships there");
    r = parse_shipping_options(R"({"shippingOptions":[]})", usd());
    EXPECT_TRUE(std::get<ShippingOptions>(r).options.empty());
}

TEST(ShippingOptions, RefusesTooManyOptions) {
    auto options = [](std::size_t n) {
        std::string list;
        for (std::size_t i = 0; i < n; ++i) {
            list += std::string(i ? "," : "") + R"({"id":"o)" +
                    std::to_string(i) +
                    R"(","label":"x","amount":{"currency":"USD","value":"1.00"}})";
        }
        return R"({"shippingOptions":[)" + list + "]}";
    };
    EXPECT_TRUE(std::holds_alternative<ShippingOptions>(
        parse_shipping_options(options(kMaxShippingOptions), usd())));
    auto r = parse_shipping_options(options(kMaxShippingOptions + 1), usd());
    ASSERT_TRUE(std::holds_alternative<std::string>(r));
    EXPECT_NE(std::get<std::string>(r).find("over the limit of 50"),
              std::string::npos);
}

TEST(Address, RefusesTooManyLines) {
    auto address = [](std::size_t n) {
        std::string lines;
        for (std::size_t i = 0; i < n; ++i) {
            lines += std::string(i ? "," : "") + "\"line\"";
        }
        return R"({"country":"US","addressLine":[)" + lines + "]}";
    };
    json::Document ok, over;
    ASSERT_FALSE(json::parse(address(kMaxAddressLines), ok));
    ASSERT_FALSE(json::parse(address(kMaxAddressLines + 1), over));
    EXPECT_FALSE(check_address(ok));
    auto why = check_address(over);
    ASSERT_TRUE(why.has_value());
    EXPECT_EQ(*why, "shippingAddress.addressLine has more than 10 lines");
}

TEST(ShippingOptions, RefusesRuleBreakers) {
    EXPECT_NE(error_of(R"({"shippingOptions":[
        {"id":"x","label":"A","amount":{"currency":"USD","value":"1"}},
        {"id":"x","label":"B","amount":{"currency":"USD","value":"2"}}]})")
                  .find("ids must be unique, \"x\" is repeated"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"shippingOptions":[
        {"id":"x","label":"A","amount":{"currency":"EUR","value":"1"}}]})")
                  .find("currency EUR differs from the invoice's USD"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"shippingOptions":[
        {"id":"x","label":"A","amount":{"currency":"USD","value":"1.001"}}]})")
                  .find("more decimal places"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"shippingOptions":[
        {"id":"x","label":"A","amount":{"currency":"USD","value":".5"}}]})")
                  .find("not a valid decimal"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"shippingOptions":[{"id":"","label":"A",
        "amount":{"currency":"USD","value":"1"}}]})")
                  .find("non-empty \"id\""),
              std::string::npos);
    EXPECT_NE(error_of(R"({"shippingOptions":[{"id":"x","label":"A",
        "amount":{"currency":"USD","value":"1"},"selected":"yes"}]})")
                  .find("\"selected\" is not a boolean"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"shippingOptions":{}})").find("not an array"),
              std::string::npos);
    EXPECT_NE(error_of("{").find("invalid JSON"), std::string::npos);
    EXPECT_NE(error_of(R"({"error":5})").find("not a string"),
              std::string::npos);
}

TEST(ShippingOptions, JpyAndBhd) {
    auto jpy = *parse_currency("JPY");
    auto r = parse_shipping_options(R"({"shippingOptions":[
        {"id":"s","label":"S","amount":{"currency":"JPY","value":"500"}}]})", jpy);
    EXPECT_EQ(std::get<ShippingOptions>(r).options[0].amount.minor, 500);
    EXPECT_NE(error_of(R"({"shippingOptions":[
        {"id":"s","label":"S","amount":{"currency":"JPY","value":"5.5"}}]})", jpy),
              "");
    auto bhd = *parse_currency("BHD");
    r = parse_shipping_options(R"({"shippingOptions":[
        {"id":"s","label":"S","amount":{"currency":"BHD","value":"1.250"}}]})", bhd);
    EXPECT_EQ(std::get<ShippingOptions>(r).options[0].amount.minor, 1250);
}

TEST(ShippingRequest, FollowsTheBackendContract) {
    json::Document ctx, addr;
    ASSERT_FALSE(json::parse(R"({"invoiceId":"12345"})", ctx));
    ASSERT_FALSE(json::parse(R"({"country":"US"})", addr));
    EXPECT_EQ(shipping_request("12345", ctx, addr),
              R"({"invoice":"12345","productContext":{"invoiceId":"12345"},)"
              R"("shippingAddress":{"country":"US"}})");
}

// What a PaymentComplete owes for shipping.
struct ShippingDueTest : ::testing::Test {
    Money total{1000, usd()};
    std::string_view options = R"({"shippingOptions":[
        {"id":"norush","label":"R","amount":{"currency":"USD","value":"0.00"}},
        {"id":"priority","label":"P","amount":{"currency":"USD","value":"3.00"}}]})";
    using Verdict = ShippingDue::Verdict;
};

TEST_F(ShippingDueTest, OfferedOptionIsAdded) {
    auto d = shipping_due(total, true, std::string("priority"), &options);
    EXPECT_EQ(d.verdict, Verdict::kDue);
    EXPECT_EQ(d.due.minor, 1300);
    EXPECT_EQ(shipping_due(total, true, std::string("norush"), &options)
                  .due.minor,
              1000);
}

TEST_F(ShippingDueTest, UnshippedInvoiceOwesItsTotal) {
    const std::string_view* bodies[] = {&options, nullptr};
    for (const std::string_view* body : bodies) {
        auto d = shipping_due(total, false, std::string("priority"), body);
        EXPECT_EQ(d.verdict, Verdict::kDue);
        EXPECT_EQ(d.due.minor, 1000) << "an option given is not charged";
    }
    EXPECT_EQ(shipping_due(total, false, std::nullopt, nullptr).due.minor,
              1000);
}

TEST_F(ShippingDueTest, ShippedInvoiceNeedsAddressAndOfferedOption) {
    auto d = shipping_due(total, true, std::nullopt, nullptr);
    EXPECT_EQ(d.verdict, Verdict::kRefused);
    EXPECT_EQ(d.for_payer, "A shipping address and a shipping option are "
                           "needed to pay this invoice.");
    EXPECT_EQ(d.log, "the invoice asks for shipping but the payment has no "
                     "shippingOption");
    d = shipping_due(total, true, std::string("priority"), nullptr);
    EXPECT_EQ(d.verdict, Verdict::kRefused);
    EXPECT_EQ(d.log, "the invoice asks for shipping but the payment has no "
                     "shippingAddress");
    d = shipping_due(total, true, std::string("teleport"), &options);
    EXPECT_EQ(d.verdict, Verdict::kRefused);
    EXPECT_EQ(d.for_payer, "The selected shipping option is not available.");
    std::string_view none = R"({"shippingOptions":[]})";
    EXPECT_EQ(shipping_due(total, true, std::string("norush"), &none).verdict,
              Verdict::kRefused)
        << "nothing offered for the address";
}

TEST_F(ShippingDueTest, UnusableBackendAnswer) {
    std::string_view euro = R"({"shippingOptions":[
        {"id":"x","label":"X","amount":{"currency":"EUR","value":"1.00"}}]})";
    auto d = shipping_due(total, true, std::string("x"), &euro);
    EXPECT_EQ(d.verdict, Verdict::kBackendInvalid);
    EXPECT_NE(d.log.find("differs from the invoice's USD"), std::string::npos);
    std::string_view negative = R"({"shippingOptions":[
        {"id":"x","label":"X","amount":{"currency":"USD","value":"-10.01"}}]})";
    EXPECT_EQ(shipping_due(total, true, std::string("x"), &negative).verdict,
              Verdict::kBackendInvalid);
}

}  // namespace
}  // namespace opay
