#include "config.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include "opay_str.h"
#include "payment_request.h"

namespace opay {

namespace {

constexpr const char* kNetworks[] = {"visa", "mastercard", "amex",
                                     "discover", "diners", "jcb"};
constexpr const char* kTypes[] = {"credit", "debit", "prepaid"};
// what opay_supported_networks and opay_supported_types default to
constexpr const char* kDefaultNetworks[] = {"visa", "mastercard", "amex"};
constexpr const char* kDefaultTypes[] = {"credit"};

std::vector<std::string> to_strings(const opay_str_t* a, size_t n) {
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) out.push_back(text(a[i]));
    return out;
}

}  // namespace

bool known_network(std::string_view name) {
    return std::find(std::begin(kNetworks), std::end(kNetworks), name) !=
           std::end(kNetworks);
}

bool known_type(std::string_view name) {
    return std::find(std::begin(kTypes), std::end(kTypes), name) !=
           std::end(kTypes);
}

std::variant<Config, ConfigError> make_config(const opay_settings_t& s) {
    Config c;
    if (!c.sha256) return ConfigError{"OpenSSL has no SHA-256"};
    if (s.merchant_id.len == 0) {
        return ConfigError{"\"opay_merchant_id\" is not set"};
    }
    c.remote_keys = s.jwks_remote != 0;
    if (s.jwks_file.len == 0 && !c.remote_keys) {
        return ConfigError{"\"opay_jwks_file\" is not set, nor "
                           "\"opay_jwks_url\" or \"opay_openid_configuration\""
                           ": no keys to check bearer tokens with"};
    }
    if (s.jwks_file.len != 0) {
        std::string path = text(s.jwks_file);
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            return ConfigError{"opay_jwks_file \"" + path +
                               "\" cannot be read"};
        }
        std::ostringstream text;
        text << in.rdbuf();
        auto loaded = load_jwks(text.str());
        if (auto* e = std::get_if<KeySetError>(&loaded)) {
            return ConfigError{"opay_jwks_file \"" + path + "\": " +
                               e->message};
        }
        c.keys = std::move(std::get<KeySet>(loaded));
    }

    c.token.audience = text(s.merchant_id);
    c.token.issuer = text(s.jwt_issuer);
    if (!s.jwt_appid_off) c.token.appid = text(s.jwt_appid);
    if (!s.jwt_version_off) c.token.version = text(s.jwt_version);
    c.token.leeway = s.jwt_leeway;
    c.token.allowed_senders =
        to_strings(s.allowed_senders, s.n_allowed_senders);
    c.test_mode = s.test_mode != 0;
    // Names were checked by the directives (opay_known_network/type).
    c.networks = s.n_networks != 0
                     ? to_strings(s.networks, s.n_networks)
                     : std::vector<std::string>(std::begin(kDefaultNetworks),
                                                std::end(kDefaultNetworks));
    c.types = s.n_types != 0 ? to_strings(s.types, s.n_types)
                             : std::vector<std::string>(
                                   std::begin(kDefaultTypes),
                                   std::end(kDefaultTypes));
    c.payer_name = (s.request_payer & OPAY_PAYER_NAME) != 0;
    c.payer_email = (s.request_payer & OPAY_PAYER_EMAIL) != 0;
    c.payer_phone = (s.request_payer & OPAY_PAYER_PHONE) != 0;
    c.shipping = s.shipping != 0;
    if (s.shipping_type.len != 0) c.shipping_type = text(s.shipping_type);
    c.processor = s.processor != 0;
    c.processor_prefix = text(s.processor_prefix);
    c.notify = s.notify != 0;
    c.journal = s.journal != 0;
    if (s.success_message.len != 0) {
        c.success_message = text(s.success_message);
    }
    c.answer_parts = render_answer_parts(c);
    return c;
}

}  // namespace opay
