#include "jwks.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace opay {
namespace {

using test::TestKey;

const TestKey& key() {
    static const TestKey k("k1");
    return k;
}

std::string error_of(const std::string& jwks) {
    auto r = load_jwks(jwks);
    auto* e = std::get_if<KeySetError>(&r);
    return e ? e->message : "";
}

TEST(Jwks, LoadsAnRs256Key) {
    auto r = load_jwks(key().jwks());
    ASSERT_TRUE(std::holds_alternative<KeySet>(r)) << error_of(key().jwks());
    const KeySet& set = std::get<KeySet>(r);
    ASSERT_EQ(set.keys.size(), 1u);
    EXPECT_EQ(set.keys[0].kid, "k1");
    EXPECT_EQ(set.keys[0].bits, 2048);
}

TEST(Jwks, SkipsKeysNotForRs256Signatures) {
    std::string jwks = "{\"keys\":[" +
                       key().jwk("\"use\":\"enc\"") + "," +
                       key().jwk("\"alg\":\"PS256\"") + "," +
                       key().jwk("\"key_ops\":[\"encrypt\"]") + "]}";
    std::string err = error_of(jwks);
    EXPECT_NE(err.find("no RS256 signature key"), std::string::npos) << err;
    EXPECT_NE(err.find("use is not \"sig\""), std::string::npos) << err;
    EXPECT_NE(err.find("alg is not RS256"), std::string::npos) << err;
    EXPECT_NE(err.find("key_ops lacks \"verify\""), std::string::npos) << err;
}

TEST(Jwks, AcceptsKeyOpsWithVerifyAndNoOptionalMembers) {
    TestKey other("k2");
    std::string jwks = "{\"keys\":[" + key().jwk("\"key_ops\":[\"verify\"]") +
                       "," + other.jwk("") + "]}";
    auto r = load_jwks(jwks);
    ASSERT_TRUE(std::holds_alternative<KeySet>(r)) << error_of(jwks);
    EXPECT_EQ(std::get<KeySet>(r).keys.size(), 2u);
}

TEST(Jwks, RefusesSmallKeysNamingThem) {
    TestKey small("tiny", 1024);
    EXPECT_EQ(error_of(small.jwks()),
              "key \"tiny\": RSA key is 1024 bits; at least 2048 are required");
}

TEST(Jwks, RefusesMalformedModulusAndExponent) {
    EXPECT_NE(error_of(R"({"keys":[{"kty":"RSA","kid":"x","n":"AAAB","e":"AQAB"}]})")
                  .find("without leading zeros"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"keys":[{"kty":"RSA","kid":"x","n":"ab+/","e":"AQAB"}]})")
                  .find("unpadded base64url"),
              std::string::npos);
    std::string e1 = key().jwk("");
    e1.replace(e1.find("\"e\":\"AQAB\""), 10, "\"e\":\"AQ\"");
    EXPECT_NE(error_of("{\"keys\":[" + e1 + "]}").find("exponent"),
              std::string::npos);
}

// A hostile key set could name a huge exponent and make every
// verification slow: 65537 is the only one taken (3 and 2^32+1 are not).
TEST(Jwks, RefusesAnyExponentBut65537) {
    for (const char* e : {"Aw", "AQAAAAE", "AQAC", "AQAAAQ",
                          "_____________________w"}) {
        std::string jwk = key().jwk("");
        jwk.replace(jwk.find("\"e\":\"AQAB\""), 10,
                    std::string("\"e\":\"") + e + "\"");
        EXPECT_EQ(error_of("{\"keys\":[" + jwk + "]}"),
                  "key \"k1\": public exponent must be 65537")
            << e;
    }
    EXPECT_EQ(error_of(key().jwks()), "");
}

TEST(Jwks, RefusesDuplicateKids) {
    TestKey twin("k1");
    std::string jwks = "{\"keys\":[" + key().jwk() + "," + twin.jwk() + "]}";
    EXPECT_NE(error_of(jwks).find("kid used by more than one key"),
              std::string::npos);
}

TEST(Jwks, RefusesNonJwks) {
    EXPECT_NE(error_of("[]").find("no \"keys\""), std::string::npos);
    EXPECT_NE(error_of("{\"keys\":").find("not valid JSON"), std::string::npos);
}

}  // namespace
}  // namespace opay
