// ASCII-only text helpers (protocol names, media types, e-mail addresses).
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

namespace opay {

inline bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

inline bool has_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
}

// Bytes as hex digits (keys, nonces, percent-encoding), without printf.
inline void append_hex(std::string& out, const unsigned char* bytes,
                       std::size_t n, bool upper = false) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[bytes[i] >> 4];
        out += digits[bytes[i] & 0xf];
    }
}

namespace detail {
inline void append_escaped(std::string& out, std::string_view s,
                           bool quotes) {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f ||
            (quotes && (c == '\\' || c == '"'))) {
            out += "\\x";
            append_hex(out, &u, 1);
        } else {
            out += c;
        }
    }
}
}  // namespace detail

// Someone else's text (an id, a name) for a log line: at most max bytes of
// it, control characters, quotes, backslashes and non-ASCII bytes as \xHH,
// so it can neither forge a line nor pass for the message around it.
inline std::string log_value(std::string_view s, std::size_t max = 64) {
    std::string out;
    detail::append_escaped(out, s.substr(0, max), true);
    if (s.size() > max) out += "...";
    return out;
}

// A whole log line as the shim writes it: one line of printable ASCII
// (values in it went through log_value already).
inline std::string log_line(std::string_view s) {
    std::string out;
    detail::append_escaped(out, s, false);
    return out;
}

}  // namespace opay
