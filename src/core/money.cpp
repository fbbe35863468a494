#include "money.h"

#include <algorithm>
#include <array>

namespace opay {

namespace {

struct Exponent {
    const char* code;
    int exponent;
};

// ISO 4217 active codes with an exponent other than 2; every other active
// code below uses 2. Funds and metals (no minor unit) are not accepted.
constexpr Exponent kOther[] = {
    {"BHD", 3}, {"BIF", 0}, {"CLF", 4}, {"CLP", 0}, {"DJF", 0},
    {"GNF", 0}, {"IQD", 3}, {"ISK", 0}, {"JOD", 3}, {"JPY", 0},
    {"KMF", 0}, {"KRW", 0}, {"KWD", 3}, {"LYD", 3}, {"OMR", 3},
    {"PYG", 0}, {"RWF", 0}, {"TND", 3}, {"UGX", 0}, {"UYI", 0},
    {"UYW", 4}, {"VND", 0}, {"VUV", 0}, {"XAF", 0}, {"XOF", 0},
    {"XPF", 0},
};

constexpr bool exponents_in_range() {
    for (const auto& e : kOther) {
        if (e.exponent < 0 || e.exponent > kMaxExponent) return false;
    }
    return true;
}
static_assert(exponents_in_range(), "kMaxExponent is ISO 4217's largest");

constexpr const char* kTwo[] = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN",
    "BAM", "BBD", "BDT", "BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BTN",
    "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC", "CUP",
    "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD",
    "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL",
    "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR",
    "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL",
    "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD",
    "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
    "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD",
    "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST", "XCD", "YER", "ZAR",
    "ZMW", "ZWL",
};

constexpr int kLetters = 26 * 26 * 26;

constexpr int letters_index(const char* code) {
    return ((code[0] - 'A') * 26 + (code[1] - 'A')) * 26 + (code[2] - 'A');
}

// Exponent of every accepted code, indexed by its three letters; -1 for
// codes not in the tables. Built at compile time so a look-up is one load.
constexpr std::array<int8_t, kLetters> make_exponents() {
    std::array<int8_t, kLetters> t{};
    for (auto& e : t) e = -1;
    for (const auto& e : kOther) {
        t[letters_index(e.code)] = static_cast<int8_t>(e.exponent);
    }
    for (const char* two : kTwo) t[letters_index(two)] = 2;
    return t;
}

constexpr auto kExponents = make_exponents();

}  // namespace

std::optional<Currency> parse_currency(std::string_view code) {
    if (code.size() != 3) return std::nullopt;
    Currency c{};
    // ASCII letters by hand: std::isalpha and std::toupper are calls into
    // libc's locale tables
    for (int i = 0; i < 3; ++i) {
        char ch = code[i];
        if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
        if (ch < 'A' || ch > 'Z') return std::nullopt;
        c.code[i] = ch;
    }
    c.code[3] = '\0';
    int exponent = kExponents[letters_index(c.code)];
    if (exponent < 0) return std::nullopt;
    c.exponent = exponent;
    return c;
}

const char* to_string(MoneyError e) {
    switch (e) {
    case MoneyError::kInvalidValue:
        return "not a valid decimal monetary value";
    case MoneyError::kTooPrecise:
        return "more decimal places than the currency has";
    case MoneyError::kOverflow:
        return "amount too large";
    }
    return "invalid amount";
}

bool is_valid_decimal(std::string_view v) {
    std::size_t i = 0;
    if (i < v.size() && v[i] == '-') ++i;
    std::size_t int_start = i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    if (i == int_start) return false;
    if (i == v.size()) return true;
    if (v[i] != '.') return false;
    std::size_t frac_start = ++i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    return i > frac_start && i == v.size();
}

// One pass over text already checked (no find, substr or division per
// digit): the whole digits, then exactly exponent fraction digits (zeros
// past the text's own), refusing non-zero digits beyond them.
MoneyResult parse_money(std::string_view v, const Currency& currency) {
    MoneyResult r;
    if (!is_valid_decimal(v)) return r;
    if (currency.exponent < 0 || currency.exponent > kMaxExponent) {
        // a made-up Currency (parse_currency makes none): no exact reading
        r.error = MoneyError::kOverflow;
        return r;
    }
    const char* p = v.data();
    const char* end = p + v.size();
    bool negative = *p == '-';
    if (negative) ++p;
    const char* dot = p;
    while (dot != end && *dot != '.') ++dot;
    const char* frac = dot != end ? dot + 1 : end;
    auto exponent = static_cast<std::size_t>(currency.exponent);
    // Digits past the exponent must all be zero: we never round money.
    if (static_cast<std::size_t>(end - frac) > exponent) {
        for (const char* q = frac + exponent; q != end; ++q) {
            if (*q != '0') {
                r.error = MoneyError::kTooPrecise;
                return r;
            }
        }
    }
    int64_t minor = 0;
    auto push_digit = [&minor](char d) {
        return !__builtin_mul_overflow(minor, 10, &minor) &&
               !__builtin_add_overflow(minor, d - '0', &minor);
    };
    for (const char* q = p; q != dot; ++q) {
        if (!push_digit(*q)) {
            r.error = MoneyError::kOverflow;
            return r;
        }
    }
    auto given = static_cast<std::size_t>(end - frac);
    for (std::size_t i = 0; i < exponent; ++i) {
        if (!push_digit(i < given ? frac[i] : '0')) {
            r.error = MoneyError::kOverflow;
            return r;
        }
    }
    r.money = Money{negative ? -minor : minor, currency};
    return r;
}

// Digits from the last, the point placed after the exponent's count, at
// least one digit before it: one string made, no temporaries.
std::string format_value(const Money& m) {
    // Work on the magnitude as unsigned so INT64_MIN cannot overflow.
    uint64_t mag = m.minor < 0 ? 0 - static_cast<uint64_t>(m.minor)
                               : static_cast<uint64_t>(m.minor);
    // ISO 4217's exponents are 0 to 4 (parse_currency's tables): the bound
    // only keeps a made-up Currency inside the buffer
    std::size_t exp = std::min<std::size_t>(
        static_cast<std::size_t>(m.currency.exponent), 40);
    char text[48];  // 20 digits (or exp + 1), a point and a sign
    char* end = text + sizeof text;
    char* p = end;
    std::size_t digits = 0;
    do {
        if (exp > 0 && digits == exp) *--p = '.';
        *--p = static_cast<char>('0' + mag % 10);
        mag /= 10;
        ++digits;
    } while (mag != 0 || digits <= exp);
    if (m.minor < 0) *--p = '-';
    return std::string(p, end);
}

std::optional<int64_t> checked_add(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
    return r;
}

}  // namespace opay
