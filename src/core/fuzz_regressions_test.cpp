// Every input a fuzzer (fuzz/*_fuzz.cpp) found to break a rule, kept as
// a test of that rule. The inputs also stay in the fuzzers' seed corpora
// (testdata/fuzz/TARGET/crash-*).
#include <string>

#include <gtest/gtest.h>

#include "json.h"

namespace opay {
namespace {

// json_fuzz: a lone low surrogate escape was decoded into bytes that are
// not UTF-8, so the module's writer produced text its parser refuses (a
// journal line opay journal replay could not read).
TEST(FuzzRegressions, LoneSurrogateEscapesAreRefused) {
    for (const char* text :
         {R"({"error":{"type":"id\udc00ncy_error"}})", R"(["\udc00"])",
          R"({"\udfff":1})", R"(["\udc00\ud800"])", R"(["a\ud800"])",
          R"(["\ud800x"])"}) {
        json::Document doc;
        auto error = json::parse(text, doc);
        ASSERT_TRUE(error) << text;
        EXPECT_NE(error->reason.find("surrogate"), std::string::npos)
            << text << ": " << error->reason;
    }
    // a proper pair is one code point, written back as UTF-8
    json::Document doc;
    ASSERT_FALSE(json::parse(R"(["\ud83d\ude00"])", doc));
    EXPECT_EQ(json::write(doc), "[\"\xf0\x9f\x98\x80\"]");
    json::Document again;
    EXPECT_FALSE(json::parse(json::write(doc), again));
}

}  // namespace
}  // namespace opay
