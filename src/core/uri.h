// The subrequest URI: $opay_* values percent-encoded as they are expanded,
// and the expanded URI split, decoded and checked before nginx sends it.
// The security-relevant half of the module's subrequests: a value from a
// request body must stay one path segment and never climb with "..".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace opay::uri {

enum class Escape {
    kText,     // headers, logs: control characters percent-encoded
    kSegment,  // a subrequest URI: everything but RFC 3986's unreserved
};

// The bytes value takes once escaped.
size_t escaped_size(std::string_view value, Escape how) noexcept;
// Writes escaped_size(value, how) bytes at out; returns their end.
char* escape(char* out, std::string_view value, Escape how) noexcept;
std::string escape(std::string_view value, Escape how);

// An expanded URI split at its first '?'.
struct Split {
    size_t path_len = 0;     // bytes written to the caller's buffer
    bool has_args = false;   // a '?' was there
    std::string_view args;   // after it, a view into the URI
};

// Decodes the path of uri (before its first '?') into path, which has room
// for uri.size() bytes; false when the URI is unsafe to send: a NUL byte
// anywhere, a path that is empty, does not start with '/' or has a "." or
// ".." segment once decoded.
bool split(std::string_view uri, char* path, Split& out) noexcept;

// A "." or ".." segment in path: only the configuration can have written it.
bool has_dot_segment(std::string_view path) noexcept;

}  // namespace opay::uri
