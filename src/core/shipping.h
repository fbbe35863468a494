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

// The backend contract's request body.
std::string shipping_request(std::string_view invoice,
                             const json::Value& product_context,
                             const json::Value& address);

}  // namespace opay
