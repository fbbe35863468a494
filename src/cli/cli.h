// What the opay tool's commands share: arguments, files, tokens.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <openssl/evp.h>

namespace opay::cli {

struct Args {
    std::map<std::string, std::string> options;
    std::vector<std::pair<std::string, std::string>> claims;
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::string> flags;
    std::vector<std::string> positional;
};

std::optional<Args> parse_args(int argc, char** argv, int first);
bool has_flag(const Args& a, const std::string& f);
std::string option(const Args& a, const std::string& name,
                   const std::string& fallback);

int usage();
std::optional<std::string> read_file(const std::string& path);
// A file that must be the regular file named, not a link to another one
// (the journal): -1 / nullopt when it is a symbolic link, a FIFO, a
// device... open_regular's flags are open(2)'s (O_RDONLY, O_WRONLY...).
int open_regular(const std::string& path, int flags);
std::optional<std::string> read_regular_file(const std::string& path);

using NameValues = std::vector<std::pair<std::string, std::string>>;

// An RS256 bearer token as the issuer makes them: iss, appid, ver, iat, nbf
// and exp (one hour) filled in unless claims give them. Values are JSON
// when they parse as JSON, strings otherwise.
std::optional<std::string> mint(EVP_PKEY* key, const std::string& kid,
                                const NameValues& headers,
                                const NameValues& claims);

int simulate(const Args& a);
int card(const Args& a);

}  // namespace opay::cli
