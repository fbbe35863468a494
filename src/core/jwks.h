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
using MdPtr = std::shared_ptr<EVP_MD>;
using PkeyCtxPtr = std::shared_ptr<EVP_PKEY_CTX>;
using MdCtxPtr = std::shared_ptr<EVP_MD_CTX>;

// What one RSASSA-PKCS1-v1_5 SHA-256 verification needs, made once per
// key: SHA-256 fetched from the provider, a digest context for it, and a
// verify context with the padding and digest set. Making these per call
// (EVP_DigestVerifyInit, EVP_Digest) repeats OpenSSL's provider look-ups
// and allocations on every request. The contexts are used by one thread at
// a time (an nginx worker has one).
struct RsaVerifier {
    MdPtr sha256;
    MdCtxPtr digest;
    PkeyCtxPtr ctx;
};

// Fetches SHA-256 once (shared by every key of a set); null on failure.
MdPtr fetch_sha256();
// A verifier for key; ctx is null if OpenSSL refuses it.
RsaVerifier make_verifier(EVP_PKEY* key, const MdPtr& sha256);

inline constexpr int kMinRsaBits = 2048;
inline constexpr unsigned long kRsaExponent = 65537;

struct Jwk {
    std::string kid;  // empty when the JWK has none
    PkeyPtr key;
    int bits = 0;
    RsaVerifier verifier;
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

}  // namespace opay
