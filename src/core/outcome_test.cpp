#include "outcome.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace opay {
namespace {

// every kind has its own name, made of what a metric label and a
// variable may hold; only *_NONE is nameless
template <typename E>
void expect_names(int count, std::string_view (*name)(E)) {
    std::set<std::string_view> seen;
    EXPECT_EQ(name(static_cast<E>(0)), "");
    for (int i = 1; i < count; i++) {
        std::string_view n = name(static_cast<E>(i));
        EXPECT_FALSE(n.empty()) << i;
        EXPECT_TRUE(seen.insert(n).second) << n << " twice";
        for (char c : n) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << n;
    }
}

TEST(Outcome, EveryKindHasOneName) {
    expect_names<opay_result_e>(OPAY_RESULTS, result_name);
    expect_names<opay_refusal_e>(OPAY_REFUSALS, refusal_name);
    expect_names<opay_charge_e>(OPAY_CHARGES, charge_name);
}

TEST(Outcome, NamesAreTheVariablesTexts) {
    EXPECT_EQ(result_name(OPAY_RESULT_SUCCESS), "success");
    EXPECT_EQ(result_name(OPAY_RESULT_FAIL), "fail");
    EXPECT_EQ(result_name(OPAY_RESULT_OK), "ok");
    EXPECT_EQ(result_name(OPAY_RESULT_REFUSED), "refused");
    EXPECT_EQ(refusal_name(OPAY_REFUSAL_PAYMENT_IN_PROGRESS),
              "payment_in_progress");
    EXPECT_EQ(refusal_name(OPAY_REFUSAL_INTERNAL_ERROR), "internal_error");
    EXPECT_EQ(charge_name(OPAY_CHARGE_SUCCEEDED), "succeeded");
    EXPECT_EQ(charge_name(OPAY_CHARGE_UNKNOWN), "unknown");
}

}  // namespace
}  // namespace opay
