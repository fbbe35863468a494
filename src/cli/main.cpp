// opay: the operator's command-line tool.
//
//   opay verify-token --jwks FILE [--issuer S] [--audience S]
//                     [--appid S | --no-appid] [--ver S | --no-ver]
//                     [--now EPOCH] [--signature-only] TOKEN
//   opay mint-token --key PEM --kid K [--header name=value ...]
//                   [--claim name=value ...]
//   opay jwks --key PEM --kid K
//   opay journal replay --journal PATH --url URL
//   opay simulate ...          (simulate.cpp)
//   opay card ...              (card_command.cpp)
//
// Values of --claim and --header are JSON when they parse as JSON (numbers,
// true, arrays...), strings otherwise. mint-token fills in iss, appid, ver,
// iat, nbf and exp (one hour) unless given.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "ascii.h"
#include "base64url.h"
#include "cli.h"
#include "json.h"
#include "jwks.h"
#include "jws.h"
#include "jwt.h"
#include "opay.h"
#include "payment_complete.h"

namespace opay::cli {

namespace {

// A JSON string for the terminal (a token's text is someone else's).
std::string escape(const std::string& s) {
    json::Document d;
    return printable(json::write(json::str(s, d.GetAllocator())),
                     Printable::kJson);
}

int verify_token(const Args& a) {
    if (a.positional.size() != 1 || !a.options.count("--jwks")) return usage();
    auto text = read_file(a.options.at("--jwks"));
    if (!text) {
        std::cerr << "opay: cannot read " << a.options.at("--jwks") << "\n";
        return 2;
    }
    auto loaded = load_jwks(*text);
    if (auto* e = std::get_if<KeySetError>(&loaded)) {
        std::cerr << "opay: " << printable(e->message) << "\n";
        return 2;
    }
    TokenPolicy policy;
    policy.issuer = option(a, "--issuer", OPAY_DEFAULT_JWT_ISSUER);
    policy.audience = option(a, "--audience", "");
    if (!has_flag(a, "--no-appid")) {
        policy.appid = option(a, "--appid", OPAY_DEFAULT_JWT_APPID);
    }
    if (!has_flag(a, "--no-ver")) {
        policy.version = option(a, "--ver", OPAY_DEFAULT_JWT_VERSION);
    }
    policy.signature_only = has_flag(a, "--signature-only");
    int64_t now = std::atoll(
        option(a, "--now", std::to_string(std::time(nullptr))).c_str());
    auto result = verify_token(a.positional[0],
                                     std::get<KeySet>(loaded), policy,
                                     now);
    std::cout << "{\"ok\":" << (result.ok() ? "true" : "false");
    if (result.reason != OPAY_REFUSAL_NONE) {
        std::cout << ",\"reason\":"
                  << escape(std::string(result.reason_name()));
    }
    std::cout << ",\"checks\":[";
    for (std::size_t i = 0; i < result.checks.size(); ++i) {
        const auto& c = result.checks[i];
        std::cout << (i ? "," : "") << "{\"name\":" << escape(std::string(c.name))
                  << ",\"ok\":" << (c.ok ? "true" : "false")
                  << ",\"detail\":" << escape(c.detail) << "}";
    }
    std::cout << "]}\n";
    return result.ok() ? 0 : 1;
}

// The key of a PEM file: the private key, or (want_private false) a public
// key or a private key's public half.
PkeyPtr load_key(const std::string& path, bool want_private) {
    auto text = read_file(path);
    if (!text) return nullptr;
    return want_private ? private_key_from_pem(*text)
                        : public_key_from_pem(*text);
}

int mint_token(const Args& a) {
    if (!a.options.count("--key")) return usage();
    PkeyPtr key = load_key(a.options.at("--key"), true);
    if (!key) {
        std::cerr << "opay: cannot read a private key from "
                  << a.options.at("--key") << "\n";
        return 2;
    }
    auto token = mint(key.get(), option(a, "--kid", ""), a.headers, a.claims);
    if (!token) {
        std::cerr << "opay: signing failed (RS256 needs an RSA key)\n";
        return 2;
    }
    std::cout << *token << "\n";
    return 0;
}

std::string bignum_param(EVP_PKEY* key, const char* name) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return {};
    std::string bytes(BN_num_bytes(bn), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(bn);
    return base64url_encode(bytes);
}

int jwks(const Args& a) {
    if (!a.options.count("--key") || !a.options.count("--kid")) return usage();
    PkeyPtr key = load_key(a.options.at("--key"), false);
    if (!key) {
        std::cerr << "opay: cannot read a key from " << a.options.at("--key")
                  << "\n";
        return 2;
    }
    std::cout << "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\""
              << ",\"kid\":" << escape(a.options.at("--kid"))
              << ",\"n\":\"" << bignum_param(key.get(), OSSL_PKEY_PARAM_RSA_N)
              << "\",\"e\":\"" << bignum_param(key.get(), OSSL_PKEY_PARAM_RSA_E)
              << "\"}]}\n";
    return 0;
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

// POSTs one JSON record; returns the HTTP status, or 0 on failure.
long post_json(const std::string& url, const std::string& body) {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(
        curl_easy_init(), curl_easy_cleanup);
    if (!curl) return 0;
    curl_slist* headers =
        curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE,
                     static_cast<long>(body.size()));
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, discard);
    long status = 0;
    if (curl_easy_perform(curl.get()) == CURLE_OK) {
        curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(headers);
    return status;
}

bool append_line(const std::string& path, const std::string& line) {
    // the journal read, not a file a symbolic link put in its place since
    int fd = open_regular(path, O_WRONLY | O_APPEND);
    if (fd < 0) return false;
    std::string out = line + "\n";
    bool ok = ::write(fd, out.data(), out.size()) ==
                  static_cast<ssize_t>(out.size()) &&
              ::fdatasync(fd) == 0;
    ::close(fd);
    return ok;
}

// Re-sends to the notify backend every outcome of the journal that no
// "notify" line acknowledges, and records each delivery in the journal.
// A line it cannot read is named, and the exit status says so: it may be
// the outcome of a charge.
int journal_replay(const Args& a) {
    if (!a.options.count("--journal") || !a.options.count("--url")) {
        return usage();
    }
    const std::string path = a.options.at("--journal");
    auto text = read_regular_file(path);
    if (!text) {
        std::cerr << "opay: cannot read " << printable(path)
                  << " (not a regular file, a symbolic link, or unreadable)\n";
        return 2;
    }
    std::istringstream in(*text);
    std::vector<std::pair<std::string, std::string>> outcomes;  // entry, record
    std::map<std::string, std::string> request_ids;
    std::vector<std::string> acked;
    std::string line;
    std::size_t lineno = 0;
    std::vector<std::size_t> unreadable;  // a record may hide there
    while (std::getline(in, line)) {
        ++lineno;
        json::Document d;
        auto err = json::parse(line, d);
        if (err || !d.IsObject()) {
            std::cerr << "opay: " << printable(path) << ":" << lineno
                      << ": cannot read this line ("
                      << printable(err ? err->reason : "not a JSON object")
                      << ")\n";
            unreadable.push_back(lineno);
            continue;
        }
        auto type = json::string_member(d, "type");
        auto entry = json::string_member(d, "entry");
        if (!type || !entry) continue;
        if (*type == "outcome") {
            if (const auto* record = json::member(d, "record")) {
                outcomes.emplace_back(std::string(*entry),
                                      json::write(*record));
                request_ids[std::string(*entry)] = std::string(
                    json::string_member(d, "requestId").value_or(""));
            }
        } else if (*type == "notify" && json::member(d, "ok") &&
                   (*json::member(d, "ok")).IsTrue()) {
            acked.emplace_back(*entry);
        }
    }
    int sent = 0, failed = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (const auto& [entry, record] : outcomes) {
        if (std::find(acked.begin(), acked.end(), entry) != acked.end()) {
            continue;
        }
        long status = post_json(a.options.at("--url"), record);
        bool ok = status >= 200 && status < 300;
        // the entry is the journal's text: escaped, it cannot print a line
        std::cout << printable(entry) << ": "
                  << (ok ? "delivered" : "failed")
                  << " (status " << status << ")\n";
        if (!ok) {
            ++failed;
            continue;
        }
        ++sent;
        if (!append_line(path, journal_notify(
                                   entry, request_ids[entry], true,
                                   static_cast<int>(status),
                                   std::time(nullptr)))) {
            std::cerr << "opay: cannot append to " << printable(path) << "\n";
            failed++;
        }
    }
    curl_global_cleanup();
    std::cout << sent << " delivered, " << failed << " failed\n";
    if (!unreadable.empty()) {
        std::cout << unreadable.size() << " unreadable journal line"
                  << (unreadable.size() == 1 ? "" : "s") << ":";
        for (std::size_t n : unreadable) std::cout << " " << n;
        std::cout << "\n";
    }
    return failed == 0 && unreadable.empty() ? 0 : 1;
}

}  // namespace

}  // namespace opay::cli

int main(int argc, char** argv) {
    using namespace opay::cli;
    if (argc < 2) return usage();
    std::string cmd = argv[1];
    auto args = parse_args(argc, argv, 2);
    if (!args) return usage();
    if (cmd == "verify-token") return verify_token(*args);
    if (cmd == "mint-token") return mint_token(*args);
    if (cmd == "jwks") return jwks(*args);
    if (cmd == "simulate") return simulate(*args);
    if (cmd == "card") return card(*args);
    if (cmd == "journal" && !args->positional.empty() &&
        args->positional[0] == "replay") {
        return journal_replay(*args);
    }
    return usage();
}
