#include "keyset.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ascii.h"
#include "json.h"

namespace opay {

namespace {

// The cache's header line: the magic, a time and two URLs.
constexpr std::size_t kCacheHeaderMax = 16384;

// The host of an absolute URL, without brackets, port or userinfo.
std::string_view url_host(std::string_view url) {
    auto scheme_end = url.find("://");
    std::string_view rest = url.substr(scheme_end + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    auto at = rest.rfind('@');
    if (at != std::string_view::npos) rest.remove_prefix(at + 1);
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        return close == std::string_view::npos ? std::string_view()
                                               : rest.substr(1, close - 1);
    }
    return rest.substr(0, rest.find(':'));
}

bool has_prefix(std::string_view s, std::string_view p) {
    return s.size() >= p.size() && iequals(s.substr(0, p.size()), p);
}

void fail(Fetched& out, opay_key_result_e kind, std::string_view detail) {
    out.result = kind;
    out.error = failure_text(kind, detail);
}

// No answer keeps the kind the client saw; an answer other than 200 is
// "http".
void fail_http(Fetched& out, const std::string& what, const HttpAnswer& a) {
    if (a.status != 0) {
        fail(out, OPAY_KEY_HTTP,
             "status " + std::to_string(a.status) + " (" + what + ")");
        return;
    }
    // a client that names no kind: still a failure, never ok
    out.result = a.kind == OPAY_KEY_OK ? OPAY_KEY_OTHER : a.kind;
    out.error = a.error + " (" + what + ")";
}

constexpr std::string_view kResultNames[OPAY_KEY_RESULTS] = {
    "ok",   "dns",  "connect", "tls",    "timeout", "redirect",
    "http", "size", "parse",   "checks", "memory",  "other"};

}  // namespace

std::string_view result_name(opay_key_result_e result) {
    if (result < OPAY_KEY_OK || result >= OPAY_KEY_RESULTS)
        return kResultNames[OPAY_KEY_OTHER];
    return kResultNames[result];
}

std::string failure_text(opay_key_result_e kind, std::string_view detail) {
    std::string text(result_name(kind));
    text += ": ";
    text += detail;
    return text;
}

std::string no_keys_text(opay_key_result_e last_failure) {
    if (last_failure == OPAY_KEY_OK) return "the first fetch has not ended";
    return "key server failed (" + std::string(result_name(last_failure)) +
           ")";
}

std::string zone_full_text() {
    return failure_text(OPAY_KEY_MEMORY, "the key zone is full");
}

std::optional<std::string> url_problem(std::string_view url) {
    if (has_prefix(url, "https://")) {
        if (url_host(url).empty()) return "URL has no host";
        return std::nullopt;
    }
    if (has_prefix(url, "http://")) {
        std::string_view host = url_host(url);
        if (host == "127.0.0.1" || host == "::1" ||
            iequals(host, "localhost")) {
            return std::nullopt;
        }
        return "http:// is only allowed for a loopback address; use https://";
    }
    return "URL must start with https://";
}

std::optional<std::string> jwks_uri_problem(std::string_view uri,
                                            std::string_view openid_url) {
    if (auto bad = url_problem(uri)) return bad;
    if (has_prefix(uri, "https://")) return std::nullopt;
    if (has_prefix(openid_url, "http://") && !url_problem(openid_url)) {
        return std::nullopt;
    }
    return "must be https://";
}

const std::string& source_url(const KeySource& source) {
    return source.openid_url.empty() ? source.jwks_url : source.openid_url;
}

std::string kid_list(const KeySet& keys) {
    std::string out;
    for (const auto& k : keys.keys) {
        if (!out.empty()) out += ',';
        out += k.kid.empty() ? "(no kid)" : k.kid;
    }
    return out;
}

std::optional<std::string> check_document(std::string_view text,
                                          std::string* kids) {
    auto loaded = load_jwks(text);
    if (auto* e = std::get_if<KeySetError>(&loaded)) return e->message;
    if (kids != nullptr) *kids = kid_list(std::get<KeySet>(loaded));
    return std::nullopt;
}

Fetched fetch_keys(const KeySource& source, const Fetcher& get,
                   int64_t now) {
    Fetched out;
    std::string url = source.jwks_url;
    if (!source.openid_url.empty()) {
        HttpAnswer meta = get(source.openid_url);
        if (meta.status != 200) {
            fail_http(out, "OpenID metadata", meta);
            return out;
        }
        if (meta.body.size() > source.max_size) {
            fail(out, OPAY_KEY_SIZE, "OpenID metadata over opay_jwks_max_size");
            return out;
        }
        json::Document doc;
        if (auto err = json::parse(meta.body, doc)) {
            fail(out, OPAY_KEY_PARSE, "OpenID metadata: " + err->reason);
            return out;
        }
        auto uri = doc.IsObject() ? json::string_member(doc, "jwks_uri")
                                  : std::nullopt;
        if (!uri) {
            fail(out, OPAY_KEY_PARSE, "OpenID metadata has no jwks_uri");
            return out;
        }
        if (auto bad = jwks_uri_problem(*uri, source.openid_url)) {
            fail(out, OPAY_KEY_PARSE, "jwks_uri: " + *bad);
            return out;
        }
        url = std::string(*uri);
    }
    out.url = url;
    HttpAnswer keys = get(url);
    if (keys.status != 200) {
        fail_http(out, "JWKS", keys);
        return out;
    }
    if (keys.body.size() > source.max_size) {
        fail(out, OPAY_KEY_SIZE, "JWKS over opay_jwks_max_size");
        return out;
    }
    if (auto bad = check_document(keys.body, &out.kids)) {
        fail(out, OPAY_KEY_CHECKS, *bad);
        return out;
    }
    out.result = OPAY_KEY_OK;
    out.document = std::move(keys.body);
    out.fetched_at = now;
    if (!source.cache_path.empty()) {
        std::string err;
        if (!write_cache(source, out, &err)) {
            // The keys are good; only the cache is not. Said in the log.
            out.error = "cache: " + err;
        }
    }
    return out;
}

bool write_cache(const KeySource& source, const Fetched& fetched,
                 std::string* err) {
    const std::string& path = source.cache_path;
    unsigned char random[8];
    if (RAND_bytes(random, sizeof(random)) != 1) {
        *err = "no random bytes for a temporary name";
        return false;
    }
    std::string tmp = path + ".tmp.";
    append_hex(tmp, random, sizeof(random));
    std::string text = "opay-jwks-cache 2 " +
                       std::to_string(fetched.fetched_at) + ' ' +
                       source_url(source) + ' ' + fetched.url + '\n' +
                       fetched.document;
    int fd = ::open(tmp.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600);
    if (fd < 0) {
        *err = "cannot create \"" + tmp + "\": " + std::strerror(errno);
        return false;
    }
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
    bool ok = done == text.size() && ::fsync(fd) == 0;
    ok = ::close(fd) == 0 && ok;
    if (!ok) {
        *err = "cannot write \"" + tmp + "\"";
        ::unlink(tmp.c_str());
        return false;
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        *err = "cannot rename to \"" + path + "\": " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return false;
    }
    return true;
}

namespace {

// The text of the cache file at path if it may be trusted, else why not.
std::optional<std::string> read_trusted(const std::string& path,
                                        std::size_t max_size,
                                        const std::vector<uid_t>& owners,
                                        std::string* text) {
    // O_NONBLOCK: a FIFO planted there must not hang the master
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
                                      O_CLOEXEC);
    if (fd < 0) {
        return std::string("cannot open it: ") + std::strerror(errno);
    }
    std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) {
        ::close(*f);
    });
    struct stat st;
    if (::fstat(fd, &st) != 0) return std::string("cannot stat it");
    if (!S_ISREG(st.st_mode)) return std::string("not a regular file");
    if (std::find(owners.begin(), owners.end(), st.st_uid) == owners.end()) {
        return "owned by uid " + std::to_string(st.st_uid) +
               ", neither nginx's master nor its workers' user";
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return std::string("writable by group or others");
    }
    if (static_cast<uint64_t>(st.st_size) > max_size + kCacheHeaderMax) {
        return std::string("larger than opay_jwks_max_size");
    }
    text->resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < text->size()) {
        ssize_t n = ::read(fd, &(*text)[done], text->size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<std::size_t>(n);
    }
    if (done != text->size()) return std::string("cannot read it");
    return std::nullopt;
}

}  // namespace

Fetched read_cache(const KeySource& source,
                   const std::vector<uid_t>& owners) {
    const std::string& path = source.cache_path;
    Fetched out;
    std::string text;
    if (auto bad = read_trusted(path, source.max_size, owners, &text)) {
        out.error = "cache: \"" + path + "\" not used: " + *bad;
        return out;
    }
    auto eol = text.find('\n');
    std::istringstream h(text.substr(0, eol));
    std::string magic, recorded;
    int version = 0;
    h >> magic >> version >> out.fetched_at >> recorded >> out.url;
    if (eol == std::string::npos || magic != "opay-jwks-cache" ||
        version != 2 || !h) {
        out.error = "cache: \"" + path + "\" is not an opay key cache";
        return out;
    }
    if (recorded != source_url(source)) {
        out.error = "cache: \"" + path + "\" not used: fetched from \"" +
                    recorded + "\", not from the configured URL";
        return out;
    }
    out.document = text.substr(eol + 1);
    if (out.document.size() > source.max_size) {
        out.error = "cache: \"" + path + "\" not used: larger than "
                    "opay_jwks_max_size";
        out.document.clear();
        return out;
    }
    if (auto bad = check_document(out.document, &out.kids)) {
        out.error = "cache: \"" + path + "\": " + *bad;
        out.document.clear();
        return out;
    }
    out.result = OPAY_KEY_OK;
    return out;
}

}  // namespace opay
