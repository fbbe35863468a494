#include "stripe.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include <openssl/sha.h>

#include "json.h"

namespace opay {

namespace {

constexpr const char* kInnerCodes[] = {
    "invalid_number",   "invalid_expiry_month", "invalid_expiry_year",
    "invalid_cvc",      "incorrect_number",     "expired_card",
    "incorrect_cvc",    "incorrect_zip",        "card_declined",
    "processing_error"};

constexpr const char* kProcessingMessage =
    "We could not process your card right now. Please try again later.";

void form_field(std::string& out, std::string_view name,
                std::string_view value) {
    if (!out.empty()) out += '&';
    auto encode = [&out](std::string_view s) {
        for (unsigned char c : s) {
            if (std::isalnum(c) || c == '-' || c == '_' || c == '.' ||
                c == '~') {
                out += static_cast<char>(c);
            } else {
                char hex[4];
                std::snprintf(hex, sizeof(hex), "%%%02X", c);
                out += hex;
            }
        }
    };
    encode(name);
    out += '=';
    encode(value);
}

}  // namespace

std::string idempotency_key(std::string_view merchant_id,
                            std::string_view request_id) {
    std::string input = std::string(merchant_id) + '\n' +
                        std::string(request_id);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
           digest);
    std::string key = "opay-";
    char hex[3];
    for (unsigned char b : digest) {
        std::snprintf(hex, sizeof(hex), "%02x", b);
        key += hex;
    }
    return key;
}

std::string charge_form(const ChargeRequest& c) {
    std::string currency(c.amount.currency.view());
    std::transform(currency.begin(), currency.end(), currency.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    std::string out;
    form_field(out, "amount", std::to_string(c.amount.minor));
    form_field(out, "currency", currency);
    form_field(out, "source", c.source);
    form_field(out, "description", c.description);
    form_field(out, "metadata[invoice]", c.invoice);
    form_field(out, "metadata[request_id]", c.request_id);
    return out;
}

std::string inner_error_code(std::string_view code) {
    for (const char* known : kInnerCodes) {
        if (code == known) return known;
    }
    return "processing_error";
}

ChargeOutcome read_charge_answer(int status, std::string_view body) {
    ChargeOutcome out;
    out.inner_code = "processing_error";
    out.message = kProcessingMessage;
    out.log = "processor answered status " + std::to_string(status);
    if (status == 0 || status == 504 || status >= 500) {
        out.kind = ChargeOutcome::Kind::kUnknown;
        if (status == 0) out.log = "processor request failed";
        if (status == 504) out.log = "processor timed out";
        return out;
    }
    json::Document doc;
    bool parsed = !json::parse(body, doc) && doc.IsObject();
    if (status == 200) {
        auto id = parsed ? json::string_member(doc, "id") : std::nullopt;
        auto state = parsed ? json::string_member(doc, "status") : std::nullopt;
        if (id && !id->empty() && state == std::string_view("succeeded")) {
            out.kind = ChargeOutcome::Kind::kSucceeded;
            out.charge_id = std::string(*id);
            out.inner_code.clear();
            out.message.clear();
            out.log = "charge " + out.charge_id + " succeeded";
            return out;
        }
        // A 200 we cannot read: the charge may exist. Ask again later.
        out.kind = ChargeOutcome::Kind::kUnknown;
        out.log = "processor answered 200 without a succeeded charge";
        return out;
    }
    const json::Value* error =
        parsed ? json::object_member(doc, "error") : nullptr;
    std::string type, code;
    if (error != nullptr) {
        type = std::string(json::string_member(*error, "type").value_or(""));
        code = std::string(json::string_member(*error, "code").value_or(""));
        out.log += ", " + type + (code.empty() ? "" : " " + code);
    }
    if (status == 409) {
        out.kind = ChargeOutcome::Kind::kInFlight;
        return out;
    }
    if (status == 402 && type == "card_error") {
        out.kind = ChargeOutcome::Kind::kDeclined;
        out.inner_code = inner_error_code(code);
        auto message = json::string_member(*error, "message");
        out.message = message && !message->empty()
                          ? std::string(*message)
                          : "Your card was declined.";
        return out;
    }
    out.kind = ChargeOutcome::Kind::kRejected;
    return out;
}

}  // namespace opay
