#include "card.h"

#include <gtest/gtest.h>

#include "base64url.h"
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
    EXPECT_NE(html.find("<body>\n<p>Invoice 12345: 10.00 USD</p>\n"
                        "<p><a href=\"https://contoso.com/invoice\">"),
              std::string::npos);
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
        "paymentStatus":"PaymentDue",
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

}  // namespace
}  // namespace opay
