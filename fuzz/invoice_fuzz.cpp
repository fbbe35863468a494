// Fuzzes the invoice backend's answer reader (both shapes of the backend
// contract) into exact money.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "fuzz_util.h"
#include "invoice.h"

using namespace opay;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parsed = parse_invoice(fuzz::text(data, size));
    if (auto* error = std::get_if<InvoiceError>(&parsed)) {
        fuzz::require(!error->message.empty());
        return 0;
    }
    const Invoice& inv = std::get<Invoice>(parsed);
    fuzz::require(inv.doc && inv.entity != nullptr);
    fuzz::require(is_valid_decimal(format_value(inv.total)));
    for (const DisplayItem& item : inv.display_items) {
        // every amount is in the invoice's currency
        fuzz::require(item.amount.currency == inv.total.currency);
    }
    // the entity is echoed to the payer: it must write as valid JSON
    json::Document again;
    fuzz::require(!json::parse(json::write(*inv.entity), again));
    (void)bare_payment_status(inv.payment_status);
    return 0;
}
