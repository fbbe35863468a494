// Fuzzes the strict JSON reader (json_reader.h) against its twin,
// RapidJSON's own reader with the same flags, event by event: every
// event with its string bytes and counts, the result code and offset,
// where each stopped and the whole buffer after the in-situ unescaping.
// Each reads its own exactly sized copy (malloc(size + 1), the NUL after
// it), so a read past the text is a sanitizer report; json_fuzz goes
// through parse(), which copies the text into a larger pool first. The
// input's first byte is the event at which the handler refuses (0xff:
// none), so that every refusal's offset is compared too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <rapidjson/reader.h>

#include "fuzz_util.h"
#include "json_reader.h"

using namespace opay;

namespace {

struct Transcript
    : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Transcript> {
    std::string log;
    int events = 0;
    int refuse_at = -1;

    bool event(std::string_view what, const char* s = nullptr,
               rapidjson::SizeType n = 0, bool copy = false) {
        log.append(what);
        if (s != nullptr) {
            log += std::to_string(n);
            log += ':';
            log.append(s, n);
        }
        log += copy ? "C\n" : "\n";
        return events++ != refuse_at;
    }
    bool Null() { return event("null"); }
    bool Bool(bool b) { return event(b ? "true" : "false"); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
        return event("number ", s, n, copy);
    }
    bool String(const char* s, rapidjson::SizeType n, bool copy) {
        return event("string ", s, n, copy);
    }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) {
        return event("key ", s, n, copy);
    }
    bool StartObject() { return event("{"); }
    bool EndObject(rapidjson::SizeType n) {
        return event("}" + std::to_string(n));
    }
    bool StartArray() { return event("["); }
    bool EndArray(rapidjson::SizeType n) {
        return event("]" + std::to_string(n));
    }
};

struct Free {
    void operator()(char* p) const { std::free(p); }
};

std::unique_ptr<char, Free> copy_of(const uint8_t* data, size_t size) {
    std::unique_ptr<char, Free> p(static_cast<char*>(std::malloc(size + 1)));
    if (!p) std::abort();
    std::memcpy(p.get(), data, size);
    p.get()[size] = '\0';
    return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    int refuse_at = data[0] == 0xff ? -1 : data[0];
    ++data;
    --size;
    // The reader's own recursion is bounded by the module's handler
    // (depth 32); without it here, RapidJSON's and ours would recurse as
    // deep as the input: keep them within the stack.
    int depth = 0;
    for (size_t i = 0; i < size; ++i) {
        if ((data[i] == '[' || data[i] == '{') && ++depth > 200) return 0;
    }
    auto ours_text = copy_of(data, size);
    auto twin_text = copy_of(data, size);

    Transcript ours;
    ours.refuse_at = refuse_at;
    bool escaped = false;
    json::detail::Reader<Transcript> reader(ours_text.get(), size, &escaped,
                                            ours);
    rapidjson::ParseResult ours_result = reader.parse();

    Transcript twin;
    twin.refuse_at = refuse_at;
    rapidjson::Reader twin_reader;
    rapidjson::InsituStringStream stream(twin_text.get());
    rapidjson::ParseResult twin_result =
        twin_reader.Parse<rapidjson::kParseInsituFlag |
                          rapidjson::kParseNumbersAsStringsFlag |
                          rapidjson::kParseStopWhenDoneFlag>(stream, twin);

    fuzz::require(ours.log == twin.log);
    fuzz::require(ours_result.Code() == twin_result.Code());
    fuzz::require(ours_result.Offset() == twin_result.Offset());
    fuzz::require(ours_result.IsError() || reader.tell() == stream.Tell());
    fuzz::require(std::memcmp(ours_text.get(), twin_text.get(), size + 1) ==
                  0);
    return 0;
}
