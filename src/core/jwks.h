// The signing keys a bearer token may be checked against: the RS256 keys of
// a JWKS document, each turned into an OpenSSL key once, at load time.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <openssl/evp.h>

namespace opay {

struct PkeyFree {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using PkeyPtr = std::shared_ptr<EVP_PKEY>;

inline constexpr int kMinRsaBits = 2048;

struct Jwk {
    std::string kid;  // empty when the JWK has none
    PkeyPtr key;
    int bits = 0;
};

struct KeySet {
    std::vector<Jwk> keys;
    // Keys present in the document but never usable for RS256 (wrong kty,
    // use, alg or key_ops), so tools can say why a kid is not found.
    std::vector<std::string> skipped;
};

struct KeySetError {
    std::string message;  // names the key and the reason
};

// Loads a JWKS ({"keys":[...]}) or a single JWK. A key that is not for RS256
// signatures is skipped; an RS256 key that is malformed or under
// kMinRsaBits refuses the whole document.
std::variant<KeySet, KeySetError> load_jwks(std::string_view json);

// One JWK object to key, with the same rules (used by load_jwks and tests).
std::variant<Jwk, KeySetError> rsa_jwk(std::string_view json_object);

}  // namespace opay
