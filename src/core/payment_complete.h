// The PaymentComplete webhook's payload, replies, notify record and
// journal lines.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "invoice.h"
#include "json.h"
#include "money.h"
#include "opay.h"

namespace opay {

// The longest requestId taken (the invoice's identifier must equal it).
constexpr std::size_t kMaxRequestId = 255;

struct CompletePayload {
    std::string request_id;
    const json::Value* product_context = nullptr;
    std::string payment_token;
    Money amount{};
    const json::Value* shipping_address = nullptr;
    std::optional<std::string> shipping_option;
    std::string payer_name;
    std::string payer_email;
    std::string payer_phone;
};

// Reads and checks the payload (pointers point into doc). The error says
// which field is wrong.
std::variant<CompletePayload, std::string> read_complete_payload(
    const json::Document& doc);

// Whether an invoice in this paymentStatus may be charged. Unknown values
// are not: never charge on doubt.
bool payment_due(std::string_view payment_status);

std::string success_reply(std::string_view request_id,
                          std::string_view message, const Invoice& invoice,
                          std::string_view confirmation);
std::string fail_reply(std::string_view request_id, std::string_view inner_code,
                       std::string_view message);

// What the invoice's record says happened: a charge (whoever's pair it
// was), none, or not known (the processor could not be asked).
enum class Recorded { kFail, kSuccess, kUnknown };

// "fail", "success", "unknown": the record's "result"
std::string_view recorded_name(Recorded r) noexcept;

struct Outcome {
    std::string entry;          // journal entry id of this outcome
    Recorded result = Recorded::kFail;
    std::string confirmation;   // the PaymentIntent's id on success
    std::string error_code;     // inner code on failure
    // succeeded (this payer's amount and card were charged by this
    // call's confirm), already_paid (the invoice's charge at this amount,
    // made before this call: nothing charged now), other_payer (another
    // payer's pair was charged, found by this call: that payer's
    // success), declined,
    // requires_action, rejected (Stripe did nothing) or unknown (it could
    // not be learned)
    opay_charge_e kind = OPAY_CHARGE_NONE;
    std::string payment_intent;
    // On success: what was charged, read from the succeeded PaymentIntent.
    Money amount{};
    std::string payment_method;
    std::string shipping_option;  // with other_payer: the intent's metadata
};

// The ARCHITECTURE.md outcome record sent to the notify backend: amount
// and payment method are the charge's (on success) and mode the
// location's. A charge this call did not make (other_payer,
// already_paid) names no payer and no address: only the charge is known.
std::string notify_record(const CompletePayload& p, std::string_view invoice,
                          const Money& amount, const Outcome& o,
                          std::string_view sub, bool test_mode);

// One journal line (no trailing newline) of type attempt / outcome / notify.
// An attempt is written before each confirmation (1, 2) of a
// PaymentIntent.
std::string journal_attempt(std::string_view request_id,
                            std::string_view invoice, const Money& amount,
                            std::string_view idempotency_key,
                            std::string_view payment_intent,
                            int confirmation, int64_t now);
std::string journal_outcome(const Outcome& o, std::string_view request_id,
                            std::string_view record, int64_t now);
std::string journal_notify(std::string_view entry, std::string_view request_id,
                           bool ok, int status, int64_t now);

}  // namespace opay
