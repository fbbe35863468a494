// Answers of the PaymentRequest webhook, built from the invoice and the
// location's settings.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "config.h"
#include "invoice.h"
#include "json.h"
#include "shipping.h"

namespace opay {

// An answer ready to send, or the W3C rule it would break (then nothing
// may be sent).
struct Answer {
    std::string body;
    std::string error;
};

// The loadentity answer, shaped like the reference's example.
Answer loadentity_answer(const Config& c, const json::Value& product_context,
                         const Invoice& invoice);

// A shipping event's answer: the incoming payload (request, changed in
// place) updated with the options, total, Shipping line and entity price.
// chosen_option is the echoed shippingOption of a shippingoptionchange.
Answer shipping_answer(json::Document& request,
                               std::string_view event,
                               const Invoice& invoice,
                               const ShippingOptions& options,
                               const std::optional<std::string>& chosen_option);

// Checks what we own in an outgoing details object against the W3C rules;
// returns the broken rule, or nullopt.
std::optional<std::string> check_details(const json::Value& details);

// {"currency": "USD", "value": "10.00"}
json::Value amount_json(const Money& m, json::Allocator& a);

}  // namespace opay
