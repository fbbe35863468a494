// Helpers shared by the libFuzzer targets (fuzz/*_fuzz.cpp; not part
// of the core library). A target's input is text split into parts by a
// separator line, so that its seeds are readable files and its dictionary
// can hold the separator.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace opay::fuzz {

inline constexpr std::string_view kSeparator = "\n--\n";

inline std::string_view text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// Up to max parts; the last one keeps the rest of the input.
inline std::vector<std::string_view> split(std::string_view in,
                                           size_t max = 64) {
    std::vector<std::string_view> parts;
    while (parts.size() + 1 < max) {
        size_t at = in.find(kSeparator);
        if (at == std::string_view::npos) break;
        parts.push_back(in.substr(0, at));
        in.remove_prefix(at + kSeparator.size());
    }
    parts.push_back(in);
    return parts;
}

// A file of the source tree (the fixed test keys); aborts when missing,
// so a broken setup never passes as a clean run.
inline std::string source_file(const std::string& name) {
    std::ifstream in(name, std::ios::binary);
    if (!in) std::abort();
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A property the target checks failed: a crash libFuzzer reports.
[[noreturn]] inline void violated() { __builtin_trap(); }

inline void require(bool ok) {
    if (!ok) violated();
}

}  // namespace opay::fuzz
