// ASCII-only text helpers (protocol names, media types, e-mail addresses).
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

namespace opay {

// ASCII's A-Z to a-z, nothing else: std::tolower's answer in the C
// locale, without a call into libc per byte.
inline char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// ASCII's letters and digits: std::isalnum's answer in the C locale,
// whatever locale the process has.
constexpr bool ascii_alnum(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9');
}

inline bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_lower(x) == ascii_lower(y);
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
    out.reserve(out.size() + 2 * n);
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

namespace detail {
// The length of the UTF-8 sequence at s[i] (1 to 4), or 0 when the bytes
// there are not one (overlong forms and surrogates are not).
inline std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    auto at = [&](std::size_t k) {
        return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
    };
    unsigned char b = at(0);
    std::size_t n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2
                  : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4
                  : 0;
    if (n == 0) return 0;
    unsigned char lo = b == 0xe0 ? 0xa0 : b == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = b == 0xed ? 0x9f : b == 0xf4 ? 0x8f : 0xbf;
    for (std::size_t k = 1; k < n; ++k) {
        unsigned char c = at(k);
        if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xbf)) return 0;
    }
    return n;
}
}  // namespace detail

// How printable() writes what it escapes: \xHH in text, \u00HH in JSON.
enum class Printable { kText, kJson };

// Someone else's text (a file's, an endpoint's) for a terminal: control
// characters (C0, DEL, C1) and bytes that are not UTF-8 escaped, so that it
// can neither move the cursor nor rewrite or add a line; other UTF-8 text
// (names, addresses) stays as it is. In kJson the input is compact JSON
// text (json::write's), where those bytes can only be inside strings.
inline std::string printable(std::string_view s,
                             Printable style = Printable::kText) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        auto u = static_cast<unsigned char>(s[i]);
        std::size_t n = detail::utf8_sequence(s, i);
        bool c1 = n == 2 && u == 0xc2 &&
                  static_cast<unsigned char>(s[i + 1]) < 0xa0;
        bool c0 = n == 1 && (u < 0x20 || u == 0x7f);
        if (n != 0 && !c1 && !c0) {
            out.append(s, i, n);
            i += n;
            continue;
        }
        // a C1 character is one code point (its second byte); a byte that
        // is not UTF-8 is shown as itself
        unsigned char shown = c1 ? static_cast<unsigned char>(s[i + 1]) : u;
        out += style == Printable::kJson ? "\\u00" : "\\x";
        append_hex(out, &shown, 1, style == Printable::kJson);  // as RapidJSON
        i += c1 ? 2 : 1;
    }
    return out;
}

}  // namespace opay
