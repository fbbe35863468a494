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

}  // namespace opay
