// Stripe's PaymentIntents on the wire: amounts in Stripe's units, the
// Idempotency-Keys, the form bodies and paths, and what an answer says.
// The decisions made on an answer are payment_complete_flow's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "money.h"

namespace opay {

// An amount as Stripe takes it: `amount` in Stripe's units for the
// currency (not always ISO 4217's), `currency` in lower case.
struct StripeAmount {
    int64_t amount = 0;
    std::string currency;
};

// Stripe's conventions, currency by currency (its "Supported currencies"
// page): zero-decimal currencies in whole units (MGA too, which ISO 4217
// gives two decimals), ISK and UGX still with two decimals though ISO
// gives none, three-decimal currencies only in tens. The error says why an
// amount cannot be charged exactly; nothing is rounded.
std::variant<StripeAmount, std::string> stripe_amount(const Money& m);

// The create's key: one PaymentIntent per (merchant, invoice, currency,
// amount due), the same on every node and every retry.
std::string intent_key(std::string_view merchant_id, std::string_view invoice,
                       const Money& due);
// A confirm's key: fresh for every confirmation (nonce), so that a retry
// after an unknown answer is a new request and not the replay of a saved
// 5xx; the PaymentIntent's own state keeps it to one charge.
std::string confirm_key(std::string_view intent_id, std::string_view token,
                        std::string_view nonce);

struct IntentRequest {
    StripeAmount amount;
    std::string description;
    std::string invoice;
    std::string request_id;
};

// application/x-www-form-urlencoded bodies.
std::string create_form(const IntentRequest& r);
// error_on_requires_action: Outlook cannot show 3-D Secure, so a card that
// asks for it is a decline that leaves the PaymentIntent open.
std::string confirm_form(std::string_view processor_token);

// Paths below opay_processor's prefix.
constexpr std::string_view kIntentsPath = "v1/payment_intents";
std::string intent_path(std::string_view id);
std::string confirm_path(std::string_view id);

// Stripe's ids are "pi_" and letters, digits and '_' only: anything else
// never reaches a path.
bool valid_intent_id(std::string_view id);

struct StripeAnswer {
    enum class Kind {
        kIntent,           // 200 with a readable PaymentIntent
        kCardError,        // 402 card_error: declined; the intent stays open
        kUnexpectedState,  // 400 payment_intent_unexpected_state
        kBusy,             // 429 lock_timeout, 409 idempotency_key_in_use
        kRefused,          // any other 4xx: Stripe did nothing
        kUnknown,          // no answer, 5xx, unreadable: may have happened
    };
    Kind kind = Kind::kUnknown;
    std::string id;       // the PaymentIntent's, when readable
    std::string status;   // its status, with kIntent
    std::string code;     // Stripe's error code
    std::string message;  // Stripe's message for the payer (card errors)
    std::string log;      // status, type and code, for the error log
    // Stripe itself answered, with its JSON: the request ended there. A
    // timeout, a proxy's page or a cut answer may leave it running.
    bool answered = false;
};

StripeAnswer read_stripe_answer(int status, std::string_view body);

// Stripe's error code to one of the ten Outlook inner error codes.
std::string inner_error_code(std::string_view stripe_code);

}  // namespace opay
