#include "simulator.h"

#include <gtest/gtest.h>

#include "base64url.h"

namespace opay {
namespace {

// A correct endpoint's answers for invoice 12345 (10.00 USD, shipping
// asked), as the module gives them.
const std::string kEntity =
    R"("entity":{"@type":"Invoice","identifier":"12345",)"
    R"("paymentStatus":"PaymentDue","totalPaymentDue":{"price":"%TOTAL%",)"
    R"("priceCurrency":"USD"}})";
const std::string kData =
    R"("supportedMethods":"https://pay.microsoft.com/microsoftpay",)"
    R"("data":{"event":"%EVENT%","productContext":{"invoiceId":"12345"},)"
    R"("supportedNetworks":["visa","mastercard"],)"
    R"("supportedTypes":["credit"],)" +
    kEntity + R"(,"mode":"TEST"})";
const std::string kOptions =
    R"("options":{"requestPayerName":true,"requestPayerEmail":true,)"
    R"("requestShipping":true,"shippingType":"shipping"})";
const std::string kItems =
    R"({"label":"Large Widget","amount":{"currency":"USD","value":"7.00"}},)"
    R"({"label":"Small Widget","amount":{"currency":"USD","value":"3.00"}})";
const std::string kShippingOptions =
    R"("shippingOptions":[{"id":"norush","label":"Regular",)"
    R"("amount":{"currency":"USD","value":"0.00"}%NORUSH%},)"
    R"({"id":"priority","label":"Priority",)"
    R"("amount":{"currency":"USD","value":"3.00"}%PRIORITY%}])";

std::string replace(std::string s, const std::string& from,
                    const std::string& to) {
    auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << "no " << from << " in " << s;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
}

std::string answer_body(const std::string& event) {
    std::string address = reference_address("US");
    std::string s = "{\"methodData\":[{" + kData + "}]," + kOptions +
                    ",\"details\":{\"id\":\"12345\",\"total\":{\"label\":"
                    "\"Total Due\",\"amount\":{\"currency\":\"USD\","
                    "\"value\":\"%TOTAL%\"}},\"displayItems\":[" + kItems;
    if (event == "loadentity") {
        s += "]}}";
        s = replace(s, "%TOTAL%", "10.00");
        s = replace(s, "%TOTAL%", "10.00");
    } else if (event == "shippingaddresschange") {
        s += "]," + kShippingOptions + "},\"shippingAddress\":" + address +
             "}";
        s = replace(s, "%TOTAL%", "10.00");
        s = replace(s, "%TOTAL%", "10.00");
        s = replace(s, "%NORUSH%", "");
        s = replace(s, "%PRIORITY%", "");
    } else {
        s += ",{\"label\":\"Shipping\",\"amount\":{\"currency\":\"USD\","
             "\"value\":\"3.00\"}}]," + kShippingOptions +
             "},\"shippingAddress\":" + address +
             ",\"shippingOption\":\"priority\"}";
        s = replace(s, "%TOTAL%", "13.00");
        s = replace(s, "%TOTAL%", "13.00");
        s = replace(s, "%NORUSH%", "");
        s = replace(s, "%PRIORITY%", ",\"selected\":true");
    }
    return replace(s, "%EVENT%", event);
}

const std::string kSuccess =
    R"({"requestId":"12345","result":"success","details":"Thank you",)"
    R"("entity":{"@type":"Invoice","identifier":"12345",)"
    R"("paymentStatus":"PaymentComplete","confirmationNumber":"pi_1"}})";
const std::string kDeclined =
    R"({"requestId":"12345","result":"fail","details":"Not charged",)"
    R"("error":{"code":"card_error","message":"Card cannot be processed.",)"
    R"("innererror":{"code":"card_declined","message":"Declined."}}})";

EndpointAnswer ok(std::string body) {
    return EndpointAnswer{200, "application/json", "", std::move(body)};
}

SimulatorOptions options(std::string card = "tok_visa") {
    SimulatorOptions o;
    o.product_context = R"({"invoiceId":"12345"})";
    o.shipping_address = reference_address("US");
    o.card = std::move(card);
    return o;
}

Simulator started(SimulatorOptions o = options()) {
    return std::get<Simulator>(Simulator::start(std::move(o)));
}

std::string all(const StepReport& r) {
    std::string s;
    for (const auto& v : r.violations) s += v + "\n";
    return s;
}

// Feeds answers in order; returns the report of the last.
StepReport converse(Simulator& sim, const std::vector<EndpointAnswer>& answers) {
    StepReport last;
    for (const EndpointAnswer& a : answers) {
        EXPECT_TRUE(sim.next().has_value());
        last = sim.feed(a);
    }
    return last;
}

TEST(Simulator, WholeConversationPasses) {
    Simulator sim = started();
    std::vector<std::string> events;
    std::vector<EndpointAnswer> answers = {
        ok(answer_body("loadentity")),
        ok(answer_body("shippingaddresschange")),
        ok(answer_body("shippingoptionchange")), ok(kSuccess)};
    for (const EndpointAnswer& a : answers) {
        auto call = sim.next();
        ASSERT_TRUE(call);
        events.push_back(call->event);
        StepReport r = sim.feed(a);
        EXPECT_TRUE(r.ok()) << call->event << ": " << all(r);
    }
    EXPECT_FALSE(sim.next());
    EXPECT_TRUE(sim.passed());
    EXPECT_EQ(events, (std::vector<std::string>{
                          "loadentity", "shippingaddresschange",
                          "shippingoptionchange", "paymentcomplete"}));
}

TEST(Simulator, LoadentityIsTheReferenceRequest) {
    Simulator sim = started();
    EXPECT_EQ(sim.next()->body,
              R"({"methodData":[{"supportedMethods":"https://pay.microsoft.)"
              R"(com/microsoftpay","data":{"productContext":{"invoiceId":)"
              R"("12345"},"event":"loadentity"}}]})");
    EXPECT_EQ(sim.next()->webhook, Webhook::kPaymentRequest);
}

TEST(Simulator, EchoesTheLastAnswerWithThePayersChoice) {
    Simulator sim = started();
    converse(sim, {ok(answer_body("loadentity"))});
    std::string address_call = sim.next()->body;
    EXPECT_NE(address_call.find("\"event\":\"shippingaddresschange\""),
              std::string::npos);
    EXPECT_NE(address_call.find("\"id\":\"12345\""), std::string::npos);
    EXPECT_NE(address_call.find("\"shippingAddress\":{\"country\":\"US\""),
              std::string::npos);
    EXPECT_NE(address_call.find(
                  "\"value\":\"10.00\",\"currencySystem\":null"),
              std::string::npos);
    converse(sim, {ok(answer_body("shippingaddresschange"))});
    std::string option_call = sim.next()->body;
    EXPECT_NE(option_call.find("\"event\":\"shippingoptionchange\""),
              std::string::npos);
    // no --option: the last offered
    EXPECT_NE(option_call.find("\"shippingOption\":\"priority\""),
              std::string::npos);
}

TEST(Simulator, PaysTheFinalTotalWithATestToken) {
    Simulator sim = started();
    converse(sim, {ok(answer_body("loadentity")),
                   ok(answer_body("shippingaddresschange")),
                   ok(answer_body("shippingoptionchange"))});
    auto call = sim.next();
    ASSERT_TRUE(call);
    EXPECT_EQ(call->webhook, Webhook::kPaymentComplete);
    EXPECT_NE(call->body.find("\"requestId\":\"12345\""), std::string::npos);
    EXPECT_NE(call->body.find("\"amount\":{\"currency\":\"USD\",\"value\":"
                              "\"13.00\",\"currencySystem\":null}"),
              std::string::npos);
    EXPECT_NE(call->body.find("\"shippingOption\":\"priority\""),
              std::string::npos);
    EXPECT_NE(call->body.find("\"payerName\""), std::string::npos);
    EXPECT_NE(call->body.find("\"payerEmail\""), std::string::npos);
    EXPECT_EQ(call->body.find("\"payerPhone\""), std::string::npos);
    auto at = call->body.find("\"paymentToken\":\"") + 16;
    std::string token = call->body.substr(at, call->body.find('"', at) - at);
    auto d1 = token.find('.');
    auto d2 = token.find('.', d1 + 1);
    EXPECT_EQ(*base64url_decode(token.substr(0, d1)),
              R"({"Format":"Stripe","TestMode":true})");
    EXPECT_EQ(*base64url_decode(token.substr(d1 + 1, d2 - d1 - 1)),
              "tok_visa");
}

TEST(Simulator, GivenOptionIsChosen) {
    SimulatorOptions o = options();
    o.shipping_option = "norush";
    Simulator sim = started(o);
    converse(sim, {ok(answer_body("loadentity")),
                   ok(answer_body("shippingaddresschange"))});
    EXPECT_NE(sim.next()->body.find("\"shippingOption\":\"norush\""),
              std::string::npos);
    // the reference answer selected priority, not norush
    StepReport r = sim.feed(ok(answer_body("shippingoptionchange")));
    EXPECT_NE(all(r).find("shippingOption is not the \"norush\" chosen"),
              std::string::npos)
        << all(r);
}

TEST(Simulator, WithoutCardStopsBeforePaying) {
    Simulator sim = started(options(""));
    StepReport r = converse(sim, {ok(answer_body("loadentity")),
                                  ok(answer_body("shippingaddresschange")),
                                  ok(answer_body("shippingoptionchange"))});
    EXPECT_FALSE(sim.next());
    EXPECT_TRUE(sim.passed());
    EXPECT_EQ(r.said.back(), "no --card: the payer stops before paying");
}

TEST(Simulator, WithoutShippingPaysRightAfterLoad) {
    Simulator sim = started();
    std::string load = replace(answer_body("loadentity"),
                               "\"requestShipping\":true",
                               "\"requestShipping\":false");
    converse(sim, {ok(load)});
    EXPECT_EQ(sim.next()->event, "paymentcomplete");
    EXPECT_EQ(sim.next()->body.find("shippingAddress"), std::string::npos);
}

TEST(Simulator, DeclineIsAnAnswerNotAViolation) {
    Simulator sim = started();
    StepReport r = converse(sim, {ok(answer_body("loadentity")),
                                  ok(answer_body("shippingaddresschange")),
                                  ok(answer_body("shippingoptionchange")),
                                  ok(kDeclined)});
    EXPECT_TRUE(r.ok()) << all(r);
    EXPECT_EQ(r.said.back(), "fail: card_error/card_declined");
    EXPECT_TRUE(sim.passed());
}

// Each broken answer: the rule it breaks is named, the conversation ends
// and does not pass.
struct Broken {
    const char* event;
    const char* from;
    const char* to;
    const char* violation;
};

class SimulatorBroken : public testing::TestWithParam<Broken> {};

TEST_P(SimulatorBroken, NamesTheViolation) {
    const Broken& b = GetParam();
    Simulator sim = started();
    std::vector<std::string> order = {"loadentity", "shippingaddresschange",
                                      "shippingoptionchange",
                                      "paymentcomplete"};
    StepReport r;
    for (const std::string& event : order) {
        std::string body = event == "paymentcomplete" ? kSuccess
                                                      : answer_body(event);
        if (event == b.event) body = replace(body, b.from, b.to);
        ASSERT_TRUE(sim.next()) << event;
        r = sim.feed(ok(body));
        if (event == b.event) break;
        ASSERT_TRUE(r.ok()) << event << ": " << all(r);
    }
    EXPECT_NE(all(r).find(b.violation), std::string::npos)
        << "wanted \"" << b.violation << "\", got:\n" << all(r);
    EXPECT_FALSE(sim.next());
    EXPECT_FALSE(sim.passed());
    EXPECT_GT(sim.violations(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Answers, SimulatorBroken,
    testing::Values(
        Broken{"loadentity", "\"value\":\"7.00\"", "\"value\":\"7.50\"",
               "details.total 10.00 USD is not the sum of displayItems "
               "10.50 USD"},
        Broken{"loadentity", "\"value\":\"7.00\"", "\"value\":7.00",
               "details.displayItems[0].amount.value is not a string"},
        Broken{"loadentity", "\"value\":\"3.00\"", "\"value\":\".5\"",
               "details.displayItems[1].amount.value \".5\" is not a valid "
               "decimal monetary value"},
        Broken{"loadentity", "\"event\":\"loadentity\"",
               "\"event\":\"shippingaddresschange\"",
               "data.event is \"shippingaddresschange\", not \"loadentity\""},
        Broken{"loadentity", "{\"invoiceId\":\"12345\"}",
               "{\"invoiceId\":\"99\"}",
               "data.productContext is not the one sent"},
        Broken{"loadentity", "\"supportedTypes\":[\"credit\"]",
               "\"supportedTypes\":[\"cash\"]",
               "data.supportedTypes has \"cash\", not a documented value"},
        Broken{"loadentity", "microsoftpay\",", "microsoftpay2\",",
               "methodData[0].supportedMethods is not"},
        Broken{"loadentity", "\"mode\":\"TEST\"", "\"mode\":\"test\"",
               "data.mode is present but not \"TEST\""},
        Broken{"loadentity", "\"price\":\"10.00\"", "\"price\":\"12.00\"",
               "data.entity.totalPaymentDue 12.00 USD is not in step with "
               "details.total 10.00 USD"},
        Broken{"loadentity", "\"currency\":\"USD\",\"value\":\"10.00\"",
               "\"currency\":\"US\",\"value\":\"10.00\"",
               "details.total.amount: currency \"US\" is not an ISO 4217"},
        Broken{"shippingaddresschange", "\"id\":\"priority\"",
               "\"id\":\"norush\"",
               "details.shippingOptions[1].id \"norush\" is not unique"},
        Broken{"shippingaddresschange", "\"id\":\"12345\"",
               "\"id\":\"67890\"", "details.id changed from \"12345\""},
        Broken{"shippingaddresschange", "\"city\":\"Redmond\"",
               "\"city\":\"Seattle\"",
               "shippingAddress is not the one sent"},
        Broken{"shippingoptionchange", ",\"selected\":true", "",
               "the chosen option \"priority\" is not the one marked "
               "selected"},
        Broken{"shippingoptionchange",
               "{\"label\":\"Shipping\",\"amount\":{\"currency\":\"USD\","
               "\"value\":\"3.00\"}}",
               "{\"label\":\"Shipping\",\"amount\":{\"currency\":\"USD\","
               "\"value\":\"0.00\"}}",
               "details.total 13.00 USD is not the sum of displayItems "
               "10.00 USD"},
        Broken{"shippingoptionchange", "\"price\":\"13.00\"",
               "\"price\":\"10.00\"",
               "data.entity.totalPaymentDue 10.00 USD is not in step"},
        Broken{"paymentcomplete", "\"requestId\":\"12345\"",
               "\"requestId\":\"1\"",
               "requestId is not the \"12345\" sent"},
        Broken{"paymentcomplete", "\"PaymentComplete\"", "\"PaymentDue\"",
               "entity.paymentStatus is not PaymentComplete"},
        Broken{"paymentcomplete", "\"result\":\"success\"",
               "\"result\":\"ok\"",
               "result is not \"success\" or \"fail\""}));

TEST(Simulator, FailNeedsADocumentedInnerCode) {
    Simulator sim = started();
    StepReport r = converse(
        sim, {ok(answer_body("loadentity")),
              ok(answer_body("shippingaddresschange")),
              ok(answer_body("shippingoptionchange")),
              ok(replace(kDeclined, "card_declined", "insufficient_funds"))});
    EXPECT_NE(all(r).find("error.innererror.code is not one of the "
                          "documented codes"),
              std::string::npos);
    r = StepReport{};
    Simulator sim2 = started();
    r = converse(sim2, {ok(answer_body("loadentity")),
                        ok(answer_body("shippingaddresschange")),
                        ok(answer_body("shippingoptionchange")),
                        ok(replace(kDeclined, "\"message\":\"Card",
                                   "\"message:\":\"Card"))});
    EXPECT_NE(all(r).find("error.message is missing"), std::string::npos);
}

TEST(Simulator, NotJsonIsAViolation) {
    Simulator sim = started();
    StepReport r = converse(sim, {EndpointAnswer{200, "text/html", "", "<html>"}});
    EXPECT_NE(all(r).find("Content-Type is \"text/html\""),
              std::string::npos);
    EXPECT_NE(all(r).find("answer is not valid JSON"), std::string::npos);
}

TEST(Simulator, WellFormedRefusalEndsTheConversationWithoutViolation) {
    Simulator sim = started();
    StepReport r = converse(
        sim, {EndpointAnswer{404, "application/json", "",
                     R"({"error":{"code":"unknown_invoice",)"
                     R"("message":"no"}})"}});
    EXPECT_TRUE(r.ok()) << all(r);
    EXPECT_EQ(r.said.front(), "refused: 404 unknown_invoice (no)");
    EXPECT_FALSE(sim.next());
    EXPECT_FALSE(sim.passed());
}

TEST(Simulator, RefusalShapeIsChecked) {
    Simulator sim = started();
    StepReport r = converse(sim, {EndpointAnswer{401, "text/plain", "", "nope"}});
    EXPECT_NE(all(r).find("refusal body is not {\"error\""),
              std::string::npos);
    EXPECT_NE(all(r).find("401 without WWW-Authenticate"), std::string::npos);
    EXPECT_NE(all(r).find("refusal Content-Type is \"text/plain\""),
              std::string::npos);
}

TEST(Simulator, NoShippingToTheAddressNeedsAnErrorForThePayer) {
    Simulator sim = started();
    std::string none = answer_body("shippingaddresschange");
    auto from = none.find("\"shippingOptions\":[");
    auto to = none.find("}]", from) + 2;
    none.replace(from, to - from, "\"shippingOptions\":[]");
    StepReport r = converse(sim, {ok(answer_body("loadentity")), ok(none)});
    EXPECT_NE(all(r).find("no shippingOptions and no details.error"),
              std::string::npos)
        << all(r);
}

TEST(Simulator, BadOptionsAreRefusedAtStart) {
    SimulatorOptions o = options();
    o.product_context = "[1]";
    EXPECT_EQ(std::get<std::string>(Simulator::start(o)),
              "product context is not a JSON object");
    o = options();
    o.shipping_address = "{";
    EXPECT_EQ(std::get<std::string>(Simulator::start(o)),
              "shipping address is not a JSON object");
}

}  // namespace
}  // namespace opay
