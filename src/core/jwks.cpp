#include "jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "base64url.h"
#include "json.h"

namespace opay {

namespace {

struct BnFree {
    void operator()(BIGNUM* b) const noexcept { BN_free(b); }
};
struct BldFree {
    void operator()(OSSL_PARAM_BLD* b) const noexcept {
        OSSL_PARAM_BLD_free(b);
    }
};
struct ParamFree {
    void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct CtxFree {
    void operator()(EVP_PKEY_CTX* c) const noexcept { EVP_PKEY_CTX_free(c); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

std::string key_name(const std::string& kid, std::size_t index) {
    return kid.empty() ? "key #" + std::to_string(index)
                       : "key \"" + kid + "\"";
}

// Why a JWK is not an RS256 signature key, or empty if it is one.
std::string unusable_reason(const json::Value& jwk) {
    auto kty = json::string_member(jwk, "kty");
    if (!kty || *kty != "RSA") return "kty is not RSA";
    if (const auto* use = json::member(jwk, "use")) {
        if (!use->IsString() || json::scalar_text(*use) != "sig") {
            return "use is not \"sig\"";
        }
    }
    if (const auto* alg = json::member(jwk, "alg")) {
        if (!alg->IsString() || json::scalar_text(*alg) != "RS256") {
            return "alg is not RS256";
        }
    }
    if (const auto* ops = json::member(jwk, "key_ops")) {
        bool verify = false;
        if (ops->IsArray()) {
            for (const auto& op : ops->GetArray()) {
                if (json::scalar_text(op) == "verify") verify = true;
            }
        }
        if (!verify) return "key_ops lacks \"verify\"";
    }
    return {};
}

BnPtr decode_bignum(const json::Value& jwk, std::string_view name) {
    auto text = json::string_member(jwk, name);
    if (!text) return nullptr;
    auto bytes = base64url_decode(*text);
    // RFC 7518 6.3.1: no leading zero octets.
    if (!bytes || bytes->empty() || (*bytes)[0] == '\0') return nullptr;
    return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(
                               bytes->data()),
                           static_cast<int>(bytes->size()), nullptr));
}

std::variant<Jwk, KeySetError> make_key(const json::Value& jwk,
                                        std::size_t index) {
    Jwk out;
    if (const auto* kid = json::member(jwk, "kid")) {
        auto text = json::scalar_text(*kid);
        if (!kid->IsString() || json::is_number(*kid)) {
            return KeySetError{key_name("", index) + ": kid is not a string"};
        }
        out.kid = std::string(*text);
    }
    std::string name = key_name(out.kid, index);
    BnPtr n = decode_bignum(jwk, "n");
    BnPtr e = decode_bignum(jwk, "e");
    if (!n || !e) {
        return KeySetError{name + ": \"n\" and \"e\" must be unpadded "
                                  "base64url without leading zeros"};
    }
    if (!BN_is_odd(e.get()) || BN_is_one(e.get())) {
        return KeySetError{name + ": public exponent must be odd and > 1"};
    }
    int bits = BN_num_bits(n.get());
    if (bits < kMinRsaBits) {
        return KeySetError{name + ": RSA key is " + std::to_string(bits) +
                           " bits; at least " + std::to_string(kMinRsaBits) +
                           " are required"};
    }
    std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
    if (!bld ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get())) {
        return KeySetError{name + ": out of memory"};
    }
    std::unique_ptr<OSSL_PARAM, ParamFree> params(
        OSSL_PARAM_BLD_to_param(bld.get()));
    std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(
        EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* pkey = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY,
                          params.get()) <= 0) {
        return KeySetError{name + ": OpenSSL refused the key"};
    }
    out.key = PkeyPtr(pkey, PkeyFree{});
    out.bits = bits;
    return out;
}

}  // namespace

std::variant<KeySet, KeySetError> load_jwks(std::string_view text) {
    json::Document doc;
    if (auto err = json::parse(text, doc)) {
        return KeySetError{"JWKS is not valid JSON: " + err->reason};
    }
    KeySet set;
    const json::Value* keys = json::array_member(doc, "keys");
    if (keys == nullptr) {
        if (!doc.IsObject() || json::member(doc, "kty") == nullptr) {
            return KeySetError{"JWKS has no \"keys\" array"};
        }
    }
    auto add = [&](const json::Value& jwk, std::size_t index)
        -> std::optional<KeySetError> {
        if (!jwk.IsObject()) {
            return KeySetError{key_name("", index) + ": not a JSON object"};
        }
        auto kid = json::string_member(jwk, "kid");
        std::string why = unusable_reason(jwk);
        if (!why.empty()) {
            set.skipped.push_back(key_name(kid ? std::string(*kid) : "", index) +
                                  ": " + why);
            return std::nullopt;
        }
        auto key = make_key(jwk, index);
        if (auto* e = std::get_if<KeySetError>(&key)) return *e;
        set.keys.push_back(std::move(std::get<Jwk>(key)));
        return std::nullopt;
    };
    if (keys == nullptr) {
        if (auto e = add(doc, 0)) return *e;
    } else {
        std::size_t i = 0;
        for (const auto& jwk : keys->GetArray()) {
            if (auto e = add(jwk, i++)) return *e;
        }
    }
    if (set.keys.empty()) {
        std::string msg = "JWKS holds no RS256 signature key";
        for (const auto& s : set.skipped) msg += "; " + s;
        return KeySetError{msg};
    }
    for (std::size_t i = 0; i < set.keys.size(); ++i) {
        for (std::size_t j = i + 1; j < set.keys.size(); ++j) {
            if (set.keys[i].kid == set.keys[j].kid) {
                return KeySetError{key_name(set.keys[i].kid, j) +
                                   ": kid used by more than one key"};
            }
        }
    }
    return set;
}

std::variant<Jwk, KeySetError> rsa_jwk(std::string_view text) {
    json::Document doc;
    if (auto err = json::parse(text, doc)) {
        return KeySetError{"JWK is not valid JSON: " + err->reason};
    }
    if (!doc.IsObject()) return KeySetError{"JWK is not a JSON object"};
    std::string why = unusable_reason(doc);
    if (!why.empty()) return KeySetError{"key #0: " + why};
    return make_key(doc, 0);
}

}  // namespace opay
