// Strict unpadded base64url (RFC 7515 section 2): no padding, no
// whitespace, no characters of the standard alphabet, and unused trailing
// bits must be zero so that every byte string has exactly one encoding.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace opay {

std::optional<std::string> base64url_decode(std::string_view in);
// The size base64url_decode's answer has when in is good, so that a
// caller can decode into memory of its own with base64url_decode_to.
std::size_t base64url_decoded_size(std::string_view in);
// The same decoding into out (at least base64url_decoded_size(in) bytes):
// whether in was good. out's contents are undefined when it was not.
bool base64url_decode_to(std::string_view in, char* out);
std::string base64url_encode(std::string_view in);

}  // namespace opay
