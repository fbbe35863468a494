#include "json.h"
#include "json_members_check.h"
#include "json_reference.h"

#include <cstdint>
#include <iterator>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

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
    // either side of the short numbers' stack buffer
    for (std::size_t digits : {62, 63, 64, 65, 300}) {
        std::string n = "1" + std::string(digits - 1, '7');
        Document e;
        ASSERT_FALSE(parse("[" + n + "," + n + ".5]", e)) << digits;
        EXPECT_EQ(number_text(e[0]), n);
        EXPECT_EQ(write(e), "[" + n + "," + n + ".5]");
    }
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

// An empty backend answer reaches the parser as a view with no data at
// all: refused as empty text (the sanitizer builds check the copy).
TEST(Json, RefusesANullViewAsEmptyText) {
    Document doc;
    auto err = parse(std::string_view{}, doc);
    ASSERT_TRUE(err);
    EXPECT_EQ(err->reason, "The document is empty. at offset 0");
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

TEST(Json, RefusesEveryIllFormedUtf8Form) {
    EXPECT_FALSE(parses("[\"\xc0\xaf\"]"));          // overlong '/'
    EXPECT_FALSE(parses("[\"\xe0\x80\xaf\"]"));      // overlong, 3 bytes
    EXPECT_FALSE(parses("[\"\xf0\x80\x80\xaf\"]"));  // overlong, 4 bytes
    EXPECT_FALSE(parses("[\"\xed\xa0\x80\"]"));      // surrogate D800
    EXPECT_FALSE(parses("[\"\xf4\x90\x80\x80\"]"));  // above U+10FFFF
    EXPECT_FALSE(parses("[\"\xf5\x80\x80\x80\"]"));
    EXPECT_FALSE(parses("[\"\xe2\x82\"]"));          // truncated
    EXPECT_FALSE(parses("[\"\x80\"]"));              // lone continuation
    EXPECT_FALSE(parses("[\"abcdefgh\xe2\"]"));       // after an ASCII run
    EXPECT_FALSE(parses("\xef\xbb\xbf{}"));          // BOM outside a string
    EXPECT_TRUE(parses("[\"\xe2\x82\xac \xf0\x9f\x92\xb6 \xed\x9f\xbf\"]"));
    EXPECT_TRUE(parses("[\"\xf4\x8f\xbf\xbf\"]"));   // U+10FFFF
    EXPECT_FALSE(parses("[\"\\ud800\"]"));            // escaped lone surrogate
}

TEST(Json, RefusesNulAndControlCharacters) {
    using namespace std::string_literals;
    EXPECT_FALSE(parses("{\"a\":\"x\0y\"}"s));
    EXPECT_FALSE(parses("{\"a\":1}\0"s));
    EXPECT_FALSE(parses("[1\0]"s));
    EXPECT_FALSE(parses("[\"tab\there\"]"));
    Document d;
    ASSERT_FALSE(parse(R"(["a\u0000b"])", d));
    EXPECT_EQ(d[0].GetStringLength(), 3u);
}

TEST(Json, RefusesDuplicatesInLargeObjectsAndAtEveryLevel) {
    std::string big = "{";
    for (int i = 0; i < 40; ++i) big += "\"k" + std::to_string(i) + "\":1,";
    EXPECT_TRUE(parses(big + "\"last\":1}"));
    EXPECT_FALSE(parses(big + "\"k17\":1}"));
    EXPECT_FALSE(parses(R"({"a":[{"b":{"c":1,"c":2}}]})"));
    // names compare after unescaping
    EXPECT_FALSE(parses(R"({"a":1,"\u0061":2})"));
    // the same name in sibling objects is fine
    EXPECT_TRUE(parses(R"({"x":{"a":1},"y":{"a":1},"a":{"a":{"a":1}}})"));
}

// The names of the open objects are kept in place up to 32 and on the
// heap beyond: names read before the move still count after it, at every
// level, and an inner object's names are gone once it closes.
TEST(Json, KeepsOpenObjectsNamesAcrossTheMoveToTheHeap) {
    auto members = [](const std::string& prefix, int count) {
        std::string text;
        for (int i = 0; i < count; ++i) {
            text += "\"" + prefix + std::to_string(i) + "\":1,";
        }
        return text;
    };
    for (int outer : {1, 10, 20, 31, 32, 33, 40}) {
        for (int inner : {1, 12, 20, 31, 32, 40}) {
            std::string head = "{" + members("o", outer) + "\"in\":{" +
                               members("i", inner) + "\"deep\":{" +
                               members("d", 5) + "\"x\":1}},";
            // every outer name again, after the inner ones spilled
            EXPECT_TRUE(parses(head + "\"last\":1}")) << outer << " " << inner;
            EXPECT_FALSE(parses(head + "\"o0\":1}")) << outer << " " << inner;
            EXPECT_FALSE(parses(head + "\"o" + std::to_string(outer - 1) +
                                "\":1}"));
            EXPECT_FALSE(parses(head + "\"in\":1}"));
            // the inner names are the inner object's alone
            EXPECT_TRUE(parses(head + "\"i0\":1,\"d4\":1}"));
            // a duplicate inside, after the spill
            std::string inside = "{" + members("o", outer) + "\"in\":{" +
                                 members("i", inner) + "\"i0\":2}}";
            EXPECT_FALSE(parses(inside)) << outer << " " << inner;
        }
    }
}

TEST(Json, CountsDepthAcrossObjectsAndArrays) {
    std::string deep;
    for (std::size_t i = 0; i < kMaxDepth; ++i) deep += "{\"a\":[";
    deep += "1";
    for (std::size_t i = 0; i < kMaxDepth; ++i) deep += "]}";
    EXPECT_FALSE(parses(deep));
    Document d;
    auto err = parse(std::string(kMaxDepth + 1, '[') +
                         std::string(kMaxDepth + 1, ']'),
                     d);
    ASSERT_TRUE(err);
    EXPECT_EQ(err->reason, "nested too deeply");
}

// Objects alone, as deep as allowed and one deeper: each open object
// keeps its first name in a fixed slot (one per level), and a duplicate
// at the outer level after the deep part is still seen.
TEST(Json, KeepsEveryOpenObjectsNamesAtTheDepthLimit) {
    auto nested = [](std::size_t depth, std::string_view outer_tail) {
        std::string text;
        for (std::size_t i = 0; i < depth; ++i) text += R"({"a":1,"b":)";
        text += "1";
        for (std::size_t i = 1; i < depth; ++i) text += "}";
        return text + std::string(outer_tail) + "}";
    };
    EXPECT_TRUE(parses(nested(kMaxDepth, "")));
    EXPECT_TRUE(parses(nested(kMaxDepth, R"(,"c":2)")));
    EXPECT_FALSE(parses(nested(kMaxDepth, R"(,"a":2)")));
    EXPECT_FALSE(parses(nested(kMaxDepth + 1, "")));
}

TEST(Json, StringsOutliveTheInputText) {
    Document d;
    {
        std::string text = R"({"name":"value","n":42})";
        ASSERT_FALSE(parse(text, d));
        text.assign(text.size(), 'x');
    }
    EXPECT_EQ(*string_member(d, "name"), "value");
    EXPECT_EQ(number_text(d["n"]), "42");
    EXPECT_EQ(write(d), R"({"name":"value","n":42})");
}

// A string's text, never a number's (kept as tagged text) nor anything
// else's: string_member of a value already in hand.
TEST(Json, StringTextIsOnlyAStringsText) {
    Document d;
    ASSERT_FALSE(parse(R"({"s":"7","e":"","n":7,"b":true,"o":{},"z":null})",
                       d));
    EXPECT_EQ(string_text(member(d, "s")), "7");
    EXPECT_EQ(string_text(member(d, "e")), "");
    for (const char* name : {"n", "b", "o", "z", "missing"}) {
        EXPECT_FALSE(string_text(member(d, name))) << name;
        EXPECT_EQ(string_text(member(d, name)), string_member(d, name))
            << name;
    }
    EXPECT_EQ(string_text(member(d, "s")), string_member(d, "s"));
    EXPECT_FALSE(string_text(nullptr));
}

// A value copied into another document keeps its strings after the
// document it came from is gone.
TEST(Json, CopiedValuesOutliveTheirDocument) {
    Document target(rapidjson::kObjectType);
    {
        Document source;
        ASSERT_FALSE(parse(R"({"id":"priority","n":3.00,"k":{"x":"y"}})", source));
        target.AddMember("copy", Value(source, target.GetAllocator()),
                         target.GetAllocator());
        Document scribble;
        ASSERT_FALSE(parse(R"({"zz":"qqqqqqqq","nn":99999})", scribble));
    }
    EXPECT_EQ(write(target), R"({"copy":{"id":"priority","n":3.00,"k":{"x":"y"}}})");
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

// write() has its own serializer; what it writes must stay byte for byte
// what RapidJSON's Writer writes for valid text (peers and tests saw that).
TEST(Json, WritesWhatRapidJsonsWriterWrites) {
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    Value bytes(rapidjson::kArrayType);
    for (int c = 0; c < 0x80; ++c) {
        std::string s = "a";
        s += static_cast<char>(c);
        s += "b";
        bytes.PushBack(str(s, a), a);
    }
    d.AddMember("bytes", bytes, a);
    // the same bytes at every place of longer strings (read 8 at a time)
    Value placed(rapidjson::kArrayType);
    for (int c = 0; c < 0x80; ++c) {
        for (std::size_t at = 0; at < 17; ++at) {
            std::string s(17, 'x');
            s[at] = static_cast<char>(c);
            placed.PushBack(str(s, a), a);
        }
    }
    for (std::size_t at = 0; at < 17; ++at) {
        std::string s(17, 'y');
        s.replace(at, 1, "\xc3\xa9");
        placed.PushBack(str(s, a), a);
    }
    d.AddMember("placed", placed, a);
    d.AddMember(str("k\"\n\x01\xc3\xa9\xf0\x9f\x98\x80", a),
                str(std::string("\0\x7f\x1f\\/", 5), a), a);
    Value nested(rapidjson::kObjectType);
    nested.AddMember("t", true, a);
    nested.AddMember("f", false, a);
    nested.AddMember("n", Value(), a);
    nested.AddMember("i", -42, a);
    nested.AddMember("u", 4294967295u, a);
    nested.AddMember("d", 0.1, a);
    nested.AddMember("e", Value(rapidjson::kObjectType), a);
    nested.AddMember("z", Value(rapidjson::kArrayType), a);
    d.AddMember("nested", nested, a);
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    d.Accept(w);
    EXPECT_EQ(write(d), std::string(sb.GetString(), sb.GetSize()));
    EXPECT_EQ(write(d["bytes"][1]), R"("a\u0001b")");
    EXPECT_EQ(write(d["bytes"][8]), R"("a\bb")");
    EXPECT_EQ(write(d["bytes"][0x1f]), R"("a\u001Fb")");
    EXPECT_EQ(write(Value(rapidjson::kArrayType)), "[]");
}

// Names known when the program is built are made at compile time and
// written as key(std::string_view) writes them.
static_assert(Name{"id"}.text() == "\"id\":");
static_assert(Name{""}.text() == "\"\":");

TEST(JsonWriter, NamesAreWrittenAsKeysAre) {
    static constexpr Name kShort{"a"};
    static constexpr Name kLongest{"abcdefghijklmnopqrstuvwxyz012"};
    static constexpr Name kPunctuation{" !#$%&'()*+,-./:;<=>?@"};
    static constexpr Name kMore{"[]^_`{|}~09AZ"};
    static_assert(kLongest.text().size() == Name::kMax + 3);
    Writer by_name;
    Writer by_view;
    by_name.begin_array();
    by_view.begin_array();
    for (int i = 0; i < 3; ++i) {
        by_name.begin_object();
        by_view.begin_object();
        by_name.key(kShort);
        by_view.key("a");
        by_name.begin_object();
        by_view.begin_object();
        by_name.key(kLongest);
        by_view.key("abcdefghijklmnopqrstuvwxyz012");
        by_name.null();
        by_view.null();
        by_name.key(kPunctuation);
        by_view.key(" !#$%&'()*+,-./:;<=>?@");
        by_name.string("x");
        by_view.string("x");
        by_name.key(kMore);
        by_view.key("[]^_`{|}~09AZ");
        by_name.boolean(true);
        by_view.boolean(true);
        by_name.end_object();
        by_view.end_object();
        by_name.end_object();
        by_view.end_object();
    }
    by_name.end_array();
    by_view.end_array();
    std::string text = by_name.done();
    EXPECT_EQ(text, by_view.done());
    Document d;
    ASSERT_FALSE(parse(text, d));
    EXPECT_EQ(write(d), text);
    EXPECT_EQ(text.substr(0, 41),
              R"([{"a":{"abcdefghijklmnopqrstuvwxyz012":nu)");
}

// Text written once and copied in with raw() comes out as the same calls
// would have written it: a value after a key, whole members of an object
// (first or not), whole elements of an array; empty text adds nothing,
// not even a comma.
TEST(JsonWriter, RawTextIsWrittenAsTheCallsWould) {
    auto members = [](Writer& w) {
        w.key("a");
        w.begin_array();
        w.string("x");
        w.end_array();
        w.key("b");
        w.boolean(false);
    };
    Writer part;
    part.begin_object();
    members(part);
    part.end_object();
    std::string object = part.done();
    std::string inner = object.substr(1, object.size() - 2);
    ASSERT_EQ(inner, R"("a":["x"],"b":false)");

    Writer by_calls;
    Writer by_raw;
    by_calls.begin_array();
    by_raw.begin_array();
    by_calls.begin_object();
    by_raw.begin_object();
    members(by_calls);  // the object's first members
    by_raw.raw(inner);
    by_raw.raw("");
    by_calls.key("c");
    by_raw.key("c");
    by_calls.begin_object();  // a value after a key
    members(by_calls);
    by_calls.end_object();
    by_raw.raw(object);
    by_calls.key("d");  // members after others
    by_calls.number("1");
    by_calls.key("e");
    by_calls.string("z");
    by_raw.raw(R"("d":1,"e":"z")");
    by_calls.end_object();
    by_raw.end_object();
    by_raw.raw("");
    by_calls.null();  // elements after others
    by_calls.string("y");
    by_raw.raw(R"(null,"y")");
    by_calls.end_array();
    by_raw.end_array();
    std::string text = by_calls.done();
    EXPECT_EQ(by_raw.done(), text);
    EXPECT_EQ(text, R"([{"a":["x"],"b":false,"c":{"a":["x"],"b":false},)"
                    R"("d":1,"e":"z"},null,"y"])");
}

// What would need escaping (or is not ASCII) is refused: at compile time
// for a constexpr Name, here at run time with the same check.
TEST(JsonWriter, NamesThatNeedEscapingAreRefused) {
    const char quote[] = "a\"b";
    const char backslash[] = "a\\b";
    const char newline[] = "a\nb";
    const char nul[] = "a\0b";
    const char del[] = "a\x7f";
    const char accented[] = "caf\xc3\xa9";
    EXPECT_THROW(Name{quote}, std::invalid_argument);
    EXPECT_THROW(Name{backslash}, std::invalid_argument);
    EXPECT_THROW(Name{newline}, std::invalid_argument);
    EXPECT_THROW(Name{nul}, std::invalid_argument);
    EXPECT_THROW(Name{del}, std::invalid_argument);
    EXPECT_THROW(Name{accented}, std::invalid_argument);
    const char plain[] = "plain~";
    EXPECT_EQ(Name{plain}.text(), "\"plain~\":");
}

// Every length around the word size, with an escaped, a multi-byte or an
// invalid byte at every place (in a word, in the tail, across both): as
// RapidJSON's Writer writes them, invalid bytes aside (U+FFFD).
TEST(Json, WritesEveryTailAsRapidJsonsWriterDoes) {
    const std::string specials[] = {"\"", "\\", "\n", "\x01", "\x7f",
                                    "\xc3\xa9", "\xe2\x82\xac",
                                    "\xf0\x9f\x98\x80"};
    for (std::size_t n = 0; n <= 26; ++n) {
        for (std::size_t at = 0; at <= n; ++at) {
            for (const auto& special : specials) {
                std::string text(n, 'q');
                text.insert(at, special);
                Document d(rapidjson::kArrayType);
                d.PushBack(str(text, d.GetAllocator()), d.GetAllocator());
                rapidjson::StringBuffer sb;
                rapidjson::Writer<rapidjson::StringBuffer> w(sb);
                d.Accept(w);
                ASSERT_EQ(write(d), std::string(sb.GetString(), sb.GetSize()))
                    << n << " " << at;
            }
            std::string invalid(n, 'q');
            invalid.insert(at, "\xc3");  // a lead byte without its tail
            Document d(rapidjson::kArrayType);
            d.PushBack(str(invalid, d.GetAllocator()), d.GetAllocator());
            std::string expected = invalid;
            expected.replace(at, 1, "\xef\xbf\xbd");
            ASSERT_EQ(write(d), "[\"" + expected + "\"]") << n << " " << at;
        }
    }
}

// The forms valid_utf8 and the writer must tell apart: well-formed
// sequences at the edges of each length, and every ill-formed kind (a
// stray continuation, overlong, a surrogate, above U+10FFFF, a lead byte
// that never starts one, a bad continuation); with each well-formed one
// cut short, every prefix, generated below.
const char* const kWellFormed[] = {
    "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xe2\x82\xac", "\xed\x9f\xbf",
    "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf0\x9f\x98\x80",
    "\xf4\x8f\xbf\xbf"};
const char* const kIllFormed[] = {
    "\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf",
    "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",
    "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf7\xbf\xbf\xbf",
    "\xf8\x88\x80\x80\x80", "\xfe", "\xff", "\xc2\x41", "\xe2\x82\x41",
    "\xf0\x9f\x98\x41", "\xc2\xc2\x80"};

std::vector<std::pair<std::string, bool>> utf8_forms() {
    std::vector<std::pair<std::string, bool>> forms;
    for (const char* f : kWellFormed) {
        std::string form = f;
        forms.emplace_back(form, true);
        for (std::size_t cut = 1; cut < form.size(); ++cut) {
            forms.emplace_back(form.substr(0, cut), false);
        }
    }
    for (const char* f : kIllFormed) forms.emplace_back(f, false);
    return forms;
}

// The writer copies runs a word at a time (two overlapping half words,
// or three bytes, for a short tail) and looks at the byte that ends each:
// every escaped byte, every UTF-8 form (well-formed, cut, overlong,
// surrogate, too high, stray) at every offset from 0 to 40 with 0 to 9
// plain bytes after, and random text, come out as the byte loop of
// json_reference.h writes them.
TEST(Json, WritesEveryStringAsTheByteLoop) {
    std::vector<std::string> pieces = {"\"", "\\", "\n", "\x01", "\x1f",
                                       std::string(1, '\0'), "\x7f", " ",
                                       "\"\\"};
    for (const auto& [form, good] : utf8_forms()) pieces.push_back(form);
    // (a string that starts with 0xFF longer than one byte is a number's
    // tagged text, written bare: not text this test writes)
    auto written = [](const std::string& text) {
        Document d;
        return write(str(text, d.GetAllocator()));
    };
    auto tagged = [](const std::string& text) {
        return text.size() > 1 && text[0] == '\xff';
    };
    for (const auto& piece : pieces) {
        for (std::size_t before = 0; before <= 40; ++before) {
            for (std::size_t after = 0; after <= 9; ++after) {
                std::string text(before, 'a');
                text += piece;
                text.append(after, '~');
                if (tagged(text)) continue;
                ASSERT_EQ(written(text), reference::write_string(text))
                    << before << " " << piece << " " << after;
            }
        }
    }
    std::mt19937 random(21);
    for (std::size_t n = 0; n < 100000; ++n) {
        std::string text;
        std::size_t size = random() % 40;
        while (text.size() < size) {
            unsigned r = random() % 100;
            if (r < 80) {
                text += static_cast<char>(0x20 + random() % 0x5f);
            } else if (r < 95) {
                text += pieces[random() % pieces.size()];
            } else {
                text += static_cast<char>(random() % 0x100);
            }
        }
        if (tagged(text)) text.insert(0, "a");
        ASSERT_EQ(written(text), reference::write_string(text)) << n;
    }
}

// Long strings are written a block of 4096 bytes at a time: escapes and
// multi-byte characters across every place of a block's end come out as
// RapidJSON's Writer writes them.
TEST(Json, WritesLongStringsAcrossBlocks) {
    const std::string pieces[] = {"\xc3\xa9", "\xe2\x82\xac",
                                  "\xf0\x9f\x98\x80", "\x01", "\"", "\\",
                                  "\n", "abcdefgh"};
    for (std::size_t shift = 0; shift < 9; ++shift) {
        for (const auto& piece : pieces) {
            Document d(rapidjson::kArrayType);
            auto& a = d.GetAllocator();
            std::string text(4096 - shift, 'x');
            while (text.size() < 3 * 4096 + 7) text += piece + "yz";
            d.PushBack(str(text, a), a);
            rapidjson::StringBuffer sb;
            rapidjson::Writer<rapidjson::StringBuffer> w(sb);
            d.Accept(w);
            ASSERT_EQ(write(d), std::string(sb.GetString(), sb.GetSize()))
                << shift << " " << piece;
        }
    }
}

TEST(Json, RefusesLoneAndMisorderedSurrogates) {
    Document d;
    auto err = parse(R"({"payerName":"\udc00"})", d);
    ASSERT_TRUE(err.has_value());
    EXPECT_NE(err->reason.find("surrogate"), std::string::npos)
        << err->reason;
    EXPECT_FALSE(parses(R"(["\udfff"])"));            // lone low
    EXPECT_FALSE(parses(R"(["\ud800"])"));            // lone high
    EXPECT_FALSE(parses(R"(["\ud800x"])"));           // high, no low
    EXPECT_FALSE(parses(R"(["\udc00\ud800"])"));     // mis-ordered
    EXPECT_FALSE(parses(R"(["\ud800\u0041"])"));     // high + not low
    EXPECT_FALSE(parses(R"({"\udc00":1})"));          // in a name too
    EXPECT_FALSE(parses("[\"\xed\xa0\x80\"]"));      // raw surrogate
    EXPECT_TRUE(parses(R"(["\ud83d\ude00"])"));      // a real pair
    EXPECT_TRUE(parses(R"(["\ud7ff\ue000"])"));      // around the range
}

// The check skips ASCII eight bytes at a time: an escaped surrogate is
// found at every offset behind a plain run, in values and names.
TEST(Json, FindsEscapedSurrogatesAtEveryOffset) {
    for (std::size_t at = 0; at < 20; ++at) {
        std::string run(at, 'x');
        EXPECT_FALSE(parses("[\"" + run + "\\udc00\"]")) << at;
        EXPECT_FALSE(parses("[\"" + run + "\\ud800y\"]")) << at;
        EXPECT_FALSE(parses("{\"" + run + "\\udfff\":1}")) << at;
        EXPECT_TRUE(parses("[\"" + run + "\\ud83d\\ude00" + run + "\"]"))
            << at;
        EXPECT_TRUE(parses("[\"" + run + "\\ud7ff\\ue000\"]")) << at;
    }
}

// read_members is the same parse over the caller's buffer, without a
// document: the same answer (the same reason when refused) and the same
// members, scalars and arrays' scalars as the document holds.
TEST(Json, ReadsMembersAsParseDoes) {
    const std::string texts[] = {
        R"({"a":1,"b":[true,false,null],"c":{"d":"e\n\u00e9"}})",
        R"({"aud":["x",1,"y",["z"],{"w":"v"},null],"exp":1.5e3,"n":-0})",
        R"({"x":{"y":[1,{"z":[2]}]},"k":"\"q\""})",
        R"({})",
        R"(  ["x", 1.5e3, -0]  )",
        R"("text")",
        R"({"a":1,"a":2})",
        R"({"a":{"b":1,"b":2}})",
        R"(["\udc00"])",
        R"({"k\udc00":1})",
        "[1] x",
        "{\"a\":1} {",
        std::string("[1]\0", 4),
        std::string("[\"a\0b\"]", 7),
        "[\"\xc3\x28\"]",
        "",
        std::string(40, '[') + std::string(40, ']'),
        "{\"a\":" + std::string(40, '[') + std::string(40, ']') + "}",
        R"({"s":"plain text, long enough to be read a word at a time"})",
        "{\"s\":\"" + std::string(kMaxStringLength + 1, 'x') + "\"}",
    };
    for (const auto& text : texts) {
        EXPECT_EQ(check::by_reader(text), check::by_document(text)) << text;
    }
    // and the transcripts say what they should: not vacuously equal
    EXPECT_EQ(check::by_reader(R"({"a":[1,"b",[2]],"c":{"d":1},"e":"f"})"),
              "object\n"
              "e 1:a number 1:1\n"
              "e 1:a string 1:b\n"
              "m 1:a array 0:\n"
              "m 1:c object 0:\n"
              "m 1:e string 1:f\n");
    EXPECT_EQ(check::by_reader(R"({"a":1,"a":2})"),
              "refused: duplicate member name\n");
    EXPECT_EQ(check::by_reader("[1]"), "not an object\n");
    // nothing is told of a top-level array, however deep it goes
    EXPECT_EQ(check::by_reader(R"(["m",1,[2,"y"],{"a":[1]},[["z"]]])"),
              "not an object\n");
}

// parse() scans strings a word at a time where RapidJSON walks them a
// byte at a time: each byte that ends a plain run (quote, backslash
// escapes, control bytes, NUL, the text's end) at every offset around the
// 8-byte steps, in values and names, after an escape (copied down) or
// not, must give the same answer: the same refusal at the same offset,
// or the same document.
TEST(Json, ScansStringsAsRapidJsonsByteLoopDoes) {
    const std::string stops[] = {
        "\"",        "\\n",        "\\\"",      "\\\\",
        "\\u00e9",  "\\ud83d\\ude00", "\\x",  std::string(1, '\x01'),
        std::string(1, '\x1f'), std::string(1, '\0'), "\x7f",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", " ",
        "\\",       "\\u12",
    };
    int compared = 0;
    int accepted = 0;
    for (const auto& stop : stops) {
        for (std::size_t before = 0; before <= 19; ++before) {
            for (std::size_t after : {0u, 1u, 7u, 8u, 9u, 17u}) {
                std::string plain = std::string(before, 'a');
                std::string tail = std::string(after, 'b');
                std::string body = plain + stop + tail;
                const std::string texts[] = {
                    "[\"" + body + "\"]",
                    "{\"" + body + "\":\"\\t" + body + "\"}",
                    "[\"" + body,  // the text ends inside the string
                    "\"" + body + "\"",
                };
                for (const auto& text : texts) {
                    Document word;
                    Document byte;
                    auto a = parse(text, word);
                    auto b = parse_bytewise(text, byte);
                    ASSERT_EQ(a.has_value(), b.has_value()) << text;
                    if (a) {
                        EXPECT_EQ(a->reason, b->reason) << text;
                    } else {
                        EXPECT_EQ(write(word), write(byte)) << text;
                        ++accepted;
                    }
                    ++compared;
                }
            }
        }
    }
    // both kinds were met
    EXPECT_GT(accepted, 1000);
    EXPECT_GT(compared - accepted, 1000);
}

// parse() and read_members() read with detail::Reader, parse_bytewise()
// with RapidJSON's own reader: both must answer alike. same() says they
// do for one text (the same refusal at the same offset, or the same
// document; read_members the same as the document) and gives the reason.
std::string same(const std::string& text) {
    Document ours;
    Document theirs;
    auto a = parse(text, ours);
    auto b = parse_bytewise(text, theirs);
    EXPECT_EQ(a.has_value(), b.has_value()) << text;
    EXPECT_EQ(check::by_reader(text), check::by_document(text)) << text;
    if (a && b) {
        EXPECT_EQ(a->reason, b->reason) << text;
        return a->reason;
    }
    if (!a && !b) {
        EXPECT_EQ(write(ours), write(theirs)) << text;
    }
    return a ? a->reason : "";
}

// Every error the reader can raise, each at the offset RapidJSON gives:
// the reason texts are pinned here, and parse_bytewise must give them too.
TEST(Json, RefusesAsRapidJsonDoesWithTheSameOffsets) {
    using namespace std::string_literals;
    const std::string huge(400, '0');
    const std::pair<std::string, std::string> cases[] = {
        {"", "The document is empty. at offset 0"},
        {" \t\r\n", "The document is empty. at offset 4"},
        {" \0[1]"s, "The document is empty. at offset 1"},
        {"x", "Invalid value. at offset 0"},
        {"nul", "Invalid value. at offset 3"},
        {"nulL", "Invalid value. at offset 3"},
        {"[tru]", "Invalid value. at offset 4"},
        {"fals", "Invalid value. at offset 4"},
        {"nx", "Invalid value. at offset 1"},
        {"-", "Invalid value. at offset 1"},
        {"[-x]", "Invalid value. at offset 2"},
        {"+1", "Invalid value. at offset 0"},
        {".5", "Invalid value. at offset 0"},
        {"[1,]", "Invalid value. at offset 3"},
        {"[", "Invalid value. at offset 1"},
        {"[1,\0]"s, "Invalid value. at offset 3"},
        {"{", "Missing a name for object member. at offset 1"},
        {"{1:2}", "Missing a name for object member. at offset 1"},
        {R"({"a":1, })", "Missing a name for object member. at offset 8"},
        {R"({"a" 1})", "Missing a colon after a name of object member. "
                       "at offset 5"},
        {R"({"a")", "Missing a colon after a name of object member. "
                    "at offset 4"},
        {R"({"a":1 "b":2})", "Missing a comma or '}' after an object "
                             "member. at offset 7"},
        {R"({"a":1)", "Missing a comma or '}' after an object member. "
                      "at offset 6"},
        {"[1 2]", "Missing a comma or ']' after an array element. "
                  "at offset 3"},
        {"[01]", "Missing a comma or ']' after an array element. "
                 "at offset 2"},
        {"[1", "Missing a comma or ']' after an array element. "
               "at offset 2"},
        {R"(["\u12x4"])", "Incorrect hex digit after \\u escape in string. "
                          "at offset 2"},
        {R"(["ab\u00G0"])", "Incorrect hex digit after \\u escape in "
                            "string. at offset 4"},
        {R"(["\u)", "Incorrect hex digit after \\u escape in string. "
                    "at offset 2"},
        {R"(["\ud800\u12"])", "Incorrect hex digit after \\u escape in "
                              "string. at offset 2"},
        {R"(["\ud800"])", "The surrogate pair in string is invalid. "
                          "at offset 2"},
        {R"(["\ud800\n"])", "The surrogate pair in string is invalid. "
                            "at offset 2"},
        {R"(["\ud800\ud800"])", "The surrogate pair in string is invalid. "
                                "at offset 2"},
        {R"(["x\udbff\ue000"])", "The surrogate pair in string is "
                                 "invalid. at offset 3"},
        {R"(["\x"])", "Invalid escape character in string. at offset 2"},
        {R"(["\)", "Invalid escape character in string. at offset 2"},
        {"[\"a\x01\"]", "Invalid escape character in string. at offset 3"},
        {"[\"\t\"]", "Invalid escape character in string. at offset 2"},
        {"{\"\x1f\":1}", "Invalid escape character in string. at offset 2"},
        {R"(["abc)", "Missing a closing quotation mark in string. "
                     "at offset 5"},
        {R"(["a\"])", "Missing a closing quotation mark in string. "
                      "at offset 6"},
        {"\"", "Missing a closing quotation mark in string. at offset 1"},
        {"[\"a\0b\"]"s, "Missing a closing quotation mark in string. "
                        "at offset 3"},
        {"1.", "Miss fraction part in number. at offset 2"},
        {"[1.e5]", "Miss fraction part in number. at offset 3"},
        {"-0.", "Miss fraction part in number. at offset 3"},
        {"1e", "Miss exponent in number. at offset 2"},
        {"1e+", "Miss exponent in number. at offset 3"},
        {"[1E-]", "Miss exponent in number. at offset 4"},
        {"1.5ex", "Miss exponent in number. at offset 4"},
        // the exponent's bound is 308 plus the fraction digits counted
        {"1e309", "Number too big to be stored in double. at offset 0"},
        {"[0.1e310]", "Number too big to be stored in double. at offset 1"},
        // an integer beyond DBL_MAX: refused before its 310th digit
        {"1" + std::string(309, '0'),
         "Number too big to be stored in double. at offset 0"},
        {"[-2" + std::string(308, '0') + "]",
         "Number too big to be stored in double. at offset 1"},
        // the handler's own refusals, at the end of the string
        {R"({"a":"\udc00"})",
         "lone or mis-ordered UTF-16 surrogate in a \\u escape at offset 13"},
        {R"({"k\udc00":1})",
         "lone or mis-ordered UTF-16 surrogate in a \\u escape at offset 10"},
        {"{\"" + std::string(kMaxStringLength + 1, 'k') + "\":1}",
         "string longer than 16384 bytes at offset " +
             std::to_string(kMaxStringLength + 4)},
        {"[\"" + std::string(kMaxStringLength + 1, 'x') + "\"]",
         "string longer than 16384 bytes at offset " +
             std::to_string(kMaxStringLength + 4)},
        {std::string(kMaxDepth + 1, '[') + std::string(kMaxDepth + 1, ']'),
         "nested too deeply"},
        {R"({"a":1,"a":2})", "duplicate member name"},
        {"[1] x", "trailing data after the JSON value"},
        {"01", "trailing data after the JSON value"},
        {"1 2", "trailing data after the JSON value"},
        {"{}\0"s, "trailing data after the JSON value"},
        {"\xef\xbb\xbf{}", "Invalid value. at offset 0"},
        // accepted: top-level scalars, numbers at their edges
        {"1", ""},
        {" \"s\" ", ""},
        {"true", ""},
        {"false\n", ""},
        {"null", ""},
        {"-0.0e+0", ""},
        {"[1e308,0.1e309,-1E-99999999999]", ""},
        {"[4294967295,4294967296,-2147483648,-2147483649]", ""},
        {"[18446744073709551615,18446744073709551616]", ""},
        {"[-9223372036854775808,-9223372036854775809]", ""},
        {"[9007199254740991.5,9007199254740993.123456789012345678]", ""},
        {"1" + std::string(308, '0'), ""},
        // fraction digits past the 17 significant ones are not counted
        {"[0." + huge + "1e700]", ""},
        // (here 17 of them: the bound is 325)
        {"[1.0000000000000000000000e325]", ""},
        {"[1.0000000000000000000000e326]",
         "Number too big to be stored in double. at offset 1"},
        {R"(["\ud83d\ude00\u00e9\u0000\/\b\f\n\r\t\"\\"])", ""},
        {std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']'), ""},
    };
    for (const auto& [text, reason] : cases) {
        EXPECT_EQ(same(text), reason) << text;
    }
}

// RapidJSON refuses a number too big for a double even when it keeps the
// text: an integer part past DBL_MAX, or an exponent past 308 plus the
// fraction digits it counts (up to 17 significant ones, leading zeros
// not among them). Every exponent across that bound, for fractions that
// stop its counting at each of its steps, and integers across DBL_MAX.
TEST(Json, RefusesTooBigNumbersWhereRapidJsonDoes) {
    std::size_t refused = 0;
    std::size_t compared = 0;
    for (const char* whole : {"0", "1", "12345678901234567890"}) {
        for (std::size_t zeros : {0u, 1u, 5u}) {
            for (std::size_t digits = 13; digits <= 20; ++digits) {
                for (int exp = 295; exp <= 345; ++exp) {
                    std::string n = std::string(whole) + "." +
                                    std::string(zeros, '0') +
                                    std::string(digits, '9') + "e" +
                                    std::to_string(exp);
                    if (!same("[" + n + "]").empty()) ++refused;
                    ++compared;
                }
            }
        }
    }
    for (char first : {'1', '2', '9'}) {
        for (std::size_t digits = 305; digits <= 312; ++digits) {
            std::string n = first + std::string(digits - 1, '0');
            if (!same("[-" + n + "]").empty()) ++refused;
            if (!same(n + ".5").empty()) ++refused;
            compared += 2;
        }
    }
    EXPECT_GT(refused, compared / 4);
    EXPECT_LT(refused, compared * 3 / 4);
}

// Every text of up to a few bytes over alphabets that reach each branch
// of the reader (structure, numbers, escapes), top-level and inside an
// array: the same answer from both readers.
TEST(Json, ReadsEveryShortTextAsRapidJsonDoes) {
    struct Sweep {
        std::string alphabet;
        std::size_t longest;
        std::string before;
        std::string after;
    };
    const Sweep sweeps[] = {
        {"[]{},:\"1 \\", 5, "", ""},
        {"-019.eE+", 5, "", ""},
        {"-019.eE+", 5, "[", "]"},
        {"\\u\"d8c0Fx/", 5, "[\"", "\"]"},
        {"\\ud8c0e", 5, "{\"", "\":1}"},
        {"ntrufals\"", 4, "[", ""},
    };
    std::size_t compared = 0;
    std::size_t accepted = 0;
    for (const auto& sweep : sweeps) {
        std::vector<std::size_t> at;
        for (std::size_t n = 0; n <= sweep.longest; ++n) {
            at.assign(n, 0);
            for (;;) {
                std::string body;
                for (std::size_t k : at) body += sweep.alphabet[k];
                if (same(sweep.before + body + sweep.after).empty()) {
                    ++accepted;
                }
                ++compared;
                // the next text of this length
                std::size_t k = 0;
                while (k < n && ++at[k] == sweep.alphabet.size()) at[k++] = 0;
                if (k == n) break;
            }
        }
    }
    // both kinds were met, many times
    EXPECT_GT(accepted, 10000u);
    EXPECT_GT(compared - accepted, 100000u);
}

// Whitespace: runs of every length up to 19, ended by each kind of byte
// (other whitespace, a token, garbage, a NUL, UTF-8, the text's end),
// between every pair of tokens.
TEST(Json, SkipsWhitespaceAsRapidJsonDoes) {
    using namespace std::string_literals;
    const std::string ends[] = {"", "\n", "\t ", "\r\n  ", "x", "\0"s,
                                "\xc3\xa9"};
    std::size_t accepted = 0;
    for (std::size_t n = 0; n <= 19; ++n) {
        for (const auto& end : ends) {
            std::string ws = std::string(n, ' ') + end;
            const std::string texts[] = {
                ws + "{" + ws + "\"a\"" + ws + ":" + ws + "[" + ws + "1" + ws +
                    "," + ws + "true" + ws + "]" + ws + "}" + ws,
                ws,
                "[" + ws,
                "{\"a\":1" + ws,
            };
            for (const auto& text : texts) {
                if (same(text).empty()) ++accepted;
            }
        }
    }
    EXPECT_EQ(accepted, 20u * 4);  // the first text with "", \n, \t, \r\n
}

TEST(Json, RefusesLongStrings) {
    std::string ok(kMaxStringLength, 'a');
    std::string tooLong(kMaxStringLength + 1, 'a');
    EXPECT_TRUE(parses("[\"" + ok + "\"]"));
    Document d;
    auto err = parse("[\"" + tooLong + "\"]", d);
    ASSERT_TRUE(err.has_value());
    EXPECT_NE(err->reason.find("string longer than"), std::string::npos);
    EXPECT_FALSE(parses("{\"" + tooLong + "\":1}"));
}

TEST(Json, WritesOnlyValidUtf8) {
    Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    // text cut in the middle of a character, a surrogate, an overlong form
    d.AddMember("cut", str(std::string("caf\xc3"), a), a);
    d.AddMember("sur", str(std::string("\xed\xb0\x80"), a), a);
    d.AddMember("over", str(std::string("\xc0\xaf"), a), a);
    d.AddMember(str(std::string("k\xff"), a), str("\xc3\xa9", a), a);
    std::string out = write(d);
    EXPECT_TRUE(valid_utf8(out)) << out;
    EXPECT_EQ(out,
              "{\"cut\":\"caf\xef\xbf\xbd\",\"sur\":\"\xef\xbf\xbd\xef\xbf\xbd"
              "\xef\xbf\xbd\",\"over\":\"\xef\xbf\xbd\xef\xbf\xbd\",\"k\xef\xbf"
              "\xbd\":\"\xc3\xa9\"}");
    // what it writes, it reads back
    Document back;
    EXPECT_FALSE(parse(out, back).has_value());
    // a stray byte at any place of a longer string (read 8 at a time)
    for (char bad : {'\x80', '\x9f', '\xc3', '\xfe'}) {
        for (std::size_t at = 0; at < 17; ++at) {
            std::string s(17, 'x');
            s[at] = bad;
            std::string want = "\"" + s + "\"";
            want.replace(at + 1, 1, "\xef\xbf\xbd");
            EXPECT_EQ(write(str(s, a)), want) << at;
        }
    }
}

TEST(Json, ValidUtf8FollowsRfc3629) {
    EXPECT_TRUE(valid_utf8("plain"));
    EXPECT_TRUE(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    EXPECT_TRUE(valid_utf8("\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf"));
    EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // U+D800
    EXPECT_FALSE(valid_utf8("\xe0\x9f\xbf"));      // overlong
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // over U+10FFFF
    EXPECT_FALSE(valid_utf8("\xc3"));               // cut
    EXPECT_FALSE(valid_utf8("\x80"));               // stray continuation
}

// The reference (json_reference.h) itself says what the forms are.
TEST(Json, ReferenceKnowsEveryUtf8Form) {
    for (const auto& [form, good] : utf8_forms()) {
        EXPECT_EQ(reference::valid_utf8(form), good) << form;
    }
}

// valid_utf8 reads ASCII a word (and four words) at a time: each form, at
// every offset from 0 to 40 in ASCII and followed by 0 to 9 more bytes
// (every place around the 8- and 32-byte steps), gets the byte loop's
// verdict; and a well-formed character after the form changes nothing.
TEST(Json, ValidUtf8AnswersAsTheByteLoopAtEveryOffset) {
    auto forms = utf8_forms();
    std::size_t checked = 0;
    for (const auto& [form, good] : forms) {
        for (std::size_t before = 0; before <= 40; ++before) {
            for (std::size_t after = 0; after <= 9; ++after) {
                std::string text(before, 'a');
                text += form;
                text.append(after, 'b');
                ASSERT_EQ(valid_utf8(text), good)
                    << before << " " << form << " " << after;
                ASSERT_EQ(reference::valid_utf8(text), good);
                text += "\xe2\x82\xac";
                ASSERT_EQ(valid_utf8(text), good)
                    << before << " " << form << " " << after << " +euro";
                ++checked;
            }
        }
    }
    EXPECT_EQ(checked, forms.size() * 41 * 10);
}

// Random text, mostly ASCII with characters, ill-formed ones and stray
// bytes mixed in:
// valid_utf8 and the byte loop agree on every one, and both answers come
// up often (the test would catch a check that always says one thing).
TEST(Json, ValidUtf8AnswersAsTheByteLoopOnRandomText) {
    std::mt19937 random(21);
    auto forms = utf8_forms();
    std::size_t good = 0;
    constexpr std::size_t kTexts = 100000;
    for (std::size_t n = 0; n < kTexts; ++n) {
        std::string text;
        std::size_t size = random() % 90;
        while (text.size() < size) {
            unsigned r = random() % 100;
            if (r < 85) {
                text += static_cast<char>(random() % 0x80);
            } else if (r < 97) {
                text += kWellFormed[random() % std::size(kWellFormed)];
            } else if (r < 99) {
                text += forms[random() % forms.size()].first;
            } else {
                text += static_cast<char>(0x80 + random() % 0x80);
            }
        }
        bool want = reference::valid_utf8(text);
        ASSERT_EQ(valid_utf8(text), want) << n;
        good += want ? 1 : 0;
    }
    EXPECT_GT(good, kTexts / 10);
    EXPECT_LT(good, kTexts * 9 / 10);
}

// Arenas: memory the flows' documents borrow, one at a time each.

// A document's parse stack: the first block inside the allocator, a
// larger one on the heap with what the first held, freed through the
// static Free either way.
TEST(JsonStack, KeepsTheFirstBlockInsideAndGrowsOnTheHeap) {
    auto s = std::make_unique<StackAllocator>();
    const char* begin = reinterpret_cast<const char*>(s.get());
    const char* end = begin + sizeof(StackAllocator);
    auto inside = [&](const void* p) {
        return static_cast<const char*>(p) >= begin &&
               static_cast<const char*>(p) < end;
    };
    auto* p = static_cast<char*>(s->Malloc(100));
    ASSERT_TRUE(inside(p));
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignof(std::max_align_t),
              0u);
    for (int i = 0; i < 100; ++i) p[i] = static_cast<char>(i);
    EXPECT_EQ(s->Realloc(p, 100, StackAllocator::kInline), p);
    auto* q = static_cast<char*>(
        s->Realloc(p, StackAllocator::kInline, StackAllocator::kInline + 1));
    ASSERT_NE(q, nullptr);
    EXPECT_FALSE(inside(q));
    for (int i = 0; i < 100; ++i) ASSERT_EQ(q[i], static_cast<char>(i));
    q[StackAllocator::kInline] = 'x';  // its last byte
    q = static_cast<char*>(s->Realloc(q, StackAllocator::kInline + 1, 8192));
    ASSERT_NE(q, nullptr);
    for (int i = 0; i < 100; ++i) ASSERT_EQ(q[i], static_cast<char>(i));
    EXPECT_EQ(q[StackAllocator::kInline], 'x');
    q[8191] = 'y';
    StackAllocator::Free(q);
    // the first block again, once the heap one is gone
    void* again = s->Malloc(StackAllocator::kInline);
    EXPECT_TRUE(inside(again));
    // a second stack while the first block is taken: from the heap
    void* second = s->Malloc(10);
    EXPECT_FALSE(inside(second));
    StackAllocator::Free(second);
    StackAllocator::Free(again);  // the first block free again
    void* third = s->Malloc(10);
    EXPECT_TRUE(inside(third));
    StackAllocator::Free(third);
    StackAllocator::Free(nullptr);
    EXPECT_EQ(s->Realloc(s->Malloc(10), 10, 0), nullptr);
    EXPECT_TRUE(inside(s->Malloc(10)));  // Realloc to 0 freed it
}

// RapidJSON's own Document::Parse takes its reader's stack from the
// document's stack allocator while the document's stack holds values:
// two stacks at once, neither written over the other (the review's
// reproducer), the first parse and every later one.
TEST(JsonStack, TwoStacksAtOnceDoNotShareTheBlock) {
    const char* text =
        R"(["abcdefghijklmnopqrstuvwxyz","0123456789",{"key":"value"}])";
    LocalDocument<4096> local;
    Document plain;
    for (int round = 0; round < 3; ++round) {
        for (Document* d : {&local.doc(), &plain}) {
            d->Parse(text);
            ASSERT_FALSE(d->HasParseError());
            rapidjson::StringBuffer sb;
            rapidjson::Writer<rapidjson::StringBuffer> w(sb);
            d->Accept(w);
            EXPECT_EQ(std::string(sb.GetString(), sb.GetSize()), text)
                << round;
        }
    }
}

// Documents whose parse stack outgrows the first block (many members, a
// long array, deep nesting) read the same in every kind of document, and
// a document parsed twice reuses its stack.
TEST(JsonStack, LargeStacksParseAlikeInEveryDocument) {
    std::string members = "{";
    for (int i = 0; i < 300; ++i) {
        members += "\"m" + std::to_string(i) + "\":[" + std::to_string(i) +
                   ",\"v\"],";
    }
    members += "\"end\":{}}";
    std::string array = "[";
    for (int i = 0; i < 1000; ++i) array += "{\"a\":[1,2,{\"b\":null}]},";
    array += "0]";
    std::string deep;
    for (std::size_t i = 0; i < kMaxDepth - 1; ++i) deep += "[1,2,3,";
    deep += "[]";
    for (std::size_t i = 0; i < kMaxDepth - 1; ++i) deep += "]";
    auto arenas = std::make_shared<Arenas>(1, 64 * 1024);
    for (const std::string& text : {members, array, deep}) {
        rapidjson::Document plain;
        plain.Parse(text.c_str());  // small integers: written alike
        ASSERT_FALSE(plain.HasParseError());
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        plain.Accept(w);
        std::string expected(sb.GetString(), sb.GetSize());

        Document fresh;
        ASSERT_FALSE(parse(text, fresh));
        EXPECT_EQ(write(fresh), expected);
        LocalDocument<1024> local;
        for (int round = 0; round < 2; ++round) {
            ASSERT_FALSE(parse(text, local.doc()));
            EXPECT_EQ(write(local.doc()), expected);
        }
        ArenaDocument in_arena(arenas);
        ASSERT_NE(in_arena.arena(), nullptr);
        ASSERT_FALSE(parse(text, in_arena.doc()));
        EXPECT_EQ(write(in_arena.doc()), expected);
        std::shared_ptr<Document> shared = shared_document<512>();
        ASSERT_FALSE(parse(text, *shared));
        EXPECT_EQ(write(*shared), expected);
    }
}

TEST(JsonArenas, LendsDistinctArenasAndTakesThemBack) {
    auto arenas = std::make_shared<Arenas>(2, 8192);
    auto a = std::make_unique<ArenaDocument>(arenas);
    ArenaDocument b(arenas);
    ASSERT_NE(a->arena(), nullptr);
    ASSERT_NE(b.arena(), nullptr);
    EXPECT_NE(a->arena(), b.arena());
    EXPECT_EQ(arenas->lent(), 2u);
    {
        // none free: a document of its own, which parses as well
        ArenaDocument c(arenas);
        EXPECT_EQ(c.arena(), nullptr);
        EXPECT_FALSE(parse(R"({"a":[1,"x"]})", c.doc()));
        EXPECT_EQ(write(c.doc()), R"({"a":[1,"x"]})");
    }
    const Arena* given_back = a->arena();
    a.reset();
    EXPECT_EQ(arenas->lent(), 1u);
    ArenaDocument d(arenas);
    EXPECT_EQ(d.arena(), given_back);
    EXPECT_EQ(arenas->made(), 2u);
    EXPECT_EQ(ArenaDocument(nullptr).arena(), nullptr);
}

TEST(JsonArenas, MakesArenasOnlyWhenNeeded) {
    auto arenas = std::make_shared<Arenas>(8, 1);
    EXPECT_EQ(arenas->made(), 0u);
    EXPECT_EQ(arenas->size(), Pool::kChunk);  // never smaller than a chunk
    for (int i = 0; i < 3; ++i) {
        ArenaDocument d(arenas);
        EXPECT_FALSE(parse("[1]", d.doc()));
    }
    EXPECT_EQ(arenas->made(), 1u);
    EXPECT_EQ(arenas->lent(), 0u);
}

// The same text gives the same verdict and the same value in an arena as
// in a fresh pool, and nothing of one borrower is seen by the next.
TEST(JsonArenas, ParsesExactlyAsAFreshDocument) {
    auto arenas = std::make_shared<Arenas>(1, 4096);
    std::string big = "{";
    for (int i = 0; i < 40; ++i) big += "\"k" + std::to_string(i) + "\":1,";
    const std::string texts[] = {
        R"({"n":12.50,"s":"caf\u00e9","a":[true,false,null,{}]})",
        R"({"a":1,"a":2})",
        R"({"a":1,"\u0061":2})",
        big + "\"k17\":1}",
        big + "\"last\":1}",
        std::string(kMaxDepth + 1, '['),
        "\"\xC0\xAF\"",
        R"(["\udc00"])",
        R"(["\ud800\u0041"])",
        "[\"" + std::string(kMaxStringLength + 1, 'x') + "\"]",
        "[1] x",
        "",
        R"({"ok":"\ud83d\ude00"})",
    };
    for (const auto& text : texts) {
        Document fresh;
        auto expected = parse(text, fresh);
        ArenaDocument d(arenas);
        ASSERT_NE(d.arena(), nullptr);
        auto got = parse(text, d.doc());
        ASSERT_EQ(got.has_value(), expected.has_value()) << text;
        if (got) {
            EXPECT_EQ(got->reason, expected->reason) << text;
        } else {
            EXPECT_EQ(write(d.doc()), write(fresh)) << text;
        }
    }
    EXPECT_EQ(arenas->made(), 1u);
}

TEST(JsonArenas, ABodyLargerThanTheArenaSpills) {
    auto arenas = std::make_shared<Arenas>(1, 4096);
    std::string body = R"({"pad":[)";
    while (body.size() < 64 * 1024) body += R"({"a":"bcdefgh","n":12.5},)";
    body += R"("a long string that is not short enough to sit in a value"]})";
    Document fresh;
    ASSERT_FALSE(parse(body, fresh));
    for (int i = 0; i < 2; ++i) {
        ArenaDocument d(arenas);
        ASSERT_NE(d.arena(), nullptr);
        ASSERT_FALSE(parse(body, d.doc()));
        EXPECT_EQ(write(d.doc()), write(fresh));
    }
}

// The set's owner may let go of it first: the last lease frees it.
TEST(JsonArenas, ALeaseKeepsTheSetAlive) {
    auto arenas = std::make_shared<Arenas>(2, 4096);
    ArenaDocument d(arenas);
    arenas.reset();
    ASSERT_NE(d.arena(), nullptr);
    EXPECT_FALSE(parse(R"({"still":"here"})", d.doc()));
    EXPECT_EQ(write(d.doc()), R"({"still":"here"})");
}

TEST(JsonArenas, LeasesMove) {
    auto arenas = std::make_shared<Arenas>(2, 4096);
    Lease a = Lease::borrow(arenas);
    Lease b = Lease::borrow(arenas);
    EXPECT_FALSE(Lease::borrow(arenas));
    const Arena* first = a.arena();
    Lease moved(std::move(a));
    EXPECT_EQ(moved.arena(), first);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty
    b = std::move(moved);  // b's arena is given back
    EXPECT_EQ(b.arena(), first);
    EXPECT_EQ(arenas->lent(), 1u);
    b = Lease();
    EXPECT_EQ(arenas->lent(), 0u);
    EXPECT_FALSE(Lease::borrow(nullptr));
}

}  // namespace
}  // namespace opay::json
