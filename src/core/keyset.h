// Signing keys fetched from the issuer (opay_jwks_url,
// opay_openid_configuration): where they come from, how one fetch goes
// (OpenID metadata, then the JWKS, checked like opay_jwks_file), and the
// on-disk cache of the last good document. The HTTP client is injected,
// so all of this is tested without a network.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "jwks.h"

namespace opay {

inline constexpr std::size_t kDefaultJwksMaxSize = 256 * 1024;

struct KeySource {
    std::string jwks_url;    // empty when only openid_url is set
    std::string openid_url;  // followed to its jwks_uri first
    std::string ca_file;     // empty: the system store
    std::string cache_path;  // empty: no cache
    std::size_t max_size = kDefaultJwksMaxSize;
    int64_t timeout_ms = 10000;
};

// One HTTP GET. status 0 means no answer; error then says why, starting
// with its kind: "dns", "connect", "tls", "timeout", "size", "redirect".
struct HttpAnswer {
    int status = 0;
    std::string body;
    std::string error;
};

using Fetcher = std::function<HttpAnswer(const std::string& url)>;

// The outcome of a fetch or of reading the cache.
struct Fetched {
    bool ok = false;
    std::string document;  // the JWKS text, checked
    std::string kids;      // "k1,k2": for the log
    std::string url;       // where the JWKS came from
    std::string error;     // kind first: "http: status 404", "checks: ..."
    int64_t fetched_at = 0;
};

// nullopt if url may be fetched: https, or http to a loopback address.
std::optional<std::string> url_problem(std::string_view url);

// Checks a JWKS document as opay_jwks_file does (RS256 keys of at least
// 2048 bits, no ROCA key, no duplicate kid, at least one usable key).
std::optional<std::string> check_document(std::string_view text,
                                          std::string* kids);

// One refresh: the OpenID metadata when configured, then the JWKS;
// checked; on success written to the cache. Never throws but bad_alloc.
Fetched fetch_keys(const KeySource& source, const Fetcher& get,
                   int64_t now);

// Cache file: a header line "opay-jwks-cache 1 FETCHED_AT URL", then the
// document. Written to a temporary file in the same directory, then
// renamed over the old one, so a reader never sees half a file.
bool write_cache(const std::string& path, const Fetched& fetched,
                 std::string* err);
Fetched read_cache(const std::string& path);

std::string kid_list(const KeySet& keys);

}  // namespace opay

struct opay_keys_s;

namespace opay {

// The set behind an opay_keys_t handle (opay_keys.cpp), for the flow.
const KeySet* key_set(const opay_keys_s* keys);

}  // namespace opay
