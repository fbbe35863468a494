#include "http_get.h"

#include <gtest/gtest.h>

namespace opay {
namespace {

TEST(HttpOnData, AppendsUpToTheLimit) {
    HttpTransfer t{{}, 5, false};
    char data[] = "abcdef";
    EXPECT_EQ(http_on_data(data, 1, 3, &t), 3u);
    EXPECT_EQ(http_on_data(data + 3, 1, 2, &t), 2u);
    EXPECT_EQ(t.body, "abcde");
    EXPECT_FALSE(t.too_big);
    EXPECT_EQ(http_on_data(data + 5, 1, 1, &t), 0u);
    EXPECT_TRUE(t.too_big);
    EXPECT_EQ(t.body, "abcde");
}

// A chunk std::string cannot hold throws in append(); the callback, called
// from libcurl's C code, returns 0 (transfer aborted) instead of letting it
// unwind. The data is never read: append() throws on the length first.
TEST(HttpOnData, AnExceptionEndsTheTransfer) {
    HttpTransfer t{{}, SIZE_MAX, false};
    char data[1] = {'x'};
    size_t huge = std::string().max_size() + 1;
    EXPECT_EQ(http_on_data(data, 1, huge, &t), 0u);
    EXPECT_FALSE(t.too_big);
    EXPECT_TRUE(t.body.empty());
}

}  // namespace
}  // namespace opay
