#include "base64url.h"

#include <gtest/gtest.h>

namespace opay {
namespace {

TEST(Base64url, RoundTripsEveryLength) {
    std::string bytes;
    for (int i = 0; i < 40; ++i) {
        auto decoded = base64url_decode(base64url_encode(bytes));
        ASSERT_TRUE(decoded);
        EXPECT_EQ(*decoded, bytes);
        bytes.push_back(static_cast<char>(i * 37 + 200));
    }
}

TEST(Base64url, DecodesRfc7515Example) {
    EXPECT_EQ(base64url_decode("eyJhbGciOiJSUzI1NiJ9"), "{\"alg\":\"RS256\"}");
}

TEST(Base64url, RefusesPadding) {
    EXPECT_FALSE(base64url_decode("YQ=="));
    EXPECT_FALSE(base64url_decode("YWI="));
    EXPECT_TRUE(base64url_decode("YQ"));
}

TEST(Base64url, RefusesStandardAlphabetAndWhitespace) {
    EXPECT_FALSE(base64url_decode("ab+c"));
    EXPECT_FALSE(base64url_decode("ab/c"));
    EXPECT_FALSE(base64url_decode("ab c"));
    EXPECT_FALSE(base64url_decode("abc\n"));
    EXPECT_TRUE(base64url_decode("ab-_"));
}

TEST(Base64url, RefusesImpossibleLength) {
    EXPECT_FALSE(base64url_decode("a"));
    EXPECT_FALSE(base64url_decode("abcde"));
}

TEST(Base64url, RefusesNonZeroTrailingBits) {
    // "YQ" is 'a'; "YR" has the same byte and stray low bits.
    EXPECT_FALSE(base64url_decode("YR"));
    EXPECT_FALSE(base64url_decode("YWJ"));
    EXPECT_TRUE(base64url_decode("YWI"));
}

}  // namespace
}  // namespace opay
