// The HTTP client of key fetching: one blocking GET with libcurl, run in a
// thread by the shim (never on nginx's event loop).
#pragma once

#include <cstddef>
#include <string>

#include "keyset.h"

namespace opay {

// libcurl's global state, not thread-safe: in the process that forks the
// fetching ones (nginx's master), before; each http_init paired with one
// http_cleanup (libcurl counts them).
bool http_init();
void http_cleanup();

// HTTPS with the peer's certificate and host name verified (source.ca_file
// or the system store), at most 3 redirects (https only), the body capped
// at source.max_size, source.timeout_ms for the whole transfer.
HttpAnswer http_get(const std::string& url, const KeySource& source);

// libcurl's write callback, declared for its test: appends to an
// HttpTransfer; 0 (curl ends the transfer) past max_size or out of memory.
struct HttpTransfer {
    std::string body;
    std::size_t max_size;
    bool too_big = false;
};
size_t http_on_data(char* data, size_t size, size_t n, void* transfer) noexcept;

}  // namespace opay
