// The checker names what the payer would miss: the script, each missing
// or invalid field of each format, a tampered signature.
#include "card.h"

#include <string>

#include <gtest/gtest.h>

#include "card_fixture.h"

namespace opay {
namespace {

using namespace card_test;

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

}  // namespace
}  // namespace opay
