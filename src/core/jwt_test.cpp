#include "jwt.h"

#include <cstdio>
#include <memory>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "base64url.h"
#include "test_util.h"

namespace opay {
namespace {

using test::TestKey;

constexpr int64_t kNow = 1700000000;

const TestKey& key() {
    static const TestKey k("k1");
    return k;
}

KeySet keys_of(const std::string& jwks) {
    auto r = load_jwks(jwks);
    EXPECT_TRUE(std::holds_alternative<KeySet>(r));
    return std::holds_alternative<KeySet>(r) ? std::get<KeySet>(r) : KeySet{};
}

TokenPolicy policy() {
    TokenPolicy p;
    p.issuer = "https://substrate.office.com/sts/";
    p.audience = "merchant-1";
    p.appid = "48af08dc-f6d2-435f-b2a7-069abd99c086";
    p.leeway = 300;
    return p;
}

std::string claims(const std::string& extra = "") {
    return "{\"iss\":\"https://substrate.office.com/sts/\","
           "\"aud\":\"merchant-1\","
           "\"appid\":\"48af08dc-f6d2-435f-b2a7-069abd99c086\","
           "\"sub\":\"payer@example.com\",\"sender\":\"shop@example.com\","
           "\"iat\":1700000000,\"nbf\":1700000000,\"exp\":1700003600" +
           extra + "}";
}

// claims() with one member replaced (or removed when value is empty)
std::string claims_with(const std::string& name, const std::string& value) {
    std::string c = claims();
    auto at = c.find("\"" + name + "\":");
    auto end = c.find_first_of(",}", c.find(':', at) + 1);
    if (c[c.find(':', at) + 1] == '"') {
        end = c.find('"', c.find(':', at) + 2) + 1;
    }
    if (value.empty()) {
        if (c[end] == ',') {
            c.erase(at, end - at + 1);
        } else {
            c.erase(at - 1, end - at + 1);  // last member: drop the comma before
        }
    } else {
        c.replace(at, end - at, "\"" + name + "\":" + value);
    }
    return c;
}

// The request path's verify_token (no detail text) decides exactly as the
// operator's (details): each check, its result and the reason.
void expect_same_without_details(const TokenResult& full,
                                 const std::string& token, const KeySet& keys,
                                 const TokenPolicy& p, int64_t now) {
    TokenResult bare = verify_token(token, keys, p, now, false);
    EXPECT_EQ(bare.ok(), full.ok());
    EXPECT_EQ(bare.reason_name(), full.reason_name());
    EXPECT_EQ(bare.claims.sub(), full.claims.sub());
    EXPECT_EQ(bare.claims.sender(), full.claims.sender());
    ASSERT_EQ(bare.checks.size(), full.checks.size());
    for (std::size_t i = 0; i < full.checks.size(); ++i) {
        EXPECT_EQ(bare.checks[i].name, full.checks[i].name);
        EXPECT_EQ(bare.checks[i].ok, full.checks[i].ok);
        EXPECT_TRUE(bare.checks[i].detail.empty());
        EXPECT_FALSE(full.checks[i].detail.empty()) << full.checks[i].name;
    }
}

std::string reason(const std::string& token, TokenPolicy p = policy(),
                   int64_t now = kNow) {
    KeySet keys = keys_of(key().jwks());
    TokenResult full = verify_token(token, keys, p, now);
    expect_same_without_details(full, token, keys, p, now);
    return std::string(full.reason_name());
}

TEST(Jwt, AcceptsAGoodToken) {
    auto r = verify_token(key().token(claims()), keys_of(key().jwks()),
                          policy(), kNow);
    EXPECT_TRUE(r.ok()) << r.reason_name();
    EXPECT_EQ(r.claims.sub(), "payer@example.com");
    EXPECT_EQ(r.claims.sender(), "shop@example.com");
}

// An error another OpenSSL call of the worker's thread left queued, even
// one that says memory ran out, is not this check's: a forged signature
// is still refused as such (a 401), not taken for an allocation failure.
TEST(Jwt, AnErrorLeftQueuedIsNotTheSignaturesOwn) {
    std::string token = key().token(claims());
    char& c = token[token.size() - 10];
    c = c == 'A' ? 'B' : 'A';
    KeySet keys = keys_of(key().jwks());
    ERR_raise(ERR_LIB_RSA, ERR_R_MALLOC_FAILURE);
    TokenResult r = verify_token(token, keys, policy(), kNow);
    EXPECT_EQ(r.reason_name(), "bad_signature");
    EXPECT_EQ(ERR_peek_error(), 0UL) << "the refusal's errors are cleared";
}

// sub and sender are read from the token's decoded text, unescaped where
// they lie, and stay right in a copy or a move of the result after the
// original is gone (they are kept as places in that text, which moves).
TEST(Jwt, SubAndSenderOutliveTheirResult) {
    std::string c = claims_with("sub", R"("pay\u0065r@example.com")");
    c = c.substr(0, c.size() - 1) + R"(,"x":"\u00e9"})";
    std::string token = key().token(c);
    KeySet keys = keys_of(key().jwks());
    auto r = std::make_unique<TokenResult>(
        verify_token(token, keys, policy(), kNow, false));
    ASSERT_TRUE(r->ok()) << r->reason_name();
    TokenResult copy = *r;
    TokenResult moved = std::move(*r);
    r.reset();
    for (const TokenResult* t : {&copy, &moved}) {
        EXPECT_EQ(t->claims.sub(), "payer@example.com");
        EXPECT_EQ(t->claims.sender(), "shop@example.com");
    }
    // a short sender, moved: the same
    TokenResult s = verify_token(
        key().token(claims_with("sender", R"("a@b")")), keys, policy(), kNow);
    TokenResult s2 = std::move(s);
    EXPECT_EQ(s2.claims.sender(), "a@b");
    EXPECT_EQ(s2.claims.sub(), "payer@example.com");
}

TEST(Jwt, RefusesEveryOtherAlgorithm) {
    for (const char* alg : {"none", "HS256", "RS384", "RS512", "PS256",
                            "ES256", "rs256", "RS256 "}) {
        std::string t = key().sign(
            std::string("{\"alg\":\"") + alg + "\",\"kid\":\"k1\"}", claims());
        EXPECT_EQ(reason(t), "bad_alg") << alg;
    }
    EXPECT_EQ(reason(key().sign("{\"kid\":\"k1\"}", claims())), "bad_alg");
    EXPECT_EQ(reason(key().sign("{\"alg\":\"RS256\",\"kid\":\"k1\","
                                "\"crit\":[\"exp\"]}",
                                claims())),
              "bad_alg");
}

TEST(Jwt, PicksTheKeyByKid) {
    TestKey other("k2");
    EXPECT_EQ(reason(other.token(claims())), "unknown_key");
    TestKey impostor("k1");
    EXPECT_EQ(reason(impostor.token(claims())), "bad_signature");
    // a kid that is not a string names no key
    EXPECT_EQ(reason(key().sign("{\"alg\":\"RS256\",\"kid\":1}", claims())),
              "unknown_key");
    EXPECT_EQ(reason(key().sign("{\"alg\":\"RS256\",\"kid\":[\"k1\"]}",
                                claims())),
              "unknown_key");
    // no kid: only a key set of exactly one key will do
    EXPECT_EQ(reason(key().sign("{\"alg\":\"RS256\"}", claims())), "");
    std::string two = "{\"keys\":[" + key().jwk() + "," + other.jwk() + "]}";
    EXPECT_EQ(verify_token(key().sign("{\"alg\":\"RS256\"}", claims()),
                           keys_of(two), policy(), kNow)
                  .reason_name(),
              "unknown_key");
}

TEST(Jwt, StrictParsing) {
    std::string good = key().token(claims());
    auto d1 = good.find('.');
    auto d2 = good.rfind('.');
    EXPECT_EQ(reason(good + "="), "malformed");
    EXPECT_EQ(reason(good + ".x"), "malformed");
    EXPECT_EQ(reason(good.substr(0, d2)), "malformed");
    EXPECT_EQ(reason(" " + good), "malformed");
    EXPECT_EQ(reason(base64url_encode("[1]") + good.substr(d1)), "malformed");
    EXPECT_EQ(reason(key().sign("{\"alg\":\"RS256\",\"alg\":\"RS256\"}",
                                claims())),
              "malformed");
    EXPECT_EQ(reason(key().token(claims("+\"aud\":\"x\"").replace(
                  claims().size() - 1, 1, ",\"aud\":\"merchant-1\"}"))),
              "malformed");
    EXPECT_EQ(reason(key().token("\"just a string\"")), "malformed");
}

TEST(Jwt, RefusesATamperedPayload) {
    std::string good = key().token(claims());
    auto d1 = good.find('.');
    auto d2 = good.rfind('.');
    std::string evil = claims_with("sub", "\"mallory@example.com\"");
    EXPECT_EQ(reason(good.substr(0, d1 + 1) + base64url_encode(evil) +
                     good.substr(d2)),
              "bad_signature");
}

// The verify context is built once per key and reused: a refused token
// must leave it able to accept the next good one, and the reverse.
TEST(Jwt, OneKeySetVerifiesTokenAfterToken) {
    KeySet set = keys_of(key().jwks());
    std::string good = key().token(claims());
    std::string bad = good;
    bad[bad.size() - 3] = bad[bad.size() - 3] == 'A' ? 'B' : 'A';
    auto d2 = good.rfind('.');
    std::string sig = *base64url_decode(good.substr(d2 + 1));
    std::string short_sig = good.substr(0, d2 + 1) +
                            base64url_encode(sig.substr(0, sig.size() - 1));
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(verify_token(good, set, policy(), kNow).ok());
        EXPECT_EQ(verify_token(bad, set, policy(), kNow).reason_name(),
                  "bad_signature");
        EXPECT_EQ(verify_token(short_sig, set, policy(), kNow).reason_name(),
                  "bad_signature");
    }
    EXPECT_TRUE(verify_token(good, set, policy(), kNow).ok());
}

TEST(Jwt, ChecksTimeWithLeeway) {
    std::string t = key().token(claims());
    EXPECT_EQ(reason(t, policy(), 1700003600 + 299), "");
    EXPECT_EQ(reason(t, policy(), 1700003600 + 300), "expired");
    EXPECT_EQ(reason(t, policy(), 1700000000 - 300), "");
    EXPECT_EQ(reason(key().token(claims_with("nbf", "1700000301"))),
              "not_yet_valid");
    EXPECT_EQ(reason(key().token(claims_with("iat", "1700000301"))),
              "issued_in_future");
    EXPECT_EQ(reason(key().token(claims_with("exp", ""))), "missing_exp");
    EXPECT_EQ(reason(key().token(claims_with("exp", "\"1700003600\""))),
              "missing_exp");
    EXPECT_EQ(reason(key().token(claims_with("exp", "1700003600.75"))), "");
    // an exponent is never applied: refused as no NumericDate, or after a
    // fraction dropped with the fraction (1.7000036e9 reads as 1)
    for (const char* e : {"1700003600E0", "17000036000e-1"}) {
        EXPECT_EQ(reason(key().token(claims_with("exp", e))), "missing_exp")
            << e;
    }
    EXPECT_EQ(reason(key().token(claims_with("exp", "1.7000036e9"))),
              "expired");
    EXPECT_EQ(reason(key().token(claims_with("nbf", "-1"))), "not_yet_valid");
    EXPECT_EQ(reason(key().token(claims_with("exp", "-1700003600"))),
              "missing_exp");
    // at most 15 digits before a fraction
    EXPECT_EQ(reason(key().token(claims_with("exp", "170000360000000"))), "");
    EXPECT_EQ(reason(key().token(claims_with("exp", "170000360000000.5"))),
              "");
    EXPECT_EQ(reason(key().token(claims_with("exp", "1700003600000000"))),
              "missing_exp");
    EXPECT_EQ(reason(key().token(claims_with("exp", "0"))), "expired");
    TokenPolicy strict = policy();
    strict.leeway = 0;
    EXPECT_EQ(reason(t, strict, 1700003600), "expired");
}

TEST(Jwt, ChecksIssuerAudienceAppid) {
    EXPECT_EQ(reason(key().token(claims_with(
                  "iss", "\"https://substrate.office.com/sts\""))),
              "bad_issuer");
    EXPECT_EQ(reason(key().token(claims_with("iss", ""))), "bad_issuer");
    EXPECT_EQ(reason(key().token(claims_with("aud", "\"merchant-2\""))),
              "bad_audience");
    EXPECT_EQ(reason(key().token(claims_with("aud", "[\"a\",\"merchant-1\"]"))),
              "");
    EXPECT_EQ(reason(key().token(claims_with("aud", "[\"a\"]"))),
              "bad_audience");
    EXPECT_EQ(reason(key().token(claims_with("aud", "7"))), "bad_audience");
    // only strings directly in the array count
    EXPECT_EQ(reason(key().token(claims_with("aud", "[1,\"merchant-1\"]"))),
              "");
    EXPECT_EQ(reason(key().token(claims_with("aud", "[[\"merchant-1\"]]"))),
              "bad_audience");
    EXPECT_EQ(reason(key().token(
                  claims_with("aud", "[{\"aud\":\"merchant-1\"}]"))),
              "bad_audience");
    EXPECT_EQ(reason(key().token(claims_with("aud", "{\"merchant-1\":1}"))),
              "bad_audience");
    EXPECT_EQ(reason(key().token(claims_with("aud", "[]"))), "bad_audience");
    // a claim's name inside another claim is not that claim
    EXPECT_EQ(reason(key().token(claims_with(
                  "iss", "{\"iss\":\"https://substrate.office.com/sts/\"}"))),
              "bad_issuer");
    EXPECT_EQ(reason(key().token(claims_with("nbf", "\"1700000000\""))),
              "not_yet_valid");
    EXPECT_EQ(reason(key().token(claims_with("iat", "null"))),
              "issued_in_future");
    EXPECT_EQ(reason(key().token(claims_with(
                  "appid", "\"48AF08DC-F6D2-435F-B2A7-069ABD99C086\""))),
              "");
    EXPECT_EQ(reason(key().token(claims_with("appid", "\"other\""))),
              "bad_appid");
    EXPECT_EQ(reason(key().token(claims_with("appid", ""))), "bad_appid");
    TokenPolicy no_appid = policy();
    no_appid.appid.reset();
    EXPECT_EQ(reason(key().token(claims_with("appid", "\"other\"")), no_appid),
              "");
}

// ver, exact (case and all), when the policy names one.
TEST(Jwt, ChecksVersionExactly) {
    TokenPolicy p = policy();
    p.version = "STI.ExternalAccessToken.V1";
    const std::string v1 = ",\"ver\":\"STI.ExternalAccessToken.V1\"";
    EXPECT_EQ(reason(key().token(claims(v1)), p), "");
    EXPECT_EQ(reason(key().token(claims()), p), "bad_version") << "missing";
    EXPECT_EQ(reason(key().token(claims(",\"ver\":\"sti.externalaccesstoken.v1\"")),
                     p),
              "bad_version");
    EXPECT_EQ(reason(key().token(claims(",\"ver\":\"2.0\"")), p),
              "bad_version");
    EXPECT_EQ(reason(key().token(claims(",\"ver\":1")), p), "bad_version");
    EXPECT_EQ(reason(key().token(claims(",\"ver\":\"2.0\"")), policy()), "")
        << "not checked without a version";
    auto r = verify_token(key().token(claims(v1)), keys_of(key().jwks()), p,
                          kNow);
    EXPECT_TRUE(std::any_of(r.checks.begin(), r.checks.end(),
                            [](const TokenCheck& c) { return c.name == "ver"; }));
}

TEST(Jwt, ChecksAllowedSenders) {
    TokenPolicy p = policy();
    p.allowed_senders = {"Shop@Example.com", "other@example.com"};
    EXPECT_EQ(reason(key().token(claims()), p), "");
    EXPECT_EQ(reason(key().token(claims_with("sender", "\"x@example.com\"")), p),
              "bad_sender");
    EXPECT_EQ(reason(key().token(claims_with("sender", "")), p), "bad_sender");
}

TEST(Jwt, ReportsEveryCheck) {
    std::string token = key().token(claims());
    KeySet keys = keys_of(key().jwks());
    auto r = verify_token(token, keys, policy(), kNow);
    expect_same_without_details(r, token, keys, policy(), kNow);
    std::vector<std::string_view> names;
    for (const auto& c : r.checks) names.push_back(c.name);
    for (const char* want : {"parse", "alg", "key", "signature", "iss", "aud",
                             "appid", "exp", "nbf", "iat"}) {
        EXPECT_NE(std::find(names.begin(), names.end(), want), names.end())
            << want;
    }
}

// Every policy check at once: the checks' list (a FixedList) holds them
// all, so a check added without raising kMaxTokenChecks fails here, not
// as a 500 on every token.
TEST(Jwt, HoldsEveryCheckAtOnce) {
    TokenPolicy p = policy();
    p.version = "STI.ExternalAccessToken.V1";
    p.allowed_senders = {"shop@example.com"};
    std::string token =
        key().token(claims(",\"ver\":\"STI.ExternalAccessToken.V1\""));
    KeySet keys = keys_of(key().jwks());
    auto r = verify_token(token, keys, p, kNow);
    EXPECT_TRUE(r.ok()) << r.reason_name();
    EXPECT_EQ(r.checks.size(), kMaxTokenChecks);
    expect_same_without_details(r, token, keys, p, kNow);
}

TEST(Jwt, BearerHeader) {
    EXPECT_EQ(bearer_token("Bearer abc"), "abc");
    EXPECT_EQ(bearer_token("bearer  abc "), "abc");
    EXPECT_FALSE(bearer_token("Basic abc"));
    EXPECT_FALSE(bearer_token("Bearer"));
    EXPECT_FALSE(bearer_token("Bearer "));
    EXPECT_FALSE(bearer_token("Bearerabc"));
}

// RFC 7515 A.2 (RS256) with the clock injected; A.5 and A.1 refused.
TEST(JwtVectors, Rfc7515) {
    auto v = test::load_json("jose/rfc7515_a2.json");
    std::string jwk = test::to_json(v["jwk_private"]);
    auto set = keys_of("{\"keys\":[" + jwk + "]}");
    TokenPolicy p;
    p.issuer = "joe";
    p.audience = "x";
    p.signature_only = true;
    std::string compact = v["compact"].GetString();
    EXPECT_TRUE(verify_token(compact, set, p, 1300819000).ok());
    p.signature_only = false;
    auto full = verify_token(compact, set, p, 1300819000);
    EXPECT_EQ(full.reason_name(), "bad_audience");  // it has no aud claim
    // exp is checked against the injected clock
    p.audience = "";
    EXPECT_EQ(verify_token(compact, set, p, 1300819380 + 300).reason_name(),
              "bad_audience");
    p.signature_only = true;
    EXPECT_EQ(verify_token(
                  v["a5_unsecured_alg_none_compact_MUST_REJECT"].GetString(),
                  set, p, 1300819000)
                  .reason_name(),
              "bad_alg");
    EXPECT_EQ(
        verify_token(
            v["a1_hs256_compact_MUST_REJECT_for_RS256_verifier"].GetString(),
            set, p, 1300819000)
            .reason_name(),
        "bad_alg");
}

TEST(JwtVectors, Rfc7520Section41) {
    auto v = test::load_json("jose/rfc7520_4_1_rsa_v15_signature.json");
    std::string jwk = test::to_json(v["input"]["key"]);
    auto set = keys_of("{\"keys\":[" + jwk + "]}");
    TokenPolicy p;
    p.signature_only = true;
    std::string compact = v["output"]["compact"].GetString();
    EXPECT_TRUE(verify_token(compact, set, p, kNow).ok());
    compact[compact.size() - 5] ^= 1;
    EXPECT_FALSE(verify_token(compact, set, p, kNow).ok());
}

std::string alg_of(const std::string& jws) {
    auto header = base64url_decode(jws.substr(0, jws.find('.')));
    if (!header) return "";
    rapidjson::Document d;
    d.Parse(header->c_str());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("alg") ||
        !d["alg"].IsString()) {
        return "";
    }
    return d["alg"].GetString();
}

// Every JWS vector: only RS256 tokens that Wycheproof calls valid, checked
// with a key that is an RS256 signature key, may pass.
void run_jws_file(const char* file, int& checked, int& passed) {
    auto doc = test::load_json(file);
    for (const auto& group : doc["testGroups"].GetArray()) {
        std::string keys_json;
        if (group.HasMember("public")) {
            const auto& pub = group["public"];
            std::string text = pub.IsString() ? pub.GetString()
                                              : test::to_json(pub);
            rapidjson::Document parsed;
            parsed.Parse(text.c_str());
            keys_json = parsed.HasMember("keys") ? text
                                                 : "{\"keys\":[" + text + "]}";
        }
        auto loaded = load_jwks(keys_json);
        const KeySet* set = std::get_if<KeySet>(&loaded);
        TokenPolicy p;
        p.signature_only = true;
        for (const auto& t : group["tests"].GetArray()) {
            std::string jws = t["jws"].GetString();
            std::string result = t["result"].GetString();
            bool expected = result == "valid" && set != nullptr &&
                            alg_of(jws) == "RS256";
            bool got = set != nullptr && verify_token(jws, *set, p, kNow).ok();
            ++checked;
            passed += got;
            if (result == "acceptable") continue;
            EXPECT_EQ(got, expected)
                << file << " tcId " << test::to_json(t["tcId"]) << " ("
                << t["comment"].GetString() << ", group "
                << (group.HasMember("comment") ? group["comment"].GetString()
                                               : "")
                << ")";
        }
    }
}

TEST(JwtVectors, WycheproofJws) {
    int checked = 0;
    int passed = 0;
    run_jws_file("wycheproof/json_web_signature_test.json", checked, passed);
    run_jws_file("wycheproof/json_web_key_test.json", checked, passed);
    std::printf("[ vectors  ] Wycheproof JWS/JWK: %d checked, %d accepted\n",
                checked, passed);
    EXPECT_GE(checked, 400);
    EXPECT_GT(passed, 0);
}

TEST(JwtVectors, WycheproofRsaPkcs1Sha256) {
    auto doc = test::load_json("wycheproof/rsa_signature_2048_sha256_test.json");
    int checked = 0;
    int acceptable = 0;
    for (const auto& group : doc["testGroups"].GetArray()) {
        std::string pem = group["publicKeyPem"].GetString();
        BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
        EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
        BIO_free(bio);
        ASSERT_NE(pkey, nullptr);
        std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> owned(
            pkey, EVP_PKEY_free);
        for (const auto& t : group["tests"].GetArray()) {
            auto unhex = [](const std::string& h) {
                std::string out;
                for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
                    out.push_back(static_cast<char>(
                        std::stoi(h.substr(i, 2), nullptr, 16)));
                }
                return out;
            };
            std::string result = t["result"].GetString();
            bool got = rsa_sha256_verify(pkey, unhex(t["msg"].GetString()),
                                         unhex(t["sig"].GetString()));
            ++checked;
            if (result == "acceptable") {
                ++acceptable;
                continue;
            }
            EXPECT_EQ(got, result == "valid")
                << "tcId " << t["tcId"].GetInt() << " "
                << t["comment"].GetString();
        }
    }
    std::printf("[ vectors  ] Wycheproof RSASSA-PKCS1-v1_5 SHA-256: %d checked"
                " (%d acceptable)\n",
                checked, acceptable);
    EXPECT_EQ(checked, 259);
}

// The same vectors through one verifier per key, reused from vector to
// vector as the request path reuses it.
TEST(JwtVectors, WycheproofRsaPkcs1Sha256ReusedVerifier) {
    auto doc = test::load_json("wycheproof/rsa_signature_2048_sha256_test.json");
    int checked = 0;
    for (const auto& group : doc["testGroups"].GetArray()) {
        std::string pem = group["publicKeyPem"].GetString();
        BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
        std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
            PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr),
            EVP_PKEY_free);
        BIO_free(bio);
        ASSERT_NE(pkey, nullptr);
        RsaVerifier verifier = make_verifier(pkey.get(), fetch_sha256());
        ASSERT_TRUE(verifier.ctx);
        for (const auto& t : group["tests"].GetArray()) {
            auto unhex = [](const std::string& h) {
                std::string out;
                for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
                    out.push_back(static_cast<char>(
                        std::stoi(h.substr(i, 2), nullptr, 16)));
                }
                return out;
            };
            std::string result = t["result"].GetString();
            if (result == "acceptable") continue;
            bool got = rsa_sha256_verify(verifier, unhex(t["msg"].GetString()),
                                         unhex(t["sig"].GetString()));
            EXPECT_EQ(got, result == "valid") << "tcId " << t["tcId"].GetInt();
            ++checked;
        }
    }
    EXPECT_EQ(checked, 258);
}

}  // namespace
}  // namespace opay
