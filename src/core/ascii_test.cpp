#include "ascii.h"

#include <gtest/gtest.h>

namespace opay {
namespace {

// What a hostile file or endpoint would put on the operator's terminal.
TEST(Printable, EscapesWhatDrivesATerminal) {
    EXPECT_EQ(printable("x\x1b[2K\rok"), "x\\x1b[2K\\x0dok");
    EXPECT_EQ(printable("a\nb\tc\x7f"), "a\\x0ab\\x09c\\x7f");
    EXPECT_EQ(printable(std::string("nul\0x", 5)), "nul\\x00x");
    // C1 controls as UTF-8 (U+009B is CSI) and as bare bytes
    EXPECT_EQ(printable("\xc2\x9b" "2J"), "\\x9b2J");
    EXPECT_EQ(printable("\x9b" "2J"), "\\x9b2J");
    EXPECT_EQ(printable("\xc2\x85"), "\\x85");
}

TEST(Printable, KeepsText) {
    EXPECT_EQ(printable("Patti Fernandez, 1 Main St"),
              "Patti Fernandez, 1 Main St");
    EXPECT_EQ(printable("M\xc3\xbcller \xe2\x82\xac 5 \xf0\x9f\x92\xb3"),
              "M\xc3\xbcller \xe2\x82\xac 5 \xf0\x9f\x92\xb3");
    EXPECT_EQ(printable("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is not C1
    EXPECT_EQ(printable("a\\x1b"), "a\\x1b");     // already text
}

TEST(Printable, EscapesBytesThatAreNotUtf8) {
    EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");          // overlong '/'
    EXPECT_EQ(printable("\xe0\x80\x80"), "\\xe0\\x80\\x80");  // overlong
    EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
    EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
    EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");           // cut short
    EXPECT_EQ(printable("\xff"), "\\xff");
}

TEST(Printable, JsonStaysJson) {
    EXPECT_EQ(printable("{\"a\":\"x\x7f\xc2\x9b\xff\"}", Printable::kJson),
              "{\"a\":\"x\\u007F\\u009B\\u00FF\"}");
    EXPECT_EQ(printable("{\"a\":\"\\u001b\"}", Printable::kJson),
              "{\"a\":\"\\u001b\"}");
}

}  // namespace
}  // namespace opay
