#include "jwt.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <string>

#include <openssl/err.h>

#include "ascii.h"
#include "base64url.h"
#include "json.h"

namespace opay {

namespace {

// NumericDate (RFC 7519): a non-negative JSON number; the fraction, if
// any, is dropped. Read from the exact source text, never via a double.
std::optional<int64_t> numeric_date(const json::Value* v) {
    if (v == nullptr || !json::is_number(*v)) return std::nullopt;
    std::string_view t = json::number_text(*v);
    auto cut = t.find_first_of(".eE");
    if (cut != std::string_view::npos) {
        if (t[cut] != '.') return std::nullopt;
        t = t.substr(0, cut);
    }
    if (t.empty() || t.size() > 15 || t[0] == '-') return std::nullopt;
    int64_t n = 0;
    for (char c : t) n = n * 10 + (c - '0');
    return n;
}

// Every check is recorded; its detail text (for the operator's tools) is
// made only when asked for: the request path wants the reason alone.
class Report {
  public:
    Report(TokenResult& r, bool details) : r_(r), details_(details) {}
    bool details() const { return details_; }
    template <typename Detail>
    bool check(const char* name, bool ok, Detail&& detail,
               const char* reason) {
        if (!ok && r_.reason.empty()) r_.reason = reason;
        r_.checks.push_back({name, ok, details_ ? detail() : std::string()});
        return ok;
    }

  private:
    TokenResult& r_;
    bool details_;
};

// detail: where to say which key was chosen or why none, or nullptr
const Jwk* select_key(const KeySet& keys, const json::Value& header,
                      std::string* detail) {
    auto say = [detail](auto&& make) {
        if (detail != nullptr) *detail = make();
    };
    const json::Value* kid = json::member(header, "kid");
    if (kid == nullptr) {
        if (keys.keys.size() == 1) {
            say([] { return std::string("no kid; the only key was used"); });
            return &keys.keys.front();
        }
        say([] {
            return std::string("no kid, and the key set has several keys");
        });
        return nullptr;
    }
    auto want = json::string_member(header, "kid");
    if (!want) {
        say([] { return std::string("kid is not a string"); });
        return nullptr;
    }
    for (const auto& k : keys.keys) {
        if (k.kid == *want) {
            say([&] {
                return "kid \"" + k.kid + "\", " + std::to_string(k.bits) +
                       " bits";
            });
            return &k;
        }
    }
    say([&] {
        std::string d =
            "no RS256 signature key with kid \"" + std::string(*want) + "\"";
        for (const auto& s : keys.skipped) d += "; " + s;
        return d;
    });
    return nullptr;
}

void check_claims(const json::Value& claims, const TokenPolicy& policy,
                  int64_t now, Report& report, TokenResult& result) {
    auto iss = json::string_member(claims, "iss");
    report.check("iss", iss && *iss == policy.issuer,
                 [&] {
                     return iss ? "iss \"" + std::string(*iss) + "\""
                                : std::string("iss missing");
                 },
                 "bad_issuer");

    bool aud_ok = false;
    const json::Value* aud = json::member(claims, "aud");
    std::optional<std::string_view> aud_string;
    if (aud != nullptr && aud->IsArray()) {
        for (const auto& a : aud->GetArray()) {
            if (a.IsString() && !json::is_number(a) &&
                json::scalar_text(a) == policy.audience) {
                aud_ok = true;
            }
        }
    } else if (aud != nullptr) {
        aud_string = json::string_member(claims, "aud");
        aud_ok = aud_string && *aud_string == policy.audience;
    }
    report.check("aud", aud_ok,
                 [&] {
                     if (aud_ok) {
                         return std::string("aud matches the merchant id");
                     }
                     if (aud == nullptr) return std::string("aud missing");
                     if (aud->IsArray()) {
                         return std::string(
                             "aud array without the merchant id");
                     }
                     if (aud_string) {
                         return "aud \"" + std::string(*aud_string) + "\"";
                     }
                     return std::string(
                         "aud is neither a string nor an array");
                 },
                 "bad_audience");

    if (policy.appid) {
        auto appid = json::string_member(claims, "appid");
        report.check("appid", appid && iequals(*appid, *policy.appid),
                     [&] {
                         return appid ? "appid \"" + log_value(*appid) + "\""
                                      : std::string("appid missing");
                     },
                     "bad_appid");
    }
    if (policy.version) {
        auto ver = json::string_member(claims, "ver");
        report.check("ver", ver && *ver == *policy.version,
                     [&] {
                         return ver ? "ver \"" + log_value(*ver) + "\""
                                    : std::string("ver missing");
                     },
                     "bad_version");
    }

    auto exp = numeric_date(json::member(claims, "exp"));
    if (!exp) {
        report.check("exp", false,
                     [] {
                         return std::string(
                             "exp missing or not a NumericDate");
                     },
                     "missing_exp");
    } else {
        report.check("exp", now < *exp + policy.leeway,
                     [&] {
                         return "exp " + std::to_string(*exp) + ", now " +
                                std::to_string(now);
                     },
                     "expired");
    }
    if (const json::Value* v = json::member(claims, "nbf")) {
        auto nbf = numeric_date(v);
        report.check("nbf", nbf && *nbf <= now + policy.leeway,
                     [&] {
                         return nbf ? "nbf " + std::to_string(*nbf)
                                    : std::string("nbf malformed");
                     },
                     "not_yet_valid");
    }
    if (const json::Value* v = json::member(claims, "iat")) {
        auto iat = numeric_date(v);
        report.check("iat", iat && *iat <= now + policy.leeway,
                     [&] {
                         return iat ? "iat " + std::to_string(*iat)
                                    : std::string("iat malformed");
                     },
                     "issued_in_future");
    }

    if (auto sub = json::string_member(claims, "sub")) result.sub = *sub;
    if (auto s = json::string_member(claims, "sender")) result.sender = *s;
    if (!policy.allowed_senders.empty()) {
        bool allowed = std::any_of(
            policy.allowed_senders.begin(), policy.allowed_senders.end(),
            [&](const std::string& a) { return iequals(a, result.sender); });
        report.check("sender", allowed && !result.sender.empty(),
                     [&] {
                         return result.sender.empty()
                                    ? std::string("sender missing")
                                    : "sender \"" + result.sender + "\"";
                     },
                     "bad_sender");
    }
}

}  // namespace

bool rsa_sha256_verify(const RsaVerifier& verifier, std::string_view data,
                       std::string_view signature) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    bool ok = verifier.ctx &&
              EVP_Digest(data.data(), data.size(), digest, &digest_len,
                         verifier.sha256.get(), nullptr) == 1 &&
              EVP_PKEY_verify(
                  verifier.ctx.get(),
                  reinterpret_cast<const unsigned char*>(signature.data()),
                  signature.size(), digest, digest_len) == 1;
    // A refused signature leaves OpenSSL errors queued; they must not
    // surface later in an unrelated TLS call of the same worker.
    if (!ok) ERR_clear_error();
    return ok;
}

bool rsa_sha256_verify(EVP_PKEY* key, std::string_view data,
                       std::string_view signature) {
    return rsa_sha256_verify(make_verifier(key, fetch_sha256()), data,
                             signature);
}

std::optional<std::string_view> bearer_token(std::string_view h) {
    constexpr std::string_view kScheme = "bearer";
    if (h.size() <= kScheme.size() + 1 ||
        !iequals(h.substr(0, kScheme.size()), kScheme) ||
        h[kScheme.size()] != ' ') {
        return std::nullopt;
    }
    h.remove_prefix(kScheme.size() + 1);
    while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
    while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
    if (h.empty()) return std::nullopt;
    return h;
}

TokenResult verify_token(std::string_view token, const KeySet& keys,
                         const TokenPolicy& policy, int64_t now,
                         bool details) {
    TokenResult result;
    // room for every check below (parse, alg, key, signature and at most
    // eight claims): no reallocation moving the reports mid-call
    result.checks.reserve(12);
    Report report(result, details);

    // Parsing is one check: three parts, strict base64url, JSON objects.
    std::string parse_error;
    auto d1 = token.find('.');
    auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
    std::optional<std::string> header_text, payload, signature;
    // a token's header and claims are small: parsed without a malloc
    json::LocalDocument<1024> header_doc;
    json::LocalDocument<2048> claims_doc;
    json::Document& header = header_doc.doc();
    json::Document& claims = claims_doc.doc();
    if (d2 == std::string_view::npos ||
        token.find('.', d2 + 1) != std::string_view::npos) {
        parse_error = "not three dot-separated parts";
    } else {
        header_text = base64url_decode(token.substr(0, d1));
        payload = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
        signature = base64url_decode(token.substr(d2 + 1));
        if (!header_text || !payload || !signature) {
            parse_error = "parts must be unpadded base64url";
        } else if (auto e = json::parse_in_place(*header_text, header)) {
            // the decoded parts are ours: parsed where they lie
            parse_error = "header: " + e->reason;
        } else if (!header.IsObject()) {
            parse_error = "header is not a JSON object";
        } else if (!policy.signature_only) {
            if (auto pe = json::parse_in_place(*payload, claims)) {
                parse_error = "payload: " + pe->reason;
            } else if (!claims.IsObject()) {
                parse_error = "payload is not a JSON object";
            }
        }
    }
    if (!report.check("parse", parse_error.empty(),
                      [&] {
                          return parse_error.empty()
                                     ? std::string("compact JWS, JSON header")
                                     : parse_error;
                      },
                      "malformed")) {
        return result;
    }

    auto alg = json::string_member(header, "alg");
    bool alg_ok = alg && *alg == "RS256" &&
                  json::member(header, "crit") == nullptr;
    if (!report.check("alg", alg_ok,
                      [&] {
                          if (!alg) return std::string("alg missing");
                          if (*alg != "RS256") {
                              return "alg \"" + std::string(*alg) +
                                     "\" refused; only RS256 is accepted";
                          }
                          return std::string(alg_ok
                                                 ? "RS256"
                                                 : "crit header not supported");
                      },
                      "bad_alg")) {
        return result;
    }

    std::string key_detail;
    const Jwk* key =
        select_key(keys, header, report.details() ? &key_detail : nullptr);
    if (!report.check("key", key != nullptr, [&] { return key_detail; },
                      "unknown_key")) {
        return result;
    }

    std::string_view signing_input = token.substr(0, d2);
    bool sig_ok = rsa_sha256_verify(key->verifier, signing_input, *signature);
    if (!report.check("signature", sig_ok,
                      [&] {
                          return std::string(sig_ok ? "valid"
                                                    : "does not verify");
                      },
                      "bad_signature")) {
        return result;
    }
    if (!policy.signature_only) check_claims(claims, policy, now, report, result);
    return result;
}

}  // namespace opay
