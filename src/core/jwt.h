// Verification of the RS256 bearer token on every webhook call. The
// algorithm is pinned here, never taken from the token.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fixed_list.h"
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

struct TokenResult;

// Runs every check and records each in checks. details: whether each
// check's detail text is made too (the operator's tools); without it
// (the request path) details are empty, all else is the same.
TokenResult verify_token(std::string_view token, const KeySet& keys,
                         const TokenPolicy& policy, int64_t now,
                         bool details = true);

struct TokenCheck {
    std::string_view name;  // "parse", "alg", "key", "signature", "exp", ...
    bool ok = false;
    std::string detail;  // for the operator's tools; never sent to a peer
};

// Every check verify_token can make: parse, alg, key, signature and eight
// claims.
inline constexpr std::size_t kMaxTokenChecks = 12;

// The claims a call is known by, kept in the token's decoded text (no copy
// of their own): places in it, so that copies and moves keep them right.
class TokenClaims {
  public:
    std::string_view sub() const { return text(sub_); }
    std::string_view sender() const { return text(sender_); }

  private:
    // fills text_ and the places
    friend TokenResult verify_token(std::string_view, const KeySet&,
                                    const TokenPolicy&, int64_t, bool);
    struct Place {
        std::size_t at = 0;
        std::size_t size = 0;
    };
    std::string_view text(Place p) const {
        return {text_.data() + p.at, p.size};
    }
    // Where a claim's text lies in text_ (json::read_members tells views
    // of the text it parsed in place; anything else throws).
    Place place(std::string_view claim) const;

    std::string text_;  // the header, payload and signature, decoded
    Place sub_, sender_;
};

struct TokenResult {
    FixedList<TokenCheck, kMaxTokenChecks> checks;
    // The first failed check's refusal (OPAY_REFUSAL_EXPIRED,
    // OPAY_REFUSAL_BAD_SIGNATURE, ...); OPAY_REFUSAL_NONE when the token
    // is good.
    opay_refusal_e reason = OPAY_REFUSAL_NONE;
    // sub and sender, when strings; empty otherwise
    TokenClaims claims;

    bool ok() const { return reason == OPAY_REFUSAL_NONE && !checks.empty(); }
    // its short code ("expired", "bad_signature", ...); "" when good
    std::string_view reason_name() const { return refusal_name(reason); }
};

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
