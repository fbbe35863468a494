#include "fixed_list.h"

#include <memory>
#include <stdexcept>

#include <gtest/gtest.h>

namespace opay {
namespace {

// More than the list holds is an error (the C API's 500), never a write
// past the end; clear lets go of what was held.
TEST(FixedListTest, HoldsUpToItsSizeAndLetsGoOnClear) {
    auto held = std::make_shared<int>(1);
    FixedList<std::shared_ptr<int>, 2> list;
    EXPECT_TRUE(list.empty());
    list.push_back(held);
    list.push_back(held);
    EXPECT_EQ(list.size(), 2u);
    EXPECT_EQ(held.use_count(), 3);
    EXPECT_THROW(list.push_back(held), std::length_error);
    EXPECT_THROW(list.assign(3), std::length_error);
    EXPECT_THROW(list.at(2), std::out_of_range);
    list.clear();
    EXPECT_TRUE(list.empty());
    EXPECT_EQ(held.use_count(), 1) << "cleared slots hold nothing";
    list.push_back(held);
    list.assign(2);
    EXPECT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0], nullptr) << "assign makes fresh values";
    EXPECT_EQ(held.use_count(), 1);
}

}  // namespace
}  // namespace opay
