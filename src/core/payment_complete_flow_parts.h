// What the PaymentComplete flow's files share, and nothing else includes:
// the payer's messages and the random part of the attempt keys. The flow
// is split by role under one prefix: payment_complete_flow.cpp (the
// stages, the claim, the checks before any charge),
// payment_complete_flow_charge.cpp (the invoice's PaymentIntent at
// Stripe), payment_complete_flow_lookup.cpp (an invoice that says it is
// paid) and payment_complete_flow_outcome.cpp (the record, journal and
// notify of an outcome).
#pragma once

#include <string>

namespace opay::complete_flow {

inline constexpr const char* kProcessingMessage =
    "We could not process your card right now. Please try again later.";
// A payment this node or another is charging now (409
// payment_in_progress): retryable, never a failure.
inline constexpr const char* kInProgressMessage =
    "this payment is being processed";
inline constexpr const char* kPaidMessage =
    "This invoice has already been paid.";
inline constexpr const char* kNotDueMessage =
    "This invoice is not due for payment.";
inline constexpr const char* kTooSmallMessage =
    "This amount is less than the smallest amount that can be charged "
    "by card.";
inline constexpr const char* kTooLargeMessage =
    "This amount is more than the largest amount that can be charged "
    "by card.";
inline constexpr const char* kNoPlaceholderMessage =
    "The card processor refuses to take payments for this invoice. "
    "Please contact the merchant.";
inline constexpr const char* kActionMessage =
    "Your bank asks for a verification step that cannot be completed "
    "here. Please use another card.";

// bytes (at most 16) random bytes from random_bytes, in hex; empty if
// it has none to give
std::string random_hex(int (*random_bytes)(unsigned char*, int), int bytes);

}  // namespace opay::complete_flow
