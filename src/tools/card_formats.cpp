// The card's three formats as JSON: an ActionRequest's entity with its
// display items as Orders, the Adaptive Card and the MessageCard of a
// summary, and Outlook's rendering of a MessageCard as an Adaptive Card.
#include "card_parts.h"

#include "money.h"

namespace opay::card_parts {

namespace {

// Text from the invoice as Adaptive Card and MessageCard markdown shows it
// literally: every ASCII punctuation character CommonMark gives a meaning
// is backslash-escaped, and a control character (a line break would start
// a new markdown block) becomes a space.
std::string markdown(std::string_view s) {
    constexpr std::string_view kSignificant = "\\`*_{}[]()<>#+-.!|~&";
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            out += ' ';
            continue;
        }
        if (kSignificant.find(c) != std::string_view::npos) out += '\\';
        out += c;
    }
    return out;
}

json::Value text_block(std::string_view id, std::string_view text,
                       Alloc& a) {
    json::Value b(rapidjson::kObjectType);
    b.AddMember("type", "TextBlock", a);
    if (!id.empty()) b.AddMember("id", json::str(id, a), a);
    b.AddMember("text", json::str(text, a), a);
    b.AddMember("wrap", true, a);
    return b;
}

json::Value bold(json::Value block, Alloc& a) {
    block.AddMember("weight", "bolder", a);
    return block;
}

json::Value fact(std::string_view title, std::string_view value, Alloc& a) {
    json::Value f(rapidjson::kObjectType);
    f.AddMember("title", json::str(title, a), a);
    f.AddMember("value", json::str(value, a), a);
    return f;
}

// "**Invoice** 12345": a bold label and the escaped value.
std::string labelled(std::string_view label, std::string_view value) {
    return "**" + std::string(label) + "** " + markdown(value);
}

// One line of the bill: the label wraps in the wide column, the amount
// keeps its own column on the right.
json::Value bill_line(std::string_view id, std::string_view label,
                      std::string_view amount, bool strong, Alloc& a) {
    json::Value left = text_block("", markdown(label), a);
    json::Value right = text_block("", markdown(amount), a);
    right.AddMember("horizontalAlignment", "right", a);
    if (strong) {
        left = bold(std::move(left), a);
        right = bold(std::move(right), a);
    }
    json::Value columns(rapidjson::kArrayType);
    for (auto [width, block] :
         {std::pair<const char*, json::Value*>{"stretch", &left},
          {"auto", &right}}) {
        json::Value col(rapidjson::kObjectType);
        col.AddMember("type", "Column", a);
        col.AddMember("width", rapidjson::StringRef(width), a);
        json::Value items(rapidjson::kArrayType);
        items.PushBack(*block, a);
        col.AddMember("items", items, a);
        columns.PushBack(col, a);
    }
    json::Value set(rapidjson::kObjectType);
    set.AddMember("type", "ColumnSet", a);
    if (!id.empty()) set.AddMember("id", json::str(id, a), a);
    if (strong) {
        set.AddMember("separator", true, a);
    } else {
        set.AddMember("spacing", "small", a);
    }
    set.AddMember("columns", columns, a);
    return set;
}

json::Value transaction(const json::Value& ids, Alloc& a) {
    json::Value action(rapidjson::kObjectType);
    action.AddMember("type", "Action.Transaction", a);
    action.AddMember("title", json::str(kPayTitle, a), a);
    action.AddMember("initializationContext", json::Value(ids, a), a);
    return action;
}

json::Value mc_fact(std::string_view name, std::string_view value,
                    Alloc& a) {
    json::Value f(rapidjson::kObjectType);
    f.AddMember("name", json::str(name, a), a);
    f.AddMember("value", json::str(value, a), a);
    return f;
}

json::Value mc_section(json::Value facts, Alloc& a) {
    json::Value section(rapidjson::kObjectType);
    section.AddMember("facts", facts, a);
    return section;
}

}  // namespace

// The Adaptive Card 1.0 of a summary. ids: the initializationContext
// (merchantId, displayId, productContext).
json::Value adaptive_card(const CardSummary& s, std::string_view originator,
                          const json::Value& ids, Alloc& a) {
    json::Value card(rapidjson::kObjectType);
    card.AddMember("type", "AdaptiveCard", a);
    card.AddMember("$schema",
                   "http://adaptivecards.io/schemas/adaptive-card.json", a);
    card.AddMember("version", "1.0", a);
    card.AddMember("originator", json::str(originator, a), a);
    json::Value body(rapidjson::kArrayType);
    json::Value merchant = bold(text_block("merchant", markdown(s.merchant),
                                           a), a);
    merchant.AddMember("size", "medium", a);
    body.PushBack(merchant, a);
    // TextBlocks, not a FactSet: a long invoice number wraps in a text
    // block but widens a FactSet's table past the card's edge.
    body.PushBack(text_block("invoice", labelled(kInvoiceTitle, s.number), a),
                  a);
    if (!s.due_date.empty()) {
        json::Value due = text_block("due", labelled(kDueTitle, s.due_date),
                                     a);
        due.AddMember("spacing", "small", a);
        body.PushBack(due, a);
    }
    if (!s.payable) {
        body.PushBack(bold(text_block("status", markdown(s.status), a), a),
                      a);
    }
    if (!s.items.empty()) {
        json::Value lines(rapidjson::kArrayType);
        for (const CardLine& l : s.items) {
            lines.PushBack(bill_line("", l.label, l.amount, false, a), a);
        }
        json::Value items(rapidjson::kObjectType);
        items.AddMember("type", "Container", a);
        items.AddMember("id", "items", a);
        items.AddMember("items", lines, a);
        body.PushBack(items, a);
    }
    if (s.shipping) {
        json::Value note = text_block("shipping", markdown(kShippingNote), a);
        note.AddMember("isSubtle", true, a);
        body.PushBack(note, a);
    }
    body.PushBack(bill_line("total", kTotalTitle, s.total, true, a), a);
    card.AddMember("body", body, a);
    json::Value actions(rapidjson::kArrayType);
    if (s.payable) actions.PushBack(transaction(ids, a), a);
    card.AddMember("actions", actions, a);
    return card;
}

json::Value message_card(const CardSummary& s, std::string_view originator,
                         const json::Value& ids, Alloc& a) {
    json::Value card(rapidjson::kObjectType);
    card.AddMember("@type", "MessageCard", a);
    card.AddMember("@context", json::str(kExtensions, a), a);
    card.AddMember("originator", json::str(originator, a), a);
    // plain text: the notification line, not markdown
    card.AddMember("summary",
                   json::str(s.merchant + ": invoice " + s.number + ", " +
                                 s.total, a),
                   a);
    card.AddMember("title", json::str(markdown(s.merchant), a), a);
    json::Value sections(rapidjson::kArrayType);
    // the activity lines wrap, as the adaptive card's text blocks do
    json::Value head(rapidjson::kObjectType);
    head.AddMember("activityTitle",
                   json::str(labelled(kInvoiceTitle, s.number), a), a);
    if (!s.due_date.empty()) {
        head.AddMember("activitySubtitle",
                       json::str(labelled(kDueTitle, s.due_date), a), a);
    }
    sections.PushBack(head, a);
    if (!s.payable) {
        json::Value status(rapidjson::kArrayType);
        status.PushBack(mc_fact(kStatusTitle, markdown(s.status), a), a);
        sections.PushBack(mc_section(std::move(status), a), a);
    }
    if (!s.items.empty()) {
        json::Value items(rapidjson::kArrayType);
        for (const CardLine& l : s.items) {
            items.PushBack(mc_fact(markdown(l.label), markdown(l.amount), a),
                           a);
        }
        sections.PushBack(mc_section(std::move(items), a), a);
    }
    if (s.shipping) {
        json::Value note(rapidjson::kObjectType);
        note.AddMember("text", json::str(markdown(kShippingNote), a), a);
        sections.PushBack(note, a);
    }
    json::Value total(rapidjson::kArrayType);
    total.PushBack(mc_fact(kTotalTitle, markdown(s.total), a), a);
    sections.PushBack(mc_section(std::move(total), a), a);
    card.AddMember("sections", sections, a);
    json::Value actions(rapidjson::kArrayType);
    if (s.payable) {
        json::Value action(rapidjson::kObjectType);
        action.AddMember("@type", "Transaction", a);
        action.AddMember("name", json::str(kPayTitle, a), a);
        action.AddMember("isPrimaryAction", true, a);
        for (auto& m : ids.GetObject()) {
            action.AddMember(json::Value(m.name, a), json::Value(m.value, a),
                             a);
        }
        actions.PushBack(action, a);
    }
    card.AddMember("potentialAction", actions, a);
    return card;
}

// The entity with the display items as its schema.org Orders
// (referencesOrder, replacing any it had), so the ActionRequest carries
// what the payer is asked to pay for, and in the one shape read_entity
// reads.
json::Value card_entity(const json::Value& entity,
                        const std::vector<DisplayItem>& items, Alloc& a) {
    json::Value out(entity, a);
    out.RemoveMember("referencesOrder");
    if (items.empty()) return out;
    json::Value orders(rapidjson::kArrayType);
    for (const DisplayItem& item : items) {
        json::Value offer(rapidjson::kObjectType);
        offer.AddMember("@type", "Offer", a);
        offer.AddMember("price", json::str(format_value(item.amount), a), a);
        offer.AddMember("priceCurrency",
                        json::str(item.amount.currency.view(), a), a);
        json::Value order(rapidjson::kObjectType);
        order.AddMember("@type", "Order", a);
        order.AddMember("description", json::str(item.label, a), a);
        order.AddMember("acceptedOffer", offer, a);
        orders.PushBack(order, a);
    }
    json::set(out, "referencesOrder", std::move(orders), a);
    return out;
}

// merchantId, displayId and productContext of a pay action.
json::Value payment_ids(const json::Value& action, Alloc& a) {
    json::Value ids(rapidjson::kObjectType);
    for (std::string_view name :
         {"merchantId", "displayId", "productContext"}) {
        if (const json::Value* v = json::member(action, name)) {
            ids.AddMember(json::str(name, a), json::Value(*v, a), a);
        }
    }
    return ids;
}

// Outlook's rendering of a MessageCard as an Adaptive Card: the title, a
// TextBlock per activity title, subtitle and text of a section (the first
// section's are "invoice" and "due"), one FactSet per section of facts (its
// id from its first fact: "status", "total"), the Transaction as
// Action.Transaction.
json::Value message_card_view(const json::Value& mc, Alloc& a) {
    json::Value card(rapidjson::kObjectType);
    card.AddMember("type", "AdaptiveCard", a);
    card.AddMember("version", "1.0", a);
    card.AddMember("originator",
                   json::str(json::string_member(mc, "originator")
                                 .value_or(""), a),
                   a);
    json::Value body(rapidjson::kArrayType);
    json::Value title = bold(
        text_block("merchant", json::string_member(mc, "title").value_or(""),
                   a), a);
    title.AddMember("size", "medium", a);
    body.PushBack(title, a);
    static constexpr std::pair<std::string_view, std::string_view> kIds[] = {
        {kStatusTitle, "status"}, {kTotalTitle, "total"}};
    const json::Value* sections = json::array_member(mc, "sections");
    for (rapidjson::SizeType i = 0; sections && i < sections->Size(); ++i) {
        const json::Value& s = (*sections)[i];
        if (!s.IsObject()) continue;
        for (auto [name, id] :
             {std::pair<std::string_view, std::string_view>{
                  "activityTitle", i == 0 ? "invoice" : ""},
              {"activitySubtitle", i == 0 ? "due" : ""},
              {"text", ""}}) {
            if (auto t = json::string_member(s, name)) {
                body.PushBack(text_block(id, *t, a), a);
            }
        }
        const json::Value* facts = json::array_member(s, "facts");
        if (facts == nullptr || facts->Size() == 0) continue;
        json::Value out(rapidjson::kArrayType);
        std::string_view id;
        for (rapidjson::SizeType f = 0; f < facts->Size(); ++f) {
            if (!(*facts)[f].IsObject()) continue;
            auto name = json::string_member((*facts)[f], "name").value_or("");
            auto value =
                json::string_member((*facts)[f], "value").value_or("");
            for (auto [title, eid] : kIds) {
                if (f == 0 && name == title) id = eid;
            }
            out.PushBack(fact(name, value, a), a);
        }
        json::Value set(rapidjson::kObjectType);
        set.AddMember("type", "FactSet", a);
        if (!id.empty()) set.AddMember("id", json::str(id, a), a);
        set.AddMember("facts", out, a);
        body.PushBack(set, a);
    }
    card.AddMember("body", body, a);
    json::Value actions(rapidjson::kArrayType);
    if (const json::Value* t =
            first_action(mc, "potentialAction", "@type", "Transaction")) {
        actions.PushBack(transaction(payment_ids(*t, a), a), a);
    }
    card.AddMember("actions", actions, a);
    return card;
}

}  // namespace opay::card_parts
