#include "jwt.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>

#include <openssl/err.h>

#include "ascii.h"
#include "base64url.h"
#include "json.h"

namespace opay {

namespace {

// A member as read: absent, or its kind and (string, number) text.
struct Read {
    bool present = false;
    json::Kind kind = json::Kind::Null;
    std::string_view text;

    void set(json::Kind k, std::string_view t) {
        present = true;
        kind = k;
        text = t;
    }
    // its text if it is a string (what json::string_member says)
    std::optional<std::string_view> string() const {
        if (!present || kind != json::Kind::String) return std::nullopt;
        return text;
    }
};

// The header members the checks read. Texts are views of the decoded
// header.
struct Header : json::MemberReader {
    Read alg, kid, crit;

    void member(std::string_view name, json::Kind kind,
                std::string_view text) override {
        if (name == "alg") {
            alg.set(kind, text);
        } else if (name == "kid") {
            kid.set(kind, text);
        } else if (name == "crit") {
            crit.set(kind, text);
        }
    }
};

// The claims the checks read, and whether an aud array holds the
// audience (a string element equal to it). Texts are views of the
// decoded payload.
struct Claims : json::MemberReader {
    explicit Claims(std::string_view a) : audience(a) {}
    std::string_view audience;
    Read iss, aud, appid, ver, exp, nbf, iat, sub, sender;
    bool aud_element_matches = false;

    void member(std::string_view name, json::Kind kind,
                std::string_view text) override {
        if (Read* r = find(name)) r->set(kind, text);
    }
    void element(std::string_view name, json::Kind kind,
                 std::string_view text) override {
        if (name == "aud" && kind == json::Kind::String && text == audience) {
            aud_element_matches = true;
        }
    }

  private:
    Read* find(std::string_view name) {
        if (name.size() == 3) {
            if (name == "iss") return &iss;
            if (name == "aud") return &aud;
            if (name == "ver") return &ver;
            if (name == "exp") return &exp;
            if (name == "nbf") return &nbf;
            if (name == "iat") return &iat;
            if (name == "sub") return &sub;
        } else if (name == "appid") {
            return &appid;
        } else if (name == "sender") {
            return &sender;
        }
        return nullptr;
    }
};

// NumericDate (RFC 7519): a non-negative JSON number; the fraction, if
// any, is dropped. Read from the exact source text, never via a double,
// in one pass: a JSON number's digits end at its fraction, its exponent
// (refused: never applied) or its end; a '-' comes before any digit.
std::optional<int64_t> numeric_date(const Read& v) {
    if (!v.present || v.kind != json::Kind::Number) return std::nullopt;
    std::string_view t = v.text;
    int64_t n = 0;
    std::size_t i = 0;
    for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
        if (i == 15) return std::nullopt;  // more digits than a date has
        n = n * 10 + (t[i] - '0');
    }
    if (i == 0 || (i < t.size() && t[i] != '.')) return std::nullopt;
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
               opay_refusal_e reason) {
        if (!ok && r_.reason == OPAY_REFUSAL_NONE) r_.reason = reason;
        r_.checks.push_back({name, ok, details_ ? detail() : std::string()});
        return ok;
    }

  private:
    TokenResult& r_;
    bool details_;
};

// detail: where to say which key was chosen or why none, or nullptr
const Jwk* select_key(const KeySet& keys, const Header& header,
                      std::string* detail) {
    auto say = [detail](auto&& make) {
        if (detail != nullptr) *detail = make();
    };
    if (!header.kid.present) {
        if (keys.keys.size() == 1) {
            say([] { return std::string("no kid; the only key was used"); });
            return &keys.keys.front();
        }
        say([] {
            return std::string("no kid, and the key set has several keys");
        });
        return nullptr;
    }
    auto want = header.kid.string();
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

void check_claims(const Claims& claims, const TokenPolicy& policy,
                  int64_t now, Report& report) {
    auto iss = claims.iss.string();
    report.check("iss", iss && *iss == policy.issuer,
                 [&] {
                     return iss ? "iss \"" + std::string(*iss) + "\""
                                : std::string("iss missing");
                 },
                 OPAY_REFUSAL_BAD_ISSUER);

    bool aud_ok = false;
    const Read& aud = claims.aud;
    bool aud_array = aud.present && aud.kind == json::Kind::Array;
    std::optional<std::string_view> aud_string;
    if (aud_array) {
        aud_ok = claims.aud_element_matches;
    } else if (aud.present) {
        aud_string = aud.string();
        aud_ok = aud_string && *aud_string == policy.audience;
    }
    report.check("aud", aud_ok,
                 [&] {
                     if (aud_ok) {
                         return std::string("aud matches the merchant id");
                     }
                     if (!aud.present) return std::string("aud missing");
                     if (aud_array) {
                         return std::string(
                             "aud array without the merchant id");
                     }
                     if (aud_string) {
                         return "aud \"" + std::string(*aud_string) + "\"";
                     }
                     return std::string(
                         "aud is neither a string nor an array");
                 },
                 OPAY_REFUSAL_BAD_AUDIENCE);

    if (policy.appid) {
        auto appid = claims.appid.string();
        report.check("appid", appid && iequals(*appid, *policy.appid),
                     [&] {
                         return appid ? "appid \"" + log_value(*appid) + "\""
                                      : std::string("appid missing");
                     },
                     OPAY_REFUSAL_BAD_APPID);
    }
    if (policy.version) {
        auto ver = claims.ver.string();
        report.check("ver", ver && *ver == *policy.version,
                     [&] {
                         return ver ? "ver \"" + log_value(*ver) + "\""
                                    : std::string("ver missing");
                     },
                     OPAY_REFUSAL_BAD_VERSION);
    }

    auto exp = numeric_date(claims.exp);
    if (!exp) {
        report.check("exp", false,
                     [] {
                         return std::string(
                             "exp missing or not a NumericDate");
                     },
                     OPAY_REFUSAL_MISSING_EXP);
    } else {
        report.check("exp", now < *exp + policy.leeway,
                     [&] {
                         return "exp " + std::to_string(*exp) + ", now " +
                                std::to_string(now);
                     },
                     OPAY_REFUSAL_EXPIRED);
    }
    if (claims.nbf.present) {
        auto nbf = numeric_date(claims.nbf);
        report.check("nbf", nbf && *nbf <= now + policy.leeway,
                     [&] {
                         return nbf ? "nbf " + std::to_string(*nbf)
                                    : std::string("nbf malformed");
                     },
                     OPAY_REFUSAL_NOT_YET_VALID);
    }
    if (claims.iat.present) {
        auto iat = numeric_date(claims.iat);
        report.check("iat", iat && *iat <= now + policy.leeway,
                     [&] {
                         return iat ? "iat " + std::to_string(*iat)
                                    : std::string("iat malformed");
                     },
                     OPAY_REFUSAL_ISSUED_IN_FUTURE);
    }

    std::string_view sender = claims.sender.string().value_or("");
    if (!policy.allowed_senders.empty()) {
        bool allowed = std::any_of(
            policy.allowed_senders.begin(), policy.allowed_senders.end(),
            [&](const std::string& a) { return iequals(a, sender); });
        report.check("sender", allowed && !sender.empty(),
                     [&] {
                         return sender.empty()
                                    ? std::string("sender missing")
                                    : "sender \"" + std::string(sender) + "\"";
                     },
                     OPAY_REFUSAL_BAD_SENDER);
    }
}

}  // namespace

bool rsa_sha256_verify(const RsaVerifier& verifier, std::string_view data,
                       std::string_view signature) {
    if (!verifier.ctx || !verifier.digest) return false;
    // Only this call's errors are read below: one left by an earlier
    // OpenSSL call of this thread must not turn a refusal into a 500.
    ERR_clear_error();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX* md = verifier.digest.get();
    // Hashing cannot fail for anything in the token: when it does, OpenSSL
    // ran out (3.0 queues no reason for its digest context's allocation),
    // never a 401 for a good token.
    if (EVP_DigestInit_ex(md, verifier.sha256.get(), nullptr) != 1 ||
        EVP_DigestUpdate(md, data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(md, digest, &digest_len) != 1) {
        ERR_clear_error();
        throw std::bad_alloc();
    }
    if (EVP_PKEY_verify(
            verifier.ctx.get(),
            reinterpret_cast<const unsigned char*>(signature.data()),
            signature.size(), digest, digest_len) == 1) {
        return true;
    }
    // A refused signature leaves OpenSSL errors queued; they must not
    // surface later in an unrelated TLS call of the same worker. One that
    // says OpenSSL ran out of memory is not the token's fault: thrown, as
    // any allocation failure (a 500, never a 401 for a good token).
    bool no_memory = false;
    while (unsigned long e = ERR_get_error()) {
        no_memory = no_memory || ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE;
    }
    if (no_memory) throw std::bad_alloc();
    return false;
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

TokenClaims::Place TokenClaims::place(std::string_view claim) const {
    std::less_equal<const char*> le;
    if (!le(text_.data(), claim.data()) ||
        !le(claim.data() + claim.size(), text_.data() + text_.size())) {
        throw std::logic_error("a token's claim outside its decoded text");
    }
    return {static_cast<std::size_t>(claim.data() - text_.data()),
            claim.size()};
}

TokenResult verify_token(std::string_view token, const KeySet& keys,
                         const TokenPolicy& policy, int64_t now,
                         bool details) {
    TokenResult result;
    Report report(result, details);

    // Parsing is one check: three parts, strict base64url, JSON objects.
    std::string parse_error;
    auto d1 = token.find('.');
    auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
    // the three parts decoded into one buffer, each followed by a NUL
    // (where the in-situ parse stops): one allocation, not three; the
    // result's, so that sub and sender stay where they were read
    std::string& decoded = result.claims.text_;
    std::string_view signature;
    // read without a document: the checks want a few members, once
    Header header;
    Claims claims(policy.audience);
    bool object = false;
    if (d2 == std::string_view::npos ||
        token.find('.', d2 + 1) != std::string_view::npos) {
        parse_error = "not three dot-separated parts";
    } else {
        std::string_view parts[] = {token.substr(0, d1),
                                    token.substr(d1 + 1, d2 - d1 - 1),
                                    token.substr(d2 + 1)};
        std::size_t sizes[3];
        for (int i = 0; i < 3; ++i) sizes[i] = base64url_decoded_size(parts[i]);
        decoded.resize(sizes[0] + sizes[1] + sizes[2] + 2);
        char* header_text = decoded.data();
        char* payload = header_text + sizes[0] + 1;
        signature = {payload + sizes[1] + 1, sizes[2]};
        if (!base64url_decode_to(parts[0], header_text) ||
            !base64url_decode_to(parts[1], payload) ||
            !base64url_decode_to(parts[2], payload + sizes[1] + 1)) {
            parse_error = "parts must be unpadded base64url";
        } else if (auto e = json::read_members(header_text, sizes[0], header,
                                                object)) {
            // the decoded parts are ours: parsed where they lie
            parse_error = "header: " + e->reason;
        } else if (!object) {
            parse_error = "header is not a JSON object";
        } else if (!policy.signature_only) {
            if (auto pe =
                    json::read_members(payload, sizes[1], claims, object)) {
                parse_error = "payload: " + pe->reason;
            } else if (!object) {
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
                      OPAY_REFUSAL_MALFORMED)) {
        return result;
    }

    auto alg = header.alg.string();
    bool alg_ok = alg && *alg == "RS256" && !header.crit.present;
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
                      OPAY_REFUSAL_BAD_ALG)) {
        return result;
    }

    std::string key_detail;
    const Jwk* key =
        select_key(keys, header, report.details() ? &key_detail : nullptr);
    if (!report.check("key", key != nullptr, [&] { return key_detail; },
                      OPAY_REFUSAL_UNKNOWN_KEY)) {
        return result;
    }

    std::string_view signing_input = token.substr(0, d2);
    bool sig_ok = rsa_sha256_verify(key->verifier, signing_input, signature);
    if (!report.check("signature", sig_ok,
                      [&] {
                          return std::string(sig_ok ? "valid"
                                                    : "does not verify");
                      },
                      OPAY_REFUSAL_BAD_SIGNATURE)) {
        return result;
    }
    if (!policy.signature_only) {
        check_claims(claims, policy, now, report);
        // in the decoded text: no copies of their own
        if (auto sub = claims.sub.string()) {
            result.claims.sub_ = result.claims.place(*sub);
        }
        if (auto sender = claims.sender.string()) {
            result.claims.sender_ = result.claims.place(*sender);
        }
    }
    return result;
}

}  // namespace opay
