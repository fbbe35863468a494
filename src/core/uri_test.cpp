#include "uri.h"

#include <gtest/gtest.h>

#include <string>

namespace opay::uri {
namespace {

std::string seg(std::string_view v) { return escape(v, Escape::kSegment); }
std::string text(std::string_view v) { return escape(v, Escape::kText); }

struct Result {
    bool safe;
    std::string path;
    bool has_args;
    std::string args;
};

Result run_split(std::string_view uri) {
    std::string path(uri.size(), '\0');
    Split s;
    bool safe = split(uri, path.data(), s);
    path.resize(s.path_len);
    return {safe, path, s.has_args, std::string(s.args)};
}

TEST(UriEscape, SegmentKeepsOnlyUnreserved) {
    EXPECT_EQ(seg("inv-42_A~z9"), "inv-42_A~z9");
    EXPECT_EQ(seg("a b?c#d%e&f=g+h"), "a%20b%3Fc%23d%25e%26f%3Dg%2Bh");
    EXPECT_EQ(seg("\xc3\xbc"), "%C3%BC");
    EXPECT_EQ(seg(std::string("a\0b\r\n", 5)), "a%00b%0D%0A");
    EXPECT_EQ(seg("\x7f"), "%7F");
    EXPECT_EQ(seg(""), "");
}

// "/" "\" and dot segments survive a backend's own decoding as "%2F" ...
TEST(UriEscape, SegmentEncodesSlashesAndDotSegmentsTwice) {
    EXPECT_EQ(seg("a/b"), "a%252Fb");
    EXPECT_EQ(seg("a\\b"), "a%255Cb");
    EXPECT_EQ(seg("../x"), "..%252Fx");
    EXPECT_EQ(seg("."), "%252E");
    EXPECT_EQ(seg(".."), "%252E%252E");
    // dots inside a longer value are no dot segment
    EXPECT_EQ(seg("..."), "...");
    EXPECT_EQ(seg("a.b"), "a.b");
    EXPECT_EQ(seg(".a"), ".a");
}

TEST(UriEscape, TextEncodesControlsOnly) {
    EXPECT_EQ(text("a b/../c?d"), "a b/../c?d");
    EXPECT_EQ(text(".."), "..");
    EXPECT_EQ(text("x\r\nSet-Cookie: y"), "x%0D%0ASet-Cookie: y");
    EXPECT_EQ(text(std::string("\0\x1f\x7f\x80", 4)), "%00%1F%7F\x80");
}

TEST(UriEscape, SizeIsWhatIsWritten) {
    for (std::string_view v : {"", ".", "..", "a/b", "\x01\xff", "a b"}) {
        for (Escape how : {Escape::kText, Escape::kSegment}) {
            char buf[64];
            char* end = escape(buf, v, how);
            EXPECT_EQ(static_cast<size_t>(end - buf), escaped_size(v, how));
        }
    }
}

TEST(UriSplit, DecodesAllButWhatSplitsASegment) {
    Result r = run_split("/inv/%41b%7e%2D/x");
    EXPECT_TRUE(r.safe);
    EXPECT_EQ(r.path, "/inv/Ab~-/x");
    EXPECT_FALSE(r.has_args);
    // "/" "." "?" "#" "%" space, controls, DEL stay encoded
    r = run_split("/a%2Fb%2e%3F%23%25%20%0A%7F%00");
    EXPECT_TRUE(r.safe);
    EXPECT_EQ(r.path, "/a%2Fb%2e%3F%23%25%20%0A%7F%00");
    // "%25" stays: a value's twice-encoded slash is "%2F" to a backend
    r = run_split("/inv/a%252Fb");
    EXPECT_TRUE(r.safe);
    EXPECT_EQ(r.path, "/inv/a%252Fb");
    // not hex, or cut short: as it is
    r = run_split("/a%zz%4");
    EXPECT_TRUE(r.safe);
    EXPECT_EQ(r.path, "/a%zz%4");
    r = run_split("/a%41");
    EXPECT_EQ(r.path, "/aA");
}

TEST(UriSplit, ArgsAfterTheFirstQuestionMark) {
    Result r = run_split("/p?a=1?b");
    EXPECT_TRUE(r.safe);
    EXPECT_EQ(r.path, "/p");
    EXPECT_TRUE(r.has_args);
    EXPECT_EQ(r.args, "a=1?b");
    r = run_split("/p?");
    EXPECT_TRUE(r.has_args);
    EXPECT_EQ(r.args, "");
    // args are not decoded
    r = run_split("/p?x=%41");
    EXPECT_EQ(r.args, "x=%41");
}

TEST(UriSplit, RefusesUnsafe) {
    EXPECT_FALSE(run_split("").safe);
    EXPECT_FALSE(run_split("?a").safe);
    EXPECT_FALSE(run_split("inv/1").safe);
    EXPECT_FALSE(run_split("%2Finv").safe);
    EXPECT_FALSE(run_split("/inv/../admin").safe);
    EXPECT_FALSE(run_split("/inv/./x").safe);
    EXPECT_FALSE(run_split("/inv/..").safe);
    EXPECT_FALSE(run_split("/.").safe);
    EXPECT_FALSE(run_split(std::string("/a\0b", 4)).safe);
    EXPECT_FALSE(run_split(std::string("/a?b\0", 5)).safe);  // in args too
    EXPECT_TRUE(run_split("/inv/.../x").safe);
    EXPECT_TRUE(run_split("/inv/.a/..b/").safe);
    EXPECT_TRUE(run_split("/").safe);
    EXPECT_TRUE(run_split("/inv/%2E%2E/x").safe);  // stays encoded
    EXPECT_EQ(run_split("/inv/%2E%2E/x").path, "/inv/%2E%2E/x");
}

TEST(UriDotSegment, EverySegment) {
    EXPECT_TRUE(has_dot_segment("."));
    EXPECT_TRUE(has_dot_segment(".."));
    EXPECT_TRUE(has_dot_segment("../a"));
    EXPECT_TRUE(has_dot_segment("/a/."));
    EXPECT_TRUE(has_dot_segment("/a//../"));
    EXPECT_FALSE(has_dot_segment(""));
    EXPECT_FALSE(has_dot_segment("/"));
    EXPECT_FALSE(has_dot_segment("/a/.../b"));
    EXPECT_FALSE(has_dot_segment("/a/b."));
}

// A value in a configured URI is one segment: decoded by the module and
// once more by a backend, it adds no "/" and no dot segment.
TEST(UriRoundTrip, ValueStaysOneSegment) {
    for (std::string_view v : {"..", ".", "../../admin", "a/b", "a?b#c",
                               "%2e%2e", "%252F", "\\..\\"}) {
        std::string uri = "/inv/" + seg(v) + "/end";
        Result r = run_split(uri);
        ASSERT_TRUE(r.safe) << v;
        EXPECT_EQ(r.path.rfind("/inv/", 0), 0u);
        std::string value = r.path.substr(5, r.path.size() - 5 - 4);
        EXPECT_EQ(value.find('/'), std::string::npos) << v;
        EXPECT_FALSE(has_dot_segment(value)) << v;
    }
}

}  // namespace
}  // namespace opay::uri
