#include "money.h"

#include <gtest/gtest.h>

namespace opay {
namespace {

Currency cur(const char* code) {
    auto c = parse_currency(code);
    EXPECT_TRUE(c) << code;
    return c.value_or(Currency{});
}

TEST(Money, KnowsExponents) {
    EXPECT_EQ(cur("USD").exponent, 2);
    EXPECT_EQ(cur("EUR").exponent, 2);
    EXPECT_EQ(cur("JPY").exponent, 0);
    EXPECT_EQ(cur("KRW").exponent, 0);
    EXPECT_EQ(cur("BHD").exponent, 3);
    EXPECT_EQ(cur("KWD").exponent, 3);
    EXPECT_EQ(cur("CLF").exponent, 4);
}

TEST(Money, CurrencyCodesAnyCaseUpperCasedOnOutput) {
    EXPECT_EQ(cur("usd").view(), "USD");
    EXPECT_EQ(cur("uSd").view(), "USD");
    EXPECT_FALSE(parse_currency("US"));
    EXPECT_FALSE(parse_currency("USDD"));
    EXPECT_FALSE(parse_currency("U$D"));
    EXPECT_FALSE(parse_currency("XYZ"));
    EXPECT_FALSE(parse_currency("\xc3\xa9UR"));
    // the bytes either side of each letter range, in every place
    for (const char* code : {"@SD", "[SD", "`SD", "{SD", "U@D", "U[D", "U`D",
                             "U{D", "US@", "US[", "US`", "US{", "US\xc4",
                             "\xd5SD", "US ", "US\0"}) {
        EXPECT_FALSE(parse_currency(std::string_view(code, 3))) << code;
    }
    EXPECT_EQ(cur("zar").view(), "ZAR");
    EXPECT_EQ(cur("aed").view(), "AED");
}

// The W3C valid decimal monetary value lists.
TEST(Money, ValidDecimalValues) {
    for (const char* v : {"0", "1", "10.00", "-1", "-0.5", "0.0001",
                          "12345678901234567890123.456", "00.00"}) {
        EXPECT_TRUE(is_valid_decimal(v)) << v;
    }
}

TEST(Money, InvalidDecimalValues) {
    for (const char* v : {"", "-", ".5", "5.", "+1", "1e3", " 1", "1 ",
                          "$1", "1,00", "1.2.3", "--1", "0x10", "١"}) {
        EXPECT_FALSE(is_valid_decimal(v)) << v;
    }
}

TEST(Money, ParsesExactly) {
    EXPECT_EQ(parse_money("10.00", cur("USD")).money->minor, 1000);
    EXPECT_EQ(parse_money("10", cur("USD")).money->minor, 1000);
    EXPECT_EQ(parse_money("0.1", cur("USD")).money->minor, 10);
    EXPECT_EQ(parse_money("-3.07", cur("USD")).money->minor, -307);
    EXPECT_EQ(parse_money("500", cur("JPY")).money->minor, 500);
    EXPECT_EQ(parse_money("1.234", cur("BHD")).money->minor, 1234);
    // extra zeros are exact, not rounding
    EXPECT_EQ(parse_money("1.2300000", cur("USD")).money->minor, 123);
}

TEST(Money, NeverRounds) {
    auto r = parse_money("10.005", cur("USD"));
    EXPECT_FALSE(r.money);
    EXPECT_EQ(r.error, MoneyError::kTooPrecise);
    EXPECT_FALSE(parse_money("1.5", cur("JPY")).money);
}

TEST(Money, DetectsOverflow) {
    auto max = parse_money("92233720368547758.07", cur("USD"));
    ASSERT_TRUE(max.money);
    EXPECT_EQ(max.money->minor, INT64_MAX);
    auto over = parse_money("92233720368547758.08", cur("USD"));
    EXPECT_FALSE(over.money);
    EXPECT_EQ(over.error, MoneyError::kOverflow);
    EXPECT_FALSE(parse_money("99999999999999999999999", cur("JPY")).money);
    EXPECT_FALSE(checked_add(INT64_MAX, 1));
    EXPECT_EQ(checked_add(-5, 3), -2);
}

// A Currency made by hand with an exponent no ISO currency has (none
// comes from parse_currency) reads no amount: nothing to round or loop on.
TEST(Money, RefusesAMadeUpExponent) {
    for (int exponent : {-1, kMaxExponent + 1, 40}) {
        Currency c{"XXX", exponent};
        for (const char* v : {"0", "5", "1.5"}) {
            auto r = parse_money(v, c);
            EXPECT_FALSE(r.money) << exponent << " " << v;
            EXPECT_EQ(r.error, MoneyError::kOverflow) << exponent << " " << v;
        }
    }
    Currency four{"XXX", kMaxExponent};
    ASSERT_TRUE(parse_money("1.5", four).money);
    EXPECT_EQ(parse_money("1.5", four).money->minor, 15000);
}

// Which error wins when several apply, and the edges of each rule.
TEST(Money, ChecksInOrderInvalidTooPreciseOverflow) {
    struct Case {
        const char* value;
        const char* code;
        std::optional<int64_t> minor;
        MoneyError error;
    };
    const Case cases[] = {
        {"99999999999999999999999.001", "USD", {}, MoneyError::kTooPrecise},
        {"99999999999999999999999.000", "USD", {}, MoneyError::kOverflow},
        {"99999999999999999999999.00x", "USD", {}, MoneyError::kInvalidValue},
        {"-92233720368547758.07", "USD", -INT64_MAX, {}},
        {"-92233720368547758.08", "USD", {}, MoneyError::kOverflow},
        {"9223372036854775807", "JPY", INT64_MAX, {}},
        {"9223372036854775808", "JPY", {}, MoneyError::kOverflow},
        {"922337203685477.5807", "CLF", INT64_MAX, {}},
        {"922337203685477.58070", "CLF", INT64_MAX, {}},
        {"922337203685477.58071", "CLF", {}, MoneyError::kTooPrecise},
        {"0.10", "JPY", {}, MoneyError::kTooPrecise},
        {"5.000", "JPY", 5, {}},
        {"00.00", "USD", 0, {}},
        {"-0", "USD", 0, {}},
        {"0.001", "BHD", 1, {}},
        {"0.0001", "BHD", {}, MoneyError::kTooPrecise},
        {".5", "USD", {}, MoneyError::kInvalidValue},
        {"5.", "USD", {}, MoneyError::kInvalidValue},
        {"", "USD", {}, MoneyError::kInvalidValue},
        {"-", "USD", {}, MoneyError::kInvalidValue},
        {"+5", "USD", {}, MoneyError::kInvalidValue},
    };
    for (const auto& c : cases) {
        auto r = parse_money(c.value, cur(c.code));
        if (c.minor) {
            ASSERT_TRUE(r.money) << c.value;
            EXPECT_EQ(r.money->minor, *c.minor) << c.value;
            EXPECT_EQ(r.money->currency, cur(c.code)) << c.value;
        } else {
            EXPECT_FALSE(r.money) << c.value;
            EXPECT_EQ(r.error, c.error) << c.value;
        }
    }
}

TEST(Money, RefusesInvalidText) {
    auto r = parse_money("1e3", cur("USD"));
    EXPECT_FALSE(r.money);
    EXPECT_EQ(r.error, MoneyError::kInvalidValue);
}

TEST(Money, Formats) {
    EXPECT_EQ(format_value({1000, cur("USD")}), "10.00");
    EXPECT_EQ(format_value({5, cur("USD")}), "0.05");
    EXPECT_EQ(format_value({-5, cur("USD")}), "-0.05");
    EXPECT_EQ(format_value({0, cur("USD")}), "0.00");
    EXPECT_EQ(format_value({500, cur("JPY")}), "500");
    EXPECT_EQ(format_value({1234, cur("BHD")}), "1.234");
    EXPECT_EQ(format_value({INT64_MIN, cur("USD")}),
              "-92233720368547758.08");
    EXPECT_EQ(format_value({INT64_MAX, cur("JPY")}), "9223372036854775807");
    EXPECT_EQ(format_value({INT64_MIN, cur("JPY")}), "-9223372036854775808");
    EXPECT_EQ(format_value({INT64_MIN, cur("CLF")}), "-922337203685477.5808");
    EXPECT_EQ(format_value({1, cur("CLF")}), "0.0001");
    EXPECT_EQ(format_value({-1, cur("CLF")}), "-0.0001");
    EXPECT_EQ(format_value({0, cur("CLF")}), "0.0000");
    EXPECT_EQ(format_value({0, cur("JPY")}), "0");
    EXPECT_EQ(format_value({-7, cur("JPY")}), "-7");
    EXPECT_EQ(format_value({10, cur("BHD")}), "0.010");
    EXPECT_EQ(format_value({100000, cur("BHD")}), "100.000");
    for (const char* v : {"0.00", "12.34", "-7.00", "92233720368547758.07"}) {
        EXPECT_EQ(format_value(*parse_money(v, cur("USD")).money), v);
        EXPECT_TRUE(is_valid_decimal(format_value(
            *parse_money(v, cur("USD")).money)));
    }
}

}  // namespace
}  // namespace opay
