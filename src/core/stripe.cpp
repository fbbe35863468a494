#include "stripe.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <limits>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ascii.h"
#include "json.h"

namespace opay {

namespace {

constexpr const char* kInnerCodes[] = {
    "invalid_number",   "invalid_expiry_month", "invalid_expiry_year",
    "invalid_cvc",      "incorrect_number",     "expired_card",
    "incorrect_cvc",    "incorrect_zip",        "card_declined",
    "processing_error"};

// Stripe's digits after the decimal point where they are not ISO 4217's
// or need a rule; every other ISO two-decimal currency is two at Stripe.
// HUF and TWD are whole units only for payouts: charges take two decimals.
struct StripeUnits {
    const char* code;
    int exponent;
    int64_t step;  // the amount must be a multiple of this, in Stripe units
};
constexpr StripeUnits kStripeUnits[] = {
    // zero-decimal at Stripe (MGA has two decimals in ISO 4217)
    {"BIF", 0, 1}, {"CLP", 0, 1}, {"DJF", 0, 1}, {"GNF", 0, 1},
    {"JPY", 0, 1}, {"KMF", 0, 1}, {"KRW", 0, 1}, {"MGA", 0, 1},
    {"PYG", 0, 1}, {"RWF", 0, 1}, {"VND", 0, 1}, {"VUV", 0, 1},
    {"XAF", 0, 1}, {"XOF", 0, 1}, {"XPF", 0, 1},
    // zero-decimal now, two decimals kept for compatibility: whole units,
    // times 100 (5 UGX is amount=500; Stripe's "special cases")
    {"ISK", 2, 100}, {"UGX", 2, 100},
    // three decimals, the last one 0 for Stripe's payment partners
    {"BHD", 3, 10}, {"JOD", 3, 10}, {"KWD", 3, 10}, {"OMR", 3, 10},
    {"TND", 3, 10},
};

// RFC 3986's unreserved characters, the only bytes a form field keeps as
// they are: ASCII only, whatever the C library's locale says of a byte.
constexpr std::array<bool, 256> unreserved() {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c) {
        t[c] = ascii_alnum(static_cast<char>(c)) || c == '-' || c == '_' ||
               c == '.' || c == '~';
    }
    return t;
}
constexpr std::array<bool, 256> kUnreserved = unreserved();

// Percent-encodes s at the end of out, written through one pointer into
// room for the worst case (three bytes each).
void form_encode(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::size_t at = out.size();
    out.resize(at + 3 * s.size());
    char* o = out.data() + at;
    for (unsigned char c : s) {
        if (kUnreserved[c]) {
            *o++ = static_cast<char>(c);
        } else {
            *o++ = '%';
            *o++ = kHex[c >> 4];
            *o++ = kHex[c & 0xf];
        }
    }
    out.resize(static_cast<std::size_t>(o - out.data()));
}

void form_field(std::string& out, std::string_view name,
                std::string_view value) {
    if (!out.empty()) out += '&';
    form_encode(out, name);
    out += '=';
    form_encode(out, value);
}

// "opay-" and the hex SHA-256 of the parts joined by newlines, the input
// and the key each made in one allocation.
std::string sha256_key(const EVP_MD* sha256,
                       std::initializer_list<std::string_view> parts) {
    std::string input;
    std::size_t length = parts.size();
    for (std::string_view p : parts) length += p.size();
    input.reserve(length);
    for (std::string_view p : parts) {
        input.append(p);
        input += '\n';
    }
    input.pop_back();  // a newline between parts, none after the last
    unsigned char digest[SHA256_DIGEST_LENGTH];
    unsigned int size = 0;
    // Without a fetched digest (a test's Config{} cannot lack one; a
    // location's is checked by make_config) the one-shot call fetches
    // its own: the same key either way.
    if (sha256 == nullptr ||
        EVP_Digest(input.data(), input.size(), digest, &size, sha256,
                   nullptr) != 1 ||
        size != sizeof(digest)) {
        SHA256(reinterpret_cast<const unsigned char*>(input.data()),
               input.size(), digest);
    }
    std::string key;
    key.reserve(5 + 2 * sizeof(digest));
    key = "opay-";
    append_hex(key, digest, sizeof(digest));
    return key;
}

}  // namespace

namespace {

// Stripe's digits after the decimal point for the currency, and its step;
// false if Stripe does not charge in it.
bool stripe_units(const Currency& c, int& exponent, int64_t& step) {
    exponent = 2;
    step = 1;
    for (const auto& u : kStripeUnits) {
        if (c.view() == u.code) {
            exponent = u.exponent;
            step = u.step;
            return true;
        }
    }
    return c.exponent == 2;
}

}  // namespace

std::variant<StripeAmount, std::string> stripe_amount(const Money& m) {
    std::string_view code = m.currency.view();
    int iso = m.currency.exponent;
    int exponent = 2;
    int64_t step = 1;
    std::string name(code);
    if (!stripe_units(m.currency, exponent, step)) {
        return name + " is not a currency Stripe charges in";
    }
    if (m.minor <= 0) return std::string("the amount must be positive");
    int64_t amount = m.minor;
    for (int e = iso; e < exponent; ++e) {
        if (amount > std::numeric_limits<int64_t>::max() / 10) {
            return std::string("the amount is too large");
        }
        amount *= 10;
    }
    for (int e = exponent; e < iso; ++e) {
        if (amount % 10 != 0) {
            return name + " amounts are charged in whole units at Stripe";
        }
        amount /= 10;
    }
    if (amount % step != 0) {
        return name + " amounts at Stripe must be a multiple of " +
               std::to_string(step) + " in its units";
    }
    std::string currency = name;
    std::transform(currency.begin(), currency.end(), currency.begin(),
                   [](char ch) { return ascii_lower(ch); });
    return StripeAmount{amount, std::move(currency)};
}

std::optional<Money> from_stripe_amount(int64_t amount,
                                        const Currency& currency) {
    int exponent = 2;
    int64_t step = 1;
    if (amount <= 0 || amount > kStripeMaxAmount ||
        !stripe_units(currency, exponent, step)) {
        return std::nullopt;
    }
    for (int e = currency.exponent; e < exponent; ++e) {
        if (amount % 10 != 0) return std::nullopt;
        amount /= 10;
    }
    for (int e = exponent; e < currency.exponent; ++e) amount *= 10;
    return Money{amount, currency};
}

StripeAmount placeholder_amount(const Money& due) {
    // a valid amount for the currency: a multiple of its step
    int exponent = 2;
    int64_t step = 1;
    stripe_units(due.currency, exponent, step);
    int64_t amount = kStripeMaxAmount - kStripeMaxAmount % step;
    std::string currency(due.currency.view());
    std::transform(currency.begin(), currency.end(), currency.begin(),
                   [](char ch) { return ascii_lower(ch); });
    return StripeAmount{amount, std::move(currency)};
}

std::string intent_key(const EVP_MD* sha256, std::string_view merchant_id,
                       std::string_view invoice, std::string_view currency,
                       int generation) {
    return sha256_key(sha256, {"intent", merchant_id, invoice, currency,
                               std::to_string(generation)});
}

std::string payment_method_key(const EVP_MD* sha256, std::string_view token) {
    return sha256_key(sha256, {"payment_method", token});
}

std::string attempt_key(const EVP_MD* sha256, std::string_view what,
                        std::string_view intent_id, std::string_view nonce) {
    return sha256_key(sha256, {what, intent_id, nonce});
}

std::string create_form(const IntentRequest& r) {
    std::string out;
    form_field(out, "amount", std::to_string(r.amount.amount));
    form_field(out, "currency", r.amount.currency);
    form_field(out, "payment_method_types[]", "card");
    form_field(out, "description", r.description);
    form_field(out, "metadata[invoice]", r.invoice);
    return out;
}

std::string payment_method_form(std::string_view processor_token) {
    std::string out;
    form_field(out, "type", "card");
    form_field(out, "card[token]", processor_token);
    return out;
}

std::string update_form(const IntentUpdate& u) {
    std::string out;
    form_field(out, "amount", std::to_string(u.amount));
    form_field(out, "payment_method", u.payment_method);
    // an empty value unsets a metadata key at Stripe
    form_field(out, "metadata[shipping_option]", u.shipping_option);
    form_field(out, "metadata[attempt]", u.attempt);
    return out;
}

std::string confirm_form() {
    std::string out;
    form_field(out, "error_on_requires_action", "true");
    return out;
}

std::string cancel_form() {
    std::string out;
    form_field(out, "cancellation_reason", "abandoned");
    return out;
}

std::string intent_path(std::string_view id) {
    return std::string(kIntentsPath) + '/' + std::string(id);
}

std::string confirm_path(std::string_view id) {
    return intent_path(id) + "/confirm";
}

std::string cancel_path(std::string_view id) {
    return intent_path(id) + "/cancel";
}

namespace {

bool valid_id(std::string_view prefix, std::string_view id) {
    if (id.size() <= prefix.size() || id.size() > 255 ||
        id.substr(0, prefix.size()) != prefix) {
        return false;
    }
    return std::all_of(id.begin(), id.end(), [](unsigned char c) {
        return ascii_alnum(static_cast<char>(c)) || c == '_';
    });
}

// An expandable field: the id, or the expanded object's id.
std::string expandable_id(const json::Value& obj, std::string_view name) {
    const json::Value* v = json::member(obj, name);
    if (v == nullptr) return {};
    if (v->IsObject()) v = json::member(*v, "id");
    if (v == nullptr || !v->IsString()) return {};
    std::string id(v->GetString(), v->GetStringLength());
    return valid_payment_method_id(id) ? id : std::string();
}

// The payment method of an intent's last decline.
std::string last_decline(const json::Value& intent) {
    const json::Value* e = json::object_member(intent, "last_payment_error");
    return e ? expandable_id(*e, "payment_method") : std::string();
}

// A non-negative integer of at most 18 digits; -1 otherwise.
int64_t small_integer(const json::Value* v) {
    if (v == nullptr || !json::is_number(*v)) return -1;
    std::string_view t = json::number_text(*v);
    if (t.empty() || t.size() > 18) return -1;
    int64_t n = 0;
    for (char c : t) {
        if (c < '0' || c > '9') return -1;
        n = n * 10 + (c - '0');
    }
    return n;
}

}  // namespace

bool valid_intent_id(std::string_view id) { return valid_id("pi_", id); }

bool valid_payment_method_id(std::string_view id) {
    return valid_id("pm_", id);
}

bool is_inner_error_code(std::string_view code) {
    return std::find(std::begin(kInnerCodes), std::end(kInnerCodes), code) !=
           std::end(kInnerCodes);
}

std::string inner_error_code(std::string_view code) {
    if (is_inner_error_code(code)) return std::string(code);
    if (code == "authentication_required") return "card_declined";
    return "processing_error";
}

StripeAnswer read_stripe_answer(int status, std::string_view body,
                                bool replayed) {
    using Kind = StripeAnswer::Kind;
    StripeAnswer out;
    out.replayed = replayed && status != 0;
    out.log = "processor answered status " + std::to_string(status) +
              (out.replayed ? " (replayed)" : "");
    if (status == 0) out.log = "processor request failed";
    if (status == 504) out.log = "processor timed out";
    json::Document doc;
    bool parsed = status != 0 && !json::parse(body, doc) && doc.IsObject();
    if (status == 0 || status >= 500) {
        // kUnknown; Stripe's own error object says it answered
        out.answered = parsed && json::object_member(doc, "error") != nullptr;
        return out;
    }
    if (status == 200) {
        auto object = parsed ? json::string_member(doc, "object")
                             : std::nullopt;
        auto id = parsed ? json::string_member(doc, "id") : std::nullopt;
        auto state = parsed ? json::string_member(doc, "status")
                            : std::nullopt;
        if (object == std::string_view("payment_method") && id &&
            valid_payment_method_id(*id)) {
            out.kind = Kind::kPaymentMethod;
            out.answered = true;
            out.id = std::string(*id);
            out.log = "payment method made";
            return out;
        }
        int64_t amount = parsed ? small_integer(json::member(doc, "amount"))
                                : -1;
        auto currency = parsed ? json::string_member(doc, "currency")
                               : std::nullopt;
        if (object == std::string_view("payment_intent") && id &&
            valid_intent_id(*id) && state && !state->empty() &&
            amount > 0 && currency) {
            out.kind = Kind::kIntent;
            out.answered = true;
            out.id = std::string(*id);
            out.status = std::string(*state);
            out.amount = amount;
            out.currency = std::string(*currency);
            out.payment_method = expandable_id(doc, "payment_method");
            if (const json::Value* e =
                    json::object_member(doc, "last_payment_error")) {
                out.declined_payment_method =
                    expandable_id(*e, "payment_method");
                out.code = std::string(
                    json::string_member(*e, "code").value_or(""));
                out.message = std::string(
                    json::string_member(*e, "message").value_or(""));
            }
            if (const json::Value* m = json::object_member(doc, "metadata")) {
                out.shipping_option = std::string(
                    json::string_member(*m, "shipping_option").value_or(""));
            }
            // the amount, not the payment method: its id is a card's
            // handle, kept out of logs as the token is
            out.log = "payment intent " + out.id + " " + out.status +
                      " at " + std::to_string(out.amount);
            return out;
        }
        // what a 200 said cannot be read: it may have charged
        out.log = "processor answered 200 without a readable PaymentIntent";
        return out;
    }
    const json::Value* error =
        parsed ? json::object_member(doc, "error") : nullptr;
    if (error == nullptr) {
        out.log += ", without Stripe's error object";
        return out;  // not Stripe speaking: kUnknown
    }
    out.answered = true;
    std::string type(json::string_member(*error, "type").value_or(""));
    out.code = std::string(json::string_member(*error, "code").value_or(""));
    out.log += ", " + type + (out.code.empty() ? "" : " " + out.code);
    out.declined_payment_method = expandable_id(*error, "payment_method");
    if (const json::Value* pi = json::object_member(*error, "payment_intent")) {
        auto id = json::string_member(*pi, "id");
        if (id && valid_intent_id(*id)) out.id = std::string(*id);
        if (out.declined_payment_method.empty()) {
            out.declined_payment_method = last_decline(*pi);
        }
    }
    if (status == 402 && type == "card_error") {
        out.kind = Kind::kCardError;
        auto message = json::string_member(*error, "message");
        out.message = message && !message->empty()
                          ? std::string(*message)
                          : "Your card was declined.";
    } else if (status == 400 && out.code == "payment_intent_unexpected_state") {
        out.kind = Kind::kUnexpectedState;
    } else if (status == 429 || status == 409) {
        out.kind = Kind::kBusy;
    } else {
        out.kind = Kind::kRefused;
    }
    return out;
}

}  // namespace opay
