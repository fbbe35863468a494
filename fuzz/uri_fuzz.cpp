// Fuzzes the subrequest URI: a value escaped into a configured URI must
// stay one path segment after the module's decoding and a backend's; any
// URI the split calls safe starts with '/' and has no dot segment.
// Input: "VALUE\n--\nURI".
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "uri.h"

using namespace opay;

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// what a backend does before it routes: every %XX decoded once
std::string decode_once(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 &&
            hex_digit(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_digit(s[i + 1]) << 4 |
                                     hex_digit(s[i + 2]));
            i += 2;
            continue;
        }
        out += s[i];
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = fuzz::split(fuzz::text(data, size), 2);
    std::string_view value = parts[0];

    for (auto how : {uri::Escape::kText, uri::Escape::kSegment}) {
        std::string esc = uri::escape(value, how);
        fuzz::require(esc.size() == uri::escaped_size(value, how));
        for (char c : esc) {
            auto u = static_cast<unsigned char>(c);
            fuzz::require(u >= 0x20 && u != 0x7f);
        }
    }

    std::string seg = uri::escape(value, uri::Escape::kSegment);
    for (char c : seg) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '~' || c == '%' || c == '.';
        fuzz::require(ok);
    }
    std::string full = "/inv/" + seg + "/end?x=1";
    std::string path(full.size(), '\0');
    uri::Split s;
    fuzz::require(uri::split(full, path.data(), s));
    path.resize(s.path_len);
    fuzz::require(s.has_args && s.args == "x=1");
    fuzz::require(path.rfind("/inv/", 0) == 0 && path.size() >= 9 &&
                  path.compare(path.size() - 4, 4, "/end") == 0);
    // one segment, for the module and for a backend that decodes once more
    std::string inner = path.substr(5, path.size() - 9);
    fuzz::require(inner.find('/') == std::string::npos);
    fuzz::require(!uri::has_dot_segment(inner));
    std::string backend = decode_once(inner);
    fuzz::require(backend.find('/') == std::string::npos);
    fuzz::require(backend.find('\\') == std::string::npos);
    fuzz::require(backend != "." && backend != "..");

    if (parts.size() < 2) return 0;
    std::string_view any = parts[1];
    std::string out(any.size(), '\0');
    uri::Split t;
    bool safe = uri::split(any, out.data(), t);
    fuzz::require(t.path_len <= any.size());
    if (safe) {
        std::string_view p(out.data(), t.path_len);
        fuzz::require(!p.empty() && p[0] == '/' && !uri::has_dot_segment(p));
        fuzz::require(p.find('\0') == std::string_view::npos);
    }
    return 0;
}
