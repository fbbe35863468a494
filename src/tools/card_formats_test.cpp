// What the payer sees on the card in each format: each field, exact
// amounts, escaped and wrapping texts, a paid invoice, the display items.
#include "card.h"

#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "card_fixture.h"

namespace opay {
namespace {

using namespace card_test;

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

}  // namespace
}  // namespace opay
