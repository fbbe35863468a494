// The PaymentComplete webhook's journal lines (the flow that writes them is
// tested in payment_complete_flow_test.cpp).
#include "payment_complete.h"

#include <gtest/gtest.h>

namespace opay {
namespace {

TEST(Journal, LinesAreOneJsonObjectEach) {
    Outcome o{"12345/1/ab", "success", "ch_1", "", "succeeded"};
    json::Document d;
    std::string line = journal_outcome(o, "12345", R"({"result":"success"})", 7);
    ASSERT_FALSE(json::parse(line, d)) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(json::write(d["record"]), R"({"result":"success"})");
    EXPECT_EQ(json::write(d["type"]), "\"outcome\"");
    EXPECT_EQ(json::write(d["time"]), "7");
    ASSERT_FALSE(json::parse(journal_notify("e", "12345", false, 502, 8), d));
    EXPECT_EQ(json::write(d), R"({"type":"notify","time":8,"entry":"e",)"
                              R"("requestId":"12345","ok":false,"status":502})");
}

}  // namespace
}  // namespace opay
