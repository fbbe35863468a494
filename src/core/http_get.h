// The HTTP client of key fetching: one blocking GET with libcurl, run in a
// thread by the shim (never on nginx's event loop).
#pragma once

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

}  // namespace opay
