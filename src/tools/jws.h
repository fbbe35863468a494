// Making RS256 signatures (compact JWS): the opay tool's tokens and signed
// cards. Checking them is jwt.h's job.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "jwks.h"

namespace opay {

// A private key from PEM text; null when the text holds none.
PkeyPtr private_key_from_pem(std::string_view pem);
// A public key from PEM text (a public key, or a private key's public
// half); null when the text holds neither.
PkeyPtr public_key_from_pem(std::string_view pem);

// base64url(header) "." base64url(claims) "." base64url(RS256 signature);
// nullopt when the key cannot sign.
std::optional<std::string> sign_rs256(EVP_PKEY* key, std::string_view header,
                                      std::string_view claims);

}  // namespace opay
