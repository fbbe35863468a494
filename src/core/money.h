// Money as integer minor units of an ISO 4217 currency. No floating point:
// amounts are parsed from and printed as W3C valid decimal monetary values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace opay {

// ISO 4217's largest exponent (CLF, UYW): parse_currency gives no other.
inline constexpr int kMaxExponent = 4;

struct Currency {
    char code[4];  // upper-case, NUL-terminated
    // digits after the decimal point (JPY 0, USD 2, BHD 3), 0 to
    // kMaxExponent: money of any other exponent is refused (kOverflow)
    int exponent;

    std::string_view view() const { return {code, 3}; }
    bool operator==(const Currency& o) const { return view() == o.view(); }
    bool operator!=(const Currency& o) const { return !(*this == o); }
};

// Three ASCII letters, any case. Codes outside the ISO 4217 table are
// refused: their exponent is unknown, so no amount in them can be exact.
std::optional<Currency> parse_currency(std::string_view code);

struct Money {
    int64_t minor;
    Currency currency;
};

enum class MoneyError {
    kInvalidValue,     // not ^-?[0-9]+(\.[0-9]+)?$
    kTooPrecise,       // non-zero digits beyond the currency's exponent
    kOverflow,         // does not fit in 64-bit minor units
};

struct MoneyResult {
    std::optional<Money> money;
    MoneyError error = MoneyError::kInvalidValue;
};

const char* to_string(MoneyError e);

bool is_valid_decimal(std::string_view value);
MoneyResult parse_money(std::string_view value, const Currency& currency);
std::string format_value(const Money& m);

// a + b; nullopt on overflow. Currencies must already match.
std::optional<int64_t> checked_add(int64_t a, int64_t b);

}  // namespace opay
