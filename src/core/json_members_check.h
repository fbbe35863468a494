// For the tests and the fuzz target only: what json::read_members tells
// of a text and what json::parse makes of it, each written as the same
// transcript, so that a check can say both read alike (the same refusal,
// or the same members in the same order).
#pragma once

#include <string>
#include <string_view>

#include "json.h"

namespace opay::json::check {

inline const char* kind_name(Kind kind) {
    switch (kind) {
    case Kind::Null: return "null";
    case Kind::False: return "false";
    case Kind::True: return "true";
    case Kind::Number: return "number";
    case Kind::String: return "string";
    case Kind::Array: return "array";
    case Kind::Object: return "object";
    }
    return "?";
}

inline void line(std::string& out, char what, std::string_view name,
                 Kind kind, std::string_view text) {
    out += what;
    out += ' ';
    out += std::to_string(name.size()) + ':';
    out.append(name);
    out += ' ';
    out += kind_name(kind);
    out += ' ';
    out += std::to_string(text.size()) + ':';
    out.append(text);
    out += '\n';
}

struct Transcript : MemberReader {
    std::string out;
    void member(std::string_view name, Kind kind,
                std::string_view text) override {
        line(out, 'm', name, kind, text);
    }
    void element(std::string_view name, Kind kind,
                 std::string_view text) override {
        line(out, 'e', name, kind, text);
    }
};

// read_members' account of text.
inline std::string by_reader(std::string text) {
    Transcript t;
    bool object = true;
    if (auto e = read_members(text, t, object)) {
        return "refused: " + e->reason + "\n";
    }
    return object ? "object\n" + t.out : "not an object\n";
}

inline Kind kind_of(const Value& v) {
    if (v.IsNull()) return Kind::Null;
    if (v.IsFalse()) return Kind::False;
    if (v.IsTrue()) return Kind::True;
    if (v.IsArray()) return Kind::Array;
    if (v.IsObject()) return Kind::Object;
    return is_number(v) ? Kind::Number : Kind::String;
}

// The same account, from the document parse() makes.
inline std::string by_document(std::string_view text) {
    Document doc;
    if (auto e = parse(text, doc)) return "refused: " + e->reason + "\n";
    if (!doc.IsObject()) return "not an object\n";
    std::string out = "object\n";
    for (const auto& m : doc.GetObject()) {
        std::string_view name(m.name.GetString(), m.name.GetStringLength());
        if (m.value.IsArray()) {
            for (const auto& e : m.value.GetArray()) {
                Kind k = kind_of(e);
                if (k != Kind::Array && k != Kind::Object) {
                    line(out, 'e', name, k, scalar_text(e).value_or(""));
                }
            }
        }
        Kind k = kind_of(m.value);
        line(out, 'm', name, k, scalar_text(m.value).value_or(""));
    }
    return out;
}

}  // namespace opay::json::check
