#include "uri.h"

#include <cstring>

namespace opay::uri {
namespace {

// 0: as it is, 1: percent-encoded, 2: percent-encoded twice
int encodings(unsigned char c, Escape how, bool dots) noexcept {
    if (c < 0x20 || c == 0x7f) return 1;
    if (how == Escape::kText) return 0;
    // a backend that decodes the path once before it routes (nginx does)
    // must still see "%2F" and "%2E", never a segment or a dot segment
    if (c == '.') return dots ? 2 : 0;
    if (c == '/' || c == '\\') return 2;
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                      c == '~';
    return unreserved ? 0 : 1;
}

bool is_dots(std::string_view s) noexcept { return s == "." || s == ".."; }

int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

size_t escaped_size(std::string_view value, Escape how) noexcept {
    bool dots = is_dots(value);
    size_t n = 0;
    // 1: as it is, 3: "%XX", 5: "%25XX"
    for (char c : value)
        n += 1 + 2 * encodings(static_cast<unsigned char>(c), how, dots);
    return n;
}

char* escape(char* out, std::string_view value, Escape how) noexcept {
    static constexpr char kHex[] = "0123456789ABCDEF";
    bool dots = is_dots(value);
    for (char ch : value) {
        auto c = static_cast<unsigned char>(ch);
        int n = encodings(c, how, dots);
        if (n == 0) {
            *out++ = ch;
            continue;
        }
        *out++ = '%';
        if (n == 2) {
            *out++ = '2';
            *out++ = '5';
        }
        *out++ = kHex[c >> 4];
        *out++ = kHex[c & 0xf];
    }
    return out;
}

std::string escape(std::string_view value, Escape how) {
    std::string s(escaped_size(value, how), '\0');
    escape(s.data(), value, how);
    return s;
}

bool has_dot_segment(std::string_view path) noexcept {
    size_t start = 0;
    for (;;) {
        size_t end = path.find('/', start);
        std::string_view seg = path.substr(
            start, end == std::string_view::npos ? end : end - start);
        if (is_dots(seg)) return true;
        if (end == std::string_view::npos) return false;
        start = end + 1;
    }
}

// The path is decoded as nginx decodes a request's, except what could end
// or split a segment ("/", ".", "?", "#", "%", space, control characters):
// those stay encoded, so a value is exactly one path segment whether
// proxy_pass encodes $uri again or sends it as it is.
bool split(std::string_view uri, char* path, Split& out) noexcept {
    out = Split{};
    size_t q = uri.find('?');
    std::string_view raw = uri.substr(0, q);
    if (q != std::string_view::npos) {
        out.has_args = true;
        out.args = uri.substr(q + 1);
    }
    char* p = path;
    for (size_t i = 0; i < raw.size(); i++) {
        if (raw[i] == '%' && raw.size() - i > 2) {
            int hi = hex_digit(raw[i + 1]), lo = hex_digit(raw[i + 2]);
            if (hi >= 0 && lo >= 0) {
                auto c = static_cast<unsigned char>(hi << 4 | lo);
                if (c > 0x20 && c != 0x7f &&
                    std::strchr("/.?#%", c) == nullptr) {
                    *p++ = static_cast<char>(c);
                    i += 2;
                    continue;
                }
            }
        }
        *p++ = raw[i];
    }
    out.path_len = static_cast<size_t>(p - path);
    std::string_view decoded(path, out.path_len);
    return !decoded.empty() && decoded[0] == '/' &&
           !has_dot_segment(decoded) &&
           uri.find('\0') == std::string_view::npos;
}

}  // namespace opay::uri
