#include "card.h"

#include <algorithm>
#include <cctype>

#include "base64url.h"
#include "invoice.h"
#include "json.h"
#include "jws.h"
#include "jwt.h"
#include "money.h"
#include "payment_complete.h"
#include "payment_request.h"

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

// "2019-01-31" of "2019-01-31T00:00:00"; any other text as it is.
std::string date_text(std::string_view s) {
    bool date = s.size() >= 10 && s[4] == '-' && s[7] == '-' &&
                (s.size() == 10 || s[10] == 'T');
    for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
        date = date && s[i] >= '0' && s[i] <= '9';
    }
    return std::string(date ? s.substr(0, 10) : s);
}

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

constexpr std::string_view kInvoiceTitle = "Invoice";
constexpr std::string_view kDueTitle = "Due";
constexpr std::string_view kTotalTitle = "Total due";
constexpr std::string_view kStatusTitle = "Status";
constexpr std::string_view kShippingNote = "Shipping: chosen at payment";
constexpr std::string_view kPayTitle = "Review and pay";

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
        if (v != nullptr && !text(v)) p.add(name, "is not a string");
    }
    if (auto due = text(json::member(*entity, "paymentDueDate"))) {
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
                                rapidjson::SizeType* index = nullptr) {
    const json::Value* actions = json::array_member(card, list);
    for (rapidjson::SizeType i = 0; actions && i < actions->Size(); ++i) {
        const json::Value& a = (*actions)[i];
        if (a.IsObject() && text(json::member(a, key)) ==
                                std::optional<std::string_view>(type)) {
            if (index != nullptr) *index = i;
            return &a;
        }
    }
    return nullptr;
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
        auto type = text(json::member(e, "type")).value_or("");
        if (std::find(std::begin(kCardElements), std::end(kCardElements),
                      type) == std::end(kCardElements)) {
            ep.add(".type", "\"" + std::string(type) +
                                "\" is not an Adaptive Card 1.0 element");
            continue;
        }
        if (auto id = text(json::member(e, "id"))) ids.emplace_back(*id);
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
            if (auto n = text(json::member((*facts)[f], "name"))) {
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
    if (nbf && *nbf > now + 300) cp.add("nbf", "is in the future");
    if (auto serialized = cp.string(claims, "actionRequestSerialized")) {
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

using Alloc = json::Allocator;

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

// The e-mail body for clients without the card: the same summary as a
// table, and the invoice's page.
std::string html_summary(const CardSummary& s, const json::Value& entity) {
    auto row = [](std::string_view head, std::string_view value) {
        return "<tr><th align=\"left\">" + html_escape(head) +
               "</th><td align=\"right\">" + html_escape(value) +
               "</td></tr>\n";
    };
    std::string html = "<table>\n<caption>" + html_escape(s.merchant) +
                       "</caption>\n";
    html += row(kInvoiceTitle, s.number);
    if (!s.due_date.empty()) html += row(kDueTitle, s.due_date);
    if (!s.payable) html += row(kStatusTitle, s.status);
    for (const CardLine& l : s.items) {
        html += "<tr><td>" + html_escape(l.label) +
                "</td><td align=\"right\">" + html_escape(l.amount) +
                "</td></tr>\n";
    }
    if (s.shipping) {
        html += "<tr><td colspan=\"2\">" + html_escape(kShippingNote) +
                "</td></tr>\n";
    }
    html += row(kTotalTitle, s.total);
    html += "</table>\n";
    if (auto url = text(json::member(entity, "url"))) {
        html += "<p><a href=\"" + html_escape(*url) + "\">" +
                (s.payable ? "Review and pay" : "View the invoice") +
                "</a></p>\n";
    }
    return html;
}

// The card's JSON and, for a SignedActionRequest, the ActionRequest it
// signs, with every problem the checks find.
struct ReadCard {
    CardReport report;
    json::Document card;
    json::Document inner;
    bool adaptive = false;
};

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
    auto type = text(json::member(card, "@type")).value_or("");
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
                   json::str(text(json::member(mc, "originator"))
                                 .value_or(""), a),
                   a);
    json::Value body(rapidjson::kArrayType);
    json::Value title = bold(
        text_block("merchant", text(json::member(mc, "title")).value_or(""),
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
            if (auto t = text(json::member(s, name))) {
                body.PushBack(text_block(id, *t, a), a);
            }
        }
        const json::Value* facts = json::array_member(s, "facts");
        if (facts == nullptr || facts->Size() == 0) continue;
        json::Value out(rapidjson::kArrayType);
        std::string_view id;
        for (rapidjson::SizeType f = 0; f < facts->Size(); ++f) {
            if (!(*facts)[f].IsObject()) continue;
            auto name = text(json::member((*facts)[f], "name")).value_or("");
            auto value =
                text(json::member((*facts)[f], "value")).value_or("");
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
        s, text(json::member(request, "originator")).value_or(""), ids, a);
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
