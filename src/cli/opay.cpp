// opay: the operator's command-line tool.
//
//   opay verify-token --jwks FILE [--issuer S] [--audience S]
//                     [--appid S | --no-appid] [--ver S | --no-ver]
//                     [--now EPOCH] [--signature-only] TOKEN
//   opay mint-token --key PEM --kid K [--header name=value ...]
//                   [--claim name=value ...]
//   opay jwks --key PEM --kid K
//   opay journal replay --journal PATH --url URL
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

#include "base64url.h"
#include "json.h"
#include "jwks.h"
#include "jwt.h"
#include "payment_complete.h"

namespace {

constexpr const char* kDefaultIssuer = "https://substrate.office.com/sts/";
constexpr const char* kDefaultAppid = "48af08dc-f6d2-435f-b2a7-069abd99c086";
constexpr const char* kDefaultVersion = "STI.ExternalAccessToken.V1";

int usage() {
    std::cerr
        << "usage:\n"
           "  opay verify-token --jwks FILE [--issuer S] [--audience S]\n"
           "                    [--appid S | --no-appid] [--ver S | --no-ver]\n"
           "                    [--now EPOCH] [--signature-only] TOKEN\n"
           "  opay mint-token --key PEM --kid K [--header name=value ...]\n"
           "                  [--claim name=value ...]\n"
           "  opay jwks --key PEM --kid K\n"
           "  opay journal replay --journal PATH --url URL\n";
    return 2;
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct Args {
    std::map<std::string, std::string> options;
    std::vector<std::pair<std::string, std::string>> claims;
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::string> flags;
    std::vector<std::string> positional;
};

std::optional<Args> parse_args(int argc, char** argv, int first) {
    Args a;
    for (int i = first; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--signature-only" || arg == "--no-appid" ||
            arg == "--no-ver") {
            a.flags.push_back(arg);
        } else if (arg.rfind("--", 0) == 0) {
            if (i + 1 >= argc) return std::nullopt;
            std::string value = argv[++i];
            if (arg == "--claim" || arg == "--header") {
                auto eq = value.find('=');
                if (eq == std::string::npos) return std::nullopt;
                auto& list = arg == "--claim" ? a.claims : a.headers;
                list.emplace_back(value.substr(0, eq), value.substr(eq + 1));
            } else {
                a.options[arg] = value;
            }
        } else {
            a.positional.push_back(arg);
        }
    }
    return a;
}

bool has_flag(const Args& a, const std::string& f) {
    for (const auto& x : a.flags) {
        if (x == f) return true;
    }
    return false;
}

std::string option(const Args& a, const std::string& name,
                   const std::string& fallback) {
    auto it = a.options.find(name);
    return it == a.options.end() ? fallback : it->second;
}

std::string escape(const std::string& s) {
    opay::json::Document d;
    return opay::json::write(opay::json::str(s, d.GetAllocator()));
}

int verify_token(const Args& a) {
    if (a.positional.size() != 1 || !a.options.count("--jwks")) return usage();
    auto text = read_file(a.options.at("--jwks"));
    if (!text) {
        std::cerr << "opay: cannot read " << a.options.at("--jwks") << "\n";
        return 2;
    }
    auto loaded = opay::load_jwks(*text);
    if (auto* e = std::get_if<opay::KeySetError>(&loaded)) {
        std::cerr << "opay: " << e->message << "\n";
        return 2;
    }
    opay::TokenPolicy policy;
    policy.issuer = option(a, "--issuer", kDefaultIssuer);
    policy.audience = option(a, "--audience", "");
    if (!has_flag(a, "--no-appid")) {
        policy.appid = option(a, "--appid", kDefaultAppid);
    }
    if (!has_flag(a, "--no-ver")) {
        policy.version = option(a, "--ver", kDefaultVersion);
    }
    policy.signature_only = has_flag(a, "--signature-only");
    int64_t now = std::atoll(
        option(a, "--now", std::to_string(std::time(nullptr))).c_str());
    auto result = opay::verify_token(a.positional[0],
                                     std::get<opay::KeySet>(loaded), policy,
                                     now);
    std::cout << "{\"ok\":" << (result.ok() ? "true" : "false");
    if (!result.reason.empty()) {
        std::cout << ",\"reason\":" << escape(result.reason);
    }
    std::cout << ",\"checks\":[";
    for (std::size_t i = 0; i < result.checks.size(); ++i) {
        const auto& c = result.checks[i];
        std::cout << (i ? "," : "") << "{\"name\":" << escape(c.name)
                  << ",\"ok\":" << (c.ok ? "true" : "false")
                  << ",\"detail\":" << escape(c.detail) << "}";
    }
    std::cout << "]}\n";
    return result.ok() ? 0 : 1;
}

struct PkeyDeleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

Pkey load_key(const std::string& path, bool want_private) {
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) return nullptr;
    EVP_PKEY* k = want_private
                      ? PEM_read_PrivateKey(f, nullptr, nullptr, nullptr)
                      : nullptr;
    if (k == nullptr && !want_private) {
        k = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
        if (k == nullptr) {
            std::rewind(f);
            k = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
        }
    }
    std::fclose(f);
    return Pkey(k);
}

// Adds name: value to obj, value as JSON if it parses, else as a string.
void add_typed(opay::json::Value& obj, const std::string& name,
               const std::string& value, opay::json::Allocator& alloc) {
    opay::json::Document parsed;
    if (!opay::json::parse(value, parsed)) {
        opay::json::set(obj, name, opay::json::Value(parsed, alloc), alloc);
    } else {
        opay::json::set(obj, name, opay::json::str(value, alloc), alloc);
    }
}

int mint_token(const Args& a) {
    if (!a.options.count("--key")) return usage();
    Pkey key = load_key(a.options.at("--key"), true);
    if (!key) {
        std::cerr << "opay: cannot read a private key from "
                  << a.options.at("--key") << "\n";
        return 2;
    }
    opay::json::Document header(rapidjson::kObjectType);
    auto& ha = header.GetAllocator();
    header.AddMember("alg", "RS256", ha);
    header.AddMember("typ", "JWT", ha);
    if (a.options.count("--kid")) {
        header.AddMember("kid", opay::json::str(a.options.at("--kid"), ha), ha);
    }
    for (const auto& [n, v] : a.headers) add_typed(header, n, v, ha);

    int64_t now = std::time(nullptr);
    opay::json::Document claims(rapidjson::kObjectType);
    auto& ca = claims.GetAllocator();
    claims.AddMember("iss", rapidjson::StringRef(kDefaultIssuer), ca);
    claims.AddMember("appid", rapidjson::StringRef(kDefaultAppid), ca);
    claims.AddMember("ver", rapidjson::StringRef(kDefaultVersion), ca);
    claims.AddMember("iat", opay::json::make_number(std::to_string(now), ca),
                     ca);
    claims.AddMember("nbf", opay::json::make_number(std::to_string(now), ca),
                     ca);
    claims.AddMember(
        "exp", opay::json::make_number(std::to_string(now + 3600), ca), ca);
    for (const auto& [n, v] : a.claims) add_typed(claims, n, v, ca);

    std::string input = opay::base64url_encode(opay::json::write(header)) +
                        "." +
                        opay::base64url_encode(opay::json::write(claims));
    std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    size_t len = 0;
    if (!ctx ||
        EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                           key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len,
                       reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) != 1) {
        std::cerr << "opay: signing failed\n";
        return 2;
    }
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()),
                       &len,
                       reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) != 1) {
        std::cerr << "opay: signing failed\n";
        return 2;
    }
    sig.resize(len);
    std::cout << input << "." << opay::base64url_encode(sig) << "\n";
    return 0;
}

std::string bignum_param(EVP_PKEY* key, const char* name) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return {};
    std::string bytes(BN_num_bytes(bn), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(bn);
    return opay::base64url_encode(bytes);
}

int jwks(const Args& a) {
    if (!a.options.count("--key") || !a.options.count("--kid")) return usage();
    Pkey key = load_key(a.options.at("--key"), false);
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
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
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
    std::ifstream in(path);
    if (!in) {
        std::cerr << "opay: cannot read " << path << "\n";
        return 2;
    }
    std::vector<std::pair<std::string, std::string>> outcomes;  // entry, record
    std::map<std::string, std::string> request_ids;
    std::vector<std::string> acked;
    std::string line;
    std::size_t lineno = 0;
    std::vector<std::size_t> unreadable;  // a record may hide there
    while (std::getline(in, line)) {
        ++lineno;
        opay::json::Document d;
        auto err = opay::json::parse(line, d);
        if (err || !d.IsObject()) {
            std::cerr << "opay: " << path << ":" << lineno
                      << ": cannot read this line ("
                      << (err ? err->reason : "not a JSON object") << ")\n";
            unreadable.push_back(lineno);
            continue;
        }
        auto type = opay::json::string_member(d, "type");
        auto entry = opay::json::string_member(d, "entry");
        if (!type || !entry) continue;
        if (*type == "outcome") {
            if (const auto* record = opay::json::member(d, "record")) {
                outcomes.emplace_back(std::string(*entry),
                                      opay::json::write(*record));
                request_ids[std::string(*entry)] = std::string(
                    opay::json::string_member(d, "requestId").value_or(""));
            }
        } else if (*type == "notify" && opay::json::member(d, "ok") &&
                   (*opay::json::member(d, "ok")).IsTrue()) {
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
        std::cout << entry << ": " << (ok ? "delivered" : "failed")
                  << " (status " << status << ")\n";
        if (!ok) {
            ++failed;
            continue;
        }
        ++sent;
        if (!append_line(path, opay::journal_notify(
                                   entry, request_ids[entry], true,
                                   static_cast<int>(status),
                                   std::time(nullptr)))) {
            std::cerr << "opay: cannot append to " << path << "\n";
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

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    std::string cmd = argv[1];
    auto args = parse_args(argc, argv, 2);
    if (!args) return usage();
    if (cmd == "verify-token") return verify_token(*args);
    if (cmd == "mint-token") return mint_token(*args);
    if (cmd == "jwks") return jwks(*args);
    if (cmd == "journal" && !args->positional.empty() &&
        args->positional[0] == "replay") {
        return journal_replay(*args);
    }
    return usage();
}
