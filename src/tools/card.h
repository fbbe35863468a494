// The payment request e-mail (the "card"): written from an invoice, and
// checked against the fields PROTOCOL-NOTES.md lists for each of the three
// historical formats. The writer runs the checker on what it wrote, so one
// set of rules serves both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "jwks.h"

namespace opay {

enum class CardFormat { kActionRequest, kAdaptiveCard, kMessageCard };

// "action-request", "adaptive-card", "message-card".
std::optional<CardFormat> parse_card_format(std::string_view name);

struct CardSigning {
    PkeyPtr key;            // RS256 private key
    std::string kid;
    std::string sender;     // the address the e-mail is sent from
    std::string recipient;  // the payer's address (claim "sub")
    int64_t now = 0;
    int64_t lifetime = 30 * 24 * 3600;  // exp - iat
};

struct CardInput {
    std::string merchant_id;
    std::string display_id;
    std::string originator;       // the provider id of the sender
    std::string invoice;          // JSON: schema.org Invoice, bare or wrapped
    std::string product_context;  // JSON object; empty: {"invoiceId": id}
    CardFormat format = CardFormat::kActionRequest;
    std::optional<CardSigning> signing;  // action-request only
};

struct CardProblem {
    std::string where;  // "actions[0].merchantId", "html", ...
    std::string what;   // "missing", "is not a GUID", ...
};

std::string to_string(const CardProblem& p);

// The HTML e-mail, or every problem of the card it would hold.
std::variant<std::string, std::vector<CardProblem>> write_card(
    const CardInput& in);

struct CardReport {
    std::string format;     // "ActionRequest", "SignedActionRequest", ...
    std::string signature;  // "verified", "not checked: no key given", ...
    std::vector<CardProblem> problems;

    bool ok() const { return problems.empty(); }
};

// Checks an HTML e-mail. keys: what a SignedActionRequest must verify with
// (null: its signature is not checked, and the report says so).
CardReport check_card(std::string_view html, const KeySet* keys,
                      int64_t now);

// The Adaptive Card (JSON) a payer sees for the card in an HTML e-mail:
// the adaptive-card format's own card; for an ActionRequest the card
// Outlook drew from its invoice, for a MessageCard Outlook's rendering of
// its title, sections and Transaction. The card's problems if it has any.
std::variant<std::string, std::vector<CardProblem>> card_view(
    std::string_view html, int64_t now);

}  // namespace opay
