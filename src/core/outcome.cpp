// The names of the outcome kinds: one table per enum, in its order.
#include "outcome.h"

namespace opay {

namespace {

constexpr std::string_view kResults[OPAY_RESULTS] = {
    "", "success", "fail", "ok", "refused"};

constexpr std::string_view kRefusals[OPAY_REFUSALS] = {
    "",
    "method_not_allowed",
    "body_too_large",
    "no_signing_keys",
    "missing_token",
    "bad_scheme",
    "malformed",
    "bad_alg",
    "unknown_key",
    "bad_signature",
    "bad_issuer",
    "bad_audience",
    "bad_appid",
    "bad_version",
    "missing_exp",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "bad_sender",
    "invalid_token",
    "unsupported_media_type",
    "malformed_json",
    "invalid_payload",
    "unsupported_event",
    "unknown_invoice",
    "backend_timeout",
    "backend_error",
    "journal_unavailable",
    "state_unavailable",
    "payment_in_progress",
    "payment_refused",
    "internal_error",
};

constexpr std::string_view kCharges[OPAY_CHARGES] = {
    "",         "succeeded",       "already_paid", "other_payer",
    "declined", "requires_action", "rejected",     "unknown"};

template <typename E, std::size_t N>
std::string_view name_of(const std::string_view (&table)[N], E e) noexcept {
    auto i = static_cast<long>(e);
    return i < 0 || i >= static_cast<long>(N) ? std::string_view() : table[i];
}

}  // namespace

std::string_view result_name(opay_result_e result) noexcept {
    return name_of(kResults, result);
}

std::string_view refusal_name(opay_refusal_e refusal) noexcept {
    return name_of(kRefusals, refusal);
}

std::string_view charge_name(opay_charge_e charge) noexcept {
    return name_of(kCharges, charge);
}

}  // namespace opay
