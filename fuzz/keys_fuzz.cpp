// Fuzzes one key refresh (fetch_keys) with the issuer's answers made up:
// whatever the OpenID metadata and the JWKS say, the result is one kind,
// its log text starts with that kind's name, good keys are only a checked
// JWKS, and a jwks_uri that jwks_uri_problem refuses is never fetched.
// Input: "OPENID JWKS\n--\nMETADATA BODY\n--\nJWKS BODY", where OPENID and
// JWKS are each an HTTP status ("200"), a client failure's kind ("tls":
// no answer) or, for OPENID, "-" (no opay_openid_configuration).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "keyset.h"

using namespace opay;

namespace {

constexpr const char* kOpenid =
    "https://issuer.example/.well-known/openid-configuration";
constexpr const char* kJwks = "https://issuer.example/keys";

// What the made-up client answers to one GET, as http_get would.
HttpAnswer answer(std::string_view how, std::string_view body) {
    HttpAnswer a;
    for (int k = OPAY_KEY_OK; k < OPAY_KEY_RESULTS; k++) {
        auto kind = static_cast<opay_key_result_e>(k);
        if (how == result_name(kind)) {
            a.kind = kind;  // OPAY_KEY_OK: a client that names no kind
            a.error = failure_text(kind, "made up");
            return a;
        }
    }
    a.status = std::atoi(std::string(how).c_str());
    a.body = std::string(body);
    return a;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = fuzz::split(fuzz::text(data, size), 3);
    if (parts.size() < 3) return 0;
    std::string_view head = parts[0];
    size_t sp = head.find(' ');
    if (sp == std::string_view::npos) return 0;
    std::string_view openid_how = head.substr(0, sp);
    std::string_view jwks_how = head.substr(sp + 1);

    KeySource source;
    source.max_size = 64 * 1024;
    if (openid_how == "-") {
        source.jwks_url = kJwks;
    } else {
        source.openid_url = kOpenid;
    }
    std::vector<std::string> asked;
    Fetcher get = [&](const std::string& url) {
        asked.push_back(url);
        return url == kOpenid ? answer(openid_how, parts[1])
                              : answer(jwks_how, parts[2]);
    };
    Fetched f = fetch_keys(source, get, 1700000000);

    // one kind, in range, and the text the log gets starts with it
    fuzz::require(f.result >= OPAY_KEY_OK && f.result < OPAY_KEY_RESULTS);
    if (f.ok()) {
        fuzz::require(f.error.empty());
        fuzz::require(!check_document(f.document, nullptr));
        fuzz::require(f.document == parts[2]);
        fuzz::require(!f.kids.empty());
        fuzz::require(f.fetched_at == 1700000000);
    } else {
        fuzz::require(f.document.empty());
        std::string name(result_name(f.result));
        bool named = f.error.compare(0, name.size() + 2, name + ": ") == 0;
        // a client that names no kind is "other", its text as it was
        fuzz::require(named || f.result == OPAY_KEY_OTHER);
        fuzz::require(f.result != OPAY_KEY_OTHER || f.error.size() > 0);
    }
    std::string why = no_keys_text(f.result);
    fuzz::require(!why.empty());

    // at most the metadata, then one JWKS; the metadata's jwks_uri only
    // when jwks_uri_problem lets it be fetched
    fuzz::require(asked.size() <= 2);
    if (!source.openid_url.empty()) {
        fuzz::require(!asked.empty() && asked[0] == kOpenid);
        if (asked.size() == 2) {
            fuzz::require(!jwks_uri_problem(asked[1], kOpenid));
            fuzz::require(f.url == asked[1]);
        }
    } else {
        fuzz::require(asked.size() == 1 && asked[0] == kJwks);
    }
    return 0;
}
