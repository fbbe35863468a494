// Strict JSON in and out, on RapidJSON.
//
// Numbers are kept as their exact source text so that money never passes
// through a double: a number is stored as a string tagged with a leading
// 0xFF byte, which validated UTF-8 text can never contain. write() turns
// tagged strings back into bare JSON numbers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace opay::json {

namespace detail {
// The pool's chunks, from operator new: out of memory throws
// std::bad_alloc, as everywhere else in the core. RapidJSON's CrtAllocator
// returns a null that RapidJSON then writes through.
struct ChunkAllocator {
    static const bool kNeedFree = true;
    void* Malloc(std::size_t size) {
        return size != 0 ? ::operator new(size) : nullptr;
    }
    static void Free(void* block) { ::operator delete(block); }
};
// The pool's base allocator, a base class of Pool so that it is made
// before the pool that points at it.
struct PoolBase {
    ChunkAllocator base;
};
}  // namespace detail

// RapidJSON's memory pool, in 4 KiB chunks instead of its default 64 KiB:
// a request holds several small documents (payload, token header and
// claims, invoice, answer), and 64 KiB blocks freed at the top of the heap
// make malloc give memory back to the kernel and fault it in again on
// every call. It owns its base allocator: RapidJSON's own pool news one
// on its first chunk, a malloc per document.
class Pool : private detail::PoolBase,
             public rapidjson::MemoryPoolAllocator<detail::ChunkAllocator> {
  public:
    static constexpr std::size_t kChunk = 4096;
    Pool()
        : rapidjson::MemoryPoolAllocator<detail::ChunkAllocator>(kChunk,
                                                                 &base) {}
    // Starts in memory the caller keeps (an Arena); spills into chunks.
    Pool(char* memory, std::size_t size)
        : rapidjson::MemoryPoolAllocator<detail::ChunkAllocator>(
              memory, size, kChunk, &base) {}
};

// A document's parse stack (the values read but not yet placed in their
// object or array): its first block, up to kInline bytes, inside this
// object, larger ones from operator new. RapidJSON's own (CrtAllocator)
// cost a new for the allocator and a malloc for the block on every parse.
// RapidJSON frees the stack through a static Free, so each block starts
// with a header saying whether it came from the heap, and an inline one
// which allocator it is in. The inline block serves one stack at a time
// (a document's; RapidJSON's own Document::Parse asks for a second one,
// for its reader, at the same time): while it is taken, other blocks
// come from the heap.
class StackAllocator {
  public:
    static constexpr bool kNeedFree = true;
    // GenericDocument's first stack block (kDefaultStackCapacity): the
    // parse of a call's documents (payload, token, invoice) fits.
    static constexpr std::size_t kInline = 1024;

    // Not value-initialized (RapidJSON news one for a document that has
    // none): the block is written before it is read.
    StackAllocator() {}
    StackAllocator(const StackAllocator&) = delete;
    StackAllocator& operator=(const StackAllocator&) = delete;

    void* Malloc(std::size_t size) { return Realloc(nullptr, 0, size); }
    void* Realloc(void* block, std::size_t old_size, std::size_t new_size);
    static void Free(void* block);

  private:
    // the header: byte 0 is 1 for a block from the heap, 0 for the inline
    // one, whose owner follows at kOwner
    static constexpr std::size_t kHeader = alignof(std::max_align_t);
    static constexpr std::size_t kOwner = sizeof(void*);
    static_assert(kOwner + sizeof(void*) <= kHeader, "the header's room");

    bool inline_taken_ = false;
    alignas(std::max_align_t) char inline_[kHeader + kInline];
};

// Memory kept from one document to the next, for a caller that parses
// many (lent by Arenas, below): a large body then costs no malloc and no
// fresh pages. One Pool at a time may use it.
class Arena {
  public:
    explicit Arena(std::size_t size = 512 * 1024)
        : memory_(std::make_unique<char[]>(size)), size_(size) {}
    char* data() { return memory_.get(); }
    std::size_t size() const { return size_; }

  private:
    std::unique_ptr<char[]> memory_;
    std::size_t size_;
};

using Value = rapidjson::GenericValue<rapidjson::UTF8<>, Pool>;
using Document =
    rapidjson::GenericDocument<rapidjson::UTF8<>, Pool, StackAllocator>;
using Allocator = Pool;

// At most count arenas of size bytes each, lent one at a time to callers
// that run concurrently (one nginx worker's flows, each alive across its
// subrequests): each arena is made on first need and kept. When all are
// lent a caller gets none and uses a fresh pool. One thread only. Lent
// through Lease, which holds the set by shared_ptr: the owner may drop it
// before the last borrower is done.
class Arenas {
  public:
    Arenas(std::size_t count, std::size_t size);
    Arenas(const Arenas&) = delete;
    Arenas& operator=(const Arenas&) = delete;

    std::size_t count() const { return count_; }
    std::size_t size() const { return size_; }
    std::size_t made() const { return made_.size(); }
    std::size_t lent() const { return made_.size() - free_.size(); }

  private:
    friend class Lease;

    std::size_t count_;
    std::size_t size_;
    std::vector<std::unique_ptr<Arena>> made_;
    std::vector<Arena*> free_;  // of made_, the last given back on top
};

// One arena borrowed from an Arenas, given back when the lease ends. An
// empty lease (none was free, or no set) holds nothing.
class Lease {
  public:
    Lease() = default;
    // A free arena (the one given back last, its pages warm), a new one
    // while fewer than count are made, or an empty lease.
    static Lease borrow(const std::shared_ptr<Arenas>& from);
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    ~Lease();

    Arena* arena() const { return arena_; }
    explicit operator bool() const { return arena_ != nullptr; }

  private:
    void give_back() noexcept;

    std::shared_ptr<Arenas> from_;
    Arena* arena_ = nullptr;
};

// A document whose pool starts in an arena borrowed from arenas, or a
// document with its own pool, as Document() has, when arenas is null or
// has none free. Members go in reverse: the document, then its pool (which
// frees what spilled out of the arena), then the lease gives the arena
// back, empty, for the next borrower's fresh pool.
class ArenaDocument {
  public:
    explicit ArenaDocument(const std::shared_ptr<Arenas>& arenas = nullptr);
    ArenaDocument(const ArenaDocument&) = delete;
    ArenaDocument& operator=(const ArenaDocument&) = delete;

    Document& doc() { return *doc_; }
    const Document& doc() const { return *doc_; }
    // The arena the document lives in; nullptr: its own pool.
    const Arena* arena() const { return lease_.arena(); }

  private:
    Lease lease_;
    std::optional<Pool> pool_;  // only with an arena
    StackAllocator stack_;
    std::optional<Document> doc_;  // always: on pool_, or its own pool
};

// A document for the length of one call: its pool starts in N bytes inside
// the object (on the caller's stack) and spills into 4 KiB chunks only
// beyond them, and its parse stack starts inside it too, so a small
// document costs no malloc. Nothing of it may outlive the object.
template <std::size_t N>
class LocalDocument {
  public:
    explicit LocalDocument(rapidjson::Type type = rapidjson::kNullType)
        : pool_(memory_, N),
          doc_(type, &pool_, StackAllocator::kInline, &stack_) {}
    LocalDocument(const LocalDocument&) = delete;
    LocalDocument& operator=(const LocalDocument&) = delete;

    Document& doc() { return doc_; }
    const Document& doc() const { return doc_; }

  private:
    alignas(std::max_align_t) char memory_[N];
    Pool pool_;
    StackAllocator stack_;
    Document doc_;
};

// A document that outlives the call that made it (an invoice, read once
// and then passed around): the document, its parse stack and the first N
// bytes of its pool in one allocation, where a Document on its own costs
// one for itself, one for its pool and one per chunk.
template <std::size_t N>
std::shared_ptr<Document> shared_document() {
    auto owner = std::make_shared<LocalDocument<N>>();
    return std::shared_ptr<Document>(owner, &owner->doc());
}

inline constexpr std::size_t kMaxDepth = 32;
// Longest string (or member name) accepted, in bytes once unescaped.
inline constexpr std::size_t kMaxStringLength = 16384;

struct ParseError {
    std::string reason;  // short, safe to log: never echoes input
};

// Parses text strictly: valid UTF-8 (a \u escape of a lone or mis-ordered
// surrogate too), no trailing garbage, nesting at most kMaxDepth, strings
// at most kMaxStringLength, no duplicate member names. On failure returns
// the reason.
std::optional<ParseError> parse(std::string_view text, Document& doc);
// What a value is, for readers that keep no document.
enum class Kind { Null, False, True, Number, String, Array, Object };

// Receives, from read_members, the members of a top-level object: for a
// caller that wants a few of them once and no document. Texts are views
// of the caller's text, valid while it lives.
class MemberReader {
  public:
    virtual ~MemberReader() = default;
    // A member of the top-level object, once its value is read: its
    // name, its kind and, for a string or a number, its text (a string
    // unescaped, a number its exact source text).
    virtual void member(std::string_view name, Kind kind,
                        std::string_view text) = 0;
    // A scalar directly inside a top-level member that is an array, told
    // before that member itself: the member's name, the scalar's kind and
    // text as for member().
    virtual void element(std::string_view name, Kind kind,
                         std::string_view text) {
        (void)name;
        (void)kind;
        (void)text;
    }
};

// The same parse as parse(), with the same checks and the same answers,
// of size bytes of text at text, followed by a NUL, that the caller owns
// and no longer needs: it is parsed where it lies (its contents are left
// changed) and what it holds goes to reader instead of a document.
// object: whether the text was good and a JSON object. Members are told
// as they are read: a caller keeps what it was told only when the whole
// text was good (no error).
std::optional<ParseError> read_members(char* text, std::size_t size,
                                       MemberReader& reader, bool& object);

// The same parse with RapidJSON's own reader instead of the one parse()
// and read_members() use (json_reader.h): for tests and fuzzing, which
// check that both answer alike, a refusal with the same reason and
// offset.
std::optional<ParseError> parse_bytewise(std::string text, Document& doc);

bool is_number(const Value& v);
// Source text of a number value (without the tag).
std::string_view number_text(const Value& v);
Value make_number(std::string_view text, Allocator& a);

const Value* member(const Value& obj, std::string_view name);
std::optional<std::string_view> string_member(const Value& obj,
                                              std::string_view name);
// What string_member says of a value already found: its text if it is a
// string (not a number); nullopt for null or anything else.
std::optional<std::string_view> string_text(const Value* v);
const Value* object_member(const Value& obj, std::string_view name);
const Value* array_member(const Value& obj, std::string_view name);
// Mutable twins, for answers built by changing the incoming payload.
Value* member(Value& obj, std::string_view name);
Value* object_member(Value& obj, std::string_view name);
Value* array_member(Value& obj, std::string_view name);
// Plain text of a string or number value; nullopt for anything else.
std::optional<std::string_view> scalar_text(const Value& v);

Value str(std::string_view s, Allocator& a);
// Sets obj[name] = v, replacing an existing member of that name.
void set(Value& obj, std::string_view name, Value v, Allocator& a);

// The writer's output: a string grown by doubling and written through a
// pointer, its length set once at the end. Appending byte by byte to a
// std::string (a capacity check and a terminator per byte) was most of
// what writing an answer cost.
class Sink {
  public:
    explicit Sink(std::string& s) : s_(s) {
        // most of what is written (answers, records, journal lines) fits
        s_.resize(2048);
    }
    // At least n bytes free at the returned pointer; then advance().
    char* room(std::size_t n) {
        if (s_.size() - used_ < n) {
            s_.resize(std::max(2 * s_.size(), used_ + n));
        }
        return s_.data() + used_;
    }
    void advance(char* to) { used_ = static_cast<std::size_t>(to - s_.data()); }
    void put(char c) {
        *room(1) = c;
        ++used_;
    }
    void put(std::string_view t) {
        if (t.empty()) return;  // its data may be null: memcpy's is nonnull
        std::memcpy(room(t.size()), t.data(), t.size());
        used_ += t.size();
    }
    void done() { s_.resize(used_); }

  private:
    std::string& s_;
    std::size_t used_ = 0;
};

// A member name known when the program is built, kept with its quotes
// and colon so that Writer::key writes it without the escape scan: printable
// ASCII but '"' and '\\' (what JSON writes as it stands), at most kMax
// bytes. Anything else is refused: a compile error where it is made in a
// constant expression (constexpr json::Name kId{"id"};, as every Name is
// meant to be made), std::invalid_argument otherwise.
class Name {
  public:
    static constexpr std::size_t kMax = 29;

    template <std::size_t N>
    constexpr explicit Name(const char (&name)[N]) : size_(N + 2) {
        static_assert(N >= 1 && N - 1 <= kMax, "json::Name too long");
        text_[0] = '"';
        for (std::size_t i = 0; i + 1 < N; ++i) {
            char c = name[i];
            if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
                throw std::invalid_argument("json::Name needs escaping");
            }
            text_[i + 1] = c;
        }
        text_[N] = '"';
        text_[N + 1] = ':';
    }

    // "name": as written
    constexpr std::string_view text() const { return {text_, size_}; }

  private:
    friend class Writer;
    // room for the longest and zeros after: Writer copies all of it
    char text_[kMax + 3] = {};
    std::size_t size_;
};

// Writes JSON text as it goes, byte for byte as write() would write the
// same value built as a document: for answers made straight from what was
// read (invoice, settings), without a document in between. Commas and
// colons are its own: begin_object(); key("a"); string("b"); end_object()
// writes {"a":"b"}. Nesting of its own (values passed to value() aside)
// up to 63 levels.
class Writer {
  public:
    Writer() : sink_(out_) {}
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // The short ones are inline: an answer makes a hundred of these calls.
    void begin_object() { open('{'); }
    void end_object() { close('}'); }
    void begin_array() { open('['); }
    void end_array() { close(']'); }
    void key(std::string_view name);
    // The same for a name known when the program is built: the whole
    // array at once, a fixed size (a copy of the name's own length would
    // be a call into libc).
    void key(const Name& name) {
        separate();
        char* d = sink_.room(sizeof name.text_);
        std::memcpy(d, name.text_, sizeof name.text_);
        sink_.advance(d + name.size_);
        after_key_ = true;
    }
    void string(std::string_view s);
    // A number's source text, written bare.
    void number(std::string_view text);
    void boolean(bool b) {
        separate();
        // each a copy of a known size, not a call into libc
        if (b) {
            sink_.put("true");
        } else {
            sink_.put("false");
        }
    }
    void null() {
        separate();
        sink_.put("null");
    }
    // A whole value, as write() writes it.
    void value(const Value& v);
    // Text that is already JSON, written as it stands, nothing checked:
    // one value, or whole members of the open object or whole elements
    // of the open array, comma-separated (parts of an answer written once
    // by another Writer, then copied into many). Empty text writes
    // nothing (never right after a key).
    void raw(std::string_view text) {
        if (text.empty()) return;
        separate();
        sink_.put(text);
    }
    // The text; the writer is spent.
    std::string done();

  private:
    // A comma before every element of an object or array but its first;
    // none after a key, whose colon is written with it.
    void separate() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        std::uint64_t bit = std::uint64_t{1} << depth_;
        if ((filled_ & bit) != 0) sink_.put(',');
        filled_ |= bit;
    }
    void open(char bracket) {
        separate();
        sink_.put(bracket);
        filled_ &= ~(std::uint64_t{1} << ++depth_);
    }
    void close(char bracket) {
        --depth_;
        sink_.put(bracket);
    }

    std::string out_;
    Sink sink_;
    unsigned depth_ = 0;
    std::uint64_t filled_ = 0;  // bit d: level d has an element
    bool after_key_ = false;
};

// Always valid UTF-8: a string built in code that is not (text cut in the
// middle of a character) has each invalid byte written as U+FFFD.
std::string write(const Value& v);

// Whether s is valid UTF-8 (no surrogates, no overlong forms).
bool valid_utf8(std::string_view s);
// Length of the valid UTF-8 sequence at s[i] (i < s.size()), or 0: where
// a writer puts U+FFFD instead.
std::size_t utf8_sequence(std::string_view s, std::size_t i);

}  // namespace opay::json
