// What a call came to, typed (opay.h's opay_result_e, opay_refusal_e,
// opay_charge_e), and the one table of their names: the texts of
// $opay_result, $opay_error and of the metric labels.
#pragma once

#include <string_view>

#include "opay.h"

namespace opay {

// "" for the *_NONE values and for values out of range.
std::string_view result_name(opay_result_e result) noexcept;
std::string_view refusal_name(opay_refusal_e refusal) noexcept;
std::string_view charge_name(opay_charge_e charge) noexcept;

// The result "success" or "fail" names; OPAY_RESULT_NONE for another.
opay_result_e result_kind(std::string_view name) noexcept;

// The refusal a token check's reason code (TokenResult::reason) names;
// OPAY_REFUSAL_INVALID_TOKEN for a code the table lacks.
opay_refusal_e token_refusal(std::string_view reason) noexcept;

}  // namespace opay
