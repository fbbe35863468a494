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

TEST(Outcome, ResultKindReadsAStoredReply) {
    EXPECT_EQ(result_kind("success"), OPAY_RESULT_SUCCESS);
    EXPECT_EQ(result_kind("fail"), OPAY_RESULT_FAIL);
    EXPECT_EQ(result_kind(""), OPAY_RESULT_NONE);
    EXPECT_EQ(result_kind("ok"), OPAY_RESULT_NONE) << "not a payment result";
}

// jwt.cpp's reason codes (TokenResult::reason), each its own refusal
TEST(Outcome, TokenReasonsAreRefusals) {
    for (const char* reason :
         {"missing_token", "bad_scheme", "malformed", "bad_alg", "unknown_key",
          "bad_signature", "bad_issuer", "bad_audience", "bad_appid",
          "bad_version", "missing_exp", "expired", "not_yet_valid",
          "issued_in_future", "bad_sender"}) {
        opay_refusal_e r = token_refusal(reason);
        EXPECT_NE(r, OPAY_REFUSAL_INVALID_TOKEN) << reason;
        EXPECT_EQ(refusal_name(r), reason);
    }
    // a code the table lacks is still a token refusal, never "none"
    EXPECT_EQ(token_refusal("new_check"), OPAY_REFUSAL_INVALID_TOKEN);
    EXPECT_EQ(token_refusal("backend_error"), OPAY_REFUSAL_INVALID_TOKEN)
        << "only token reasons";
    EXPECT_EQ(token_refusal(""), OPAY_REFUSAL_INVALID_TOKEN);
}

}  // namespace
}  // namespace opay
