// The strict JSON reader behind json::parse() and json::read_members():
// RapidJSON's in-situ reader (kParseInsituFlag | kParseNumbersAsStringsFlag
// | kParseStopWhenDoneFlag, reader.h of RapidJSON 1.1) written out for
// text whose end is known, so that strings are scanned a word at a time
// and nothing goes through a stream object. It takes what RapidJSON takes,
// refuses what it refuses with the same error code at the same offset,
// and sends the same events to the same handler: json::parse_bytewise
// runs RapidJSON's own reader over the same text, and the tests and the
// fuzzer hold both to the same answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <rapidjson/error/error.h>
#include <rapidjson/rapidjson.h>

namespace opay::json::detail {

// The top bit of each of the 8 bytes in w (read from memory, little-
// endian: the first byte lowest) that is '"', '\\' or below 0x20: what
// ends the plain run of a string. Bytes of 0x80 and above (UTF-8, checked
// before the parse) are plain. The lowest flag is exact (a borrow, the
// only source of a false flag, comes from a true one below it): it marks
// the first byte that stops the run.
inline std::uint64_t string_stops(std::uint64_t w) {
    constexpr std::uint64_t k1 = 0x0101010101010101ULL;
    constexpr std::uint64_t k80 = k1 * 0x80;
    std::uint64_t quote = w ^ (k1 * '"');
    std::uint64_t slash = w ^ (k1 * '\\');
    return ((w - k1 * 0x20) | (quote - k1) | (slash - k1)) & ~w & k80;
}
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "string_stops reads the first byte as the lowest");

// Reads size bytes at text, followed by a NUL, in place: strings are
// unescaped where they lie (each followed by a NUL, as RapidJSON leaves
// them), numbers are told as their source text. Every read stops at the
// NUL after the text at the latest; a NUL inside the text ends it early
// (the caller's trailing-data check sees what follows). Recursion is
// bounded by the handler, which refuses to open too deep a value.
template <typename Handler>
class Reader {
  public:
    // escaped, if not null, is set when a string holds an escape (and
    // left alone otherwise): a string without one is the text's own bytes.
    Reader(char* text, std::size_t size, bool* escaped, Handler& handler)
        : p_(text), head_(text), end_(text + size), escaped_(escaped),
          handler_(handler) {}

    // RapidJSON's Parse: stops after the first value; the code and the
    // offset of the first error, if any.
    rapidjson::ParseResult parse() {
        skip_whitespace();
        if (*p_ == '\0') {
            fail(rapidjson::kParseErrorDocumentEmpty, p_);
        } else {
            value();
        }
        return result_;
    }
    // Where the reader stopped: after the value, when it was good.
    std::size_t tell() const { return static_cast<std::size_t>(p_ - head_); }

  private:
    using SizeType = rapidjson::SizeType;

    bool fail(rapidjson::ParseErrorCode code, const char* at) {
        result_.Set(code, static_cast<std::size_t>(at - head_));
        return false;
    }
    static bool digit(char c) { return c >= '0' && c <= '9'; }

    void skip_whitespace() {
        constexpr std::uint64_t kWhitespace = (1ULL << ' ') | (1ULL << '\n') |
                                              (1ULL << '\r') | (1ULL << '\t');
        while (static_cast<unsigned char>(*p_) <= ' ' &&
               ((kWhitespace >> static_cast<unsigned char>(*p_)) & 1) != 0) {
            ++p_;
        }
    }

    // Inline in object() and array(), which alone recurse: a scalar
    // member or element costs no call.
    __attribute__((always_inline)) bool value() {
        switch (*p_) {
        case 'n': return literal("ull", [&] { return handler_.Null(); });
        case 't': return literal("rue", [&] { return handler_.Bool(true); });
        case 'f':
            return literal("alse", [&] { return handler_.Bool(false); });
        case '"': return string(false);
        case '{': return object();
        case '[': return array();
        default: return number();
        }
    }

    // The rest of a literal after its first byte; invalid at the first
    // byte that differs.
    template <typename Event>
    bool literal(const char* rest, Event event) {
        ++p_;
        for (; *rest != '\0'; ++rest, ++p_) {
            if (*p_ != *rest) {
                return fail(rapidjson::kParseErrorValueInvalid, p_);
            }
        }
        if (!event()) return fail(rapidjson::kParseErrorTermination, p_);
        return true;
    }

    __attribute__((noinline)) bool object() {
        ++p_;
        if (!handler_.StartObject()) {
            return fail(rapidjson::kParseErrorTermination, p_);
        }
        skip_whitespace();
        if (*p_ == '}') {
            ++p_;
            if (!handler_.EndObject(0)) {
                return fail(rapidjson::kParseErrorTermination, p_);
            }
            return true;
        }
        for (SizeType count = 0;;) {
            if (*p_ != '"') {
                return fail(rapidjson::kParseErrorObjectMissName, p_);
            }
            if (!string(true)) return false;
            skip_whitespace();
            if (*p_ != ':') {
                return fail(rapidjson::kParseErrorObjectMissColon, p_);
            }
            ++p_;
            skip_whitespace();
            if (!value()) return false;
            skip_whitespace();
            ++count;
            if (*p_ == ',') {
                ++p_;
                skip_whitespace();
            } else if (*p_ == '}') {
                ++p_;
                if (!handler_.EndObject(count)) {
                    return fail(rapidjson::kParseErrorTermination, p_);
                }
                return true;
            } else {
                return fail(rapidjson::kParseErrorObjectMissCommaOrCurlyBracket,
                            p_);
            }
        }
    }

    __attribute__((noinline)) bool array() {
        ++p_;
        if (!handler_.StartArray()) {
            return fail(rapidjson::kParseErrorTermination, p_);
        }
        skip_whitespace();
        if (*p_ == ']') {
            ++p_;
            if (!handler_.EndArray(0)) {
                return fail(rapidjson::kParseErrorTermination, p_);
            }
            return true;
        }
        for (SizeType count = 0;;) {
            if (!value()) return false;
            ++count;
            skip_whitespace();
            if (*p_ == ',') {
                ++p_;
                skip_whitespace();
            } else if (*p_ == ']') {
                ++p_;
                if (!handler_.EndArray(count)) {
                    return fail(rapidjson::kParseErrorTermination, p_);
                }
                return true;
            } else {
                return fail(rapidjson::kParseErrorArrayMissCommaOrSquareBracket,
                            p_);
            }
        }
    }

    // Four hex digits at s into code, s moved past them; false at the
    // first byte that is not one (the NUL after the text included).
    static bool hex4(char*& s, unsigned& code) {
        code = 0;
        for (int i = 0; i < 4; ++i, ++s) {
            char c = *s;
            code <<= 4;
            if (c >= '0' && c <= '9') {
                code += static_cast<unsigned>(c - '0');
            } else if (c >= 'A' && c <= 'F') {
                code += static_cast<unsigned>(c - 'A' + 10);
            } else if (c >= 'a' && c <= 'f') {
                code += static_cast<unsigned>(c - 'a' + 10);
            } else {
                return false;
            }
        }
        return true;
    }

    // A code point as UTF-8 (RapidJSON's UTF8::Encode: a lone low
    // surrogate too, which the handler's check refuses).
    static char* encode(char* d, unsigned c) {
        if (c <= 0x7F) {
            *d++ = static_cast<char>(c);
        } else if (c <= 0x7FF) {
            *d++ = static_cast<char>(0xC0 | (c >> 6));
            *d++ = static_cast<char>(0x80 | (c & 0x3F));
        } else if (c <= 0xFFFF) {
            *d++ = static_cast<char>(0xE0 | (c >> 12));
            *d++ = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            *d++ = static_cast<char>(0x80 | (c & 0x3F));
        } else {
            *d++ = static_cast<char>(0xF0 | (c >> 18));
            *d++ = static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            *d++ = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            *d++ = static_cast<char>(0x80 | (c & 0x3F));
        }
        return d;
    }

    // Where the plain run of a string starting at s stops: its first '"',
    // '\\' or byte below 0x20 (the NUL after the text at the latest).
    // Eight bytes a time while eight remain before the end, then a byte at
    // a time.
    char* plain_run(char* s) const {
        while (end_ - s >= 8) {
            std::uint64_t w;
            std::memcpy(&w, s, 8);
            if (std::uint64_t stops = string_stops(w)) {
                return s + __builtin_ctzll(stops) / 8;
            }
            s += 8;
        }
        while (plain(*s)) ++s;
        return s;
    }
    static bool plain(char c) {
        auto u = static_cast<unsigned char>(c);
        return u != '"' && u != '\\' && u >= 0x20;
    }

    // A string or a member name, unescaped in place. Most have no escape:
    // their text stays where it is and the escapes' work (out of line)
    // is not paid for.
    __attribute__((always_inline)) bool string(bool key) {
        char* const begin = p_ + 1;
        char* s = plain_run(begin);  // read
        char* d = s;                 // written
        if (*s != '"' && !unescape(s, d)) return false;
        *d = '\0';
        p_ = s + 1;  // past the closing quote
        auto length = static_cast<SizeType>(d - begin);
        bool more = key ? handler_.Key(begin, length, false)
                        : handler_.String(begin, length, false);
        if (!more) return fail(rapidjson::kParseErrorTermination, p_);
        return true;
    }

    // The rest of a string from a stop of its plain run that is not its
    // closing quote (s read, d written): escapes, plain runs moved down
    // behind them, up to the closing quote, where s and d are left; or
    // the refusal. Escapes shrink (\uXXXX to at most three bytes, a pair
    // of them to four): what is written never passes what is still to be
    // read.
    __attribute__((noinline)) bool unescape(char*& s_out, char*& d_out) {
        char* s = s_out;
        char* d = d_out;
        for (;;) {
            auto c = static_cast<unsigned char>(*s);
            if (c == '"') break;
            if (c != '\\') {
                return fail(c == '\0'
                                ? rapidjson::kParseErrorStringMissQuotationMark
                                : rapidjson::kParseErrorStringEscapeInvalid,
                            s);
            }
            // an escape: an error in it is told at its backslash
            const char* escape = s;
            if (escaped_ != nullptr) *escaped_ = true;
            switch (s[1]) {
            case '"': *d++ = '"'; break;
            case '\\': *d++ = '\\'; break;
            case '/': *d++ = '/'; break;
            case 'b': *d++ = '\b'; break;
            case 'f': *d++ = '\f'; break;
            case 'n': *d++ = '\n'; break;
            case 'r': *d++ = '\r'; break;
            case 't': *d++ = '\t'; break;
            case 'u': break;
            default:
                return fail(rapidjson::kParseErrorStringEscapeInvalid, escape);
            }
            if (s[1] != 'u') {
                s += 2;
            } else {
                char* h = s + 2;
                unsigned code;
                if (!hex4(h, code)) {
                    return fail(
                        rapidjson::kParseErrorStringUnicodeEscapeInvalidHex,
                        escape);
                }
                if (code >= 0xD800 && code <= 0xDBFF) {
                    // a high surrogate: its low one must follow
                    if (h[0] != '\\' || h[1] != 'u') {
                        return fail(
                            rapidjson::kParseErrorStringUnicodeSurrogateInvalid,
                            escape);
                    }
                    h += 2;
                    unsigned low;
                    if (!hex4(h, low)) {
                        return fail(
                            rapidjson::kParseErrorStringUnicodeEscapeInvalidHex,
                            escape);
                    }
                    if (low < 0xDC00 || low > 0xDFFF) {
                        return fail(
                            rapidjson::kParseErrorStringUnicodeSurrogateInvalid,
                            escape);
                    }
                    code = (((code - 0xD800) << 10) | (low - 0xDC00)) + 0x10000;
                }
                d = encode(d, code);
                s = h;  // past the escape(s)
            }
            // the plain run after it, moved down over what the escapes
            // saved (d < s: each word is read before it is written)
            while (end_ - s >= 8) {
                std::uint64_t w;
                std::memcpy(&w, s, 8);
                if (string_stops(w) != 0) break;
                std::memcpy(d, &w, 8);
                s += 8;
                d += 8;
            }
            while (plain(*s)) *d++ = *s++;
        }
        s_out = s;
        d_out = d;
        return true;
    }

    // RapidJSON's ParseNumber with kParseNumbersAsStringsFlag: the number
    // is told as its source text, but its value is still followed, as
    // RapidJSON follows it, for the two refusals that depend on it
    // (kParseErrorNumberTooBig: an integer part beyond DBL_MAX, or an
    // exponent beyond 308 plus the fraction digits it counts).
    bool number() {
        char* const start = p_;
        char* s = p_;
        bool minus = *s == '-';
        if (minus) ++s;
        unsigned i = 0;
        std::uint64_t i64 = 0;
        bool use64bit = false;
        int significant = 0;
        if (*s == '0') {
            ++s;
        } else if (*s >= '1' && *s <= '9') {
            i = static_cast<unsigned>(*s++ - '0');
            // up to 2^31 (negative) or 2^32 - 1 in 32 bits
            unsigned limit = minus ? 214748364u : 429496729u;
            char last = minus ? '8' : '5';
            while (digit(*s)) {
                if (i >= limit && (i != limit || *s > last)) {
                    i64 = i;
                    use64bit = true;
                    break;
                }
                i = i * 10 + static_cast<unsigned>(*s++ - '0');
                ++significant;
            }
        } else {
            return fail(rapidjson::kParseErrorValueInvalid, s);
        }
        bool use_double = false;
        double d = 0.0;
        if (use64bit) {
            // up to 2^63 (negative) or 2^64 - 1 in 64 bits
            std::uint64_t limit = minus ? 0x0CCCCCCCCCCCCCCCULL
                                        : 0x1999999999999999ULL;
            char last = minus ? '8' : '5';
            while (digit(*s)) {
                if (i64 >= limit && (i64 != limit || *s > last)) {
                    d = static_cast<double>(i64);
                    use_double = true;
                    break;
                }
                i64 = i64 * 10 + static_cast<unsigned>(*s++ - '0');
                ++significant;
            }
        }
        if (use_double) {
            while (digit(*s)) {
                if (d >= 1.7976931348623157e307) {  // DBL_MAX / 10
                    return fail(rapidjson::kParseErrorNumberTooBig, start);
                }
                d = d * 10 + (*s++ - '0');
            }
        }
        int exp_frac = 0;  // fraction digits counted, negated
        if (*s == '.') {
            ++s;
            if (!digit(*s)) {
                return fail(rapidjson::kParseErrorNumberMissFraction, s);
            }
            if (!use_double) {
                if (!use64bit) i64 = i;
                while (digit(*s)) {
                    if (i64 > 0x1FFFFFFFFFFFFFULL) break;  // 2^53 - 1
                    i64 = i64 * 10 + static_cast<unsigned>(*s++ - '0');
                    --exp_frac;
                    if (i64 != 0) ++significant;
                }
                d = static_cast<double>(i64);
                use_double = true;
            }
            while (digit(*s)) {
                if (significant < 17) {
                    d = d * 10.0 + (*s++ - '0');
                    --exp_frac;
                    if (d > 0.0) ++significant;
                } else {
                    ++s;
                }
            }
        }
        if (*s == 'e' || *s == 'E') {
            ++s;
            bool exp_minus = false;
            if (*s == '+') {
                ++s;
            } else if (*s == '-') {
                exp_minus = true;
                ++s;
            }
            if (!digit(*s)) {
                return fail(rapidjson::kParseErrorNumberMissExponent, s);
            }
            if (exp_minus) {
                // no bound on a negative exponent
                while (digit(*s)) ++s;
            } else {
                // 64 bits where RapidJSON's int would overflow only past
                // two hundred million fraction digits
                std::int64_t max_exp = 308 - std::int64_t{exp_frac};
                std::int64_t exp = *s++ - '0';
                while (digit(*s)) {
                    exp = exp * 10 + (*s++ - '0');
                    if (exp > max_exp) {
                        return fail(rapidjson::kParseErrorNumberTooBig, start);
                    }
                }
            }
        }
        p_ = s;
        if (!handler_.RawNumber(start, static_cast<SizeType>(s - start),
                                false)) {
            return fail(rapidjson::kParseErrorTermination, start);
        }
        return true;
    }

    char* p_;
    char* const head_;
    const char* const end_;  // the NUL after the text
    bool* const escaped_;
    Handler& handler_;
    rapidjson::ParseResult result_;
};

}  // namespace opay::json::detail
