// For the tests and the fuzz target only: byte-at-a-time references of
// json::valid_utf8 and of how json::write writes a string, written from
// the rules (a code point decoded and its range checked; each byte looked
// at on its own) rather than from the word-at-a-time code they check, so
// that both must give the same answer on every input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace opay::json::reference {

// Length of the well-formed UTF-8 sequence at s[i] (Unicode 15, table
// 3-7: the code point decoded, not overlong, no surrogate, at most
// U+10FFFF), or 0.
inline std::size_t sequence(std::string_view s, std::size_t i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) return 1;
    std::size_t len;
    std::uint32_t cp;
    std::uint32_t least;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1Fu;
        least = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0Fu;
        least = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07u;
        least = 0x10000;
    } else {
        return 0;
    }
    if (s.size() - i < len) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        auto t = static_cast<unsigned char>(s[i + k]);
        if ((t & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (t & 0x3Fu);
    }
    if (cp < least || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

inline bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        std::size_t len = sequence(s, i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

// s as a JSON string, as RapidJSON's Writer writes valid text: '"' and
// '\\' escaped, the two-letter escapes of \b \t \n \f \r, \u00XX (upper
// case) for other bytes below 0x20, everything else as it stands; and
// each byte that starts no well-formed sequence as U+FFFD.
inline std::string write_string(std::string_view s) {
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            std::size_t len = sequence(s, i);
            if (len == 0) {
                out += "\xEF\xBF\xBD";
                ++i;
            } else {
                out.append(s.substr(i, len));
                i += len;
            }
            continue;
        }
        ++i;
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\t': out += "\\t"; break;
        case '\n': out += "\\n"; break;
        case '\f': out += "\\f"; break;
        case '\r': out += "\\r"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += "0123456789ABCDEF"[c >> 4];
                out += "0123456789ABCDEF"[c & 0xF];
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
    return out;
}

}  // namespace opay::json::reference
