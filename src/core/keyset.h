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
#include <vector>

#include <sys/types.h>

#include "jwks.h"
#include "opay.h"

namespace opay {

inline constexpr std::size_t kDefaultJwksMaxSize = OPAY_DEFAULT_JWKS_MAX_SIZE;

struct KeySource {
    std::string jwks_url;    // empty when only openid_url is set
    std::string openid_url;  // followed to its jwks_uri first
    std::string ca_file;     // empty: the system store
    std::string cache_path;  // empty: no cache
    std::size_t max_size = kDefaultJwksMaxSize;
    int64_t timeout_ms = OPAY_DEFAULT_JWKS_TIMEOUT;
};

// One HTTP GET. status 0 means no answer; kind then says why ("dns",
// "connect", "tls", "timeout", "size", "redirect", "http"), set where the
// failure is seen, and error says it for the log (failure_text).
struct HttpAnswer {
    int status = 0;
    std::string body;
    opay_key_result_e kind = OPAY_KEY_OTHER;
    std::string error;
};

using Fetcher = std::function<HttpAnswer(const std::string& url)>;

// The outcome of a fetch or of reading the cache. result is set where the
// failure is seen; a cache that cannot be read is OPAY_KEY_OTHER.
struct Fetched {
    opay_key_result_e result = OPAY_KEY_OTHER;  // OPAY_KEY_OK: keys good
    std::string document;  // the JWKS text, checked
    std::string kids;      // "k1,k2": for the log
    std::string url;       // where the JWKS came from
    // for the log: failure_text's "http: status 404 (JWKS)", or
    // "cache: ..." (also when ok: the keys are good, only the cache is not)
    std::string error;
    int64_t fetched_at = 0;

    bool ok() const { return result == OPAY_KEY_OK; }
};

// The name of a result, as opay_status labels it; "other" out of range.
std::string_view result_name(opay_key_result_e result);
// A failure's text for the log: its kind's name, ": ", the detail.
std::string failure_text(opay_key_result_e kind, std::string_view detail);
// Why a request finds no keys, as its 503 says: "the first fetch has not
// ended" (last_failure OPAY_KEY_OK), or "key server failed (tls)".
std::string no_keys_text(opay_key_result_e last_failure);
// A good set that the shim's key zone could not hold, for the log.
std::string zone_full_text();

// nullopt if url may be fetched: https, or http to a loopback address.
std::optional<std::string> url_problem(std::string_view url);

// nullopt if the jwks_uri an OpenID document names may be fetched: https
// only; http to loopback only when the metadata's own URL is loopback
// http (a test issuer), so a remote document cannot aim a GET at a
// service on the machine.
std::optional<std::string> jwks_uri_problem(std::string_view uri,
                                            std::string_view openid_url);

// The URL the configuration names for the source: the OpenID metadata's,
// or the JWKS'. The cache records it.
const std::string& source_url(const KeySource& source);

// Checks a JWKS document as opay_jwks_file does (RS256 keys of at least
// 2048 bits, no ROCA key, no duplicate kid, at least one usable key).
std::optional<std::string> check_document(std::string_view text,
                                          std::string* kids);

// One refresh: the OpenID metadata when configured, then the JWKS;
// checked; on success written to the cache. Never throws but bad_alloc.
Fetched fetch_keys(const KeySource& source, const Fetcher& get,
                   int64_t now);

// Cache file: a header line "opay-jwks-cache 2 FETCHED_AT SOURCE_URL
// JWKS_URL", then the document. Written 0600 (whatever the umask: a
// daemonized nginx has 0) under a random temporary name created with
// O_EXCL|O_NOFOLLOW in the same directory, fsync'ed, then renamed over
// the old one, so a reader never sees half a file.
bool write_cache(const KeySource& source, const Fetched& fetched,
                 std::string* err);

// The cache of source, or why it is not used: not a regular file (or a
// symlink), owned by none of owners, writable by group or others, larger
// than max_size allows, recorded for another URL than source_url(source),
// or not a checked JWKS.
Fetched read_cache(const KeySource& source,
                   const std::vector<uid_t>& owners);

std::string kid_list(const KeySet& keys);

}  // namespace opay

struct opay_keys_s;

namespace opay {

// The set behind an opay_keys_t handle (opay_keys.cpp), for the flow.
const KeySet* key_set(const opay_keys_s* keys);

}  // namespace opay
