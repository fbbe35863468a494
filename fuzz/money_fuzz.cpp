// Fuzzes money: currency codes, W3C decimal values in minor units, the
// printed form and checked addition. Input: "CUR value[ value]".
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "money.h"

using namespace opay;

namespace {

void check_round_trip(const Money& m) {
    std::string printed = format_value(m);
    fuzz::require(is_valid_decimal(printed));
    MoneyResult again = parse_money(printed, m.currency);
    fuzz::require(again.money && again.money->minor == m.minor &&
                  again.money->currency == m.currency);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in = fuzz::text(data, size);
    auto currency = parse_currency(in.substr(0, 3));
    if (!currency) return 0;
    fuzz::require(parse_currency(currency->view()).has_value());
    in.remove_prefix(in.size() < 4 ? in.size() : 4);
    size_t space = in.find(' ');
    std::string_view a = in.substr(0, space);
    MoneyResult ma = parse_money(a, *currency);
    // a value parse_money takes is always a valid decimal
    if (ma.money) fuzz::require(is_valid_decimal(a));
    if (!ma.money) fuzz::require(to_string(ma.error) != nullptr);
    if (ma.money) check_round_trip(*ma.money);
    if (space == std::string_view::npos) return 0;
    MoneyResult mb = parse_money(in.substr(space + 1), *currency);
    if (!ma.money || !mb.money) return 0;
    check_round_trip(*mb.money);
    int64_t want;
    bool overflow =
        __builtin_add_overflow(ma.money->minor, mb.money->minor, &want);
    auto sum = checked_add(ma.money->minor, mb.money->minor);
    fuzz::require(overflow ? !sum : (sum && *sum == want));
    return 0;
}
