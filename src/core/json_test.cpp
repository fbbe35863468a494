#include "json.h"

#include <gtest/gtest.h>

namespace opay::json {
namespace {

bool parses(std::string_view text) {
    Document d;
    return !parse(text, d);
}

TEST(Json, KeepsNumbersAsTheirSourceText) {
    Document d;
    ASSERT_FALSE(parse(R"({"a":10,"b":12.345,"c":-0.5e3,"d":"10"})", d));
    EXPECT_TRUE(is_number(d["a"]));
    EXPECT_EQ(number_text(d["b"]), "12.345");
    EXPECT_FALSE(is_number(d["d"]));
    EXPECT_EQ(write(d), R"({"a":10,"b":12.345,"c":-0.5e3,"d":"10"})");
}

TEST(Json, KeepsLongDigitStringsExact) {
    Document d;
    ASSERT_FALSE(parse(R"([123456789012345678901234567890.000000000001])", d));
    EXPECT_EQ(write(d), "[123456789012345678901234567890.000000000001]");
}

TEST(Json, RefusesDuplicateMembers) {
    EXPECT_FALSE(parses(R"({"a":1,"a":2})"));
    EXPECT_FALSE(parses(R"({"x":{"a":1,"b":2,"a":3}})"));
    EXPECT_FALSE(parses(R"([{"k":1},{"k":1,"k":1}])"));
    EXPECT_TRUE(parses(R"({"a":{"a":1}})"));
}

TEST(Json, RefusesDeepNesting) {
    std::string deep(kMaxDepth + 1, '[');
    deep += std::string(kMaxDepth + 1, ']');
    EXPECT_FALSE(parses(deep));
    std::string ok(kMaxDepth, '[');
    ok += std::string(kMaxDepth, ']');
    EXPECT_TRUE(parses(ok));
    // brackets inside strings do not count
    EXPECT_TRUE(parses("[\"" + std::string(1000, '[') + "\"]"));
}

TEST(Json, RefusesTrailingData) {
    EXPECT_FALSE(parses("{} {}"));
    EXPECT_FALSE(parses("{}x"));
    EXPECT_TRUE(parses("{}\r\n "));
}

TEST(Json, RefusesInvalidUtf8) {
    EXPECT_FALSE(parses("[\"\xff\"]"));
    EXPECT_FALSE(parses("[\"\xc3\"]"));
    EXPECT_TRUE(parses("[\"\xc3\xa9\"]"));
}

TEST(Json, RefusesEmptyAndGarbage) {
    EXPECT_FALSE(parses(""));
    EXPECT_FALSE(parses("nul"));
    EXPECT_FALSE(parses("{'a':1}"));
}

TEST(Json, EscapesOnWrite) {
    Document d(rapidjson::kObjectType);
    d.AddMember("s", str("a\"b\\c\n", d.GetAllocator()), d.GetAllocator());
    EXPECT_EQ(write(d), R"({"s":"a\"b\\c\n"})");
}

}  // namespace
}  // namespace opay::json
