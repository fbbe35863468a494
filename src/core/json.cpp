#include "json.h"
#include "json_reader.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/writer.h>

namespace opay::json {

namespace {

constexpr char kNumberTag = '\xff';
// The parse of parse_bytewise, RapidJSON's own reader: what
// detail::Reader (json_reader.h) does for parse() and read_members().
// UTF-8 is checked by valid_utf8() over the whole text before parsing,
// faster than RapidJSON's per-character check inside strings and at least
// as strict; recursion is bounded by the handler's depth limit.
constexpr unsigned kParseFlags = rapidjson::kParseInsituFlag |
                                 rapidjson::kParseNumbersAsStringsFlag |
                                 rapidjson::kParseStopWhenDoneFlag;

// Objects with at most this many members are checked for duplicate names
// pairwise, without sorting.
constexpr std::size_t kPairwiseMembers = 16;

// RapidJSON 1.1 decodes a \u escape of a lone low surrogate (\udc00) into
// invalid UTF-8 (the text itself was checked before parsing): such text is
// refused here.
bool encodes_surrogate(const char* s, std::size_t n) {
    std::size_t i = 0;
    // ASCII (most of any string) eight bytes at a time: a word without a
    // byte >= 0x80 holds no 0xED; the byte-wise check takes over at the
    // first word with one
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s + i, 8);
        if ((w & 0x8080808080808080ULL) != 0) break;
    }
    for (; i + 1 < n; ++i) {
        if (static_cast<unsigned char>(s[i]) == 0xED &&
            static_cast<unsigned char>(s[i + 1]) >= 0xA0) {
            return true;
        }
    }
    return false;
}

// The member names of a parse's open objects, in order: the first kInline
// in place, left unset until written (a small document's names cost no
// allocation and nothing to set up or tear down), more on the heap.
class NameStack {
  public:
    // a view's parts: a plain struct, left unset
    struct Name {
        const char* data;
        std::size_t size;
        std::string_view view() const { return {data, size}; }
    };

    NameStack() {}
    NameStack(const NameStack&) = delete;
    NameStack& operator=(const NameStack&) = delete;

    std::size_t size() const { return size_; }
    const Name* begin() const { return data_; }
    const Name* end() const { return data_ + size_; }
    void push(const char* name, std::size_t size) {
        if (size_ == capacity_) grow();
        data_[size_++] = {name, size};
    }
    // back to the first n (n <= size())
    void cut(std::size_t n) { size_ = n; }

  private:
    static constexpr std::size_t kInline = 32;

    void grow() {
        std::vector<Name> more(2 * capacity_);
        std::copy(begin(), end(), more.begin());
        heap_ = std::move(more);
        data_ = heap_.data();
        capacity_ = heap_.size();
    }

    Name inline_[kInline];
    std::vector<Name> heap_;
    Name* data_ = inline_;
    std::size_t size_ = 0;
    std::size_t capacity_ = kInline;
};

// Checks SAX events as they go and forwards them to a target (a document
// being built, or a MemberReader): depth (so nothing later, the writer
// included, recurses deeper than kMaxDepth) and duplicate member names,
// while each object's names are at hand. The text is parsed in situ, so
// the names' views stay valid until the object closes.
template <typename Target>
struct CheckingHandler
    : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, CheckingHandler<Target>> {
    Target& target;
    std::size_t depth = 0;
    bool too_deep = false;
    bool duplicate = false;
    NameStack names;
    // where each open object's names start: an object is opened (its
    // start pushed) before the depth check refuses it, one past the limit
    std::size_t firsts[kMaxDepth + 1];
    std::size_t objects = 0;  // of firsts
    std::vector<std::string_view> sorted;  // large objects
    const char* error = nullptr;  // why a string was refused

    // Whether the string just read had an escape, or nullptr: unknown,
    // every string is checked (parse_bytewise).
    bool* escaped = nullptr;

    // A string without escapes is the text's own bytes, valid UTF-8
    // (checked before the parse): only an escape can encode a surrogate.
    bool check(const char* s, rapidjson::SizeType n) {
        bool decoded = escaped == nullptr || *escaped;
        if (escaped != nullptr) *escaped = false;
        if (n > kMaxStringLength) {
            error = "string longer than 16384 bytes";
        } else if (decoded && encodes_surrogate(s, n)) {
            error = "lone or mis-ordered UTF-16 surrogate in a \\u escape";
        }
        return error == nullptr;
    }

    // firsts is written before it is read
    CheckingHandler(Target& t, bool* e) : target(t), escaped(e) {}
    CheckingHandler(const CheckingHandler&) = delete;
    CheckingHandler& operator=(const CheckingHandler&) = delete;

    bool open() {
        if (++depth > kMaxDepth) {
            too_deep = true;
            return false;
        }
        return true;
    }
    bool close_object() {
        std::size_t first = firsts[--objects];
        --depth;
        const NameStack::Name* begin = names.begin() + first;
        const NameStack::Name* end = names.end();
        std::size_t n = names.size() - first;
        if (n <= kPairwiseMembers) {
            for (auto i = begin; i != end; ++i) {
                for (auto j = i + 1; j != end; ++j) {
                    // size and first byte before memcmp: most names differ
                    if (i->size == j->size &&
                        (i->size == 0 || i->data[0] == j->data[0]) &&
                        i->view() == j->view()) {
                        duplicate = true;
                    }
                }
            }
        } else {
            sorted.clear();
            for (auto i = begin; i != end; ++i) sorted.push_back(i->view());
            std::sort(sorted.begin(), sorted.end());
            duplicate = std::adjacent_find(sorted.begin(), sorted.end()) !=
                        sorted.end();
        }
        names.cut(first);
        return !duplicate;
    }

    bool Null() { return target.Null(); }
    bool Bool(bool b) { return target.Bool(b); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
        return target.Number(s, n);
    }
    bool String(const char* s, rapidjson::SizeType n, bool) {
        return check(s, n) && target.String(s, n);
    }
    bool StartObject() {
        firsts[objects++] = names.size();
        return open() && target.StartObject();
    }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
        names.push(s, n);
        return check(s, n) && target.Key(s, n);
    }
    bool EndObject(rapidjson::SizeType n) {
        return close_object() && target.EndObject(n);
    }
    bool StartArray() { return open() && target.StartArray(); }
    bool EndArray(rapidjson::SizeType n) {
        --depth;
        return target.EndArray(n);
    }
};

// Builds the document. Strings, names and numbers are copied into the
// pool (copy = true), not left pointing into the in-situ text: RapidJSON
// copies a value into another document without copying such referenced
// strings, and the copy would then outlive the text it points into.
struct DocumentTarget {
    Document& doc;
    std::string scratch;  // a number behind its tag

    bool Null() { return doc.Null(); }
    bool Bool(bool b) { return doc.Bool(b); }
    bool Number(const char* s, rapidjson::SizeType n) {
        // most numbers are short: tagged on the stack, no string to grow
        char tagged[64];
        if (n < sizeof(tagged)) {
            tagged[0] = kNumberTag;
            std::memcpy(tagged + 1, s, n);
            return doc.String(tagged, n + 1, true);
        }
        scratch.assign(1, kNumberTag);
        scratch.append(s, n);
        return doc.String(scratch.data(),
                          static_cast<rapidjson::SizeType>(scratch.size()),
                          true);
    }
    bool String(const char* s, rapidjson::SizeType n) {
        return doc.String(s, n, true);
    }
    bool StartObject() { return doc.StartObject(); }
    bool Key(const char* s, rapidjson::SizeType n) {
        return doc.Key(s, n, true);
    }
    bool EndObject(rapidjson::SizeType n) { return doc.EndObject(n); }
    bool StartArray() { return doc.StartArray(); }
    bool EndArray(rapidjson::SizeType n) { return doc.EndArray(n); }
};

// Tells a MemberReader the top-level object's members as they end, and
// the scalars directly inside those that are arrays; nothing of any other
// top-level value. Texts are views of the in-situ buffer.
struct MemberTarget {
    explicit MemberTarget(MemberReader& r) : reader(r) {}
    MemberReader& reader;
    std::size_t depth = 0;
    bool object = false;         // the top-level value is an object
    bool in_array = false;       // the current member is an array
    std::string_view name;       // the current member's name

    bool scalar(Kind kind, std::string_view text) {
        if (!object) return true;
        if (depth == 1) {
            reader.member(name, kind, text);
        } else if (depth == 2 && in_array) {
            reader.element(name, kind, text);
        }
        return true;
    }
    bool Null() { return scalar(Kind::Null, {}); }
    bool Bool(bool b) { return scalar(b ? Kind::True : Kind::False, {}); }
    bool Number(const char* s, rapidjson::SizeType n) {
        return scalar(Kind::Number, {s, n});
    }
    bool String(const char* s, rapidjson::SizeType n) {
        return scalar(Kind::String, {s, n});
    }
    bool StartObject() {
        if (depth == 0) object = true;
        ++depth;
        return true;
    }
    bool Key(const char* s, rapidjson::SizeType n) {
        if (depth == 1) name = {s, n};
        return true;
    }
    bool EndObject(rapidjson::SizeType) {
        if (--depth == 1 && object) reader.member(name, Kind::Object, {});
        return true;
    }
    bool StartArray() {
        if (depth == 1 && object) in_array = true;
        ++depth;
        return true;
    }
    bool EndArray(rapidjson::SizeType) {
        if (--depth == 1 && object) {
            in_array = false;
            reader.member(name, Kind::Array, {});
        }
        return true;
    }
};

}  // namespace

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

namespace {

// JSON escapes as RapidJSON's Writer writes them (UTF-8 to UTF-8): the
// two-letter forms, \u00XX for other control bytes, every other byte as it
// is. Written here rather than through Writer: its per-byte Put() and the
// copy out of its StringBuffer were a fifth of the instructions a
// loadentity call spends beyond the RSA verification.
constexpr char kHex[] = "0123456789ABCDEF";

constexpr std::array<char, 256> escapes() {
    std::array<char, 256> e{};
    for (int c = 0; c < 0x20; ++c) e[c] = 'u';
    e['\b'] = 'b';
    e['\t'] = 't';
    e['\n'] = 'n';
    e['\f'] = 'f';
    e['\r'] = 'r';
    e['"'] = '"';
    e['\\'] = '\\';
    return e;
}
constexpr std::array<char, 256> kEscape = escapes();

// The top bit of each of the 8 bytes in w (read from memory, little-
// endian: the first byte lowest) that is not written as it stands: below
// 0x20, '"', '\\', or 0x80 and above (a UTF-8 sequence, checked on its
// own). The lowest flag is exact (a borrow, the only source of a false
// one, comes from a true one below it): the first byte to look at.
// Forced inline (as tail_run): it runs once a word of every string written.
__attribute__((always_inline)) inline std::uint64_t write_stops(
    std::uint64_t w) {
    constexpr std::uint64_t k1 = 0x0101010101010101ULL;
    std::uint64_t quote = w ^ (k1 * '"');
    std::uint64_t slash = w ^ (k1 * '\\');
    return ((w - k1 * 0x20) | (quote - k1) | (slash - k1) | w) & (k1 * 0x80);
}

bool tagged_number(const Value& v) {
    return v.IsString() && v.GetStringLength() > 1 &&
           v.GetString()[0] == kNumberTag;
}

// The last n (1 to 7) bytes of a string, at p, copied to d whole: how
// many of them come before the first that is not written as it stands (n
// if none). Two overlapping 4-byte words for 4 to 7 bytes, the first,
// middle and last byte for 1 to 3, each tested as one word: a copy of
// variable length would be a call into libc.
__attribute__((always_inline)) inline std::size_t tail_run(const char* p,
                                                      std::size_t n, char* d) {
    if (n >= 4) {
        std::uint32_t first;
        std::uint32_t last;
        std::memcpy(&first, p, 4);
        std::memcpy(&last, p + n - 4, 4);
        std::memcpy(d, &first, 4);
        std::memcpy(d + n - 4, &last, 4);
        std::uint64_t stops = write_stops(first | std::uint64_t{last} << 32);
        if (stops == 0) return n;
        // A flag in the first word is exact; none there, none of its bytes
        // borrowed into the last word's, whose lowest flag is then exact
        // too (its byte k is byte n - 4 + k).
        std::size_t k = static_cast<std::size_t>(__builtin_ctzll(stops)) / 8;
        return k < 4 ? k : n - 8 + k;
    }
    auto x = static_cast<unsigned char>(p[0]);
    auto y = static_cast<unsigned char>(p[n / 2]);
    auto z = static_cast<unsigned char>(p[n - 1]);
    d[0] = static_cast<char>(x);
    d[n / 2] = static_cast<char>(y);
    d[n - 1] = static_cast<char>(z);
    // padded with a plain letter
    constexpr std::uint64_t kPad = 0x6161616161000000ULL;
    std::uint64_t stops = write_stops(x | std::uint64_t{y} << 8 |
                                      std::uint64_t{z} << 16 | kPad);
    if (stops == 0) return n;
    // bytes 0, 1, 2 of the word are bytes 0, n / 2 and n - 1, the same
    // byte twice below 3, where the lower place is flagged first
    return static_cast<std::size_t>(__builtin_ctzll(stops)) / 8;
}

// Input bytes per block of write_string: room for the worst case is made
// a block at a time, so a long string never asks for six times its size.
constexpr std::size_t kWriteBlock = 4096;

// One pass over the text: each run of bytes written as they stand copied
// a word at a time (the word stored whole, the bytes past the run written
// over), then the byte that ended it: ASCII escaped as the table says, a
// UTF-8 sequence copied, each byte of an invalid one written as U+FFFD.
// No byte takes more than six (\u00XX); a step may run up to 7 bytes past
// its block and stores 8 bytes at most: 16 bytes spare, and two for the
// quotes.
void write_string(const char* p, std::size_t n, Sink& out) {
    std::string_view s(p, n);
    char* d = out.room(6 * std::min(n, kWriteBlock) + 18);
    *d++ = '"';
    // most strings (names, codes, ids) are short and plain: one test
    if (n < 8 && (n == 0 || tail_run(p, n, d) == n)) {
        d[n] = '"';
        out.advance(d + n + 1);
        return;
    }
    for (std::size_t i = 0;;) {
        std::size_t end = std::min(n, i + kWriteBlock);
        while (i < end) {
            std::size_t left = n - i;
            std::size_t run;
            if (left >= 8) {
                std::uint64_t w;
                std::memcpy(&w, p + i, 8);
                std::memcpy(d, &w, 8);
                std::uint64_t stops = write_stops(w);
                run = stops == 0 ? 8
                                 : static_cast<std::size_t>(
                                       __builtin_ctzll(stops)) / 8;
            } else {
                run = tail_run(p + i, left, d);
            }
            d += run;
            i += run;
            if (run == 8 || i == n) continue;
            auto c = static_cast<unsigned char>(p[i]);
            if (c >= 0x80) {
                std::size_t len = utf8_sequence(s, i);
                if (len != 0) {
                    std::memcpy(d, p + i, len);
                    d += len;
                    i += len;
                } else {
                    std::memcpy(d, "\xEF\xBF\xBD", 3);
                    d += 3;
                    ++i;
                }
                continue;
            }
            char e = kEscape[c];
            ++i;
            if (e == 0) {
                *d++ = static_cast<char>(c);
                continue;
            }
            *d++ = '\\';
            *d++ = e;
            if (e == 'u') {
                *d++ = '0';
                *d++ = '0';
                *d++ = kHex[c >> 4];
                *d++ = kHex[c & 0xF];
            }
        }
        if (i >= n) break;
        out.advance(d);
        d = out.room(6 * std::min(n - i, kWriteBlock) + 18);
    }
    *d++ = '"';
    out.advance(d);
}

// std::string as RapidJSON's output stream, for numbers built in code.
struct StringOut {
    using Ch = char;
    std::string& s;
    void Put(char c) { s += c; }
    void Flush() {}
};

void write_value(const Value& v, Sink& out) {
    switch (v.GetType()) {
    case rapidjson::kNullType:
        out.put("null");
        break;
    case rapidjson::kFalseType:
        out.put("false");
        break;
    case rapidjson::kTrueType:
        out.put("true");
        break;
    case rapidjson::kStringType:
        if (tagged_number(v)) {
            out.put({v.GetString() + 1, v.GetStringLength() - 1});
        } else {
            write_string(v.GetString(), v.GetStringLength(), out);
        }
        break;
    case rapidjson::kNumberType: {
        // Only reached for values built in code, never for parsed input.
        std::string number;
        StringOut stream{number};
        rapidjson::Writer<StringOut> w(stream);
        v.Accept(w);
        out.put(number);
        break;
    }
    case rapidjson::kObjectType: {
        out.put('{');
        bool first = true;
        for (const auto& m : v.GetObject()) {
            if (!first) out.put(',');
            first = false;
            write_string(m.name.GetString(), m.name.GetStringLength(), out);
            out.put(':');
            write_value(m.value, out);
        }
        out.put('}');
        break;
    }
    case rapidjson::kArrayType: {
        out.put('[');
        bool first = true;
        for (const auto& e : v.GetArray()) {
            if (!first) out.put(',');
            first = false;
            write_value(e, out);
        }
        out.put(']');
        break;
    }
    }
}

}  // namespace

// Below a chunk an arena would hardly hold a document's text.
Arenas::Arenas(std::size_t count, std::size_t size)
    : count_(count), size_(std::max(size, Pool::kChunk)) {
    made_.reserve(count);
    free_.reserve(count);
}

Lease Lease::borrow(const std::shared_ptr<Arenas>& from) {
    Lease lease;
    if (from == nullptr) return lease;
    Arenas& set = *from;
    if (!set.free_.empty()) {
        lease.arena_ = set.free_.back();
        set.free_.pop_back();
    } else if (set.made_.size() < set.count_) {
        // out of memory for an arena: a fresh pool, as with none free
        std::unique_ptr<Arena> made;
        try {
            made = std::make_unique<Arena>(set.size_);
        } catch (const std::bad_alloc&) {
            return lease;
        }
        lease.arena_ = made.get();
        set.made_.push_back(std::move(made));  // reserved: cannot throw
    } else {
        return lease;
    }
    lease.from_ = from;
    return lease;
}

Lease::Lease(Lease&& other) noexcept
    : from_(std::move(other.from_)), arena_(other.arena_) {
    other.arena_ = nullptr;
}

Lease& Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        give_back();
        from_ = std::move(other.from_);
        arena_ = other.arena_;
        other.arena_ = nullptr;
    }
    return *this;
}

Lease::~Lease() { give_back(); }

// free_ has room for every arena made (reserved up front): no allocation,
// nothing thrown.
void Lease::give_back() noexcept {
    if (arena_ != nullptr) from_->free_.push_back(arena_);
    arena_ = nullptr;
    from_.reset();
}

ArenaDocument::ArenaDocument(const std::shared_ptr<Arenas>& arenas)
    : lease_(Lease::borrow(arenas)) {
    if (lease_) pool_.emplace(lease_.arena()->data(), lease_.arena()->size());
    // nullptr: the document makes its own pool
    doc_.emplace(pool_ ? &*pool_ : nullptr, StackAllocator::kInline, &stack_);
}

void* StackAllocator::Realloc(void* block, std::size_t old_size,
                              std::size_t new_size) {
    if (new_size == 0) {
        Free(block);
        return nullptr;
    }
    char* head = block != nullptr ? static_cast<char*>(block) - kHeader
                                  : nullptr;
    if (head == inline_ && new_size <= kInline) return block;
    if (head == nullptr && new_size <= kInline && !inline_taken_) {
        inline_taken_ = true;
        inline_[0] = 0;
        StackAllocator* owner = this;
        std::memcpy(inline_ + kOwner, &owner, sizeof(owner));
        return inline_ + kHeader;
    }
    // a new block (what the old one holds copied over, the inline block
    // free again), from operator new: out of memory throws std::bad_alloc,
    // the old block untouched (RapidJSON writes through a null)
    auto* grown = static_cast<char*>(::operator new(kHeader + new_size));
    grown[0] = 1;
    if (head != nullptr) {
        std::memcpy(grown + kHeader, block, std::min(old_size, new_size));
        if (head == inline_) {
            inline_taken_ = false;
        } else {
            ::operator delete(head);
        }
    }
    return grown + kHeader;
}

void StackAllocator::Free(void* block) {
    if (block == nullptr) return;
    char* head = static_cast<char*>(block) - kHeader;
    if (head[0] == 1) {
        ::operator delete(head);
        return;
    }
    StackAllocator* owner = nullptr;
    std::memcpy(&owner, head + kOwner, sizeof(owner));
    owner->inline_taken_ = false;
}

namespace {

// The parse itself, over size bytes of valid UTF-8 at buffer (NUL after
// them), which it overwrites: strings are unescaped in situ. Events go to
// target (DocumentTarget copies every string into the document's pool,
// so the buffer need only live for the call). Bytewise: RapidJSON's own
// reader over InsituStringStream (for parse_bytewise), otherwise
// detail::Reader, which answers alike.
template <bool Bytewise, typename Target>
std::optional<ParseError> parse_buffer(char* buffer, std::size_t size,
                                       Target& target) {
    // Whether the string just read had an escape: only detail::Reader
    // says; without it every string is checked.
    bool escaped = false;
    CheckingHandler<Target> handler(target, Bytewise ? nullptr : &escaped);
    rapidjson::ParseResult result;
    std::size_t stopped;
    if constexpr (Bytewise) {
        rapidjson::Reader reader;
        rapidjson::InsituStringStream stream(buffer);
        result = reader.Parse<kParseFlags>(stream, handler);
        stopped = stream.Tell();
    } else {
        detail::Reader<CheckingHandler<Target>> reader(buffer, size, &escaped,
                                                       handler);
        result = reader.parse();
        stopped = reader.tell();
    }
    if (handler.too_deep) return ParseError{"nested too deeply"};
    if (handler.duplicate) return ParseError{"duplicate member name"};
    if (handler.error != nullptr) {
        return ParseError{std::string(handler.error) + " at offset " +
                          std::to_string(result.Offset())};
    }
    if (result.IsError()) {
        return ParseError{std::string(rapidjson::GetParseError_En(
                              result.Code())) +
                          " at offset " + std::to_string(result.Offset())};
    }
    // Only whitespace may follow the value (a NUL byte inside the text
    // ends the in-situ parse early and is caught here as well). The
    // parser never writes at or beyond where it stopped: these bytes are
    // the text's own.
    for (std::size_t i = stopped; i < size; ++i) {
        char c = buffer[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return ParseError{"trailing data after the JSON value"};
        }
    }
    return std::nullopt;
}

// A document's parse: the document holds the value only when the whole
// text was good (as Document::Populate does).
template <bool Bytewise>
std::optional<ParseError> parse_document(char* buffer, std::size_t size,
                                         Document& doc) {
    std::optional<ParseError> error;
    auto generator = [&](Document& d) {
        DocumentTarget target{d, {}};
        error = parse_buffer<Bytewise>(buffer, size, target);
        return !error;
    };
    doc.Populate(generator);
    return error;
}

}  // namespace

std::optional<ParseError> parse(std::string_view text, Document& doc) {
    // Checked before the copy, as read_members checks it: bad text
    // costs no memory.
    if (!valid_utf8(text)) return ParseError{"invalid UTF-8"};
    // The in-situ copy is taken from the document's allocator: in an
    // arena or on the stack it costs no malloc. Out of memory throws (the
    // pool's chunks come from operator new).
    auto* buffer =
        static_cast<char*>(doc.GetAllocator().Malloc(text.size() + 1));
    // an empty answer may come as a null view: memcpy's source is nonnull
    if (!text.empty()) std::memcpy(buffer, text.data(), text.size());
    buffer[text.size()] = '\0';
    return parse_document<false>(buffer, text.size(), doc);
}

std::optional<ParseError> parse_bytewise(std::string text, Document& doc) {
    if (!valid_utf8(text)) return ParseError{"invalid UTF-8"};
    return parse_document<true>(text.data(), text.size(), doc);
}

std::optional<ParseError> read_members(char* text, std::size_t size,
                                       MemberReader& reader, bool& object) {
    object = false;
    if (!valid_utf8({text, size})) return ParseError{"invalid UTF-8"};
    MemberTarget target(reader);
    auto error = parse_buffer<false>(text, size, target);
    object = !error && target.object;
    return error;
}

bool is_number(const Value& v) { return tagged_number(v); }

std::string_view number_text(const Value& v) {
    return {v.GetString() + 1, v.GetStringLength() - 1};
}

Value make_number(std::string_view text, Allocator& a) {
    std::string tagged(1, kNumberTag);
    tagged.append(text);
    return Value(tagged.data(), static_cast<rapidjson::SizeType>(tagged.size()),
                 a);
}

// A plain scan, size and first byte before memcmp: FindMember's
// temporary name value and its string comparison cost twice as much.
// Parsed objects hold no duplicate names, so the first match is the one.
const Value* member(const Value& obj, std::string_view name) {
    if (!obj.IsObject()) return nullptr;
    for (const auto& m : obj.GetObject()) {
        if (m.name.GetStringLength() != name.size()) continue;
        const char* s = m.name.GetString();
        if (name.empty() || (s[0] == name[0] &&
                             std::memcmp(s, name.data(), name.size()) == 0)) {
            return &m.value;
        }
    }
    return nullptr;
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

// Well-formed UTF-8 (Unicode 15, table 3-7): no overlong forms, no
// surrogates, nothing above U+10FFFF. ASCII (most of any text) is skipped
// 32 bytes at a time (four words ORed, one test), then 8 at a time up to
// the first byte >= 0x80 (little-endian: the lowest flag is the first
// byte; json_reader.h asserts the byte order): one test per word of 8
// was most of what the check cost.
bool valid_utf8(std::string_view text) {
    constexpr std::uint64_t kHigh = 0x8080808080808080ull;
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const unsigned char* end = p + text.size();
    while (p < end) {
        // the word steps only from an ASCII byte: a multi-byte character
        // right after another (most of a text in many scripts) goes
        // straight to its checks
        if (*p < 0x80) {
            while (end - p >= 32) {
                std::uint64_t w[4];
                std::memcpy(w, p, 32);
                if (((w[0] | w[1] | w[2] | w[3]) & kHigh) != 0) break;
                p += 32;
            }
            while (end - p >= 8) {
                std::uint64_t word;
                std::memcpy(&word, p, 8);
                if (std::uint64_t high = word & kHigh) {
                    p += __builtin_ctzll(high) / 8;
                    break;
                }
                p += 8;
            }
            if (p == end) break;
            if (*p < 0x80) {
                ++p;
                continue;
            }
        }
        unsigned char c = *p;
        int tail;
        unsigned char lo = 0x80;
        unsigned char hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            tail = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            tail = 2;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            tail = 3;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            return false;
        }
        if (end - p <= tail) return false;
        if (p[1] < lo || p[1] > hi) return false;
        for (int i = 2; i <= tail; ++i) {
            if (p[i] < 0x80 || p[i] > 0xbf) return false;
        }
        p += tail + 1;
    }
    return true;
}

std::string write(const Value& v) {
    std::string out;
    Sink sink(out);
    write_value(v, sink);
    sink.done();
    return out;
}

// depth_ indexes a 64-bit mask: what the module writes nests a few
// levels, and a parsed value written back at most the parser's limit.
static_assert(kMaxDepth + 8 < 64, "Writer's depth mask");

void Writer::key(std::string_view name) {
    separate();
    write_string(name.data(), name.size(), sink_);
    sink_.put(':');
    after_key_ = true;
}

void Writer::string(std::string_view s) {
    separate();
    write_string(s.data(), s.size(), sink_);
}

void Writer::number(std::string_view text) {
    separate();
    sink_.put(text);
}

void Writer::value(const Value& v) {
    separate();
    write_value(v, sink_);
}

std::string Writer::done() {
    sink_.done();
    return std::move(out_);
}

std::optional<std::string_view> string_text(const Value* v) {
    if (v == nullptr || !v->IsString() || is_number(*v)) return std::nullopt;
    return std::string_view(v->GetString(), v->GetStringLength());
}

}  // namespace opay::json
