// Fuzzes the shipping backend's answer reader and the payer's address
// check. Input: "CUR" (the invoice's currency), then the backend's answer,
// then the address (parts split by fuzz_util.h's separator line).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <variant>

#include "fuzz_util.h"
#include "shipping.h"

using namespace opay;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = fuzz::split(fuzz::text(data, size), 3);
    auto currency = parse_currency(parts[0]);
    if (!currency || parts.size() < 2) return 0;

    auto parsed = parse_shipping_options(parts[1], *currency);
    if (auto* options = std::get_if<ShippingOptions>(&parsed)) {
        std::set<std::string> ids;
        for (const ShippingOption& o : options->options) {
            fuzz::require(o.amount.currency == *currency);
            fuzz::require(ids.insert(o.id).second);  // ids are unique
        }
        if (const ShippingOption* s = selected_option(*options)) {
            fuzz::require(s->selected);
        }
    } else {
        fuzz::require(!std::get<std::string>(parsed).empty());
    }

    if (parts.size() < 3) return 0;
    json::Document address;
    if (json::parse(parts[2], address)) return 0;
    auto error = check_address(address);
    if (error) fuzz::require(!error->empty());
    json::Document context;
    context.SetObject();
    std::string request = shipping_request("12345", context, address);
    json::Document again;
    fuzz::require(!json::parse(request, again));
    return 0;
}
