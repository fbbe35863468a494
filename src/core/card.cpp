#include "card.h"

#include <algorithm>
#include <cctype>

#include "base64url.h"
#include "invoice.h"
#include "json.h"
#include "jws.h"
#include "jwt.h"
#include "money.h"

namespace opay {

namespace {

constexpr std::string_view kExtensions = "http://schema.org/extensions";
constexpr std::string_view kLdJson = "application/ld+json";
constexpr std::string_view kAdaptiveJson = "application/adaptivecard+json";

// A JSON string that is not a number (the json layer keeps numbers as
// tagged strings).
std::optional<std::string_view> text(const json::Value* v) {
    if (v == nullptr || !v->IsString() || json::is_number(*v)) {
        return std::nullopt;
    }
    return json::scalar_text(*v);
}

bool is_guid(std::string_view s) {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        bool hex = std::isxdigit(static_cast<unsigned char>(s[i])) != 0;
        if (dash ? s[i] != '-' : !hex) return false;
    }
    return true;
}

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
        auto t = text(v);
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

// merchantId, displayId and productContext: what every format's payment
// action carries.
void check_payment_ids(const json::Value& action, const Problems& p) {
    if (auto id = p.string(action, "merchantId"); id && !is_guid(*id)) {
        p.add("merchantId", "is not a GUID (the partner dashboard's id)");
    }
    p.string(action, "displayId");
    const json::Value* ctx = json::member(action, "productContext");
    if (ctx == nullptr) {
        p.add("productContext", "missing");
    } else if (!ctx->IsObject()) {
        p.add("productContext", "is not a JSON object");
    } else if (ctx->MemberCount() == 0) {
        p.add("productContext",
              "is empty: the webhooks need it to find the invoice");
    }
}

void check_entity(const json::Value* entity, const Problems& p) {
    if (entity == nullptr) {
        p.add("", "missing");
        return;
    }
    if (!entity->IsObject()) {
        p.add("", "is not a JSON object");
        return;
    }
    p.exact(*entity, "@type", "Invoice");
    p.string(*entity, "identifier");
    if (auto status = p.string(*entity, "paymentStatus")) {
        auto bare = bare_payment_status(*status);
        static constexpr std::string_view kStatuses[] = {
            "PaymentDue", "PaymentPastDue", "PaymentComplete",
            "PaymentDeclined", "PaymentAutomaticallyApplied"};
        if (std::find(std::begin(kStatuses), std::end(kStatuses), bare) ==
            std::end(kStatuses)) {
            p.add("paymentStatus", "\"" + std::string(*status) +
                                       "\" is not a schema.org "
                                       "PaymentStatusType");
        }
    }
    for (std::string_view name : {"url", "invoiceDate", "paymentDueDate"}) {
        const json::Value* v = json::member(*entity, name);
        if (v != nullptr && !text(v)) p.add(name, "is not a string");
    }
    const json::Value* due = json::member(*entity, "totalPaymentDue");
    if (due == nullptr) {
        p.add("totalPaymentDue", "missing");
        return;
    }
    if (!due->IsObject()) {
        p.add("totalPaymentDue", "is not a JSON object");
        return;
    }
    Problems dp = p.nested("totalPaymentDue.");
    auto code = dp.string(*due, "priceCurrency");
    std::optional<Currency> currency;
    if (code && !(currency = parse_currency(*code))) {
        dp.add("priceCurrency", "\"" + std::string(*code) +
                                    "\" is not an ISO 4217 code");
    }
    const json::Value* price = json::member(*due, "price");
    if (price == nullptr) {
        dp.add("price", "missing");
    } else if (!price->IsString()) {
        dp.add("price", "is not a number or a decimal string");
    } else if (currency) {
        auto m = parse_money(*json::scalar_text(*price), *currency);
        if (!m.money) {
            dp.add("price", "\"" + std::string(*json::scalar_text(*price)) +
                                "\": " + to_string(m.error));
        } else if (m.money->minor < 0) {
            dp.add("price", "is negative");
        }
    }
}

void check_action_request(const json::Value& card, const Problems& p) {
    p.exact(card, "@type", "ActionRequest");
    p.exact(card, "@context", kExtensions);
    p.string(card, "originator");
    const json::Value* actions = json::array_member(card, "actions");
    const json::Value* payment = nullptr;
    if (actions == nullptr) {
        p.add("actions", "missing or not an array");
    } else {
        for (rapidjson::SizeType i = 0; i < actions->Size(); ++i) {
            const json::Value& a = (*actions)[i];
            if (a.IsObject() && text(json::member(a, "@type")) ==
                                    std::optional<std::string_view>(
                                        "PaymentAction")) {
                if (payment != nullptr) {
                    p.add("actions", "holds more than one PaymentAction");
                    break;
                }
                payment = &a;
                check_payment_ids(
                    a, p.nested("actions[" + std::to_string(i) + "]."));
            }
        }
        if (payment == nullptr) p.add("actions", "holds no PaymentAction");
    }
    check_entity(json::member(card, "entity"), p.nested("entity."));
}

void check_adaptive_card(const json::Value& card, const Problems& p) {
    p.exact(card, "type", "AdaptiveCard");
    p.string(card, "version");
    p.string(card, "originator");
    const json::Value* actions = json::array_member(card, "actions");
    if (actions == nullptr) {
        p.add("actions", "missing or not an array");
        return;
    }
    for (rapidjson::SizeType i = 0; i < actions->Size(); ++i) {
        const json::Value& a = (*actions)[i];
        if (!a.IsObject() || text(json::member(a, "type")) !=
                                 std::optional<std::string_view>(
                                     "Action.Transaction")) {
            continue;
        }
        Problems ap = p.nested("actions[" + std::to_string(i) + "].");
        ap.string(a, "title");
        const json::Value* init = json::member(a, "initializationContext");
        if (init == nullptr || !init->IsObject()) {
            ap.add("initializationContext", "missing or not an object");
        } else {
            check_payment_ids(*init, ap.nested("initializationContext."));
        }
        return;
    }
    p.add("actions", "holds no Action.Transaction");
}

void check_message_card(const json::Value& card, const Problems& p) {
    p.exact(card, "@type", "MessageCard");
    p.exact(card, "@context", kExtensions);
    p.string(card, "originator");
    p.string(card, "summary");
    const json::Value* actions = json::array_member(card, "potentialAction");
    if (actions == nullptr) {
        p.add("potentialAction", "missing or not an array");
        return;
    }
    for (rapidjson::SizeType i = 0; i < actions->Size(); ++i) {
        const json::Value& a = (*actions)[i];
        if (!a.IsObject() || text(json::member(a, "@type")) !=
                                 std::optional<std::string_view>(
                                     "Transaction")) {
            continue;
        }
        Problems ap = p.nested("potentialAction[" + std::to_string(i) + "].");
        ap.string(a, "name");
        const json::Value* primary = json::member(a, "isPrimaryAction");
        if (primary != nullptr && !primary->IsBool()) {
            ap.add("isPrimaryAction", "is not a boolean");
        }
        check_payment_ids(a, ap);
        return;
    }
    p.add("potentialAction", "holds no Transaction");
}

std::optional<int64_t> whole_number(const json::Value* v) {
    if (v == nullptr || !json::is_number(*v)) return std::nullopt;
    std::string_view t = json::number_text(*v);
    if (t.empty() || t.size() > 15 ||
        !std::all_of(t.begin(), t.end(), [](char c) {
            return c >= '0' && c <= '9';
        })) {
        return std::nullopt;
    }
    return std::stoll(std::string(t));
}

void check_signed(const json::Value& card, const KeySet* keys, int64_t now,
                  const Problems& p, CardReport& report) {
    p.exact(card, "@context", kExtensions);
    auto jws = p.string(card, "signedActionRequest");
    if (!jws) return;
    Problems sp = p.nested("signedActionRequest");
    auto d1 = jws->find('.');
    auto d2 = d1 == std::string_view::npos ? d1 : jws->find('.', d1 + 1);
    if (d2 == std::string_view::npos) {
        sp.add("", "is not a compact JWS (three dot-separated parts)");
        return;
    }
    auto header_text = base64url_decode(jws->substr(0, d1));
    auto claims_text = base64url_decode(jws->substr(d1 + 1, d2 - d1 - 1));
    json::Document header, claims;
    if (!header_text || json::parse(*header_text, header) ||
        !header.IsObject()) {
        sp.add(".header", "is not base64url JSON");
        return;
    }
    if (!claims_text || json::parse(*claims_text, claims) ||
        !claims.IsObject()) {
        sp.add(".claims", "are not base64url JSON");
        return;
    }
    Problems hp = sp.nested(".header.");
    hp.exact(header, "alg", "RS256");
    Problems cp = sp.nested(".");
    auto originator = cp.string(claims, "originator");
    cp.string(claims, "sender");
    cp.string(claims, "sub");
    auto iat = whole_number(json::member(claims, "iat"));
    auto nbf = whole_number(json::member(claims, "nbf"));
    auto exp = whole_number(json::member(claims, "exp"));
    if (!iat) cp.add("iat", "missing or not a NumericDate");
    if (!nbf) cp.add("nbf", "missing or not a NumericDate");
    if (!exp) cp.add("exp", "missing or not a NumericDate");
    if (exp && *exp <= now) cp.add("exp", "has passed: the card expired");
    if (nbf && *nbf > now + 300) cp.add("nbf", "is in the future");
    if (auto serialized = cp.string(claims, "actionRequestSerialized")) {
        json::Document inner;
        if (auto e = json::parse(*serialized, inner); e || !inner.IsObject()) {
            cp.add("actionRequestSerialized", "is not a JSON object");
        } else {
            Problems ip = cp.nested("actionRequestSerialized.");
            check_action_request(inner, ip);
            auto inner_originator = text(json::member(inner, "originator"));
            if (originator && inner_originator &&
                *originator != *inner_originator) {
                cp.add("originator",
                       "differs from the ActionRequest's originator");
            }
        }
    }
    if (keys == nullptr) {
        report.signature = "not checked: no key given";
        return;
    }
    TokenPolicy policy;
    policy.signature_only = true;
    TokenResult r = verify_token(*jws, *keys, policy, now);
    if (r.ok()) {
        report.signature = "verified";
    } else {
        report.signature = "bad: " + r.reason;
        sp.add("", "signature does not verify with the given key (" +
                       r.reason + ")");
    }
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(
                            static_cast<unsigned char>(c)));
    return out;
}

struct Script {
    std::string type;
    std::string_view body;
    bool in_head;
};

// The value of attribute name in a start tag (lower-cased tag text).
std::string attribute(std::string_view tag, std::string_view name) {
    std::size_t at = 0;
    while ((at = tag.find(name, at)) != std::string_view::npos) {
        std::size_t i = at + name.size();
        bool starts = at > 0 && std::isspace(static_cast<unsigned char>(
                                    tag[at - 1]));
        while (i < tag.size() && tag[i] == ' ') ++i;
        if (!starts || i >= tag.size() || tag[i] != '=') {
            at += name.size();
            continue;
        }
        ++i;
        while (i < tag.size() && tag[i] == ' ') ++i;
        if (i < tag.size() && (tag[i] == '"' || tag[i] == '\'')) {
            char q = tag[i];
            auto end = tag.find(q, i + 1);
            if (end == std::string_view::npos) return {};
            return std::string(tag.substr(i + 1, end - i - 1));
        }
        auto end = tag.find_first_of(" >", i);
        return std::string(tag.substr(i, end - i));
    }
    return {};
}

std::vector<Script> scripts(std::string_view html) {
    std::string low = lower(html);
    auto head_end = low.find("</head");
    std::vector<Script> out;
    std::size_t at = 0;
    while ((at = low.find("<script", at)) != std::string::npos) {
        auto tag_end = low.find('>', at);
        if (tag_end == std::string::npos) break;
        auto close = low.find("</script", tag_end);
        if (close == std::string::npos) break;
        std::string_view tag(low.data() + at, tag_end - at);
        out.push_back({attribute(tag, "type"),
                       html.substr(tag_end + 1, close - tag_end - 1),
                       head_end != std::string::npos && at < head_end});
        at = close;
    }
    return out;
}

std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

// JSON that is safe inside <script>: "<" only occurs in strings, where
// \u003c means the same, so no "</script>" can end the block early.
std::string script_json(const json::Value& v) {
    std::string s = json::write(v);
    std::string out;
    for (char c : s) {
        if (c == '<') {
            out += "\\u003c";
        } else {
            out += c;
        }
    }
    return out;
}

// "10.00 USD" for the e-mail's text (the card keeps the invoice's own
// spelling of the price).
std::string price_text(const json::Value& entity) {
    const json::Value* due = json::object_member(entity, "totalPaymentDue");
    if (due == nullptr) return {};
    const json::Value* price = json::member(*due, "price");
    auto value = price ? json::scalar_text(*price) : std::nullopt;
    auto code = text(json::member(*due, "priceCurrency"));
    auto currency = code ? parse_currency(*code) : std::nullopt;
    if (!value || !currency) return {};
    auto m = parse_money(*value, *currency);
    return m.money ? format_value(*m.money) + " " +
                         std::string(currency->view())
                   : std::string(*value) + " " + std::string(*code);
}

}  // namespace

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
    CardReport report;
    Problems p(report.problems, "");
    std::vector<Script> cards;
    for (const Script& s : scripts(html)) {
        if (s.type == kLdJson || s.type == kAdaptiveJson) cards.push_back(s);
    }
    if (cards.empty()) {
        p.add("html", "no <script type=\"application/ld+json\"> or "
                      "\"application/adaptivecard+json\" card");
        return report;
    }
    if (cards.size() > 1) {
        p.add("html", "holds " + std::to_string(cards.size()) +
                          " card scripts; the service reads one");
    }
    const Script& s = cards.front();
    if (!s.in_head) p.add("html", "the card script is not inside <head>");
    json::Document card;
    if (auto e = json::parse(s.body, card)) {
        p.add("script", "is not valid JSON (" + e->reason + ")");
        return report;
    }
    if (!card.IsObject()) {
        p.add("script", "is not a JSON object");
        return report;
    }
    if (s.type == kAdaptiveJson) {
        report.format = "AdaptiveCard";
        check_adaptive_card(card, p);
        return report;
    }
    auto type = text(json::member(card, "@type")).value_or("");
    report.format = std::string(type);
    if (type == "ActionRequest") {
        check_action_request(card, p);
    } else if (type == "SignedActionRequest") {
        check_signed(card, keys, now, p, report);
    } else if (type == "MessageCard") {
        check_message_card(card, p);
    } else {
        p.add("@type", "\"" + std::string(type) +
                           "\" is not ActionRequest, SignedActionRequest "
                           "or MessageCard");
    }
    return report;
}

std::variant<std::string, std::vector<CardProblem>> write_card(
    const CardInput& in) {
    std::vector<CardProblem> problems;
    json::Document invoice;
    if (auto e = json::parse(in.invoice, invoice); e || !invoice.IsObject()) {
        problems.push_back({"invoice", "is not a JSON object"});
        return problems;
    }
    // the invoice backend's wrapped shape, or a bare schema.org Invoice
    const json::Value* entity = json::object_member(invoice, "entity");
    if (entity == nullptr) entity = &invoice;

    json::Document card(rapidjson::kObjectType);
    auto& a = card.GetAllocator();
    json::Value context(rapidjson::kObjectType);
    if (in.product_context.empty()) {
        auto id = text(json::member(*entity, "identifier"));
        context.AddMember("invoiceId", json::str(id.value_or(""), a), a);
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

    auto identifier = std::string(
        text(json::member(*entity, "identifier")).value_or(""));
    std::string summary = "Invoice " + identifier + ": " +
                          price_text(*entity);
    std::string script_type(kLdJson);
    if (in.signing && in.format != CardFormat::kActionRequest) {
        problems.push_back({"--sign-key", "only an action-request card is "
                                          "signed (SignedActionRequest)"});
        return problems;
    }
    switch (in.format) {
    case CardFormat::kActionRequest: {
        card.AddMember("@type", "ActionRequest", a);
        card.AddMember("@context", json::str(kExtensions, a), a);
        card.AddMember("originator", json::str(in.originator, a), a);
        json::Value action(rapidjson::kObjectType);
        action.AddMember("@type", "PaymentAction", a);
        for (auto& m : ids.GetObject()) {
            action.AddMember(m.name, m.value, a);
        }
        json::Value actions(rapidjson::kArrayType);
        actions.PushBack(action, a);
        card.AddMember("actions", actions, a);
        card.AddMember("entity", json::Value(*entity, a), a);
        break;
    }
    case CardFormat::kAdaptiveCard: {
        script_type = kAdaptiveJson;
        card.AddMember("type", "AdaptiveCard", a);
        card.AddMember("$schema",
                       "http://adaptivecards.io/schemas/adaptive-card.json",
                       a);
        card.AddMember("version", "1.0", a);
        card.AddMember("originator", json::str(in.originator, a), a);
        json::Value block(rapidjson::kObjectType);
        block.AddMember("type", "TextBlock", a);
        block.AddMember("text", json::str(summary, a), a);
        json::Value body(rapidjson::kArrayType);
        body.PushBack(block, a);
        card.AddMember("body", body, a);
        json::Value action(rapidjson::kObjectType);
        action.AddMember("type", "Action.Transaction", a);
        action.AddMember("title", "Review and pay", a);
        action.AddMember("initializationContext", ids, a);
        json::Value actions(rapidjson::kArrayType);
        actions.PushBack(action, a);
        card.AddMember("actions", actions, a);
        break;
    }
    case CardFormat::kMessageCard: {
        card.AddMember("@type", "MessageCard", a);
        card.AddMember("@context", json::str(kExtensions, a), a);
        card.AddMember("originator", json::str(in.originator, a), a);
        card.AddMember("summary", json::str(summary, a), a);
        json::Value action(rapidjson::kObjectType);
        action.AddMember("@type", "Transaction", a);
        action.AddMember("name", "Review and pay", a);
        action.AddMember("isPrimaryAction", true, a);
        for (auto& m : ids.GetObject()) {
            action.AddMember(m.name, m.value, a);
        }
        json::Value actions(rapidjson::kArrayType);
        actions.PushBack(action, a);
        card.AddMember("potentialAction", actions, a);
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
        script_json(card) + "\n</script>\n</head>\n<body>\n<p>" +
        html_escape(summary) + "</p>\n";
    if (auto url = text(json::member(*entity, "url"))) {
        html += "<p><a href=\"" + html_escape(*url) +
                "\">View the invoice</a></p>\n";
    }
    html += "</body>\n</html>\n";

    // The card is only written if it passes the checks --check makes.
    CardReport report = check_card(
        html, nullptr, in.signing ? in.signing->now : 0);
    if (!report.ok()) return report.problems;
    return html;
}

}  // namespace opay
