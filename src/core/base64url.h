// Strict unpadded base64url (RFC 7515 section 2): no padding, no
// whitespace, no characters of the standard alphabet, and unused trailing
// bits must be zero so that every byte string has exactly one encoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace opay {

std::optional<std::string> base64url_decode(std::string_view in);
std::string base64url_encode(std::string_view in);

}  // namespace opay
