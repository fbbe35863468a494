// Fuzzes the strict JSON parser and the writer: read_members() (no
// document) and parse_bytewise() (RapidJSON's own reader, where parse()
// and read_members() run json_reader.h's) answer as parse() does, the
// same refusal at the same offset; whatever parse() accepts,
// write() must turn into text that parse() accepts again and that writes
// back to the same text (the module re-reads what it writes: journal lines,
// answers). valid_utf8() and the writer's string escaping answer as the
// byte-at-a-time references of json_reference.h on the raw input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "json.h"
#include "json_members_check.h"
#include "json_reference.h"

using namespace opay;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in = fuzz::text(data, size);
    fuzz::require(json::valid_utf8(in) == json::reference::valid_utf8(in));
    // the input as a string value (not a number's tagged text, which is
    // written bare)
    if (!(in.size() > 1 && in[0] == '\xff')) {
        json::Document d;
        fuzz::require(json::write(json::str(in, d.GetAllocator())) ==
                      json::reference::write_string(in));
    }
    json::Document doc;
    auto refused = json::parse(in, doc);
    // read_members: the same parse over a buffer of the caller's, told
    // member by member
    fuzz::require(json::check::by_reader(std::string(in)) ==
                  json::check::by_document(in));
    // parse_bytewise: RapidJSON's own reader, the twin of parse()'s
    json::Document bytewise;
    auto refused_bytewise = json::parse_bytewise(std::string(in), bytewise);
    fuzz::require(refused.has_value() == refused_bytewise.has_value());
    if (refused) {
        fuzz::require(refused->reason == refused_bytewise->reason);
        return 0;
    }
    std::string out = json::write(doc);
    fuzz::require(json::write(bytewise) == out);
    json::Document again;
    fuzz::require(!json::parse(out, again));
    fuzz::require(json::write(again) == out);
    if (doc.IsObject()) {
        for (auto& m : doc.GetObject()) {
            std::string_view name(m.name.GetString(),
                                  m.name.GetStringLength());
            fuzz::require(json::member(doc, name) != nullptr);
            auto text = json::scalar_text(m.value);
            if (json::is_number(m.value)) fuzz::require(text.has_value());
        }
    }
    return 0;
}
