// What the card's files share, and nothing else includes. The card is
// split by role under one prefix: card.cpp (the interface: write, check,
// view), card_check.cpp (every field each format must carry, read from the
// e-mail's HTML), card_formats.cpp (the three formats' JSON, and Outlook's
// view of a MessageCard) and card_html.cpp (the e-mail's HTML: its card
// script, escaping, the summary table).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "card.h"
#include "invoice.h"
#include "json.h"

namespace opay::card_parts {

inline constexpr std::string_view kExtensions =
    "http://schema.org/extensions";
inline constexpr std::string_view kLdJson = "application/ld+json";
inline constexpr std::string_view kAdaptiveJson = "application/adaptivecard+json";

// The problems of a card, each named by where it is (the prefix of the
// object it is in, and the member).
class Problems {
  public:
    Problems(std::vector<CardProblem>& out, std::string prefix)
        : out_(out), prefix_(std::move(prefix)) {}
    Problems nested(std::string_view name) const {
        return Problems(out_, prefix_ + std::string(name));
    }
    void add(std::string_view where, std::string what) const {
        std::string at = prefix_ + std::string(where);
        if (!at.empty() && at.back() == '.') at.pop_back();
        out_.push_back({std::move(at), std::move(what)});
    }
    // A required non-empty string member; returns it when good.
    std::optional<std::string_view> string(const json::Value& obj,
                                           std::string_view name) const {
        const json::Value* v = json::member(obj, name);
        if (v == nullptr) {
            add(name, "missing");
            return std::nullopt;
        }
        auto t = json::string_text(v);
        if (!t) {
            add(name, "is not a string");
        } else if (t->empty()) {
            add(name, "is empty");
        }
        return t && !t->empty() ? t : std::nullopt;
    }
    void exact(const json::Value& obj, std::string_view name,
               std::string_view want) const {
        auto t = string(obj, name);
        if (t && *t != want) {
            add(name, "is \"" + std::string(*t) + "\", must be \"" +
                          std::string(want) + "\"");
        }
    }

  private:
    std::vector<CardProblem>& out_;
    std::string prefix_;
};

// What the payer reads on the card, in every format. Texts are plain (not
// escaped); amounts are the module's exact spelling, "7.00 USD".
struct CardLine {
    std::string label;
    std::string amount;
};

struct CardSummary {
    std::string merchant;
    std::string number;
    std::string due_date;  // empty: the invoice gives none
    std::vector<CardLine> items;
    bool shipping = false;  // the shipping address is asked at payment
    std::string total;
    bool payable = true;
    std::string status;  // when not payable: what the payer reads instead
};

inline constexpr std::string_view kInvoiceTitle = "Invoice";
inline constexpr std::string_view kDueTitle = "Due";
inline constexpr std::string_view kTotalTitle = "Total due";
inline constexpr std::string_view kStatusTitle = "Status";
inline constexpr std::string_view kShippingNote = "Shipping: chosen at payment";
inline constexpr std::string_view kPayTitle = "Review and pay";

using Alloc = json::Allocator;

// card_check.cpp

// Checks the card's schema.org Invoice and reads what the payer sees of it.
CardSummary read_entity(const json::Value* entity, const Problems& p);

// The first action of this type in the card's list, and its index.
const json::Value* first_action(const json::Value& card, std::string_view list,
                                std::string_view key, std::string_view type,
                                rapidjson::SizeType* index = nullptr);

// The card's JSON and, for a SignedActionRequest, the ActionRequest it
// signs, with every problem the checks find.
struct ReadCard {
    CardReport report;
    json::Document card;
    json::Document inner;
    bool adaptive = false;
};

void read_card(std::string_view html, const KeySet* keys, int64_t now,
               ReadCard& out);

// card_formats.cpp

// The Adaptive Card 1.0 and the MessageCard of a summary.
json::Value adaptive_card(const CardSummary& s, std::string_view originator,
                          const json::Value& ids, Alloc& a);
json::Value message_card(const CardSummary& s, std::string_view originator,
                         const json::Value& ids, Alloc& a);
// The entity with the display items as its schema.org Orders.
json::Value card_entity(const json::Value& entity,
                        const std::vector<DisplayItem>& items, Alloc& a);
// merchantId, displayId and productContext of a pay action.
json::Value payment_ids(const json::Value& action, Alloc& a);
// Outlook's rendering of a MessageCard as an Adaptive Card.
json::Value message_card_view(const json::Value& mc, Alloc& a);

// card_html.cpp

// A <script> block of an HTML e-mail: its type attribute (lower-cased),
// its text, and whether it is inside <head>.
struct Script {
    std::string type;
    std::string_view body;
    bool in_head;
};

// The <script> blocks of an HTML e-mail, in order.
std::vector<Script> scripts(std::string_view html);
// JSON that is safe inside <script>.
std::string script_json(const json::Value& v);
// The e-mail body for clients without the card.
std::string html_summary(const CardSummary& s, const json::Value& entity);

}  // namespace opay::card_parts
