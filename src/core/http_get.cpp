#include "http_get.h"

#include <memory>

#include <curl/curl.h>

namespace opay {

size_t http_on_data(char* data, size_t size, size_t n, void* user) noexcept {
    auto* t = static_cast<HttpTransfer*>(user);
    if (t->body.size() + n * size > t->max_size) {
        t->too_big = true;
        return 0;  // curl stops with CURLE_WRITE_ERROR
    }
    // no exception may unwind through libcurl's C frames: out of memory
    // ends the transfer as an error instead
    try {
        t->body.append(data, n * size);
    } catch (...) {
        return 0;
    }
    return n * size;
}

namespace {

opay_key_result_e error_kind(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return OPAY_KEY_DNS;
    case CURLE_COULDNT_CONNECT:
        return OPAY_KEY_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return OPAY_KEY_TIMEOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return OPAY_KEY_TLS;
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return OPAY_KEY_REDIRECT;
    default:
        return OPAY_KEY_HTTP;
    }
}

void fail(HttpAnswer& out, opay_key_result_e kind, std::string_view detail) {
    out.kind = kind;
    out.error = failure_text(kind, detail);
}

}  // namespace

bool http_init() { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }

void http_cleanup() { curl_global_cleanup(); }

HttpAnswer http_get(const std::string& url, const KeySource& source) {
    HttpAnswer out;
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(
        curl_easy_init(), curl_easy_cleanup);
    if (!curl) {
        fail(out, OPAY_KEY_HTTP, "cannot start libcurl");
        return out;
    }
    HttpTransfer t{{}, source.max_size, false};
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!source.ca_file.empty()) {
        // only that file: libcurl's CA path (/etc/ssl/certs on Debian)
        // would otherwise trust every system CA as well
        curl_easy_setopt(c, CURLOPT_CAINFO, source.ca_file.c_str());
        curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(source.timeout_ms));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(source.timeout_ms));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(source.max_size));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, OPAY_USER_AGENT);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");

    CURLcode rc = curl_easy_perform(c);
    if (t.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        fail(out, OPAY_KEY_SIZE, "over opay_jwks_max_size");
        return out;
    }
    if (rc != CURLE_OK) {
        fail(out, error_kind(rc),
             errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return out;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    out.status = static_cast<int>(status);
    out.body = std::move(t.body);
    return out;
}

}  // namespace opay
