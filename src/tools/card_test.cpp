// The card through its interface: written in each format (and signed), its
// ids and invoice checked as it is written, and the card a payer sees of
// it for the renderer.
#include "card.h"

#include <ctime>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "card_fixture.h"

namespace opay {
namespace {

using namespace card_test;

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
