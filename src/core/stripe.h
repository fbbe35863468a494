// Stripe's wire format: the charge request, the Idempotency-Key, and the
// answer mapped to a payment outcome.
#pragma once

#include <string>
#include <string_view>

#include "money.h"

namespace opay {

// Derived from the merchant id and the payment's requestId, so that every
// node and every retry of one payment asks Stripe with the same key.
std::string idempotency_key(std::string_view merchant_id,
                            std::string_view request_id);

struct ChargeRequest {
    Money amount;
    std::string source;       // the processor token
    std::string description;
    std::string invoice;
    std::string request_id;
};

// application/x-www-form-urlencoded; amount in minor units, currency in
// lower case.
std::string charge_form(const ChargeRequest& c);

struct ChargeOutcome {
    enum class Kind {
        kSucceeded,   // money moved: charge_id is the confirmation
        kDeclined,    // the processor said no (card error): final
        kRejected,    // the processor refused the request: nothing charged
        kInFlight,    // the same key is being charged elsewhere right now
        kUnknown,     // no answer (timeout, 5xx): ask again with the key
    };
    Kind kind = Kind::kUnknown;
    std::string charge_id;
    std::string inner_code;   // one of the ten Outlook inner codes
    std::string message;      // fit to show a payer
    std::string log;          // for the error log: status, type, code
};

ChargeOutcome read_charge_answer(int status, std::string_view body);

// Stripe's error code to one of the ten Outlook inner error codes.
std::string inner_error_code(std::string_view stripe_code);

}  // namespace opay
