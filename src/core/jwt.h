// Verification of the RS256 bearer token on every webhook call. The
// algorithm is pinned here, never taken from the token.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jwks.h"
#include "opay.h"
#include "outcome.h"

namespace opay {

struct TokenPolicy {
    std::string issuer;
    std::string audience;
    std::optional<std::string> appid;  // nullopt: appid not checked
    std::optional<std::string> version;  // exact ver; nullopt: not checked
    int64_t leeway = OPAY_DEFAULT_JWT_LEEWAY;
    std::vector<std::string> allowed_senders;  // empty: any sender
    bool signature_only = false;  // header and signature, no claims
};

struct TokenCheck {
    std::string_view name;  // "parse", "alg", "key", "signature", "exp", ...
    bool ok = false;
    std::string detail;  // for the operator's tools; never sent to a peer
};

struct TokenResult {
    std::vector<TokenCheck> checks;
    // The first failed check's refusal (OPAY_REFUSAL_EXPIRED,
    // OPAY_REFUSAL_BAD_SIGNATURE, ...); OPAY_REFUSAL_NONE when the token
    // is good.
    opay_refusal_e reason = OPAY_REFUSAL_NONE;
    std::string sub;
    std::string sender;

    bool ok() const { return reason == OPAY_REFUSAL_NONE && !checks.empty(); }
    // its short code ("expired", "bad_signature", ...); "" when good
    std::string_view reason_name() const { return refusal_name(reason); }
};

// Runs every check and records each in checks. details: whether each
// check's detail text is made too (the operator's tools); without it
// (the request path) details are empty, all else is the same.
TokenResult verify_token(std::string_view token, const KeySet& keys,
                         const TokenPolicy& policy, int64_t now,
                         bool details = true);

// RSASSA-PKCS1-v1_5 with SHA-256 over data, with a key's verifier made
// at load time (the request path).
bool rsa_sha256_verify(const RsaVerifier& verifier, std::string_view data,
                       std::string_view signature);
// The same for a bare key: makes a verifier, then checks as above.
bool rsa_sha256_verify(EVP_PKEY* key, std::string_view data,
                       std::string_view signature);

// Extracts the token from "Bearer <token>" (scheme case-insensitive).
std::optional<std::string_view> bearer_token(std::string_view header);

}  // namespace opay
