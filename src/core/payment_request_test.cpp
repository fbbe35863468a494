// The PaymentRequest answers: what is re-derived (everything that is ours
// to say), what is echoed (what the payer said, productContext), and the
// answer for an invoice that is not due.
#include "payment_request.h"

#include <cstdint>
#include <iterator>
#include <string>
#include <utility>
#include <variant>

#include <gtest/gtest.h>

#include "opay_str.h"

namespace opay {
namespace {

Currency usd() { return *parse_currency("USD"); }

struct AnswerTest : ::testing::Test {
    Config config;
    Invoice invoice;
    ShippingOptions options;
    json::Document request;

    AnswerTest() {
        config.networks = {"visa", "mastercard"};
        config.types = {"credit"};
        config.payer_email = true;
        config.shipping = true;
        config.answer_parts = render_answer_parts(config);
        invoice = invoice_of("PaymentDue");
        options = std::get<ShippingOptions>(parse_shipping_options(
            R"({"shippingOptions":[
              {"id":"norush","label":"Regular","amount":{"currency":"USD","value":"0.00"}},
              {"id":"priority","label":"Priority","amount":{"currency":"USD","value":"3.00"}}]})",
            usd()));
        // An echo of an earlier answer, with everything that is ours to
        // say tampered with.
        EXPECT_FALSE(json::parse(R"({"id":"99","methodData":[{
            "supportedMethods":"https://pay.microsoft.com/microsoftpay",
            "data":{"event":"shippingaddresschange","productContext":{"invoiceId":"12345"},
                    "supportedNetworks":["unionpay"],"supportedTypes":["prepaid"],
                    "mode":"TEST","extra":1,
                    "entity":{"totalPaymentDue":{"price":1}}}},{"x":1}],
            "options":{"requestShipping":false,"requestPayerPhone":true,
                       "requestBillingAddress":true},
            "details":{"id":"99",
              "total":{"label":"Free","amount":{"currency":"USD","value":"0.01","currencySystem":"urn:x"}},
              "displayItems":[
                {"label":"Large Widget","amount":{"currency":"USD","value":"0.01"},"x":1},
                {"label":"Shipping","amount":{"currency":"USD","value":"3.00"}}],
              "modifiers":[{"total":{"label":"T","amount":{"currency":"USD","value":"0.01"}}}],
              "shippingOptions":[{"id":"free","label":"F","amount":{"currency":"USD","value":"0.00"},"selected":true}],
              "error":"old"},
            "shippingAddress":{"country":"US"},"serviceMember":{"k":true}})",
                                 request));
    }

    static Invoice invoice_of(const std::string& status) {
        return std::get<Invoice>(parse_invoice(R"({"entity":{"@type":"Invoice",
            "identifier":"12345","paymentStatus":")" + status + R"(",
            "totalPaymentDue":{"price":10,"priceCurrency":"USD"}},
            "displayItems":[
              {"label":"Large Widget","amount":{"currency":"USD","value":"7.00"}},
              {"label":"Small Widget","amount":{"currency":"USD","value":"3.00"}}]})"));
    }

    Echo echo_of(const char* option_json = nullptr) {
        if (option_json) {
            json::Document v;
            EXPECT_FALSE(json::parse(option_json, v));
            json::set(request, "shippingOption",
                      json::Value(v, request.GetAllocator()),
                      request.GetAllocator());
        }
        auto e = std::get<Echo>(read_echo(request));
        EXPECT_EQ(read_payer_choice(request, e), std::nullopt);
        return e;
    }

    json::Document answer(const Echo& e) {
        Answer a = shipping_answer(config, request, e, invoice, options);
        EXPECT_EQ(a.error, "");
        json::Document d;
        EXPECT_FALSE(json::parse(a.body, d)) << a.body;
        return d;
    }

    static std::vector<std::string> selected(const json::Document& d) {
        std::vector<std::string> out;
        for (const auto& o : d["details"]["shippingOptions"].GetArray()) {
            if (o["selected"].GetBool()) out.push_back(o["id"].GetString());
        }
        return out;
    }
};

TEST_F(AnswerTest, LoadentityIsShapedLikeTheReference) {
    json::Document ctx;
    ASSERT_FALSE(json::parse(R"({"invoiceId":"12345"})", ctx));
    Answer a = loadentity_answer(config, ctx, invoice);
    ASSERT_EQ(a.error, "");
    EXPECT_EQ(a.body,
              R"({"id":"12345","methodData":[{"supportedMethods":"https://pay.microsoft.com/microsoftpay",)"
              R"("data":{"event":"loadentity","productContext":{"invoiceId":"12345"},)"
              R"("supportedNetworks":["visa","mastercard"],"supportedTypes":["credit"],)"
              R"("entity":{"@type":"Invoice","identifier":"12345","paymentStatus":"PaymentDue",)"
              R"("totalPaymentDue":{"price":10,"priceCurrency":"USD"}}}}],)"
              R"("options":{"requestPayerName":false,"requestPayerEmail":true,"requestPayerPhone":false,)"
              R"("requestShipping":true,"shippingType":"shipping"},)"
              R"("details":{"id":"12345","total":{"label":"Total Due","amount":{"currency":"USD","value":"10.00"},"pending":false},)"
              R"("displayItems":[{"label":"Large Widget","amount":{"currency":"USD","value":"7.00"},"pending":false},)"
              R"({"label":"Small Widget","amount":{"currency":"USD","value":"3.00"},"pending":false}]}})");
}

TEST_F(AnswerTest, OursIsReDerivedNeverEchoed) {
    auto d = answer(echo_of());
    const auto& data = d["methodData"][0]["data"];
    EXPECT_EQ(d["methodData"].Size(), 1u);
    EXPECT_EQ(json::write(data),
              R"({"event":"shippingaddresschange","productContext":{"invoiceId":"12345"},)"
              R"("supportedNetworks":["visa","mastercard"],"supportedTypes":["credit"],)"
              R"("entity":{"@type":"Invoice","identifier":"12345","paymentStatus":"PaymentDue",)"
              R"("totalPaymentDue":{"price":10.00,"priceCurrency":"USD"}}})")
        << "live mode: no mode; networks, types and entity ours";
    EXPECT_EQ(json::write(d["options"]),
              R"({"requestPayerName":false,"requestPayerEmail":true,"requestPayerPhone":false,)"
              R"("requestShipping":true,"shippingType":"shipping"})");
    EXPECT_EQ(json::write(d["id"]), "\"12345\"");
    EXPECT_EQ(json::write(d["details"]["id"]), "\"12345\"");
    EXPECT_EQ(json::write(d["details"]["total"]),
              R"({"label":"Total Due","amount":{"currency":"USD","value":"10.00"},"pending":false})");
    EXPECT_EQ(json::write(d["details"]["displayItems"]),
              R"([{"label":"Large Widget","amount":{"currency":"USD","value":"7.00"},"pending":false},)"
              R"({"label":"Small Widget","amount":{"currency":"USD","value":"3.00"},"pending":false}])");
    EXPECT_FALSE(d["details"].HasMember("modifiers"));
    EXPECT_FALSE(d["details"].HasMember("error"));
    EXPECT_EQ(d["details"]["shippingOptions"].Size(), 2u);
    EXPECT_TRUE(selected(d).empty()) << "the echoed selection is not ours";
    // Echoed: what the payer said, and what the protocol does not name.
    EXPECT_EQ(json::write(d["shippingAddress"]), R"({"country":"US"})");
    EXPECT_FALSE(d.HasMember("shippingOption"));
    EXPECT_EQ(json::write(d["serviceMember"]), R"({"k":true})");

    config.test_mode = true;
    config.answer_parts = render_answer_parts(config);
    d = answer(echo_of());
    EXPECT_EQ(json::write(d["methodData"][0]["data"]["mode"]), "\"TEST\"");
}

TEST_F(AnswerTest, OptionChangeAddsShippingOnce) {
    json::set(request["methodData"][0]["data"], "event",
              json::str("shippingoptionchange", request.GetAllocator()),
              request.GetAllocator());
    auto d = answer(echo_of(R"("priority")"));
    EXPECT_EQ(json::write(d["methodData"][0]["data"]["event"]),
              "\"shippingoptionchange\"");
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]),
              R"({"currency":"USD","value":"13.00"})");
    const auto& items = d["details"]["displayItems"];
    ASSERT_EQ(items.Size(), 3u);
    EXPECT_EQ(json::write(items[2]),
              R"({"label":"Shipping","amount":{"currency":"USD","value":"3.00"},"pending":false})");
    EXPECT_EQ(json::write(d["methodData"][0]["data"]["entity"]["totalPaymentDue"]["price"]),
              "13.00");
    EXPECT_EQ(selected(d), std::vector<std::string>{"priority"});
    EXPECT_EQ(json::write(d["shippingOption"]), "\"priority\"");
}

TEST_F(AnswerTest, MislabelledOptionChangeIsAnsweredAsOne) {
    request["details"].RemoveMember("shippingOptions");
    auto e = echo_of(R"("priority")");
    EXPECT_EQ(e.event, Event::kOptionChange);
    auto d = answer(e);
    EXPECT_EQ(json::write(d["methodData"][0]["data"]["event"]),
              "\"shippingoptionchange\"");
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"13.00\"");
}

TEST_F(AnswerTest, UnknownOptionIsRefusedTheW3cWay) {
    request["details"].RemoveMember("shippingOptions");
    auto d = answer(echo_of(R"("teleport")"));
    EXPECT_TRUE(d["shippingOption"].IsNull());
    EXPECT_EQ(json::write(d["details"]["error"]),
              "\"The selected shipping option is not available.\"");
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"10.00\"");
    EXPECT_EQ(d["details"]["shippingOptions"].Size(), 2u);
    EXPECT_TRUE(selected(d).empty());
}

TEST_F(AnswerTest, AddressChangeKeepsTheEarlierChoiceIfStillOffered) {
    // The earlier answer selected priority: the echo carries it.
    auto d = answer(echo_of(R"("free")"));
    EXPECT_EQ(json::write(d["methodData"][0]["data"]["event"]),
              "\"shippingaddresschange\"");
    // "free" was selected in the (tampered) echo, so this is an address
    // change whose earlier choice the new address does not offer.
    EXPECT_TRUE(selected(d).empty());
    EXPECT_TRUE(d["shippingOption"].IsNull());
    EXPECT_FALSE(d["details"].HasMember("error")) << "no error: new options";
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"10.00\"");
    EXPECT_EQ(d["details"]["displayItems"].Size(), 2u);

    request["details"]["shippingOptions"][0]["id"].SetString("priority");
    d = answer(echo_of(R"("priority")"));
    EXPECT_EQ(selected(d), std::vector<std::string>{"priority"});
    EXPECT_EQ(json::write(d["shippingOption"]), "\"priority\"");
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"13.00\"");
    EXPECT_EQ(json::write(d["methodData"][0]["data"]["entity"]["totalPaymentDue"]["price"]),
              "13.00");
}

TEST_F(AnswerTest, AddressChangeWithoutChoiceTakesTheBackendSelection) {
    options.options[0].selected = true;
    auto d = answer(echo_of());
    EXPECT_EQ(selected(d), std::vector<std::string>{"norush"});
    EXPECT_EQ(json::write(d["shippingOption"]), "\"norush\"");
    d = answer(echo_of("null"));
    EXPECT_EQ(selected(d), std::vector<std::string>{"norush"})
        << "our own null echoed is no choice";
}

TEST_F(AnswerTest, RefusedAddressesTheW3cWay) {
    options.options.clear();
    auto d = answer(echo_of(R"("free")"));
    EXPECT_TRUE(d["shippingAddress"].IsNull());
    EXPECT_TRUE(d["shippingOption"].IsNull());
    EXPECT_EQ(json::write(d["details"]["error"]),
              "\"We do not ship to this address.\"");
    EXPECT_EQ(d["details"]["shippingOptions"].Size(), 0u);
    options.error = "Not to Canada.";
    d = answer(echo_of());
    EXPECT_EQ(json::write(d["details"]["error"]), "\"Not to Canada.\"");

    // Our refusal echoed back (shippingAddress null): asked again.
    json::set(request, "shippingAddress", json::Value(),
              request.GetAllocator());
    d = answer(echo_of("null"));
    EXPECT_TRUE(d["shippingAddress"].IsNull());
    EXPECT_EQ(json::write(d["details"]["error"]),
              "\"Please enter a shipping address.\"");
    EXPECT_EQ(json::write(d["details"]["total"]["amount"]["value"]), "\"10.00\"");
}

TEST_F(AnswerTest, NegativeTotalIsRefused) {
    options.options[1].amount.minor = -1001;
    json::set(request["methodData"][0]["data"], "event",
              json::str("shippingoptionchange", request.GetAllocator()),
              request.GetAllocator());
    Answer a = shipping_answer(config, request, echo_of(R"("priority")"),
                               invoice, options);
    EXPECT_EQ(a.body, "");
    EXPECT_NE(a.error.find("must not be negative"), std::string::npos);
}

// The shipping backend's option id reaches the log as log_value makes it:
// cut, its quotes and control characters escaped.
TEST_F(AnswerTest, NegativeTotalNamesTheOptionEscaped) {
    options.options[1].id = "p\"\n" + std::string(100, 'y');
    options.options[1].amount.minor = -1001;
    json::set(request["methodData"][0]["data"], "event",
              json::str("shippingoptionchange", request.GetAllocator()),
              request.GetAllocator());
    std::string chosen = "\"p\\\"\\n" + std::string(100, 'y') + "\"";
    Answer a = shipping_answer(config, request, echo_of(chosen.c_str()),
                               invoice, options);
    EXPECT_EQ(a.body, "");
    EXPECT_NE(a.error.find("must not be negative"), std::string::npos);
    EXPECT_EQ(a.error.find('\n'), std::string::npos) << a.error;
    EXPECT_NE(a.error.find("p\\x22\\x0a"), std::string::npos) << a.error;
    EXPECT_EQ(a.error.find(std::string(62, 'y')), std::string::npos)
        << a.error;
}

// The W3C checks of details run on the amounts and ids as they are
// written (no document is read back): what the parsers upstream already
// refuse, made here by hand, is still refused, naming the broken rule,
// and nothing is sent.
TEST_F(AnswerTest, WrittenDetailsAreCheckedAsTheyAreWritten) {
    json::Document ctx;
    ASSERT_FALSE(json::parse(R"({"invoiceId":"12345"})", ctx));
    Invoice negative = invoice;
    negative.total.minor = -5;
    Answer a = loadentity_answer(config, ctx, negative);
    EXPECT_EQ(a.body, "");
    EXPECT_EQ(a.error, "details.total must not be negative");

    Invoice odd_item = invoice;
    odd_item.display_items[1].amount.minor = INT64_MIN;
    a = loadentity_answer(config, ctx, odd_item);
    EXPECT_EQ(a.body, "");
    EXPECT_EQ(a.error.rfind("details.displayItems[1].amount: amount \"-", 0),
              0u)
        << a.error;

    options.options[1].id = "norush";
    a = shipping_answer(config, request, echo_of(), invoice, options);
    EXPECT_EQ(a.body, "");
    EXPECT_EQ(a.error,
              "details.shippingOptions[1]: ids must be present and unique");
}

TEST_F(AnswerTest, NotDueInvoiceIsNotOfferedForPayment) {
    json::Document ctx;
    ASSERT_FALSE(json::parse(R"({"invoiceId":"12345"})", ctx));
    for (const char* status :
         {"PaymentComplete", "https://schema.org/PaymentAutomaticallyApplied",
          "Draft"}) {
        Invoice paid = invoice_of(status);
        Answer a = not_due_answer(config, Event::kLoadEntity, ctx, paid);
        ASSERT_EQ(a.error, "") << status;
        json::Document d;
        ASSERT_FALSE(json::parse(a.body, d));
        const auto& entity = d["methodData"][0]["data"]["entity"];
        EXPECT_EQ(json::write(entity["paymentStatus"]),
                  "\"" + std::string(status) + "\"")
            << "the backend's status, as it said it";
        EXPECT_EQ(json::write(entity["totalPaymentDue"]["price"]), "0.00");
        EXPECT_EQ(json::write(d["details"]["total"]["amount"]),
                  R"({"currency":"USD","value":"0.00"})");
        EXPECT_FALSE(d["details"].HasMember("displayItems"));
        EXPECT_EQ(json::write(d["options"]),
                  R"({"requestPayerName":false,"requestPayerEmail":false,)"
                  R"("requestPayerPhone":false,"requestShipping":false})");
        EXPECT_EQ(d["details"]["error"].GetString(),
                  not_due_message(paid.payment_status));
    }
    EXPECT_EQ(not_due_message("PaymentComplete"),
              "This invoice has already been paid.");
    EXPECT_EQ(not_due_message("PaymentAutomaticallyApplied"),
              "This invoice is paid automatically: nothing is due.");
    EXPECT_EQ(not_due_message("Draft"), "This invoice is not due for payment.");
}

// Every answer's bytes, pinned, for locations made the way nginx makes
// them (make_config): one with the defaults and one with every setting
// the answers carry (all networks and types in an order of their own,
// every payer field, shipping of a type other than the default, test
// mode); loadentity with and without shipping, not-due for every event,
// and the shipping answers. The parts of an answer that depend on the
// location alone are written once per location; a drift of one byte
// from what the answers said before fails here.
struct AnswerBytes : AnswerTest {
    static Config made(const opay_settings_t& s) {
        auto made = make_config(s);
        EXPECT_TRUE(std::holds_alternative<Config>(made));
        return std::move(std::get<Config>(made));
    }
    static opay_settings_t base() {
        opay_settings_t s{};
        s.merchant_id = str("m1");
        s.jwks_remote = 1;
        return s;
    }
    Config live = made(base());
    Config full = [] {
        static const opay_str_t networks[] = {
            str("jcb"), str("visa"), str("diners"), str("amex"),
            str("discover"), str("mastercard")};
        static const opay_str_t types[] = {str("prepaid"), str("credit"),
                                           str("debit")};
        opay_settings_t s = base();
        s.networks = networks;
        s.n_networks = std::size(networks);
        s.types = types;
        s.n_types = std::size(types);
        s.request_payer = OPAY_PAYER_NAME | OPAY_PAYER_EMAIL |
                          OPAY_PAYER_PHONE;
        s.shipping = 1;
        s.shipping_type = str("pickup");
        s.test_mode = 1;
        return made(s);
    }();
    json::Document ctx;

    AnswerBytes() {
        EXPECT_FALSE(json::parse(R"({"invoiceId":"12345","n":[1,"2"]})", ctx));
    }

    static std::string body(const Answer& a) {
        EXPECT_EQ(a.error, "");
        return a.body;
    }
};

// A Config made by hand and not given its parts answers nothing rather
// than broken JSON.
TEST_F(AnswerBytes, NothingWithoutTheLocationsParts) {
    Config bare;
    const std::string why = "the location's answer parts are not rendered";
    Answer a = loadentity_answer(bare, ctx, invoice);
    EXPECT_EQ(a.body, "");
    EXPECT_EQ(a.error, why);
    a = not_due_answer(bare, Event::kLoadEntity, ctx, invoice);
    EXPECT_EQ(a.body, "");
    EXPECT_EQ(a.error, why);
    a = shipping_answer(bare, request, echo_of(), invoice, options);
    EXPECT_EQ(a.body, "");
    EXPECT_EQ(a.error, why);
    bare.answer_parts = render_answer_parts(bare);
    EXPECT_EQ(loadentity_answer(bare, ctx, invoice).error, "");
}

TEST_F(AnswerBytes, Loadentity) {
    EXPECT_EQ(body(loadentity_answer(live, ctx, invoice)),
              R"({"id":"12345","methodData":[{"supportedMethods":"https://pay)"
              R"(.microsoft.com/microsoftpay","data":{"event":"loadentity",)"
              R"("productContext":{"invoiceId":"12345","n":[1,"2"]},)"
              R"("supportedNetworks":["visa","mastercard","amex"],)"
              R"("supportedTypes":["credit"],"entity":{"@type":"Invoice",)"
              R"("identifier":"12345","paymentStatus":"PaymentDue",)"
              R"("totalPaymentDue":{"price":10,"priceCurrency":"USD"}}}}],)"
              R"("options":{"requestPayerName":false,)"
              R"("requestPayerEmail":false,"requestPayerPhone":false,)"
              R"("requestShipping":false},"details":{"id":"12345",)"
              R"("total":{"label":"Total Due","amount":{"currency":"USD",)"
              R"("value":"10.00"},"pending":false},)"
              R"("displayItems":[{"label":"Large Widget",)"
              R"("amount":{"currency":"USD","value":"7.00"},"pending":false},)"
              R"({"label":"Small Widget","amount":{"currency":"USD",)"
              R"("value":"3.00"},"pending":false}]}})");
    EXPECT_EQ(body(loadentity_answer(full, ctx, invoice)),
              R"({"id":"12345","methodData":[{"supportedMethods":"https://pay)"
              R"(.microsoft.com/microsoftpay","data":{"event":"loadentity",)"
              R"("productContext":{"invoiceId":"12345","n":[1,"2"]},)"
              R"("supportedNetworks":["jcb","visa","diners","amex",)"
              R"("discover","mastercard"],"supportedTypes":["prepaid",)"
              R"("credit","debit"],"entity":{"@type":"Invoice",)"
              R"("identifier":"12345","paymentStatus":"PaymentDue",)"
              R"("totalPaymentDue":{"price":10,"priceCurrency":"USD"}},)"
              R"("mode":"TEST"}}],"options":{"requestPayerName":true,)"
              R"("requestPayerEmail":true,"requestPayerPhone":true,)"
              R"("requestShipping":true,"shippingType":"pickup"},)"
              R"("details":{"id":"12345","total":{"label":"Total Due",)"
              R"("amount":{"currency":"USD","value":"10.00"},)"
              R"("pending":false},"displayItems":[{"label":"Large Widget",)"
              R"("amount":{"currency":"USD","value":"7.00"},"pending":false},)"
              R"({"label":"Small Widget","amount":{"currency":"USD",)"
              R"("value":"3.00"},"pending":false}]}})");
    Invoice unshipped = std::get<Invoice>(parse_invoice(R"({"entity":{
        "@type":"Invoice","identifier":"A\"7","paymentStatus":"PaymentDue",
        "totalPaymentDue":{"price":"4.50","priceCurrency":"EUR"}},
        "requestShipping":false})"));
    EXPECT_EQ(body(loadentity_answer(full, ctx, unshipped)),
              R"({"id":"A\"7","methodData":[{"supportedMethods":"https://pay.)"
              R"(microsoft.com/microsoftpay","data":{"event":"loadentity",)"
              R"("productContext":{"invoiceId":"12345","n":[1,"2"]},)"
              R"("supportedNetworks":["jcb","visa","diners","amex",)"
              R"("discover","mastercard"],"supportedTypes":["prepaid",)"
              R"("credit","debit"],"entity":{"@type":"Invoice",)"
              R"("identifier":"A\"7","paymentStatus":"PaymentDue",)"
              R"("totalPaymentDue":{"price":"4.50","priceCurrency":"EUR"}},)"
              R"("mode":"TEST"}}],"options":{"requestPayerName":true,)"
              R"("requestPayerEmail":true,"requestPayerPhone":true,)"
              R"("requestShipping":false},"details":{"id":"A\"7",)"
              R"("total":{"label":"Total Due","amount":{"currency":"EUR",)"
              R"("value":"4.50"},"pending":false}}})");
}

TEST_F(AnswerBytes, NotDue) {
    Invoice paid = invoice_of("PaymentComplete");
    EXPECT_EQ(body(not_due_answer(live, Event::kLoadEntity, ctx, paid)),
              R"({"id":"12345","methodData":[{"supportedMethods":"https://pay)"
              R"(.microsoft.com/microsoftpay","data":{"event":"loadentity",)"
              R"("productContext":{"invoiceId":"12345","n":[1,"2"]},)"
              R"("supportedNetworks":["visa","mastercard","amex"],)"
              R"("supportedTypes":["credit"],"entity":{"@type":"Invoice",)"
              R"("identifier":"12345","paymentStatus":"PaymentComplete",)"
              R"("totalPaymentDue":{"price":0.00,"priceCurrency":"USD"}}}}],)"
              R"("options":{"requestPayerName":false,)"
              R"("requestPayerEmail":false,"requestPayerPhone":false,)"
              R"("requestShipping":false},"details":{"id":"12345",)"
              R"("total":{"label":"Total Due","amount":{"currency":"USD",)"
              R"("value":"0.00"},"pending":false},)"
              R"("error":"This invoice has already been paid."}})");
    // the same answer for each event, but for its name
    for (auto [event, name] : {std::pair{Event::kLoadEntity, "loadentity"},
                               {Event::kAddressChange, "shippingaddresschange"},
                               {Event::kOptionChange, "shippingoptionchange"}}) {
        EXPECT_EQ(body(not_due_answer(full, event, ctx, paid)),
                  std::string(R"({"id":"12345","methodData":[{)")
                      + R"("supportedMethods":"https://pay.microsoft.com/)"
                      + R"(microsoftpay","data":{"event":")" + name
                      + R"(","productContext":{"invoiceId":"12345",)"
                      + R"("n":[1,"2"]},"supportedNetworks":["jcb","visa",)"
                      + R"("diners","amex","discover","mastercard"],)"
                      + R"("supportedTypes":["prepaid","credit","debit"],)"
                      + R"("entity":{"@type":"Invoice","identifier":"12345",)"
                      + R"("paymentStatus":"PaymentComplete",)"
                      + R"("totalPaymentDue":{"price":0.00,)"
                      + R"("priceCurrency":"USD"}},"mode":"TEST"}}],)"
                      + R"("options":{"requestPayerName":false,)"
                      + R"("requestPayerEmail":false,)"
                      + R"("requestPayerPhone":false,)"
                      + R"("requestShipping":false},"details":{"id":"12345",)"
                      + R"("total":{"label":"Total Due","amount":{)"
                      + R"("currency":"USD","value":"0.00"},)"
                      + R"("pending":false},"error":)"
                      + R"("This invoice has already been paid."}})")
            << name;
    }
}

TEST_F(AnswerBytes, Shipping) {
    EXPECT_EQ(body(shipping_answer(live, request, echo_of(), invoice,
                                   options)),
              R"({"id":"12345","methodData":[{"supportedMethods":"https://pay)"
              R"(.microsoft.com/microsoftpay",)"
              R"("data":{"event":"shippingaddresschange",)"
              R"("productContext":{"invoiceId":"12345"},)"
              R"("supportedNetworks":["visa","mastercard","amex"],)"
              R"("supportedTypes":["credit"],"entity":{"@type":"Invoice",)"
              R"("identifier":"12345","paymentStatus":"PaymentDue",)"
              R"("totalPaymentDue":{"price":10.00,"priceCurrency":"USD"}}}}],)"
              R"("options":{"requestPayerName":false,)"
              R"("requestPayerEmail":false,"requestPayerPhone":false,)"
              R"("requestShipping":true,"shippingType":"shipping"},)"
              R"("details":{"id":"12345","total":{"label":"Total Due",)"
              R"("amount":{"currency":"USD","value":"10.00"},)"
              R"("pending":false},"displayItems":[{"label":"Large Widget",)"
              R"("amount":{"currency":"USD","value":"7.00"},"pending":false},)"
              R"({"label":"Small Widget","amount":{"currency":"USD",)"
              R"("value":"3.00"},"pending":false}],)"
              R"("shippingOptions":[{"id":"norush","label":"Regular",)"
              R"("amount":{"currency":"USD","value":"0.00"},)"
              R"("selected":false},{"id":"priority","label":"Priority",)"
              R"("amount":{"currency":"USD","value":"3.00"},)"
              R"("selected":false}]},"serviceMember":{"k":true},)"
              R"("shippingAddress":{"country":"US"}})");
    EXPECT_EQ(body(shipping_answer(full, request, echo_of(), invoice,
                                   options)),
              R"({"id":"12345","methodData":[{"supportedMethods":"https://pay)"
              R"(.microsoft.com/microsoftpay",)"
              R"("data":{"event":"shippingaddresschange",)"
              R"("productContext":{"invoiceId":"12345"},)"
              R"("supportedNetworks":["jcb","visa","diners","amex",)"
              R"("discover","mastercard"],"supportedTypes":["prepaid",)"
              R"("credit","debit"],"entity":{"@type":"Invoice",)"
              R"("identifier":"12345","paymentStatus":"PaymentDue",)"
              R"("totalPaymentDue":{"price":10.00,"priceCurrency":"USD"}},)"
              R"("mode":"TEST"}}],"options":{"requestPayerName":true,)"
              R"("requestPayerEmail":true,"requestPayerPhone":true,)"
              R"("requestShipping":true,"shippingType":"pickup"},)"
              R"("details":{"id":"12345","total":{"label":"Total Due",)"
              R"("amount":{"currency":"USD","value":"10.00"},)"
              R"("pending":false},"displayItems":[{"label":"Large Widget",)"
              R"("amount":{"currency":"USD","value":"7.00"},"pending":false},)"
              R"({"label":"Small Widget","amount":{"currency":"USD",)"
              R"("value":"3.00"},"pending":false}],)"
              R"("shippingOptions":[{"id":"norush","label":"Regular",)"
              R"("amount":{"currency":"USD","value":"0.00"},)"
              R"("selected":false},{"id":"priority","label":"Priority",)"
              R"("amount":{"currency":"USD","value":"3.00"},)"
              R"("selected":false}]},"serviceMember":{"k":true},)"
              R"("shippingAddress":{"country":"US"}})");
    json::set(request["methodData"][0]["data"], "event",
              json::str("shippingoptionchange", request.GetAllocator()),
              request.GetAllocator());
    EXPECT_EQ(body(shipping_answer(full, request, echo_of(R"("priority")"),
                                   invoice, options)),
              R"({"id":"12345","methodData":[{"supportedMethods":"https://pay)"
              R"(.microsoft.com/microsoftpay",)"
              R"("data":{"event":"shippingoptionchange",)"
              R"("productContext":{"invoiceId":"12345"},)"
              R"("supportedNetworks":["jcb","visa","diners","amex",)"
              R"("discover","mastercard"],"supportedTypes":["prepaid",)"
              R"("credit","debit"],"entity":{"@type":"Invoice",)"
              R"("identifier":"12345","paymentStatus":"PaymentDue",)"
              R"("totalPaymentDue":{"price":13.00,"priceCurrency":"USD"}},)"
              R"("mode":"TEST"}}],"options":{"requestPayerName":true,)"
              R"("requestPayerEmail":true,"requestPayerPhone":true,)"
              R"("requestShipping":true,"shippingType":"pickup"},)"
              R"("details":{"id":"12345","total":{"label":"Total Due",)"
              R"("amount":{"currency":"USD","value":"13.00"},)"
              R"("pending":false},"displayItems":[{"label":"Large Widget",)"
              R"("amount":{"currency":"USD","value":"7.00"},"pending":false},)"
              R"({"label":"Small Widget","amount":{"currency":"USD",)"
              R"("value":"3.00"},"pending":false},{"label":"Shipping",)"
              R"("amount":{"currency":"USD","value":"3.00"},)"
              R"("pending":false}],"shippingOptions":[{"id":"norush",)"
              R"("label":"Regular","amount":{"currency":"USD",)"
              R"("value":"0.00"},"selected":false},{"id":"priority",)"
              R"("label":"Priority","amount":{"currency":"USD",)"
              R"("value":"3.00"},"selected":true}]},)"
              R"("serviceMember":{"k":true},)"
              R"("shippingAddress":{"country":"US"},)"
              R"("shippingOption":"priority"})");
    options.options.clear();
    EXPECT_EQ(body(shipping_answer(full, request, echo_of(), invoice,
                                   options)),
              R"({"id":"12345","methodData":[{"supportedMethods":"https://pay)"
              R"(.microsoft.com/microsoftpay",)"
              R"("data":{"event":"shippingoptionchange",)"
              R"("productContext":{"invoiceId":"12345"},)"
              R"("supportedNetworks":["jcb","visa","diners","amex",)"
              R"("discover","mastercard"],"supportedTypes":["prepaid",)"
              R"("credit","debit"],"entity":{"@type":"Invoice",)"
              R"("identifier":"12345","paymentStatus":"PaymentDue",)"
              R"("totalPaymentDue":{"price":10.00,"priceCurrency":"USD"}},)"
              R"("mode":"TEST"}}],"options":{"requestPayerName":true,)"
              R"("requestPayerEmail":true,"requestPayerPhone":true,)"
              R"("requestShipping":true,"shippingType":"pickup"},)"
              R"("details":{"id":"12345","total":{"label":"Total Due",)"
              R"("amount":{"currency":"USD","value":"10.00"},)"
              R"("pending":false},"displayItems":[{"label":"Large Widget",)"
              R"("amount":{"currency":"USD","value":"7.00"},"pending":false},)"
              R"({"label":"Small Widget","amount":{"currency":"USD",)"
              R"("value":"3.00"},"pending":false}],"shippingOptions":[],)"
              R"("error":"We do not ship to this address."},)"
              R"("serviceMember":{"k":true},"shippingAddress":null,)"
              R"("shippingOption":null})");
}

}  // namespace
}  // namespace opay
