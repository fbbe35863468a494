#include "stripe.h"

#include <algorithm>
#include <cctype>
#include <limits>

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

void form_field(std::string& out, std::string_view name,
                std::string_view value) {
    if (!out.empty()) out += '&';
    auto encode = [&out](std::string_view s) {
        for (unsigned char c : s) {
            if (std::isalnum(c) || c == '-' || c == '_' || c == '.' ||
                c == '~') {
                out += static_cast<char>(c);
            } else {
                out += '%';
                append_hex(out, &c, 1, true);
            }
        }
    };
    encode(name);
    out += '=';
    encode(value);
}

std::string sha256_key(const std::string& input) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
           digest);
    std::string key = "opay-";
    append_hex(key, digest, sizeof(digest));
    return key;
}

}  // namespace

std::variant<StripeAmount, std::string> stripe_amount(const Money& m) {
    std::string_view code = m.currency.view();
    int iso = m.currency.exponent;
    int exponent = 2;
    int64_t step = 1;
    bool listed = false;
    for (const auto& u : kStripeUnits) {
        if (code == u.code) {
            exponent = u.exponent;
            step = u.step;
            listed = true;
        }
    }
    std::string name(code);
    if (!listed && iso != 2) {
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
                   [](unsigned char ch) { return std::tolower(ch); });
    return StripeAmount{amount, std::move(currency)};
}

std::string intent_key(std::string_view merchant_id, std::string_view invoice,
                       const Money& due) {
    return sha256_key("intent\n" + std::string(merchant_id) + '\n' +
                      std::string(invoice) + '\n' +
                      std::string(due.currency.view()) + '\n' +
                      std::to_string(due.minor));
}

std::string confirm_key(std::string_view intent_id, std::string_view token,
                        std::string_view nonce) {
    return sha256_key("confirm\n" + std::string(intent_id) + '\n' +
                      std::string(token) + '\n' + std::string(nonce));
}

std::string create_form(const IntentRequest& r) {
    std::string out;
    form_field(out, "amount", std::to_string(r.amount.amount));
    form_field(out, "currency", r.amount.currency);
    form_field(out, "payment_method_types[]", "card");
    form_field(out, "description", r.description);
    form_field(out, "metadata[invoice]", r.invoice);
    form_field(out, "metadata[request_id]", r.request_id);
    return out;
}

std::string confirm_form(std::string_view processor_token) {
    std::string out;
    form_field(out, "payment_method_data[type]", "card");
    form_field(out, "payment_method_data[card][token]", processor_token);
    form_field(out, "error_on_requires_action", "true");
    return out;
}

std::string intent_path(std::string_view id) {
    return std::string(kIntentsPath) + '/' + std::string(id);
}

std::string confirm_path(std::string_view id) {
    return intent_path(id) + "/confirm";
}

bool valid_intent_id(std::string_view id) {
    if (id.size() < 4 || id.size() > 255 || id.substr(0, 3) != "pi_") {
        return false;
    }
    return std::all_of(id.begin(), id.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_';
    });
}

std::string inner_error_code(std::string_view code) {
    for (const char* known : kInnerCodes) {
        if (code == known) return known;
    }
    if (code == "authentication_required") return "card_declined";
    return "processing_error";
}

StripeAnswer read_stripe_answer(int status, std::string_view body) {
    using Kind = StripeAnswer::Kind;
    StripeAnswer out;
    out.log = "processor answered status " + std::to_string(status);
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
        if (object == std::string_view("payment_intent") && id &&
            valid_intent_id(*id) && state && !state->empty()) {
            out.kind = Kind::kIntent;
            out.answered = true;
            out.id = std::string(*id);
            out.status = std::string(*state);
            out.log = "payment intent " + out.id + " " + out.status;
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
    if (const json::Value* pi = json::object_member(*error, "payment_intent")) {
        auto id = json::string_member(*pi, "id");
        if (id && valid_intent_id(*id)) out.id = std::string(*id);
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
