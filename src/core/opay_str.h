// opay_str_t, the C API's string, to and from C++: written once here for
// the API's implementation, its tests and the fuzz targets.
#pragma once

#include <string>
#include <string_view>

#include "opay.h"

namespace opay {

inline std::string_view view(opay_str_t s) noexcept {
    return s.data == nullptr ? std::string_view()
                             : std::string_view(s.data, s.len);
}

inline std::string text(opay_str_t s) { return std::string(view(s)); }

inline opay_str_t str(std::string_view s) noexcept {
    return opay_str_t{s.data(), s.size()};
}

}  // namespace opay
