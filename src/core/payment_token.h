// The PaymentComplete payment token: three base64url parts like a JWS, a
// JSON header (Format, TestMode, Amount) and the raw processor token as
// payload. No verification key was ever published for its signature, so
// it is not "verified": the charge is protected by the amount and mode
// checks instead.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "money.h"

namespace opay {

struct PaymentToken {
    std::string format;            // processor name, e.g. "Stripe"
    bool test_mode = false;
    std::optional<Money> amount;   // header "Amount", when present
    std::string processor_token;   // e.g. "tok_visa"
};

// The error says which rule the token breaks (safe to log: no token bytes).
std::variant<PaymentToken, std::string> parse_payment_token(
    std::string_view token);

}  // namespace opay
