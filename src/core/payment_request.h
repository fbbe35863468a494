// Answers of the PaymentRequest webhook, built from the invoice and the
// location's settings.
#pragma once

#include <string>

#include "config.h"
#include "invoice.h"
#include "json.h"

namespace opay {

// The loadentity answer, shaped like the reference's example.
std::string loadentity_answer(const Config& c,
                              const json::Value& product_context,
                              const Invoice& invoice);

// {"currency": "USD", "value": "10.00"}
json::Value amount_json(const Money& m, json::Allocator& a);

}  // namespace opay
