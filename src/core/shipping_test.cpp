#include "shipping.h"

#include <gtest/gtest.h>

#include "payment_request.h"

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

// The two events' transformations of the incoming payload.
struct ShippingAnswerTest : ::testing::Test {
    Invoice invoice;
    ShippingOptions options;
    json::Document request;

    ShippingAnswerTest() {
        invoice = std::get<Invoice>(parse_invoice(R"({"entity":{"@type":"Invoice",
            "identifier":"12345","totalPaymentDue":{"price":10,"priceCurrency":"USD"}},
            "displayItems":[
              {"label":"Large Widget","amount":{"currency":"USD","value":"7.00"}},
              {"label":"Small Widget","amount":{"currency":"USD","value":"3.00"}}]})"));
        options = std::get<ShippingOptions>(parse_shipping_options(
            R"({"shippingOptions":[
              {"id":"norush","label":"Regular","amount":{"currency":"USD","value":"0.00"}},
              {"id":"priority","label":"Priority","amount":{"currency":"USD","value":"3.00"}}]})",
            usd()));
        EXPECT_FALSE(json::parse(R"({"id":"12345","methodData":[{
            "supportedMethods":"https://pay.microsoft.com/microsoftpay",
            "data":{"event":"shippingaddresschange","productContext":{},
                    "entity":{"totalPaymentDue":{"price":1}}}}],
            "details":{"id":"12345",
              "total":{"label":"Total Due","amount":{"currency":"USD","value":"0.01","currencySystem":null}},
              "displayItems":[
                {"label":"Large Widget","amount":{"currency":"USD","value":"7.00","currencySystem":null},"x":1},
                {"label":"Small Widget","amount":{"currency":"USD","value":"3.00"}},
                {"label":"Shipping","amount":{"currency":"USD","value":"3.00"}}],
              "error":"old"},
            "shippingAddress":{"country":"US"},"payerOptions":{"k":true}})",
                                 request));
    }

    json::Document answer(const std::optional<std::string>& chosen,
                          const char* event = "shippingoptionchange") {
        Answer a = shipping_answer(request, event, invoice, options,
                                           chosen);
        EXPECT_EQ(a.error, "");
        json::Document d;
        EXPECT_FALSE(json::parse(a.body, d));
        return d;
    }
};

TEST_F(ShippingAnswerTest, OptionChangeAddsShippingOnce) {
    auto d = answer(std::string("priority"));
    EXPECT_EQ(json::write(d["details"]["total"]),
              R"({"label":"Total Due","amount":{"currency":"USD","value":"13.00","currencySystem":null},"pending":false})");
    const auto& items = d["details"]["displayItems"];
    ASSERT_EQ(items.Size(), 3u);
    EXPECT_EQ(json::write(items[2]),
              R"({"label":"Shipping","amount":{"currency":"USD","value":"3.00"},"pending":false})");
    EXPECT_EQ(json::write(items[0]["x"]), "1") << "echoed extras kept";
    EXPECT_EQ(json::write(d["methodData"][0]["data"]["entity"]["totalPaymentDue"]["price"]),
              "13.00");
    EXPECT_EQ(json::write(d["methodData"][0]["data"]["event"]),
              "\"shippingoptionchange\"");
    EXPECT_FALSE(d["details"].HasMember("error"));
    EXPECT_EQ(json::write(d["payerOptions"]), R"({"k":true})");
    EXPECT_EQ(json::write(d["details"]["shippingOptions"][1]["selected"]), "true");
    EXPECT_EQ(json::write(d["details"]["shippingOptions"][0]["selected"]), "false");
}

TEST_F(ShippingAnswerTest, AddressChangeWithoutSelectionKeepsInvoiceTotal) {
    auto d = answer(std::nullopt, "shippingaddresschange");
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"10.00\"");
    EXPECT_EQ(d["details"]["displayItems"].Size(), 2u);
    EXPECT_EQ(d["details"]["shippingOptions"].Size(), 2u);
}

TEST_F(ShippingAnswerTest, UnknownOptionIsRefusedTheW3cWay) {
    auto d = answer(std::string("teleport"));
    EXPECT_TRUE(d["shippingOption"].IsNull());
    EXPECT_TRUE(d["details"]["error"].IsString());
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"10.00\"");
}

TEST_F(ShippingAnswerTest, NoOptionsRefusesTheAddress) {
    options.options.clear();
    auto d = answer(std::nullopt, "shippingaddresschange");
    EXPECT_TRUE(d["shippingAddress"].IsNull());
    EXPECT_EQ(json::write(d["details"]["error"]),
              "\"We do not ship to this address.\"");
    EXPECT_EQ(d["details"]["shippingOptions"].Size(), 0u);
}

TEST_F(ShippingAnswerTest, NegativeTotalIsRefused) {
    options.options[1].amount.minor = -1001;
    Answer a = shipping_answer(request, "shippingoptionchange",
                                       invoice, options,
                                       std::string("priority"));
    EXPECT_EQ(a.body, "");
    EXPECT_NE(a.error.find("must not be negative"), std::string::npos);
}

TEST(CheckDetails, FindsBrokenRules) {
    auto broken = [](const char* details) {
        json::Document d;
        EXPECT_FALSE(json::parse(details, d));
        return check_details(d).value_or("");
    };
    EXPECT_EQ(broken(R"({"total":{"amount":{"currency":"USD","value":"1.00"}}})"), "");
    EXPECT_NE(broken(R"({"total":{"amount":{"currency":"USD","value":"-1.00"}}})"), "");
    EXPECT_NE(broken(R"({"total":{"amount":{"currency":"US","value":"1.00"}}})"), "");
    EXPECT_NE(broken(R"({"total":{"amount":{"currency":"USD","value":"1."}}})"), "");
    EXPECT_NE(broken(R"({"total":{"amount":{"currency":"USD","value":"1"}},
        "shippingOptions":[{"id":"a","amount":{"currency":"USD","value":"1"}},
                           {"id":"a","amount":{"currency":"USD","value":"1"}}]})"), "");
}

}  // namespace
}  // namespace opay
