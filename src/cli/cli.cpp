#include "cli.h"

#include <cerrno>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "jws.h"
#include "opay.h"

namespace opay::cli {

namespace {

// Adds name: value to obj, value as JSON if it parses, else as a string.
void add_typed(json::Value& obj, const std::string& name,
               const std::string& value, json::Allocator& alloc) {
    json::Document parsed;
    if (!json::parse(value, parsed)) {
        json::set(obj, name, json::Value(parsed, alloc), alloc);
    } else {
        json::set(obj, name, json::str(value, alloc), alloc);
    }
}

}  // namespace

int usage() {
    std::cerr
        << "usage:\n"
           "  opay verify-token --jwks FILE [--issuer S] [--audience S]\n"
           "                    [--appid S | --no-appid] [--ver S | --no-ver]\n"
           "                    [--now EPOCH] [--signature-only] TOKEN\n"
           "  opay mint-token --key PEM --kid K [--header name=value ...]\n"
           "                  [--claim name=value ...]\n"
           "  opay jwks --key PEM --kid K\n"
           "  opay journal replay --journal PATH --url URL\n"
           "  opay simulate --url BASE --key PEM --kid K --merchant-id ID\n"
           "                (--invoice ID | --product-context JSON)\n"
           "                [--address FILE | --country CC] [--option ID]\n"
           "                [--card tok_visa] [--payer ADDR] [--sender ADDR]\n"
           "                [--request-path P] [--complete-path P]\n"
           "                [--concurrency N --count M] [--json]\n"
           "                [--max-answer BYTES]\n"
           "  opay card --merchant-id ID --display-id ID --originator ID\n"
           "            --invoice FILE [--product-context JSON]\n"
           "            [--format action-request|adaptive-card|message-card]\n"
           "            [--sign-key PEM --sign-kid K --sender ADDR\n"
           "             --recipient ADDR] [--out FILE]\n"
           "  opay card --check FILE [--jwks FILE]\n"
           "  opay card --view FILE\n";
    return 2;
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

int open_regular(const std::string& path, int flags) {
    // O_NONBLOCK: a FIFO is refused below instead of waited on; a file
    // lease (regular files only) makes that open fail with EAGAIN, and the
    // second one waits for it as an ordinary open does
    int fd = ::open(path.c_str(), flags | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == EAGAIN) {
        fd = ::open(path.c_str(), flags | O_NOFOLLOW);
    }
    if (fd < 0) return -1;
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::optional<std::string> read_regular_file(const std::string& path) {
    int fd = open_regular(path, O_RDONLY);
    if (fd < 0) return std::nullopt;
    std::optional<std::string> text(std::in_place);
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) text->append(buf, n);
    if (n < 0) text.reset();
    ::close(fd);
    return text;
}

std::optional<Args> parse_args(int argc, char** argv, int first) {
    Args a;
    for (int i = first; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--signature-only" || arg == "--no-appid" ||
            arg == "--no-ver" || arg == "--json") {
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

std::optional<std::string> mint(EVP_PKEY* key, const std::string& kid,
                                const NameValues& headers,
                                const NameValues& claims) {
    json::Document header(rapidjson::kObjectType);
    auto& ha = header.GetAllocator();
    header.AddMember("alg", "RS256", ha);
    header.AddMember("typ", "JWT", ha);
    if (!kid.empty()) header.AddMember("kid", json::str(kid, ha), ha);
    for (const auto& [n, v] : headers) add_typed(header, n, v, ha);

    int64_t now = std::time(nullptr);
    json::Document body(rapidjson::kObjectType);
    auto& ca = body.GetAllocator();
    body.AddMember("iss", OPAY_DEFAULT_JWT_ISSUER, ca);
    body.AddMember("appid", OPAY_DEFAULT_JWT_APPID, ca);
    body.AddMember("ver", OPAY_DEFAULT_JWT_VERSION, ca);
    body.AddMember("iat", json::make_number(std::to_string(now), ca), ca);
    body.AddMember("nbf", json::make_number(std::to_string(now), ca), ca);
    body.AddMember("exp", json::make_number(std::to_string(now + 3600), ca),
                   ca);
    for (const auto& [n, v] : claims) add_typed(body, n, v, ca);
    return sign_rs256(key, json::write(header), json::write(body));
}

}  // namespace opay::cli
