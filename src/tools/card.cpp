// The card's interface (card.h): a card written from an invoice (and
// checked before it is given out), an e-mail checked, and the card a payer
// sees of one. The parts are in card_check.cpp, card_formats.cpp and
// card_html.cpp (card_parts.h).
#include "card.h"

#include "card_parts.h"
#include "jws.h"

namespace opay {

using namespace card_parts;

std::string to_string(const CardProblem& p) {
    return p.where.empty() ? p.what : p.where + ": " + p.what;
}

std::optional<CardFormat> parse_card_format(std::string_view name) {
    if (name == "action-request") return CardFormat::kActionRequest;
    if (name == "adaptive-card") return CardFormat::kAdaptiveCard;
    if (name == "message-card") return CardFormat::kMessageCard;
    return std::nullopt;
}

CardReport check_card(std::string_view html, const KeySet* keys,
                      int64_t now) {
    ReadCard r;
    read_card(html, keys, now, r);
    return std::move(r.report);
}

std::variant<std::string, std::vector<CardProblem>> card_view(
    std::string_view html, int64_t now) {
    ReadCard r;
    read_card(html, nullptr, now, r);
    if (!r.report.ok()) return r.report.problems;
    if (r.adaptive) return json::write(r.card);
    json::Document view(rapidjson::kObjectType);
    auto& a = view.GetAllocator();
    if (r.report.format == "MessageCard") {
        json::Value card = message_card_view(r.card, a);
        static_cast<json::Value&>(view).Swap(card);
        return json::write(view);
    }
    // An ActionRequest, bare or signed: Outlook drew its card from the
    // invoice; so does the adaptive-card format.
    const json::Value& request =
        r.report.format == "SignedActionRequest" ? r.inner : r.card;
    std::vector<CardProblem> none;
    CardSummary s = read_entity(json::member(request, "entity"),
                                Problems(none, "entity."));
    const json::Value* action =
        first_action(request, "actions", "@type", "PaymentAction");
    json::Value ids = action ? payment_ids(*action, a)
                             : json::Value(rapidjson::kObjectType);
    json::Value card = adaptive_card(
        s, json::string_member(request, "originator").value_or(""), ids, a);
    static_cast<json::Value&>(view).Swap(card);
    return json::write(view);
}

std::variant<std::string, std::vector<CardProblem>> write_card(
    const CardInput& in) {
    std::vector<CardProblem> problems;
    json::Document doc;
    if (auto e = json::parse(in.invoice, doc); e || !doc.IsObject()) {
        problems.push_back({"invoice", "is not a JSON object"});
        return problems;
    }
    // the invoice backend's wrapped shape, or a bare schema.org Invoice
    const json::Value* entity = json::object_member(doc, "entity");
    if (entity == nullptr) entity = &doc;
    json::Document card(rapidjson::kObjectType);
    auto& a = card.GetAllocator();
    // Each problem of the entity by name first, then the backend
    // contract's rules (display items adding up to the total).
    json::Value bare = card_entity(*entity, {}, a);
    read_entity(&bare, Problems(problems, "entity."));
    if (!problems.empty()) return problems;
    auto parsed = parse_invoice(in.invoice);
    if (auto* e = std::get_if<InvoiceError>(&parsed)) {
        problems.push_back({"invoice", e->message});
        return problems;
    }
    const Invoice& inv = std::get<Invoice>(parsed);
    if (in.signing && in.format != CardFormat::kActionRequest) {
        problems.push_back({"--sign-key", "only an action-request card is "
                                          "signed (SignedActionRequest)"});
        return problems;
    }

    json::Value shown = card_entity(*entity, inv.display_items, a);
    CardSummary summary = read_entity(&shown, Problems(problems, "entity."));
    summary.shipping = inv.request_shipping.value_or(false);

    json::Value context(rapidjson::kObjectType);
    if (in.product_context.empty()) {
        context.AddMember("invoiceId", json::str(inv.identifier, a), a);
    } else {
        json::Document given;
        if (json::parse(in.product_context, given) || !given.IsObject()) {
            problems.push_back({"productContext", "is not a JSON object"});
            return problems;
        }
        context.CopyFrom(given, a);
    }
    json::Value ids(rapidjson::kObjectType);
    ids.AddMember("merchantId", json::str(in.merchant_id, a), a);
    ids.AddMember("displayId", json::str(in.display_id, a), a);
    ids.AddMember("productContext", context, a);

    std::string script_type(kLdJson);
    switch (in.format) {
    case CardFormat::kActionRequest: {
        card.AddMember("@type", "ActionRequest", a);
        card.AddMember("@context", json::str(kExtensions, a), a);
        card.AddMember("originator", json::str(in.originator, a), a);
        json::Value actions(rapidjson::kArrayType);
        if (summary.payable) {
            json::Value action(rapidjson::kObjectType);
            action.AddMember("@type", "PaymentAction", a);
            for (auto& m : ids.GetObject()) {
                action.AddMember(m.name, m.value, a);
            }
            actions.PushBack(action, a);
        }
        card.AddMember("actions", actions, a);
        card.AddMember("entity", shown, a);
        break;
    }
    case CardFormat::kAdaptiveCard: {
        script_type = kAdaptiveJson;
        json::Value v = adaptive_card(summary, in.originator, ids, a);
        static_cast<json::Value&>(card).Swap(v);
        break;
    }
    case CardFormat::kMessageCard: {
        json::Value v = message_card(summary, in.originator, ids, a);
        static_cast<json::Value&>(card).Swap(v);
        break;
    }
    }

    if (in.signing) {
        const CardSigning& s = *in.signing;
        if (s.sender.empty()) problems.push_back({"--sender", "missing"});
        if (s.recipient.empty()) {
            problems.push_back({"--recipient", "missing"});
        }
        if (!problems.empty()) return problems;
        json::Document header(rapidjson::kObjectType);
        auto& ha = header.GetAllocator();
        header.AddMember("alg", "RS256", ha);
        header.AddMember("typ", "JWT", ha);
        if (!s.kid.empty()) header.AddMember("kid", json::str(s.kid, ha), ha);
        json::Document claims(rapidjson::kObjectType);
        auto& ca = claims.GetAllocator();
        claims.AddMember("originator", json::str(in.originator, ca), ca);
        claims.AddMember("sender", json::str(s.sender, ca), ca);
        claims.AddMember("sub", json::str(s.recipient, ca), ca);
        for (auto [name, t] : {std::pair<const char*, int64_t>{"iat", s.now},
                               {"nbf", s.now},
                               {"exp", s.now + s.lifetime}}) {
            claims.AddMember(rapidjson::StringRef(name),
                             json::make_number(std::to_string(t), ca), ca);
        }
        claims.AddMember("actionRequestSerialized",
                         json::str(json::write(card), ca), ca);
        auto jws = sign_rs256(s.key.get(), json::write(header),
                              json::write(claims));
        if (!jws) {
            problems.push_back({"--sign-key", "is not an RSA private key"});
            return problems;
        }
        json::Document signed_card(rapidjson::kObjectType);
        auto& sa = signed_card.GetAllocator();
        signed_card.AddMember("@type", "SignedActionRequest", sa);
        signed_card.AddMember("@context", json::str(kExtensions, sa), sa);
        signed_card.AddMember("signedActionRequest", json::str(*jws, sa), sa);
        card.CopyFrom(signed_card, a);
    }

    std::string html =
        "<!DOCTYPE html>\n<html>\n<head>\n"
        "<meta http-equiv=\"Content-Type\" content=\"text/html; "
        "charset=utf-8\">\n<script type=\"" + script_type + "\">\n" +
        script_json(card) + "\n</script>\n</head>\n<body>\n" +
        html_summary(summary, *entity) + "</body>\n</html>\n";

    // The card is only written if it passes the checks --check makes.
    CardReport report = check_card(
        html, nullptr, in.signing ? in.signing->now : 0);
    if (!report.ok()) return report.problems;
    return html;
}

}  // namespace opay
