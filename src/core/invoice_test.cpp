#include "invoice.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace opay {
namespace {

std::string error_of(const std::string& body) {
    auto r = parse_invoice(body);
    auto* e = std::get_if<InvoiceError>(&r);
    return e ? e->message : "";
}

const char* kWrapped = R"({
  "entity": {"@type": "Invoice", "identifier": "12345",
             "paymentStatus": "PaymentDue",
             "totalPaymentDue": {"price": 10, "priceCurrency": "usd"}},
  "displayItems": [
    {"label": "Large Widget", "amount": {"currency": "USD", "value": "7.00"}},
    {"label": "Small Widget", "amount": {"currency": "USD", "value": "3.00"}}],
  "requestShipping": true})";

TEST(Invoice, ReadsTheWrappedShape) {
    auto r = parse_invoice(kWrapped);
    ASSERT_TRUE(std::holds_alternative<Invoice>(r)) << error_of(kWrapped);
    const Invoice& inv = std::get<Invoice>(r);
    EXPECT_EQ(inv.identifier, "12345");
    EXPECT_EQ(inv.total.minor, 1000);
    EXPECT_EQ(inv.total.currency.view(), "USD");
    ASSERT_EQ(inv.display_items.size(), 2u);
    EXPECT_EQ(inv.display_items[1].label, "Small Widget");
    EXPECT_EQ(inv.display_items[1].amount.minor, 300);
    EXPECT_EQ(inv.request_shipping, true);
    EXPECT_EQ(inv.payment_status, "PaymentDue");
    // the entity is kept as the backend wrote it, number and all
    EXPECT_NE(json::write(*inv.entity).find("\"price\":10,"),
              std::string::npos);
}

// The texts are views of the invoice's own document: right after the
// answer's text is gone and in a copy that outlives the first.
TEST(Invoice, TextsOutliveTheAnswerAndTheFirstCopy) {
    std::string body = kWrapped;
    auto r = std::make_unique<std::variant<Invoice, InvoiceError>>(
        parse_invoice(body));
    body.assign(body.size(), ' ');
    ASSERT_TRUE(std::holds_alternative<Invoice>(*r));
    Invoice copy = std::get<Invoice>(*r);
    r.reset();
    EXPECT_EQ(copy.identifier, "12345");
    EXPECT_EQ(copy.payment_status, "PaymentDue");
    ASSERT_EQ(copy.display_items.size(), 2u);
    EXPECT_EQ(copy.display_items[0].label, "Large Widget");
}

TEST(Invoice, ReadsABareSchemaOrgInvoice) {
    auto r = parse_invoice(R"({"@type": "http://schema.org/Invoice",
        "identifier": 42, "paymentStatus": "https://schema.org/PaymentComplete",
        "totalPaymentDue": {"price": "2500", "priceCurrency": "JPY"}})");
    ASSERT_TRUE(std::holds_alternative<Invoice>(r));
    const Invoice& inv = std::get<Invoice>(r);
    EXPECT_EQ(inv.identifier, "42");
    EXPECT_EQ(inv.total.minor, 2500);
    EXPECT_EQ(inv.payment_status, "PaymentComplete");
    EXPECT_TRUE(inv.display_items.empty());
    EXPECT_FALSE(inv.request_shipping);
}

// paymentStatus, when present, is a string: anything else (a number, a
// number's text, null, an object) refuses the invoice; absent, it is "".
TEST(Invoice, PaymentStatusIsAStringWhenPresent) {
    auto with = [](const std::string& status) {
        return R"({"@type":"Invoice","identifier":"s",)" + status +
               R"("totalPaymentDue":{"price":1,"priceCurrency":"USD"}})";
    };
    for (const char* bad : {"5", "1.50", "null", "true", "{}", "[\"PaymentDue\"]"}) {
        EXPECT_EQ(error_of(with(std::string("\"paymentStatus\":") + bad + ",")),
                  "invoice \"s\": \"paymentStatus\" is not a string")
            << bad;
    }
    auto r = parse_invoice(with(""));
    ASSERT_TRUE(std::holds_alternative<Invoice>(r)) << error_of(with(""));
    EXPECT_EQ(std::get<Invoice>(r).payment_status, "");
    r = parse_invoice(with(R"("paymentStatus":"PaymentDue",)"));
    ASSERT_TRUE(std::holds_alternative<Invoice>(r));
    EXPECT_EQ(std::get<Invoice>(r).payment_status, "PaymentDue");
}

TEST(Invoice, ReadsNumbersExactly) {
    auto r = parse_invoice(R"({"@type":"Invoice","identifier":"b",
        "totalPaymentDue":{"price":12.345,"priceCurrency":"BHD"}})");
    ASSERT_TRUE(std::holds_alternative<Invoice>(r));
    EXPECT_EQ(std::get<Invoice>(r).total.minor, 12345);
    // 0.1 + 0.2 style traps cannot happen: 0.30 is exactly 30 cents
    r = parse_invoice(R"({"entity":{"@type":"Invoice","identifier":"c",
        "totalPaymentDue":{"price":0.30,"priceCurrency":"USD"}},
        "displayItems":[{"label":"a","amount":{"currency":"USD","value":"0.1"}},
                        {"label":"b","amount":{"currency":"USD","value":"0.2"}}]})");
    EXPECT_TRUE(std::holds_alternative<Invoice>(r));
}

TEST(Invoice, DisplayItemsMustAddUp) {
    std::string body = kWrapped;
    body.replace(body.find("3.00"), 4, "2.99");
    EXPECT_EQ(error_of(body), "invoice \"12345\": display items add up to "
                              "9.99 but the total due is 10.00");
}

TEST(Invoice, RefusesMixedCurrencies) {
    std::string body = kWrapped;
    body.replace(body.rfind("\"USD\""), 5, "\"EUR\"");
    EXPECT_NE(error_of(body).find("currency EUR differs from the total's USD"),
              std::string::npos);
}

TEST(Invoice, RefusesTooManyDisplayItems) {
    auto invoice = [](std::size_t n) {
        std::string items;
        for (std::size_t i = 0; i < n; ++i) {
            items += std::string(i ? "," : "") +
                     R"({"label":"x","amount":{"currency":"USD","value":"0.00"}})";
        }
        return R"({"entity":{"@type":"Invoice","identifier":"1",)"
               R"("totalPaymentDue":{"price":"0.00","priceCurrency":"USD"}},)"
               R"("displayItems":[)" + items + "]}";
    };
    EXPECT_TRUE(std::holds_alternative<Invoice>(
        parse_invoice(invoice(kMaxDisplayItems))));
    EXPECT_NE(error_of(invoice(kMaxDisplayItems + 1))
                  .find("101 displayItems, over the limit of 100"),
              std::string::npos);
}

TEST(Invoice, RefusesBrokenInvoices) {
    EXPECT_NE(error_of("{").find("invalid JSON"), std::string::npos);
    EXPECT_NE(error_of("[]").find("not a JSON object"), std::string::npos);
    EXPECT_NE(error_of(R"({"@type":"Invoice"})").find("no \"identifier\""),
              std::string::npos);
    EXPECT_NE(error_of(R"({"@type":"Order","identifier":"1"})")
                  .find("\"@type\" is not \"Invoice\""),
              std::string::npos);
    EXPECT_NE(error_of(R"({"@type":"Invoice","identifier":"1"})")
                  .find("\"totalPaymentDue\" missing"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"@type":"Invoice","identifier":"1",
        "totalPaymentDue":{"price":"-1","priceCurrency":"USD"}})")
                  .find("negative"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"@type":"Invoice","identifier":"1",
        "totalPaymentDue":{"price":true,"priceCurrency":"USD"}})")
                  .find("not a number or string"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"@type":"Invoice","identifier":"1",
        "totalPaymentDue":{"price":"1.00"}})")
                  .find("currency missing"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"entity":{"@type":"Invoice","identifier":"1",
        "totalPaymentDue":{"price":"1.00","priceCurrency":"USD"}},
        "displayItems":{}})")
                  .find("not an array"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"entity":{"@type":"Invoice","identifier":"1",
        "totalPaymentDue":{"price":"1.00","priceCurrency":"USD"}},
        "requestShipping":"yes"})")
                  .find("not a boolean"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"entity":{"@type":"Invoice","identifier":"1",
        "totalPaymentDue":{"price":"1.00","priceCurrency":"USD"}},
        "displayItems":[{"label":"x"}]})")
                  .find("needs \"label\" and \"amount\""),
              std::string::npos);
}

}  // namespace
}  // namespace opay
