#include "card.h"

#include <gtest/gtest.h>

#include <ctime>
#include <tuple>

#include "base64url.h"
#include "json.h"
#include "jws.h"
#include "test_util.h"

namespace opay {
namespace {

constexpr int64_t kNow = 1760000000;
constexpr const char* kMerchant = "3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10";

std::string demo(const std::string& name) {
    return test::read_testdata("../conf-examples/" + name);
}

CardInput input(CardFormat format = CardFormat::kActionRequest) {
    CardInput in;
    in.merchant_id = kMerchant;
    in.display_id = "5d1c2b3a-4e5f-4a6b-9c8d-7e6f5a4b3c2d";
    in.originator = "8a0f2c1e-6b3d-4f5a-9e7c-1d2b3a4c5e6f";
    in.invoice = demo("invoices/12345.json");
    in.format = format;
    return in;
}

std::string written(const CardInput& in) {
    auto out = write_card(in);
    if (auto* problems = std::get_if<std::vector<CardProblem>>(&out)) {
        std::string all;
        for (const auto& p : *problems) all += to_string(p) + "; ";
        ADD_FAILURE() << "card not written: " << all;
        return {};
    }
    return std::get<std::string>(out);
}

std::vector<std::string> problems_of(const CardInput& in) {
    auto out = write_card(in);
    std::vector<std::string> names;
    if (auto* problems = std::get_if<std::vector<CardProblem>>(&out)) {
        for (const auto& p : *problems) names.push_back(to_string(p));
    }
    return names;
}

bool has(const std::vector<std::string>& all, const std::string& want) {
    for (const auto& s : all) {
        if (s.find(want) != std::string::npos) return true;
    }
    return false;
}

std::string names(const CardReport& r) {
    std::string all;
    for (const auto& p : r.problems) all += to_string(p) + "\n";
    return all;
}

CardSigning signing(int64_t now = kNow) {
    CardSigning s;
    s.key = private_key_from_pem(demo("demo-only-key.pem"));
    s.kid = "demo-only";
    s.sender = "billing@contoso.com";
    s.recipient = "patti@contoso.com";
    s.now = now;
    return s;
}

KeySet demo_keys() {
    return std::get<KeySet>(load_jwks(demo("demo-only-jwks.json")));
}

TEST(Card, ActionRequestInHeadWithTheInvoice) {
    std::string html = written(input());
    EXPECT_NE(html.find("<head>\n<meta http-equiv=\"Content-Type\" "
                        "content=\"text/html; charset=utf-8\">\n"
                        "<script type=\"application/ld+json\">"),
              std::string::npos);
    EXPECT_NE(html.find("\"@type\":\"ActionRequest\""), std::string::npos);
    EXPECT_NE(html.find("\"@type\":\"PaymentAction\",\"merchantId\":\"" +
                        std::string(kMerchant) + "\""),
              std::string::npos);
    EXPECT_NE(html.find("\"productContext\":{\"invoiceId\":\"12345\"}"),
              std::string::npos);
    EXPECT_NE(html.find("\"totalPaymentDue\":{\"@type\":\"PriceSpecification\","
                        "\"price\":10,\"priceCurrency\":\"USD\"}"),
              std::string::npos);
    // the display items, as schema.org Orders, with exact prices
    EXPECT_NE(html.find("\"referencesOrder\":[{\"@type\":\"Order\","
                        "\"description\":\"Large Widget\",\"acceptedOffer\":"
                        "{\"@type\":\"Offer\",\"price\":\"7.00\","
                        "\"priceCurrency\":\"USD\"}},"),
              std::string::npos);
    EXPECT_NE(html.find("<body>\n<table>\n<caption>Contoso</caption>\n"
                        "<tr><th align=\"left\">Invoice</th>"
                        "<td align=\"right\">12345</td></tr>\n"
                        "<tr><th align=\"left\">Due</th>"
                        "<td align=\"right\">2019-01-31</td></tr>\n"
                        "<tr><td>Large Widget</td>"
                        "<td align=\"right\">7.00 USD</td></tr>\n"
                        "<tr><td>Small Widget</td>"
                        "<td align=\"right\">3.00 USD</td></tr>\n"
                        "<tr><th align=\"left\">Total due</th>"
                        "<td align=\"right\">10.00 USD</td></tr>\n"
                        "</table>\n<p><a href=\"https://contoso.com/invoice\">"
                        "Review and pay</a></p>\n</body>"),
              std::string::npos)
        << html;
    CardReport r = check_card(html, nullptr, kNow);
    EXPECT_TRUE(r.ok()) << names(r);
    EXPECT_EQ(r.format, "ActionRequest");
}

TEST(Card, AdaptiveCardCarriesTheTransactionAction) {
    std::string html = written(input(CardFormat::kAdaptiveCard));
    EXPECT_NE(html.find("<script type=\"application/adaptivecard+json\">"),
              std::string::npos);
    EXPECT_NE(html.find("\"type\":\"Action.Transaction\",\"title\":\"Review "
                        "and pay\",\"initializationContext\":{\"merchantId\""),
              std::string::npos);
    CardReport r = check_card(html, nullptr, kNow);
    EXPECT_TRUE(r.ok()) << names(r);
    EXPECT_EQ(r.format, "AdaptiveCard");
}

TEST(Card, MessageCardCarriesTheTransactionAction) {
    std::string html = written(input(CardFormat::kMessageCard));
    EXPECT_NE(html.find("\"potentialAction\":[{\"@type\":\"Transaction\""),
              std::string::npos);
    CardReport r = check_card(html, nullptr, kNow);
    EXPECT_TRUE(r.ok()) << names(r);
    EXPECT_EQ(r.format, "MessageCard");
}

TEST(Card, GivenProductContextIsKept) {
    CardInput in = input();
    in.product_context = R"({"invoiceId":"12345","customer":"c-9"})";
    EXPECT_NE(written(in).find(
                  R"("productContext":{"invoiceId":"12345","customer":"c-9"})"),
              std::string::npos);
}

TEST(Card, SignedCardVerifiesWithThePublicKey) {
    CardInput in = input();
    in.signing = signing();
    std::string html = written(in);
    EXPECT_NE(html.find("\"@type\":\"SignedActionRequest\""),
              std::string::npos);
    KeySet keys = demo_keys();
    CardReport r = check_card(html, &keys, kNow);
    EXPECT_TRUE(r.ok()) << names(r);
    EXPECT_EQ(r.format, "SignedActionRequest");
    EXPECT_EQ(r.signature, "verified");
}

TEST(Card, SignedCardClaims) {
    CardInput in = input();
    in.signing = signing();
    std::string html = written(in);
    auto start = html.find("\"signedActionRequest\":\"") + 23;
    std::string jws = html.substr(start, html.find('"', start) - start);
    auto d1 = jws.find('.');
    auto d2 = jws.find('.', d1 + 1);
    std::string claims = *base64url_decode(jws.substr(d1 + 1, d2 - d1 - 1));
    EXPECT_NE(claims.find("\"sender\":\"billing@contoso.com\""),
              std::string::npos);
    EXPECT_NE(claims.find("\"sub\":\"patti@contoso.com\""), std::string::npos);
    EXPECT_NE(claims.find("\"iat\":1760000000,\"nbf\":1760000000,"
                          "\"exp\":1762592000"),
              std::string::npos);
    EXPECT_NE(claims.find("\"actionRequestSerialized\":\"{\\\"@type\\\":"
                          "\\\"ActionRequest\\\""),
              std::string::npos);
}

TEST(Card, SignedCardFailsWithAnotherKey) {
    CardInput in = input();
    in.signing = signing();
    std::string html = written(in);
    test::TestKey other("demo-only");
    KeySet keys = std::get<KeySet>(load_jwks(other.jwks()));
    CardReport r = check_card(html, &keys, kNow);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.signature, "bad: bad_signature");
    EXPECT_TRUE(has({names(r)}, "signedActionRequest: signature does not "
                                "verify with the given key"));
}

TEST(Card, SignedCardWithoutKeySaysItWasNotChecked) {
    CardInput in = input();
    in.signing = signing();
    CardReport r = check_card(written(in), nullptr, kNow);
    EXPECT_TRUE(r.ok()) << names(r);
    EXPECT_EQ(r.signature, "not checked: no key given");
}

TEST(Card, ExpiredSignedCardIsNamed) {
    CardInput in = input();
    in.signing = signing();
    std::string html = written(in);
    KeySet keys = demo_keys();
    CardReport r = check_card(html, &keys, kNow + 31 * 24 * 3600);
    EXPECT_TRUE(has({names(r)},
                    "signedActionRequest.exp: has passed: the card expired"))
        << names(r);
}

TEST(Card, OnlyActionRequestIsSigned) {
    CardInput in = input(CardFormat::kAdaptiveCard);
    in.signing = signing();
    EXPECT_TRUE(has(problems_of(in), "--sign-key: only an action-request"));
}

TEST(Card, SigningNeedsSenderAndRecipient) {
    CardInput in = input();
    in.signing = signing();
    in.signing->sender.clear();
    in.signing->recipient.clear();
    auto p = problems_of(in);
    EXPECT_TRUE(has(p, "--sender: missing"));
    EXPECT_TRUE(has(p, "--recipient: missing"));
}

TEST(Card, EachBadIdIsNamed) {
    CardInput in = input();
    in.merchant_id = "not-a-guid";
    in.display_id = "";
    in.originator = "";
    auto p = problems_of(in);
    EXPECT_TRUE(has(p, "actions[0].merchantId: is not a GUID"));
    EXPECT_TRUE(has(p, "actions[0].displayId: is empty"));
    EXPECT_TRUE(has(p, "originator: is empty"));
    EXPECT_EQ(p.size(), 3u);
}

TEST(Card, EachBadIdIsNamedInEveryFormat) {
    CardInput in = input(CardFormat::kAdaptiveCard);
    in.merchant_id = "x";
    EXPECT_TRUE(has(problems_of(in),
                    "actions[0].initializationContext.merchantId: is not a "
                    "GUID"));
    in.format = CardFormat::kMessageCard;
    EXPECT_TRUE(has(problems_of(in),
                    "potentialAction[0].merchantId: is not a GUID"));
}

TEST(Card, EachBadInvoiceFieldIsNamed) {
    CardInput in = input();
    in.invoice = R"({"@type":"Invoice","paymentStatus":"Paid",
        "totalPaymentDue":{"price":"10.0.0","priceCurrency":"XYZ"}})";
    auto p = problems_of(in);
    EXPECT_TRUE(has(p, "entity.identifier: missing"));
    EXPECT_TRUE(has(p, "entity.paymentStatus: \"Paid\" is not a schema.org"));
    EXPECT_TRUE(has(p, "entity.totalPaymentDue.priceCurrency: \"XYZ\" is not "
                       "an ISO 4217 code"));
    in.invoice = R"({"@type":"Invoice","identifier":"1",
        "paymentStatus":"http://schema.org/PaymentDue",
        "totalPaymentDue":{"price":"10.001","priceCurrency":"USD"}})";
    EXPECT_TRUE(has(problems_of(in), "entity.totalPaymentDue.price: "
                                     "\"10.001\": "));
    in.invoice = R"({"@type":"Invoice","identifier":"1",
        "paymentStatus":"PaymentDue"})";
    EXPECT_TRUE(has(problems_of(in), "entity.totalPaymentDue: missing"));
}

TEST(Card, ProductContextMustBeAnObject) {
    CardInput in = input();
    in.product_context = "[1]";
    EXPECT_TRUE(has(problems_of(in), "productContext: is not a JSON object"));
}

TEST(Card, ScriptEndTagInTheInvoiceCannotEndTheScript) {
    CardInput in = input();
    in.invoice = R"({"@type":"Invoice","identifier":"</script><b>",
        "broker":{"name":"Contoso"},"paymentStatus":"PaymentDue",
        "totalPaymentDue":{"price":"1.00","priceCurrency":"USD"}})";
    std::string html = written(in);
    EXPECT_EQ(html.find("</script><b>"), std::string::npos);
    EXPECT_NE(html.find("\\u003c/script>\\u003cb>"), std::string::npos);
    EXPECT_TRUE(check_card(html, nullptr, kNow).ok());
}

TEST(CardCheck, NamesAMissingScript) {
    CardReport r = check_card("<html><head></head><body>hi</body></html>",
                              nullptr, kNow);
    EXPECT_TRUE(has({names(r)}, "html: no <script"));
}

TEST(CardCheck, NamesAScriptOutsideHead) {
    std::string html = written(input());
    auto s = html.find("<script");
    auto e = html.find("</script>") + 9;
    std::string script = html.substr(s, e - s);
    html.erase(s, e - s);
    html.insert(html.find("</body>"), script);
    EXPECT_TRUE(has({names(check_card(html, nullptr, kNow))},
                    "html: the card script is not inside <head>"));
}

TEST(CardCheck, NamesEachMissingField) {
    std::string html =
        "<html><head><script type='application/ld+json'>"
        R"({"@type":"ActionRequest","actions":[{"@type":"PaymentAction",
            "displayId":"d","productContext":{}}]})"
        "</script></head></html>";
    CardReport r = check_card(html, nullptr, kNow);
    std::string all = names(r);
    EXPECT_TRUE(has({all}, "@context: missing"));
    EXPECT_TRUE(has({all}, "originator: missing"));
    EXPECT_TRUE(has({all}, "actions[0].merchantId: missing"));
    EXPECT_TRUE(has({all}, "actions[0].productContext: is empty"));
    EXPECT_TRUE(has({all}, "entity: missing"));
    EXPECT_EQ(r.problems.size(), 5u) << all;
}

TEST(CardCheck, NamesInvalidJsonAndUnknownType) {
    EXPECT_TRUE(has({names(check_card(
                    "<head><script type=\"application/ld+json\">{x</script>"
                    "</head>", nullptr, kNow))},
                    "script: is not valid JSON"));
    EXPECT_TRUE(has({names(check_card(
                    "<head><script type=\"application/ld+json\">"
                    "{\"@type\":\"EmailMessage\"}</script></head>",
                    nullptr, kNow))},
                    "@type: \"EmailMessage\" is not ActionRequest"));
}

TEST(CardCheck, TamperedSignedCardFails) {
    CardInput in = input();
    in.signing = signing();
    std::string html = written(in);
    // change one character of the claims part
    auto start = html.find("\"signedActionRequest\":\"") + 23;
    auto dot = html.find('.', start);
    html[dot + 5] = html[dot + 5] == 'A' ? 'B' : 'A';
    KeySet keys = demo_keys();
    CardReport r = check_card(html, &keys, kNow);
    EXPECT_FALSE(r.ok());
}


// --- what the payer sees ---------------------------------------------------

// The card's JSON from the script in the e-mail's head.
void card_json(const std::string& html, json::Document& d) {
    auto start = html.find('>', html.find("<script")) + 1;
    auto end = html.find("</script>");
    ASSERT_FALSE(json::parse(html.substr(start, end - start), d)) << html;
}

// A TextBlock of an Adaptive Card: its text, whether it wraps, and the id
// of the element it is in (its own, or its nearest ancestor's).
struct Block {
    std::string id;
    std::string text;
    bool wrap;
};

void collect(const json::Value& elements, const std::string& parent,
             std::vector<Block>& out) {
    for (const auto& e : elements.GetArray()) {
        auto id = json::string_member(e, "id");
        std::string at = id ? std::string(*id) : parent;
        if (json::string_member(e, "type") ==
            std::optional<std::string_view>("TextBlock")) {
            const json::Value* wrap = json::member(e, "wrap");
            out.push_back({at, std::string(*json::string_member(e, "text")),
                           wrap != nullptr && wrap->IsBool() &&
                               wrap->GetBool()});
        }
        if (const json::Value* items = json::array_member(e, "items")) {
            collect(*items, at, out);
        }
        if (const json::Value* cols = json::array_member(e, "columns")) {
            for (const auto& c : cols->GetArray()) {
                collect(*json::array_member(c, "items"), at, out);
            }
        }
    }
}

std::vector<Block> blocks(const json::Value& card) {
    std::vector<Block> out;
    collect(*json::array_member(card, "body"), "", out);
    return out;
}

// The texts of the blocks inside the element with this id, joined by "|".
std::string shown(const std::vector<Block>& all, const std::string& id) {
    std::string out;
    for (const Block& b : all) {
        if (b.id != id) continue;
        if (!out.empty()) out += "|";
        out += b.text;
    }
    return out;
}

std::string invoice_json(const std::string& merchant, const std::string& id,
                         const std::string& status, const std::string& price,
                         const std::string& currency,
                         const std::string& rest = "") {
    return R"({"entity":{"@type":"Invoice","identifier":")" + id +
           R"(","broker":{"@type":"LocalBusiness","name":")" + merchant +
           R"("},"paymentDueDate":"2026-12-31T00:00:00","paymentStatus":")" +
           status + R"(","totalPaymentDue":{"price":")" + price +
           R"(","priceCurrency":")" + currency + R"("}})" + rest + "}";
}

TEST(CardSummary, AdaptiveCardShowsEachField) {
    json::Document card;
    card_json(written(input(CardFormat::kAdaptiveCard)), card);
    EXPECT_EQ(*json::string_member(card, "version"), "1.0");
    auto all = blocks(card);
    EXPECT_EQ(shown(all, "merchant"), "Contoso");
    EXPECT_EQ(shown(all, "invoice"), "**Invoice** 12345");
    EXPECT_EQ(shown(all, "due"), "**Due** 2019\\-01\\-31");
    EXPECT_EQ(shown(all, "items"),
              "Large Widget|7\\.00 USD|Small Widget|3\\.00 USD");
    EXPECT_EQ(shown(all, "total"), "Total due|10\\.00 USD");
    EXPECT_EQ(shown(all, "shipping"), "");
    EXPECT_EQ(shown(all, "status"), "");
    for (const Block& b : all) EXPECT_TRUE(b.wrap) << b.text;
    const json::Value& action = (*json::array_member(card, "actions"))[0];
    EXPECT_EQ(*json::string_member(action, "type"), "Action.Transaction");
    EXPECT_EQ(*json::string_member(action, "title"), "Review and pay");
    EXPECT_EQ(json::write(*json::member(action, "initializationContext")),
              R"({"merchantId":"3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10",)"
              R"("displayId":"5d1c2b3a-4e5f-4a6b-9c8d-7e6f5a4b3c2d",)"
              R"("productContext":{"invoiceId":"12345"}})");
}

TEST(CardSummary, MessageCardShowsEachField) {
    std::string html = written(input(CardFormat::kMessageCard));
    EXPECT_NE(html.find(R"("summary":"Contoso: invoice 12345, 10.00 USD",)"
                        R"("title":"Contoso","sections":[{"activityTitle":)"
                        R"("**Invoice** 12345","activitySubtitle":)"
                        R"("**Due** 2019\\-01\\-31"},{"facts":[{"name":)"
                        R"("Large Widget","value":"7\\.00 USD"},{"name":)"
                        R"("Small Widget","value":"3\\.00 USD"}]},{"facts":)"
                        R"([{"name":"Total due","value":"10\\.00 USD"}]}],)"
                        R"("potentialAction":[{"@type":"Transaction",)"
                        R"("name":"Review and pay","isPrimaryAction":true,)"
                        R"("merchantId":"3f1e7c2a-)"),
              std::string::npos)
        << html;
}

TEST(CardSummary, ShippingNoteWhenTheInvoiceAsksForIt) {
    CardInput in = input(CardFormat::kAdaptiveCard);
    in.invoice = invoice_json("Contoso", "9", "PaymentDue", "5.00", "USD",
                              R"(,"requestShipping":true)");
    json::Document card;
    card_json(written(in), card);
    EXPECT_EQ(shown(blocks(card), "shipping"), "Shipping: chosen at payment");
    in.format = CardFormat::kMessageCard;
    std::string html = written(in);
    EXPECT_NE(html.find(R"({"text":"Shipping: chosen at payment"})"),
              std::string::npos);
    EXPECT_NE(html.find("<tr><td colspan=\"2\">Shipping: chosen at payment"
                        "</td></tr>"),
              std::string::npos);
    for (std::string rest : {"", R"(,"requestShipping":false)"}) {
        in.invoice = invoice_json("Contoso", "9", "PaymentDue", "5.00", "USD",
                                  rest);
        for (CardFormat f : {CardFormat::kActionRequest,
                             CardFormat::kAdaptiveCard,
                             CardFormat::kMessageCard}) {
            in.format = f;
            EXPECT_EQ(written(in).find("Shipping"), std::string::npos) << rest;
        }
    }
}

// Amounts are the module's money: exact where a double is not, and in the
// currency's own number of decimals.
TEST(CardSummary, AmountsAreExact) {
    CardInput in = input(CardFormat::kAdaptiveCard);
    for (auto [price, currency, want] :
         {std::tuple<std::string, std::string, std::string>{
              "12345678901234567.89", "USD", "12345678901234567\\.89 USD"},
          {"2500", "JPY", "2500 JPY"},
          {"1.5", "BHD", "1\\.500 BHD"},
          {"0", "EUR", "0\\.00 EUR"}}) {
        in.invoice = invoice_json("Contoso", "9", "PaymentDue", price,
                                  currency);
        json::Document card;
        card_json(written(in), card);
        EXPECT_EQ(shown(blocks(card), "total"), "Total due|" + want);
    }
}

TEST(CardSummary, InvoiceTextIsMarkdownEscaped) {
    CardInput in = input(CardFormat::kAdaptiveCard);
    // JSON-escaped: *B* _c_ [d](e) # <x> & \ ` ~ | ! + - . {} and a line break
    in.invoice =
        invoice_json(R"(*B* _c_ [d](e) # <x> & \\ ` ~ | ! + - . {}\nz)", "1.",
                     "PaymentDue", "1.00", "USD");
    const std::string want =
        R"(\*B\* \_c\_ \[d\]\(e\) \# \<x\> \& \\ \` \~ \| \! \+ \- \. \{\} z)";
    std::string html = written(in);
    json::Document card;
    card_json(html, card);
    auto all = blocks(card);
    EXPECT_EQ(shown(all, "merchant"), want);
    EXPECT_EQ(shown(all, "invoice"), "**Invoice** 1\\.");
    // the HTML body escapes for HTML, not markdown
    EXPECT_NE(html.find("<caption>*B* _c_ [d](e) # &lt;x&gt; &amp; \\ ` ~ | "
                        "! + - . {}\nz</caption>"),
              std::string::npos)
        << html;
    in.format = CardFormat::kMessageCard;
    json::Document mc;
    card_json(written(in), mc);
    EXPECT_EQ(*json::string_member(mc, "title"), want);
}

TEST(CardSummary, LongTextsWrap) {
    CardInput in = input(CardFormat::kAdaptiveCard);
    const std::string id(78, '7');
    in.invoice = invoice_json("Contoso", id, "PaymentDue", "1.00", "USD",
                              R"(,"displayItems":[{"label":")" +
                                  std::string(300, 'w') +
                                  R"(","amount":{"currency":"USD",)"
                                  R"("value":"1.00"}}])");
    json::Document card;
    card_json(written(in), card);
    auto all = blocks(card);
    EXPECT_EQ(shown(all, "invoice"), "**Invoice** " + id);
    // merchant, number, due date, the item and its amount, the total's two
    EXPECT_EQ(all.size(), 7u);
    for (const Block& b : all) EXPECT_TRUE(b.wrap) << b.text;
}

TEST(CardSummary, DueDateIsTheDateOrTheTextGiven) {
    CardInput in = input(CardFormat::kAdaptiveCard);
    for (auto [given, want] :
         {std::pair<std::string, std::string>{
              R"("paymentDueDate":"2026-12-31",)", "**Due** 2026\\-12\\-31"},
          {R"("paymentDueDate":"end of month",)", "**Due** end of month"},
          {R"("paymentDueDate":"2026-12-31x",)", "**Due** 2026\\-12\\-31x"},
          {"", ""}}) {  // none given: none shown
        in.invoice = R"({"@type":"Invoice","broker":{"name":"C"},)"
                     R"("identifier":"9","paymentStatus":"PaymentDue",)" +
                     given +
                     R"("totalPaymentDue":{"price":"1",)"
                     R"("priceCurrency":"USD"}})";
        json::Document card;
        card_json(written(in), card);
        EXPECT_EQ(shown(blocks(card), "due"), want) << given;
    }
}

TEST(CardSummary, PaidInvoiceSaysSoAndOffersNoPayAction) {
    for (auto [status, message] :
         {std::pair<std::string, std::string>{
              "PaymentComplete", "This invoice has already been paid."},
          {"https://schema.org/PaymentAutomaticallyApplied",
           "This invoice is paid automatically: nothing is due."}}) {
        CardInput in = input(CardFormat::kAdaptiveCard);
        in.invoice = invoice_json("Contoso", "9", status, "5.00", "USD",
                                  R"(,"requestShipping":false)");
        std::string html = written(in);
        json::Document card;
        card_json(html, card);
        std::string escaped = message;
        escaped.insert(escaped.size() - 1, "\\");  // the final "."
        EXPECT_EQ(shown(blocks(card), "status"), escaped) << status;
        EXPECT_EQ(json::array_member(card, "actions")->Size(), 0u);
        EXPECT_NE(html.find("<tr><th align=\"left\">Status</th>"
                            "<td align=\"right\">" + message + "</td></tr>"),
                  std::string::npos);
        EXPECT_EQ(html.find("Review and pay"), std::string::npos);
        EXPECT_TRUE(check_card(html, nullptr, kNow).ok());

        in.format = CardFormat::kMessageCard;
        html = written(in);
        EXPECT_NE(html.find(R"({"facts":[{"name":"Status","value":")"),
                  std::string::npos);
        EXPECT_NE(html.find(R"("potentialAction":[])"), std::string::npos);
        EXPECT_TRUE(check_card(html, nullptr, kNow).ok());

        in.format = CardFormat::kActionRequest;
        html = written(in);
        EXPECT_NE(html.find(R"("actions":[])"), std::string::npos);
        EXPECT_EQ(html.find("PaymentAction"), std::string::npos);
        EXPECT_TRUE(check_card(html, nullptr, kNow).ok());
    }
}

// Declined and past due invoices may still be paid (payment_due).
TEST(CardSummary, DeclinedOrPastDueInvoiceOffersThePayAction) {
    for (std::string status : {"PaymentDeclined", "PaymentPastDue"}) {
        CardInput in = input(CardFormat::kAdaptiveCard);
        in.invoice = invoice_json("Contoso", "9", status, "5.00", "USD");
        EXPECT_NE(written(in).find("Action.Transaction"), std::string::npos);
    }
}

TEST(CardSummary, TheInvoiceBackendsRulesApply) {
    CardInput in = input();
    in.invoice = invoice_json("Contoso", "9", "PaymentDue", "5.00", "USD",
                              R"(,"displayItems":[{"label":"a","amount":)"
                              R"({"currency":"USD","value":"4.00"}}])");
    EXPECT_TRUE(has(problems_of(in), "invoice: invoice \"9\": display items "
                                     "add up to 4.00 but the total due is "
                                     "5.00"));
    in.invoice = R"({"@type":"Invoice","identifier":"9",
        "paymentStatus":"PaymentDue",
        "totalPaymentDue":{"price":"1.00","priceCurrency":"USD"}})";
    EXPECT_TRUE(has(problems_of(in), "entity.broker: missing or not an "
                                     "object: the payer would not see who "
                                     "asks for the money"));
}

// The card's referencesOrder is the display items, whatever shape the
// invoice's own had.
TEST(CardSummary, ReferencesOrderIsTheDisplayItems) {
    CardInput in = input();
    in.invoice = invoice_json(
        "Contoso", "9", "PaymentDue", "5.00", "USD",
        R"(,"displayItems":[{"label":"a","amount":)"
        R"({"currency":"USD","value":"5.00"}}])");
    in.invoice.insert(in.invoice.find("\"totalPaymentDue\""),
                      R"("referencesOrder":{"@type":"Order",)"
                      R"("orderNumber":"o-1"},)");
    std::string html = written(in);
    EXPECT_EQ(html.find("o-1"), std::string::npos);
    EXPECT_NE(html.find(R"("referencesOrder":[{"@type":"Order",)"
                        R"("description":"a","acceptedOffer":)"),
              std::string::npos);
    // without display items, none
    in.invoice = invoice_json("Contoso", "9", "PaymentDue", "5.00", "USD");
    in.invoice.insert(in.invoice.find("\"totalPaymentDue\""),
                      R"("referencesOrder":{"orderNumber":"o-1"},)");
    EXPECT_EQ(written(in).find("referencesOrder"), std::string::npos);
}

TEST(CardSummary, SignedCardOfAPaidInvoiceVerifies) {
    CardInput in = input();
    in.invoice = invoice_json("Contoso", "9", "PaymentComplete", "5.00", "USD");
    in.signing = signing();
    KeySet keys = demo_keys();
    CardReport r = check_card(written(in), &keys, kNow);
    EXPECT_TRUE(r.ok()) << names(r);
    EXPECT_EQ(r.signature, "verified");
}

// --- the checker names what the payer would miss ---------------------------

std::string adaptive_html(const std::string& card) {
    return "<html><head><script type=\"application/adaptivecard+json\">" +
           card + "</script></head></html>";
}

constexpr const char* kAction =
    R"({"type":"Action.Transaction","title":"Review and pay",)"
    R"("initializationContext":{"merchantId":)"
    R"("3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10","displayId":"d",)"
    R"("productContext":{"invoiceId":"1"}}})";

TEST(CardCheck, AdaptiveCardProblemsAreNamed) {
    std::string card =
        R"({"type":"AdaptiveCard","version":"1.2","originator":"o","body":[)"
        R"({"type":"TextBlock","id":"merchant","text":"C"},)"
        R"({"type":"Input.Text","id":"x"},)"
        R"({"type":"ColumnSet","columns":[{"type":"Column","items":[)"
        R"({"type":"TextBlock","text":"t","wrap":false}]}]}],)"
        R"("actions":[]})";
    CardReport r = check_card(adaptive_html(card), nullptr, kNow);
    std::string all = names(r);
    EXPECT_TRUE(has({all}, "version: is \"1.2\", must be \"1.0\""));
    EXPECT_TRUE(has({all}, "body[0].wrap: is not true: a long text would be "
                           "cut off"));
    EXPECT_TRUE(has({all}, "body[1].type: \"Input.Text\" is not an Adaptive "
                           "Card 1.0 element"));
    EXPECT_TRUE(has({all}, "body[2].columns[0].items[0].wrap: is not true"));
    EXPECT_TRUE(has({all}, "body: no element with id \"invoice\" (the "
                           "invoice number)"));
    EXPECT_TRUE(has({all}, "body: no element with id \"total\" (the total "
                           "due)"));
    EXPECT_TRUE(has({all}, "actions: holds no Action.Transaction"));
    EXPECT_EQ(r.problems.size(), 7u) << all;
}

TEST(CardCheck, PayActionOnANotDueCardIsNamed) {
    std::string card =
        R"({"type":"AdaptiveCard","version":"1.0","originator":"o","body":[)"
        R"({"type":"TextBlock","id":"merchant","text":"C","wrap":true},)"
        R"({"type":"TextBlock","id":"invoice","text":"1","wrap":true},)"
        R"({"type":"TextBlock","id":"status","text":"Paid","wrap":true},)"
        R"({"type":"TextBlock","id":"total","text":"1","wrap":true}],)"
        R"("actions":[)" + std::string(kAction) + "]}";
    EXPECT_EQ(names(check_card(adaptive_html(card), nullptr, kNow)),
              "actions: offers Action.Transaction for an invoice that is not "
              "due\n");

    std::string html = written(input());
    auto at = html.find("\"paymentStatus\":\"PaymentDue\"");
    html.replace(at, 28, "\"paymentStatus\":\"PaymentComplete\"");
    EXPECT_EQ(names(check_card(html, nullptr, kNow)),
              "actions: offers PaymentAction for an invoice that is not "
              "due\n");
}

TEST(CardCheck, MessageCardProblemsAreNamed) {
    std::string html =
        "<head><script type=\"application/ld+json\">"
        R"({"@type":"MessageCard","@context":"http://schema.org/extensions",)"
        R"("originator":"o","summary":"s","sections":[{"facts":[]}],)"
        R"("potentialAction":[]})"
        "</script></head>";
    CardReport r = check_card(html, nullptr, kNow);
    std::string all = names(r);
    EXPECT_TRUE(has({all}, "title: missing"));
    EXPECT_TRUE(has({all}, "sections[0].activityTitle: missing"));
    EXPECT_TRUE(has({all}, "sections: no fact \"Total due\""));
    EXPECT_TRUE(has({all}, "potentialAction: holds no Transaction"));
    EXPECT_EQ(r.problems.size(), 4u) << all;
}

TEST(CardCheck, BadItemOfTheInvoiceIsNamed) {
    std::string html = written(input());
    auto at = html.find("\"price\":\"7.00\"");
    html.replace(at, 14, "\"price\":\"7.001\"");
    at = html.find("\"description\":\"Small Widget\",");
    html.erase(at, 29);
    std::string all = names(check_card(html, nullptr, kNow));
    EXPECT_TRUE(has({all}, "entity.referencesOrder[0].acceptedOffer.price: "
                           "\"7.001\": "));
    EXPECT_TRUE(has({all}, "entity.referencesOrder[1].description: missing"));
}

// --- the card a payer sees, for the renderer --------------------------------

TEST(CardView, EveryFormatGivesTheSameAdaptiveCard) {
    CardInput in = input();
    in.signing = signing(std::time(nullptr));
    std::string signed_html = written(in);
    for (const std::string& html :
         {written(input()), signed_html,
          written(input(CardFormat::kAdaptiveCard)),
          written(input(CardFormat::kMessageCard))}) {
        auto view = card_view(html, std::time(nullptr));
        ASSERT_TRUE(std::holds_alternative<std::string>(view)) << html;
        json::Document card;
        ASSERT_FALSE(json::parse(std::get<std::string>(view), card));
        EXPECT_EQ(*json::string_member(card, "version"), "1.0");
        auto all = blocks(card);
        EXPECT_EQ(shown(all, "merchant"), "Contoso");
        EXPECT_EQ(shown(all, "invoice"), "**Invoice** 12345");
        EXPECT_EQ(shown(all, "due"), "**Due** 2019\\-01\\-31");
        const json::Value& action = (*json::array_member(card, "actions"))[0];
        EXPECT_EQ(json::write(*json::member(action, "initializationContext")),
                  R"({"merchantId":"3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10",)"
                  R"("displayId":"5d1c2b3a-4e5f-4a6b-9c8d-7e6f5a4b3c2d",)"
                  R"("productContext":{"invoiceId":"12345"}})");
        // the view is itself a card the checker passes
        CardReport r = check_card(adaptive_html(std::get<std::string>(view)),
                                  nullptr, kNow);
        EXPECT_TRUE(r.ok()) << names(r);
    }
}

TEST(CardView, ABrokenCardGivesItsProblems) {
    auto view = card_view("<html></html>", kNow);
    ASSERT_TRUE(std::holds_alternative<std::vector<CardProblem>>(view));
    EXPECT_EQ(to_string(std::get<std::vector<CardProblem>>(view)[0]),
              "html: no <script type=\"application/ld+json\"> or "
              "\"application/adaptivecard+json\" card");
}

}  // namespace
}  // namespace opay
