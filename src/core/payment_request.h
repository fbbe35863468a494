// Answers of the PaymentRequest webhook. Everything that is ours to say —
// mode, networks, types, options, ids, totals, the entity and its amount —
// comes from the location's settings, the invoice and the shipping
// backend, never from the echo; only what the payer said (address,
// option) and the opaque productContext are echoed back.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config.h"
#include "echo.h"
#include "invoice.h"
#include "json.h"
#include "shipping.h"

namespace opay {

// The parts of the answers that depend on c's settings alone
// (AnswerParts), for make_config.
AnswerParts render_answer_parts(const Config& c);

// An answer ready to send, or the W3C rule it would break (then nothing
// may be sent).
struct Answer {
    std::string body;
    std::string error;
};

// The loadentity answer, shaped like the reference's example.
Answer loadentity_answer(const Config& c, const json::Value& product_context,
                         const Invoice& invoice);

// The answer for an invoice that is not due (paid, paid automatically, or
// a status we do not know), whatever the event: the entity with its
// status and nothing due, a total of zero, nothing asked of the payer, and
// details.error saying why.
Answer not_due_answer(const Config& c, Event event,
                      const json::Value& product_context,
                      const Invoice& invoice);

// What the payer reads in details.error of a not-due answer.
std::string not_due_message(std::string_view payment_status);

// A shipping event's answer. options: the shipping backend's for the
// echoed address (unused when the echo's address is our own null). The
// option that applies: on an option change the one chosen, if offered;
// on an address change the earlier choice if the new address still
// offers it, else none — or, without an earlier choice, the one the
// backend marks selected.
Answer shipping_answer(const Config& c, const json::Value& request,
                       const Echo& echo, const Invoice& invoice,
                       const ShippingOptions& options);

// {"currency": "USD", "value": "10.00"}
json::Value amount_json(const Money& m, json::Allocator& a);

}  // namespace opay
