// The PaymentRequest flow: loadentity and both shipping events, their
// fetches, answers and refusals.
#include "payment_request_flow.h"

#include <gtest/gtest.h>

#include "flow_fixture.h"

namespace opay {
namespace {

using test::kInvoice;
using PaymentRequestFlowTest = test::FlowTest;

TEST_F(PaymentRequestFlowTest, LoadentityFetchesTheInvoiceThenAnswers) {
    PaymentRequestFlow f(config, input());
    ASSERT_FALSE(f.responding());
    ASSERT_EQ(f.fetches().size(), 1u);
    EXPECT_EQ(f.fetches()[0].target, OPAY_TARGET_INVOICE);
    EXPECT_FALSE(f.fetches()[0].post);
    EXPECT_EQ(f.context_field("invoiceId"), "12345");
    EXPECT_EQ(f.context_field("invoiceid"), "12345");
    EXPECT_EQ(f.context_field("n"), "7");
    EXPECT_FALSE(f.context_field("missing"));
    f.feed(0, 200, kInvoice);
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(f.response().status, 200);
    EXPECT_EQ(f.variable(OPAY_VAR_EVENT), "loadentity");
    EXPECT_EQ(f.variable(OPAY_VAR_SUB), "p@x");
    EXPECT_EQ(f.variable(OPAY_VAR_REQUEST_ID), "12345");
    EXPECT_FALSE(f.variable(OPAY_VAR_ERROR));
    json::Document d;
    ASSERT_FALSE(json::parse(f.response().body, d));
    EXPECT_EQ(json::write(d["details"]["total"]),
              R"({"label":"Total Due","amount":{"currency":"USD","value":"10.00"},"pending":false})");
    EXPECT_FALSE(d["methodData"][0]["data"].HasMember("mode"));
}

TEST_F(PaymentRequestFlowTest, TestModeAddsMode) {
    config.test_mode = true;
    config.answer_parts = render_answer_parts(config);
    PaymentRequestFlow f(config, input());
    f.feed(0, 200, kInvoice);
    json::Document d;
    ASSERT_FALSE(json::parse(f.response().body, d));
    EXPECT_EQ(json::write(d["methodData"][0]["data"]["mode"]), "\"TEST\"");
}

TEST_F(PaymentRequestFlowTest, RefusesBadPayloads) {
    struct Case {
        const char* body;
        int status;
        const char* code;
    };
    const Case cases[] = {
        {"[]", 400, "invalid_payload"},
        {R"({"methodData":[]})", 400, "invalid_payload"},
        {R"({"methodData":[{"supportedMethods":"x","data":{}}]})", 400,
         "invalid_payload"},
        {R"({"methodData":[{"supportedMethods":"https://pay.microsoft.com/microsoftpay"}]})",
         400, "invalid_payload"},
        {R"({"methodData":[{"supportedMethods":"https://pay.microsoft.com/microsoftpay","data":{"event":"loadentity"}}]})",
         400, "invalid_payload"},
        {R"({"methodData":[{"supportedMethods":"https://pay.microsoft.com/microsoftpay","data":{"event":"x","productContext":{}}}]})",
         400, "invalid_payload"},
        {R"({"methodData":[{"supportedMethods":"https://pay.microsoft.com/microsoftpay","data":{"event":"shippingaddresschange","productContext":{}}}]})",
         400, "unsupported_event"},
    };
    for (const auto& c : cases) {
        PaymentRequestFlow f(config, input(c.body));
        ASSERT_TRUE(f.responding()) << c.body;
        EXPECT_EQ(f.response().status, c.status) << c.body;
        EXPECT_EQ(code(f), c.code) << c.body;
    }
}

using test::kAddressChange;
using test::kOptions;

TEST_F(PaymentRequestFlowTest, ShippingEventsNeedAShippingBackend) {
    PaymentRequestFlow f(config, input(kAddressChange));
    EXPECT_EQ(f.response().status, 400);
    EXPECT_EQ(code(f), "unsupported_event");
}

TEST_F(PaymentRequestFlowTest,
       AddressChangeFetchesInvoiceAndOptionsInParallel) {
    config.shipping = true;
    PaymentRequestFlow f(config, input(kAddressChange));
    ASSERT_FALSE(f.responding());
    ASSERT_EQ(f.fetches().size(), 2u);
    EXPECT_EQ(f.fetches()[0].target, OPAY_TARGET_INVOICE);
    EXPECT_EQ(f.fetches()[1].target, OPAY_TARGET_SHIPPING);
    EXPECT_TRUE(f.fetches()[1].post);
    EXPECT_EQ(f.fetches()[1].content_type, "application/json");
    EXPECT_EQ(f.fetches()[1].body,
              R"({"invoice":"12345","productContext":{"invoiceId":"12345"},)"
              R"("shippingAddress":{"country":"US"}})");
    f.feed(1, 200, kOptions);  // either order
    EXPECT_FALSE(f.responding());
    f.feed(0, 200, kInvoice);
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(f.response().status, 200);
    EXPECT_EQ(f.variable(OPAY_VAR_EVENT), "shippingaddresschange");
}

// The answer fed first is copied: the caller's buffer is its own once
// feed returns (the last one is read in place, during feed).
TEST_F(PaymentRequestFlowTest, AnswerFedFirstOutlivesTheCallersBuffer) {
    config.shipping = true;
    PaymentRequestFlow f(config, input(kAddressChange));
    ASSERT_EQ(f.fetches().size(), 2u);
    std::string options = kOptions;
    f.feed(1, 200, options);
    options.assign(options.size(), 'x');
    std::string invoice = kInvoice;
    f.feed(0, 200, invoice);
    invoice.assign(invoice.size(), 'x');
    ASSERT_TRUE(f.responding());
    ASSERT_EQ(f.response().status, 200) << f.response().body;
    EXPECT_NE(f.response().body.find(R"("id":"priority")"), std::string::npos)
        << f.response().body;
}

TEST_F(PaymentRequestFlowTest, MislabelledOptionChangeIsAnOptionChange) {
    config.shipping = true;
    std::string body = kAddressChange;
    body.insert(body.size() - 1, R"(,"shippingOption":"priority")");
    PaymentRequestFlow f(config, input(body));
    EXPECT_EQ(f.variable(OPAY_VAR_EVENT), "shippingoptionchange");
    f.feed(0, 200, kInvoice);
    f.feed(1, 200, kOptions);
    ASSERT_EQ(f.response().status, 200);
    json::Document d;
    ASSERT_FALSE(json::parse(f.response().body, d));
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"13.00\"");
}

TEST_F(PaymentRequestFlowTest, AddressChangeEchoingTheChoiceIsAnAddressChange) {
    config.shipping = true;
    std::string body = kAddressChange;
    body.replace(body.find(R"("details":{"id":"12345"})"), 24,
                 R"("details":{"id":"12345","shippingOptions":[)"
                 R"({"id":"priority","selected":true}]})");
    body.insert(body.size() - 1, R"(,"shippingOption":"priority")");
    PaymentRequestFlow f(config, input(body));
    EXPECT_EQ(f.variable(OPAY_VAR_EVENT), "shippingaddresschange");
    f.feed(0, 200, kInvoice);
    f.feed(1, 200, R"({"shippingOptions":[
        {"id":"norush","label":"R","amount":{"currency":"USD","value":"0.00"}}]})");
    ASSERT_EQ(f.response().status, 200);
    json::Document d;
    ASSERT_FALSE(json::parse(f.response().body, d));
    EXPECT_FALSE(d["details"].HasMember("error"))
        << "the new address's options, not an option refusal";
    EXPECT_TRUE(d["shippingOption"].IsNull());
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"10.00\"");
}

TEST_F(PaymentRequestFlowTest, OurNullAddressEchoedAsksOnlyForTheInvoice) {
    config.shipping = true;
    std::string body = kAddressChange;
    body.replace(body.find(R"({"country":"US"})"), 16, "null");
    body.insert(body.size() - 1, R"(,"shippingOption":null)");
    PaymentRequestFlow f(config, input(body));
    ASSERT_FALSE(f.responding());
    ASSERT_EQ(f.fetches().size(), 1u);
    EXPECT_EQ(f.fetches()[0].target, OPAY_TARGET_INVOICE);
    f.feed(0, 200, kInvoice);
    ASSERT_EQ(f.response().status, 200);
    json::Document d;
    ASSERT_FALSE(json::parse(f.response().body, d));
    EXPECT_EQ(json::write(d["details"]["error"]),
              "\"Please enter a shipping address.\"");
}

TEST_F(PaymentRequestFlowTest, PaidInvoiceIsAnsweredWithNothingDue) {
    std::string paid = kInvoice;
    paid.insert(paid.find(R"("identifier")"),
                R"("paymentStatus":"http://schema.org/PaymentComplete",)");
    PaymentRequestFlow f(config, input());
    f.feed(0, 200, paid);
    ASSERT_EQ(f.response().status, 200);
    EXPECT_EQ(f.response().log, OPAY_LOG_INFO);
    EXPECT_EQ(f.response().log_message,
              "invoice \"12345\" is PaymentComplete: answered with nothing due");
    json::Document d;
    ASSERT_FALSE(json::parse(f.response().body, d));
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"0.00\"");
    EXPECT_EQ(json::write(d["details"]["error"]),
              "\"This invoice has already been paid.\"");
    EXPECT_EQ(json::write(d["options"]["requestShipping"]), "false");

    config.shipping = true;  // a shipping event for it: the same answer
    PaymentRequestFlow g(config, input(kAddressChange));
    g.feed(0, 200, paid);
    g.feed(1, 200, kOptions);
    ASSERT_EQ(g.response().status, 200);
    ASSERT_FALSE(json::parse(g.response().body, d));
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"0.00\"");
}

TEST_F(PaymentRequestFlowTest, ShippingFailuresAndMismatches) {
    config.shipping = true;
    struct Case {
        int invoice_status;
        const char* options;
        int options_status;
        int answer;
    };
    const Case cases[] = {
        {200, "", 500, 502},
        {200, "", 504, 504},
        {200, R"({"shippingOptions":[{"id":"x","label":"x",
            "amount":{"currency":"EUR","value":"1"}}]})", 200, 502},
        {404, "", 200, 404},
    };
    for (const auto& c : cases) {
        PaymentRequestFlow f(config, input(kAddressChange));
        f.feed(0, c.invoice_status, c.invoice_status == 200 ? kInvoice : "");
        f.feed(1, c.options_status, c.options);
        EXPECT_EQ(f.response().status, c.answer) << c.options;
    }
    std::string other = kAddressChange;
    other.replace(other.find(R"("details":{"id":"12345"})"), 24,
                  R"("details":{"id":"999"})");
    PaymentRequestFlow f(config, input(other));
    f.feed(0, 200, kInvoice);
    f.feed(1, 200, kOptions);
    EXPECT_EQ(f.response().status, 400);
    for (const char* bad : {R"({"country":"USA"})", "null"}) {
        std::string body = kAddressChange;
        body.replace(body.find(R"({"country":"US"})"), 16, bad);
        EXPECT_EQ(PaymentRequestFlow(config, input(body)).response().status,
                  400)
            << bad;
    }
}

}  // namespace
}  // namespace opay
