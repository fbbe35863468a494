// Shipping: the payer's address (W3C AddressInit) and the shipping
// backend's options for it, read into exact money.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "json.h"
#include "money.h"

namespace opay {

// Why the address is not a valid AddressInit, or nullopt. Both spellings
// dependentLocality (W3C) and dependantLocality (Microsoft) are accepted.
// Limits on what the payer and the shipping backend may send.
inline constexpr std::size_t kMaxAddressLines = 10;
inline constexpr std::size_t kMaxShippingOptions = 50;

std::optional<std::string> check_address(const json::Value& address);

struct ShippingOption {
    std::string id;
    std::string label;
    Money amount;
    bool selected = false;
};

struct ShippingOptions {
    std::vector<ShippingOption> options;
    std::optional<std::string> error;  // the backend's text for the payer
};

// The shipping backend's answer, checked against the W3C rules: unique
// ids, valid amounts, all in the invoice's currency. The error names the
// rule that was broken.
std::variant<ShippingOptions, std::string> parse_shipping_options(
    std::string_view body, const Currency& invoice_currency);

// The option the payer has: the last one marked selected, or nullptr.
const ShippingOption* selected_option(const ShippingOptions& s);

// What a PaymentComplete owes for shipping. An invoice that asks for
// shipping is paid only with an address and an option that the shipping
// backend offers for it: then the amount due is total + that option. One
// that does not ask owes its total. Otherwise the payment is refused
// (nothing charged) or the backend's answer is unusable.
struct ShippingDue {
    enum class Verdict { kDue, kRefused, kBackendInvalid };
    Verdict verdict = Verdict::kDue;
    Money due{};             // kDue
    std::string for_payer;   // kRefused
    std::string log;         // kRefused, kBackendInvalid: why
};

// options_body: the shipping backend's answer for the payment's address,
// or nullptr when it was not asked (no address or no option).
ShippingDue shipping_due(const Money& invoice_total, bool asks_shipping,
                         const std::optional<std::string>& option,
                         const std::string_view* options_body);

// The backend contract's request body.
std::string shipping_request(std::string_view invoice,
                             const json::Value& product_context,
                             const json::Value& address);

}  // namespace opay
