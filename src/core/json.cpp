#include "json.h"

#include <algorithm>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace opay::json {

namespace {

constexpr char kNumberTag = '\xff';
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseValidateEncodingFlag |
                                 rapidjson::kParseNumbersAsStringsFlag |
                                 rapidjson::kParseStopWhenDoneFlag;

// Depth is checked on the raw text before parsing, so nothing later (the
// duplicate check, the writer) can recurse deeper than kMaxDepth.
bool depth_within_limit(std::string_view text) {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > kMaxDepth) return false;
        } else if (c == '}' || c == ']') {
            if (depth > 0) --depth;
        }
    }
    return true;
}

// RapidJSON 1.1 validates the raw bytes but decodes a \u escape of a lone
// low surrogate (\udc00) into invalid UTF-8: such text is refused here.
bool encodes_surrogate(const char* s, std::size_t n) {
    for (std::size_t i = 0; i + 1 < n; ++i) {
        if (static_cast<unsigned char>(s[i]) == 0xED &&
            static_cast<unsigned char>(s[i + 1]) >= 0xA0) {
            return true;
        }
    }
    return false;
}

// Forwards SAX events to the document, tagging numbers.
struct TaggingHandler
    : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TaggingHandler> {
    Document& doc;
    std::string scratch;
    const char* error = nullptr;  // why a string was refused

    bool check(const char* s, rapidjson::SizeType n) {
        if (n > kMaxStringLength) {
            error = "string longer than 16384 bytes";
        } else if (encodes_surrogate(s, n)) {
            error = "lone or mis-ordered UTF-16 surrogate in a \\u escape";
        }
        return error == nullptr;
    }

    explicit TaggingHandler(Document& d) : doc(d) {}

    bool Null() { return doc.Null(); }
    bool Bool(bool b) { return doc.Bool(b); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
        scratch.assign(1, kNumberTag);
        scratch.append(s, n);
        return doc.String(scratch.data(),
                          static_cast<rapidjson::SizeType>(scratch.size()),
                          true);
    }
    bool String(const char* s, rapidjson::SizeType n, bool copy) {
        return check(s, n) && doc.String(s, n, copy);
    }
    bool StartObject() { return doc.StartObject(); }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) {
        return check(s, n) && doc.Key(s, n, copy);
    }
    bool EndObject(rapidjson::SizeType n) { return doc.EndObject(n); }
    bool StartArray() { return doc.StartArray(); }
    bool EndArray(rapidjson::SizeType n) { return doc.EndArray(n); }
};

bool has_duplicate_members(const Value& v) {
    if (v.IsArray()) {
        for (const auto& e : v.GetArray()) {
            if (has_duplicate_members(e)) return true;
        }
        return false;
    }
    if (!v.IsObject()) return false;
    std::vector<std::string_view> names;
    names.reserve(v.MemberCount());
    for (const auto& m : v.GetObject()) {
        names.emplace_back(m.name.GetString(), m.name.GetStringLength());
        if (has_duplicate_members(m.value)) return true;
    }
    std::sort(names.begin(), names.end());
    return std::adjacent_find(names.begin(), names.end()) != names.end();
}

// Length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629 table 4).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    auto b = [&](std::size_t k) {
        return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
    };
    unsigned c = b(0);
    auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
        return b(k) >= lo && b(k) <= hi;
    };
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (c >= 0xE1 && c <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
}

void write_string(const char* p, std::size_t n,
                  rapidjson::Writer<rapidjson::StringBuffer>& w,
                  bool key = false) {
    std::string_view s(p, n);
    std::string fixed;
    if (!valid_utf8(s)) {
        for (std::size_t i = 0; i < s.size();) {
            std::size_t len = utf8_sequence(s, i);
            if (len == 0) {
                fixed += "\xEF\xBF\xBD";
                ++i;
            } else {
                fixed.append(s, i, len);
                i += len;
            }
        }
        s = fixed;
    }
    auto size = static_cast<rapidjson::SizeType>(s.size());
    if (key) {
        w.Key(s.data(), size);
    } else {
        w.String(s.data(), size);
    }
}

void write_value(const Value& v, rapidjson::Writer<rapidjson::StringBuffer>& w) {
    switch (v.GetType()) {
    case rapidjson::kNullType:
        w.Null();
        break;
    case rapidjson::kFalseType:
        w.Bool(false);
        break;
    case rapidjson::kTrueType:
        w.Bool(true);
        break;
    case rapidjson::kStringType:
        if (is_number(v)) {
            auto t = number_text(v);
            w.RawValue(t.data(), t.size(), rapidjson::kNumberType);
        } else {
            write_string(v.GetString(), v.GetStringLength(), w);
        }
        break;
    case rapidjson::kNumberType:
        // Only reached for values built in code, never for parsed input.
        v.Accept(w);
        break;
    case rapidjson::kObjectType:
        w.StartObject();
        for (const auto& m : v.GetObject()) {
            write_string(m.name.GetString(), m.name.GetStringLength(), w,
                         true);
            write_value(m.value, w);
        }
        w.EndObject();
        break;
    case rapidjson::kArrayType:
        w.StartArray();
        for (const auto& e : v.GetArray()) write_value(e, w);
        w.EndArray();
        break;
    }
}

}  // namespace

std::optional<ParseError> parse(std::string_view text, Document& doc) {
    if (!depth_within_limit(text)) return ParseError{"nested too deeply"};
    rapidjson::Reader reader;
    rapidjson::MemoryStream ms(text.data(), text.size());
    rapidjson::ParseResult result;
    const char* refused = nullptr;
    auto generator = [&](Document& d) {
        TaggingHandler handler(d);
        result = reader.Parse<kParseFlags>(ms, handler);
        refused = handler.error;
        return !result.IsError();
    };
    doc.Populate(generator);
    if (refused != nullptr) {
        return ParseError{std::string(refused) + " at offset " +
                          std::to_string(result.Offset())};
    }
    if (result.IsError()) {
        return ParseError{std::string(rapidjson::GetParseError_En(
                              result.Code())) +
                          " at offset " + std::to_string(result.Offset())};
    }
    // Only whitespace may follow the value.
    for (std::size_t i = ms.Tell(); i < text.size(); ++i) {
        char c = text[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return ParseError{"trailing data after the JSON value"};
        }
    }
    if (has_duplicate_members(doc)) {
        return ParseError{"duplicate member name"};
    }
    return std::nullopt;
}

bool is_number(const Value& v) {
    return v.IsString() && v.GetStringLength() > 1 &&
           v.GetString()[0] == kNumberTag;
}

std::string_view number_text(const Value& v) {
    return {v.GetString() + 1, v.GetStringLength() - 1};
}

Value make_number(std::string_view text, Allocator& a) {
    std::string tagged(1, kNumberTag);
    tagged.append(text);
    return Value(tagged.data(), static_cast<rapidjson::SizeType>(tagged.size()),
                 a);
}

const Value* member(const Value& obj, std::string_view name) {
    if (!obj.IsObject()) return nullptr;
    auto it = obj.FindMember(
        Value(rapidjson::StringRef(name.data(), name.size())));
    return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::optional<std::string_view> string_member(const Value& obj,
                                              std::string_view name) {
    const Value* v = member(obj, name);
    if (v == nullptr || !v->IsString() || is_number(*v)) return std::nullopt;
    return std::string_view(v->GetString(), v->GetStringLength());
}

const Value* object_member(const Value& obj, std::string_view name) {
    const Value* v = member(obj, name);
    return v != nullptr && v->IsObject() ? v : nullptr;
}

const Value* array_member(const Value& obj, std::string_view name) {
    const Value* v = member(obj, name);
    return v != nullptr && v->IsArray() ? v : nullptr;
}

Value* member(Value& obj, std::string_view name) {
    return const_cast<Value*>(member(static_cast<const Value&>(obj), name));
}

Value* object_member(Value& obj, std::string_view name) {
    Value* v = member(obj, name);
    return v != nullptr && v->IsObject() ? v : nullptr;
}

Value* array_member(Value& obj, std::string_view name) {
    Value* v = member(obj, name);
    return v != nullptr && v->IsArray() ? v : nullptr;
}

std::optional<std::string_view> scalar_text(const Value& v) {
    if (!v.IsString()) return std::nullopt;
    if (is_number(v)) return number_text(v);
    return std::string_view(v.GetString(), v.GetStringLength());
}

Value str(std::string_view s, Allocator& a) {
    return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

void set(Value& obj, std::string_view name, Value v, Allocator& a) {
    auto it = obj.FindMember(
        Value(rapidjson::StringRef(name.data(), name.size())));
    if (it != obj.MemberEnd()) {
        it->value = v;
    } else {
        obj.AddMember(str(name, a), v, a);
    }
}

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = utf8_sequence(s, i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

std::string write(const Value& v) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    write_value(v, w);
    return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace opay::json
