#include "base64url.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>

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

// Every length from 0 to 64 bytes (every mix of eight-letter steps, a
// four-letter group and a two- or three-letter tail), random bytes: the
// encoding decodes back; any letter outside the alphabet at any position
// is refused; so is any nonzero unused bit in the last letter.
TEST(Base64url, EveryLengthRoundTripsAndRefusesEveryBadLetter) {
    std::mt19937 random(2112);
    const std::string bad = std::string("=+/ .\x80\xff\n") + '\0';
    int refused = 0;
    for (std::size_t len = 0; len <= 64; ++len) {
        std::string bytes;
        for (std::size_t i = 0; i < len; ++i) {
            bytes.push_back(static_cast<char>(random() & 0xff));
        }
        std::string text = base64url_encode(bytes);
        ASSERT_EQ(text.size(), (len * 4 + 2) / 3) << len;
        ASSERT_EQ(base64url_decoded_size(text), len);
        ASSERT_EQ(base64url_decode(text), bytes) << len;
        for (std::size_t at = 0; at < text.size(); ++at) {
            for (char c : bad) {
                std::string s = text;
                s[at] = c;
                EXPECT_FALSE(base64url_decode(s)) << len << " " << at;
                ++refused;
            }
        }
        // the unused bits: 4 after two letters, 2 after three
        std::size_t unused = text.size() % 4 == 2 ? 4
                             : text.size() % 4 == 3 ? 2
                                                    : 0;
        for (std::size_t bit = 0; bit < unused; ++bit) {
            std::string s = text;
            const std::string letters =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789-_";
            s.back() = letters[letters.find(s.back()) ^ (1u << bit)];
            EXPECT_FALSE(base64url_decode(s)) << len << " bit " << bit;
        }
        // one letter more or less makes a length no encoding has (or
        // other bytes), never these bytes
        EXPECT_NE(base64url_decode(text + "A"), bytes);
    }
    EXPECT_EQ(refused, 9 * [] {
        int letters = 0;
        for (std::size_t len = 0; len <= 64; ++len) {
            letters += static_cast<int>((len * 4 + 2) / 3);
        }
        return letters;
    }());
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

// One letter outside the alphabet is found wherever it stands: in any
// four-letter group or the tail.
TEST(Base64url, RefusesABadLetterAnywhere) {
    const std::string good = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo";  // A..Z
    ASSERT_EQ(base64url_decode(good), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    for (std::size_t at = 0; at < good.size(); ++at) {
        for (char bad : {'=', '+', '/', '.', '\x80', '\0'}) {
            std::string s = good;
            s[at] = bad;
            EXPECT_FALSE(base64url_decode(s)) << at << " " << int(bad);
        }
    }
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

// The decoder against a bit-at-a-time reference, on many strings of every
// length up to 24 drawn from the alphabet and a few letters outside it.
TEST(Base64url, AgreesWithABitByBitReference) {
    const std::string letters =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    auto reference = [&](const std::string& in) -> std::optional<std::string> {
        if (in.size() % 4 == 1) return std::nullopt;
        std::string out;
        uint32_t acc = 0;
        int bits = 0;
        for (char c : in) {
            auto at = letters.find(c);
            if (at == std::string::npos) return std::nullopt;
            acc = (acc << 6) | static_cast<uint32_t>(at);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out.push_back(static_cast<char>((acc >> bits) & 0xff));
            }
        }
        if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
        return out;
    };
    const std::string pool = letters + "=+/ .\x80";
    uint32_t seed = 12345;
    int compared = 0;
    for (std::size_t len = 0; len <= 24; ++len) {
        for (int n = 0; n < 2000; ++n) {
            std::string s;
            for (std::size_t i = 0; i < len; ++i) {
                seed = seed * 1103515245u + 12345u;
                // mostly valid letters, sometimes not
                std::size_t range = (seed >> 28) == 0 ? pool.size() : 64;
                s.push_back(pool[(seed >> 8) % range]);
            }
            ASSERT_EQ(base64url_decode(s), reference(s)) << s;
            ++compared;
        }
    }
    EXPECT_EQ(compared, 25 * 2000);
}

}  // namespace
}  // namespace opay
