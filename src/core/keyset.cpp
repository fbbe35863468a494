#include "keyset.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "ascii.h"
#include "json.h"

namespace opay {

namespace {

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

std::string http_error(const std::string& what, const HttpAnswer& a) {
    if (a.status == 0) return a.error + " (" + what + ")";
    return "http: status " + std::to_string(a.status) + " (" + what + ")";
}

}  // namespace

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
            out.error = http_error("OpenID metadata", meta);
            return out;
        }
        if (meta.body.size() > source.max_size) {
            out.error = "size: OpenID metadata over opay_jwks_max_size";
            return out;
        }
        json::Document doc;
        if (auto err = json::parse(meta.body, doc)) {
            out.error = "parse: OpenID metadata: " + err->reason;
            return out;
        }
        auto uri = doc.IsObject() ? json::string_member(doc, "jwks_uri")
                                  : std::nullopt;
        if (!uri) {
            out.error = "parse: OpenID metadata has no jwks_uri";
            return out;
        }
        if (auto bad = url_problem(*uri)) {
            out.error = "parse: jwks_uri: " + *bad;
            return out;
        }
        url = std::string(*uri);
    }
    out.url = url;
    HttpAnswer keys = get(url);
    if (keys.status != 200) {
        out.error = http_error("JWKS", keys);
        return out;
    }
    if (keys.body.size() > source.max_size) {
        out.error = "size: JWKS over opay_jwks_max_size";
        return out;
    }
    if (auto bad = check_document(keys.body, &out.kids)) {
        out.error = "checks: " + *bad;
        return out;
    }
    out.ok = true;
    out.document = std::move(keys.body);
    out.fetched_at = now;
    if (!source.cache_path.empty()) {
        std::string err;
        if (!write_cache(source.cache_path, out, &err)) {
            // The keys are good; only the cache is not. Said in the log.
            out.error = "cache: " + err;
        }
    }
    return out;
}

bool write_cache(const std::string& path, const Fetched& fetched,
                 std::string* err) {
    std::string tmp = path + ".tmp." + std::to_string(getpid());
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) {
            *err = "cannot create \"" + tmp + "\"";
            return false;
        }
        f << "opay-jwks-cache 1 " << fetched.fetched_at << ' ' << fetched.url
          << '\n'
          << fetched.document;
        f.flush();
        if (!f) {
            *err = "cannot write \"" + tmp + "\"";
            f.close();
            std::remove(tmp.c_str());
            return false;
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        *err = "cannot rename to \"" + path + "\"";
        std::remove(tmp.c_str());
        return false;
    }
    return true;
}

Fetched read_cache(const std::string& path) {
    Fetched out;
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        out.error = "cache: cannot read \"" + path + "\"";
        return out;
    }
    std::string header;
    std::getline(f, header);
    std::istringstream h(header);
    std::string magic;
    int version = 0;
    h >> magic >> version >> out.fetched_at >> out.url;
    if (magic != "opay-jwks-cache" || version != 1 || !h) {
        out.error = "cache: \"" + path + "\" is not an opay key cache";
        return out;
    }
    std::ostringstream body;
    body << f.rdbuf();
    out.document = body.str();
    if (auto bad = check_document(out.document, &out.kids)) {
        out.error = "cache: \"" + path + "\": " + *bad;
        out.document.clear();
        return out;
    }
    out.ok = true;
    return out;
}

}  // namespace opay
