// Helpers shared by the unit tests (not part of the core library).
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace opay::test {

inline std::string read_testdata(const std::string& name) {
    std::ifstream in(std::string(OPAY_TESTDATA) + "/" + name,
                     std::ios::binary);
    EXPECT_TRUE(in) << "missing test data " << name;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Test vectors are trusted input: plain RapidJSON is fine here.
inline rapidjson::Document load_json(const std::string& name) {
    rapidjson::Document d;
    d.Parse(read_testdata(name).c_str());
    EXPECT_FALSE(d.HasParseError()) << name;
    return d;
}

inline std::string to_json(const rapidjson::Value& v) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    v.Accept(w);
    return sb.GetString();
}

}  // namespace opay::test

#include <memory>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "base64url.h"
#include "jwks.h"
#include "opay.h"
#include "opay_str.h"

namespace opay::test {

// The C API's settings of the tests' location: merchant m1, tokens of
// issuer "iss" (appid and version not checked, 300 s of leeway), the keys
// in jwks_file (a view: the caller's string must outlive the settings;
// empty: none).
inline opay_settings_t c_api_settings(std::string_view jwks_file = {}) {
    opay_settings_t s{};
    s.merchant_id = str("m1");
    s.jwks_file = str(jwks_file);
    s.jwt_issuer = str("iss");
    s.jwt_appid_off = 1;
    s.jwt_version_off = 1;
    s.jwt_leeway = 300;
    return s;
}

// SHA-256 fetched once for the tests' idempotency keys (as Config has it).
inline const EVP_MD* sha256() {
    static const MdPtr fetched = fetch_sha256();
    return fetched.get();
}

// A fresh RSA key that signs test tokens and describes itself as a JWK.
class TestKey {
  public:
    explicit TestKey(std::string kid, unsigned bits = 2048)
        : kid_(std::move(kid)), key_(EVP_RSA_gen(bits), EVP_PKEY_free) {}

    const std::string& kid() const { return kid_; }

    std::string jwk(const std::string& extra = "\"use\":\"sig\",\"alg\":\"RS256\"")
        const {
        return "{\"kty\":\"RSA\",\"kid\":\"" + kid_ + "\",\"n\":\"" +
               param(OSSL_PKEY_PARAM_RSA_N) + "\",\"e\":\"" +
               param(OSSL_PKEY_PARAM_RSA_E) + "\"" +
               (extra.empty() ? "" : "," + extra) + "}";
    }

    std::string jwks() const { return "{\"keys\":[" + jwk() + "]}"; }

    // header and claims are JSON texts
    std::string sign(const std::string& header,
                     const std::string& claims) const {
        std::string input =
            base64url_encode(header) + "." + base64url_encode(claims);
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(
            EVP_MD_CTX_new(), EVP_MD_CTX_free);
        size_t len = 0;
        EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                           key_.get());
        EVP_DigestSign(ctx.get(), nullptr, &len,
                       reinterpret_cast<const unsigned char*>(input.data()),
                       input.size());
        std::string sig(len, '\0');
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()),
                       &len,
                       reinterpret_cast<const unsigned char*>(input.data()),
                       input.size());
        sig.resize(len);
        return input + "." + base64url_encode(sig);
    }

    std::string token(const std::string& claims) const {
        return sign("{\"alg\":\"RS256\",\"kid\":\"" + kid_ + "\"}", claims);
    }

  private:
    std::string param(const char* name) const {
        BIGNUM* bn = nullptr;
        EVP_PKEY_get_bn_param(key_.get(), name, &bn);
        std::string bytes(BN_num_bytes(bn), '\0');
        BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
        BN_free(bn);
        return base64url_encode(bytes);
    }

    std::string kid_;
    std::shared_ptr<EVP_PKEY> key_;
};

}  // namespace opay::test
