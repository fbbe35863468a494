// The card's checker: every field PROTOCOL-NOTES.md lists for each of the
// three formats (ActionRequest, signed or not; Adaptive Card; MessageCard),
// each problem named by where it is, and the card read from the e-mail's
// HTML.
#include "card_parts.h"

#include <algorithm>
#include <cctype>

#include "base64url.h"
#include "jwt.h"
#include "money.h"
#include "payment_complete.h"
#include "payment_request.h"

namespace opay::card_parts {

namespace {

bool is_guid(std::string_view s) {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        bool hex = std::isxdigit(static_cast<unsigned char>(s[i])) != 0;
        if (dash ? s[i] != '-' : !hex) return false;
    }
    return true;
}

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

// "2019-01-31" of "2019-01-31T00:00:00"; any other text as it is.
std::string date_text(std::string_view s) {
    bool date = s.size() >= 10 && s[4] == '-' && s[7] == '-' &&
                (s.size() == 10 || s[10] == 'T');
    for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
        date = date && s[i] >= '0' && s[i] <= '9';
    }
    return std::string(date ? s.substr(0, 10) : s);
}

// "7.00 USD" from a price and a currency code, each problem named.
std::optional<std::string> amount_text(const json::Value& obj,
                                       std::string_view price_name,
                                       std::string_view currency_name,
                                       const Problems& p) {
    auto code = p.string(obj, currency_name);
    std::optional<Currency> currency;
    if (code && !(currency = parse_currency(*code))) {
        p.add(currency_name, "\"" + std::string(*code) +
                                 "\" is not an ISO 4217 code");
    }
    const json::Value* price = json::member(obj, price_name);
    if (price == nullptr) {
        p.add(price_name, "missing");
        return std::nullopt;
    }
    if (!price->IsString()) {
        p.add(price_name, "is not a number or a decimal string");
        return std::nullopt;
    }
    if (!currency) return std::nullopt;
    auto m = parse_money(*json::scalar_text(*price), *currency);
    if (!m.money) {
        p.add(price_name, "\"" + std::string(*json::scalar_text(*price)) +
                              "\": " + to_string(m.error));
        return std::nullopt;
    }
    return format_value(*m.money) + " " + std::string(currency->view());
}

// A pay action exactly when the invoice may be paid.
void check_pay_action(bool has_action, bool payable, std::string_view where,
                      std::string_view action, const Problems& p) {
    if (payable && !has_action) {
        p.add(where, "holds no " + std::string(action));
    } else if (!payable && has_action) {
        p.add(where, "offers " + std::string(action) +
                         " for an invoice that is not due");
    }
}

void check_action_request(const json::Value& card, const Problems& p) {
    p.exact(card, "@type", "ActionRequest");
    p.exact(card, "@context", kExtensions);
    p.string(card, "originator");
    CardSummary s = read_entity(json::member(card, "entity"),
                                p.nested("entity."));
    const json::Value* actions = json::array_member(card, "actions");
    const json::Value* payment = nullptr;
    if (actions == nullptr) {
        p.add("actions", "missing or not an array");
        return;
    }
    for (rapidjson::SizeType i = 0; i < actions->Size(); ++i) {
        const json::Value& a = (*actions)[i];
        if (a.IsObject() && json::string_member(a, "@type") ==
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
    check_pay_action(payment != nullptr, s.payable, "actions",
                     "PaymentAction", p);
}

// The Adaptive Card 1.0 elements the card may hold.
constexpr std::string_view kCardElements[] = {
    "TextBlock", "FactSet", "ColumnSet", "Container", "Image"};

// Walks body elements: each of a 1.0 type, each TextBlock wrapping (a long
// invoice number must not be cut off at the card's edge); collects ids.
void check_elements(const json::Value& elements, const Problems& p,
                    std::vector<std::string>& ids) {
    for (rapidjson::SizeType i = 0; i < elements.Size(); ++i) {
        const json::Value& e = elements[i];
        Problems ep = p.nested("[" + std::to_string(i) + "]");
        if (!e.IsObject()) {
            ep.add("", "is not an object");
            continue;
        }
        auto type = json::string_member(e, "type").value_or("");
        if (std::find(std::begin(kCardElements), std::end(kCardElements),
                      type) == std::end(kCardElements)) {
            ep.add(".type", "\"" + std::string(type) +
                                "\" is not an Adaptive Card 1.0 element");
            continue;
        }
        if (auto id = json::string_member(e, "id")) ids.emplace_back(*id);
        const json::Value* wrap = json::member(e, "wrap");
        if (type == "TextBlock" && (wrap == nullptr || !wrap->IsBool() ||
                                    !wrap->GetBool())) {
            ep.add(".wrap", "is not true: a long text would be cut off");
        }
        if (const json::Value* items = json::array_member(e, "items")) {
            check_elements(*items, ep.nested(".items"), ids);
        }
        if (const json::Value* cols = json::array_member(e, "columns")) {
            for (rapidjson::SizeType c = 0; c < cols->Size(); ++c) {
                const json::Value* items =
                    (*cols)[c].IsObject()
                        ? json::array_member((*cols)[c], "items")
                        : nullptr;
                if (items != nullptr) {
                    check_elements(*items,
                                   ep.nested(".columns[" + std::to_string(c) +
                                             "].items"),
                                   ids);
                }
            }
        }
    }
}

bool has(const std::vector<std::string>& all, std::string_view one) {
    return std::find(all.begin(), all.end(), one) != all.end();
}

void check_adaptive_card(const json::Value& card, const Problems& p) {
    p.exact(card, "type", "AdaptiveCard");
    // Outlook rendered payment cards as Adaptive Card 1.0.
    p.exact(card, "version", "1.0");
    p.string(card, "originator");
    std::vector<std::string> ids;
    if (const json::Value* body = json::array_member(card, "body")) {
        check_elements(*body, p.nested("body"), ids);
    } else {
        p.add("body", "missing or not an array");
    }
    static constexpr std::pair<std::string_view, std::string_view> kShown[] = {
        {"merchant", "the merchant's name"},
        {"invoice", "the invoice number"},
        {"total", "the total due"}};
    for (auto [id, what] : kShown) {
        if (!has(ids, id)) {
            p.add("body", "no element with id \"" + std::string(id) +
                              "\" (" + std::string(what) + ")");
        }
    }
    rapidjson::SizeType at = 0;
    const json::Value* transaction =
        first_action(card, "actions", "type", "Action.Transaction", &at);
    // A card without the pay action says why (element "status").
    check_pay_action(transaction != nullptr, !has(ids, "status"), "actions",
                     "Action.Transaction", p);
    if (transaction == nullptr) return;
    Problems ap = p.nested("actions[" + std::to_string(at) + "].");
    ap.string(*transaction, "title");
    const json::Value* init =
        json::member(*transaction, "initializationContext");
    if (init == nullptr || !init->IsObject()) {
        ap.add("initializationContext", "missing or not an object");
    } else {
        check_payment_ids(*init, ap.nested("initializationContext."));
    }
}

// The titles of the facts of every section.
std::vector<std::string> fact_names(const json::Value& card) {
    std::vector<std::string> names;
    const json::Value* sections = json::array_member(card, "sections");
    for (rapidjson::SizeType i = 0; sections && i < sections->Size(); ++i) {
        const json::Value& s = (*sections)[i];
        const json::Value* facts =
            s.IsObject() ? json::array_member(s, "facts") : nullptr;
        for (rapidjson::SizeType f = 0; facts && f < facts->Size(); ++f) {
            if (!(*facts)[f].IsObject()) continue;
            if (auto n = json::string_member((*facts)[f], "name")) {
                names.emplace_back(*n);
            }
        }
    }
    return names;
}

void check_message_card(const json::Value& card, const Problems& p) {
    p.exact(card, "@type", "MessageCard");
    p.exact(card, "@context", kExtensions);
    p.string(card, "originator");
    p.string(card, "summary");
    // the merchant's name
    p.string(card, "title");
    const json::Value* sections = json::array_member(card, "sections");
    if (sections == nullptr || sections->Empty() ||
        !(*sections)[0].IsObject()) {
        p.add("sections", "missing or empty");
    } else {
        // the invoice number
        p.nested("sections[0].").string((*sections)[0], "activityTitle");
    }
    std::vector<std::string> names = fact_names(card);
    if (!has(names, kTotalTitle)) {
        p.add("sections", "no fact \"" + std::string(kTotalTitle) + "\"");
    }
    rapidjson::SizeType at = 0;
    const json::Value* transaction =
        first_action(card, "potentialAction", "@type", "Transaction", &at);
    // A card without the pay action says why (fact "Status").
    check_pay_action(transaction != nullptr, !has(names, kStatusTitle),
                     "potentialAction", "Transaction", p);
    if (transaction == nullptr) return;
    Problems ap = p.nested("potentialAction[" + std::to_string(at) + "].");
    ap.string(*transaction, "name");
    const json::Value* primary = json::member(*transaction, "isPrimaryAction");
    if (primary != nullptr && !primary->IsBool()) {
        ap.add("isPrimaryAction", "is not a boolean");
    }
    check_payment_ids(*transaction, ap);
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

// inner: the ActionRequest the signature carries, when it is one.
void check_signed(const json::Value& card, const KeySet* keys, int64_t now,
                  const Problems& p, CardReport& report,
                  json::Document& inner) {
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
    // the clock skew a token check allows, as opay_jwt_leeway's default
    if (nbf && *nbf > now + OPAY_DEFAULT_JWT_LEEWAY) {
        cp.add("nbf", "is in the future");
    }
    if (auto serialized = cp.string(claims, "actionRequestSerialized")) {
        if (auto e = json::parse(*serialized, inner); e || !inner.IsObject()) {
            cp.add("actionRequestSerialized", "is not a JSON object");
        } else {
            Problems ip = cp.nested("actionRequestSerialized.");
            check_action_request(inner, ip);
            auto inner_originator = json::string_member(inner, "originator");
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
        report.signature = "bad: " + std::string(r.reason_name());
        sp.add("", "signature does not verify with the given key (" +
                       std::string(r.reason_name()) + ")");
    }
}

}  // namespace

// Checks the card's schema.org Invoice and reads what the payer sees of it.
// The items are its referencesOrder (one Order per display item, the price
// in acceptedOffer). The summary is only whole when nothing was added to p.
CardSummary read_entity(const json::Value* entity, const Problems& p) {
    CardSummary s;
    if (entity == nullptr) {
        p.add("", "missing");
        return s;
    }
    if (!entity->IsObject()) {
        p.add("", "is not a JSON object");
        return s;
    }
    p.exact(*entity, "@type", "Invoice");
    s.number = std::string(p.string(*entity, "identifier").value_or(""));
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
        s.payable = payment_due(bare);
        if (!s.payable) s.status = not_due_message(bare);
    }
    const json::Value* broker = json::member(*entity, "broker");
    if (broker == nullptr || !broker->IsObject()) {
        p.add("broker", "missing or not an object: the payer would not see "
                        "who asks for the money");
    } else {
        s.merchant = std::string(
            p.nested("broker.").string(*broker, "name").value_or(""));
    }
    for (std::string_view name : {"url", "invoiceDate", "paymentDueDate"}) {
        const json::Value* v = json::member(*entity, name);
        if (v != nullptr && !json::string_text(v)) {
            p.add(name, "is not a string");
        }
    }
    if (auto due = json::string_member(*entity, "paymentDueDate")) {
        s.due_date = date_text(*due);
    }
    if (const json::Value* orders = json::member(*entity, "referencesOrder")) {
        if (!orders->IsArray()) {
            p.add("referencesOrder", "is not an array");
        } else {
            for (rapidjson::SizeType i = 0; i < orders->Size(); ++i) {
                Problems op = p.nested("referencesOrder[" +
                                       std::to_string(i) + "].");
                const json::Value& order = (*orders)[i];
                const json::Value* offer =
                    order.IsObject() ? json::member(order, "acceptedOffer")
                                     : nullptr;
                if (offer == nullptr || !offer->IsObject()) {
                    op.add("acceptedOffer", "missing or not an object");
                    continue;
                }
                auto label = op.string(order, "description");
                auto amount = amount_text(*offer, "price", "priceCurrency",
                                          op.nested("acceptedOffer."));
                if (label && amount) {
                    s.items.push_back({std::string(*label), *amount});
                }
            }
        }
    }
    const json::Value* due = json::member(*entity, "totalPaymentDue");
    if (due == nullptr) {
        p.add("totalPaymentDue", "missing");
    } else if (!due->IsObject()) {
        p.add("totalPaymentDue", "is not a JSON object");
    } else {
        Problems dp = p.nested("totalPaymentDue.");
        auto total = amount_text(*due, "price", "priceCurrency", dp);
        if (total && total->front() == '-') dp.add("price", "is negative");
        s.total = total.value_or("");
    }
    return s;
}

// The first action of this type in the card's list (key: "type" in an
// Adaptive Card, "@type" in JSON-LD), and its index.
const json::Value* first_action(const json::Value& card, std::string_view list,
                                std::string_view key, std::string_view type,
                                rapidjson::SizeType* index) {
    const json::Value* actions = json::array_member(card, list);
    for (rapidjson::SizeType i = 0; actions && i < actions->Size(); ++i) {
        const json::Value& a = (*actions)[i];
        if (a.IsObject() && json::string_member(a, key) ==
                                std::optional<std::string_view>(type)) {
            if (index != nullptr) *index = i;
            return &a;
        }
    }
    return nullptr;
}

void read_card(std::string_view html, const KeySet* keys, int64_t now,
               ReadCard& out) {
    CardReport& report = out.report;
    Problems p(report.problems, "");
    std::vector<Script> cards;
    for (const Script& s : scripts(html)) {
        if (s.type == kLdJson || s.type == kAdaptiveJson) cards.push_back(s);
    }
    if (cards.empty()) {
        p.add("html", "no <script type=\"application/ld+json\"> or "
                      "\"application/adaptivecard+json\" card");
        return;
    }
    if (cards.size() > 1) {
        p.add("html", "holds " + std::to_string(cards.size()) +
                          " card scripts; the service reads one");
    }
    const Script& s = cards.front();
    if (!s.in_head) p.add("html", "the card script is not inside <head>");
    json::Document& card = out.card;
    if (auto e = json::parse(s.body, card)) {
        p.add("script", "is not valid JSON (" + e->reason + ")");
        return;
    }
    if (!card.IsObject()) {
        p.add("script", "is not a JSON object");
        return;
    }
    if (s.type == kAdaptiveJson) {
        out.adaptive = true;
        report.format = "AdaptiveCard";
        check_adaptive_card(card, p);
        return;
    }
    auto type = json::string_member(card, "@type").value_or("");
    report.format = std::string(type);
    if (type == "ActionRequest") {
        check_action_request(card, p);
    } else if (type == "SignedActionRequest") {
        check_signed(card, keys, now, p, report, out.inner);
    } else if (type == "MessageCard") {
        check_message_card(card, p);
    } else {
        p.add("@type", "\"" + std::string(type) +
                           "\" is not ActionRequest, SignedActionRequest "
                           "or MessageCard");
    }
}

}  // namespace opay::card_parts
