// A location's settings, checked and turned into ready-to-use values
// (keys loaded, names validated) once, at configuration time.
#pragma once

#include <array>
#include <string>
#include <variant>
#include <vector>

#include <openssl/rand.h>

#include "jwks.h"
#include "jwt.h"
#include "opay.h"

namespace opay {

inline constexpr const char* kMicrosoftPayMethod =
    "https://pay.microsoft.com/microsoftpay";

// The parts of the PaymentRequest answers that depend on a location's
// settings alone, written once when its Config is made
// (render_answer_parts, payment_request.h) and copied into every answer
// as they stand (json::Writer::raw): JSON text, each whole members of
// the object it goes in, or a whole value.
struct AnswerParts {
    // "supportedMethods":"https://pay.microsoft.com/microsoftpay"
    std::string method;
    // "event":"loadentity", and so on, by Event
    std::array<std::string, 3> events;
    // "supportedNetworks":[...],"supportedTypes":[...]
    std::string networks_types;
    // "mode":"TEST" in test mode; empty in live mode
    std::string mode;
    // the options object, by [payer asked][shipping asked]
    std::array<std::array<std::string, 2>, 2> options;
};

struct Config {
    TokenPolicy token;
    KeySet keys;  // opay_jwks_file; with remote_keys, a fallback / pin
    bool remote_keys = false;  // opay_jwks_url or opay_openid_configuration
    bool test_mode = false;
    std::vector<std::string> networks;
    std::vector<std::string> types;
    bool payer_name = false;
    bool payer_email = false;
    bool payer_phone = false;
    bool shipping = false;
    std::string shipping_type = "shipping";
    bool processor = false;
    std::string processor_prefix;
    bool notify = false;
    bool journal = false;
    std::string success_message = "Thank you for your payment.";
    // SHA-256 fetched once (idempotency keys): a fetch by name on every
    // key is OpenSSL 3's provider look-up, locks and name compares
    MdPtr sha256 = fetch_sha256();
    // where the confirmation keys' and outcome entries' random bytes come
    // from (RAND_bytes' contract: 1 when filled); tests make it fail
    int (*random_bytes)(unsigned char*, int) = RAND_bytes;
    // From the settings above, by make_config. A Config made by hand (a
    // test's) renders them itself once those are set; without them no
    // answer is written.
    AnswerParts answer_parts;
};

struct ConfigError {
    std::string message;  // starts with the directive's name
};

bool known_network(std::string_view name);
bool known_type(std::string_view name);

std::variant<Config, ConfigError> make_config(const opay_settings_t& s);

}  // namespace opay
