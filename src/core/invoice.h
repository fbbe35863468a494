// The invoice backend's answer, read into exact money. Both shapes of the
// backend contract are accepted: {"entity": Invoice, "displayItems",
// "requestShipping"} or a bare schema.org Invoice.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "json.h"
#include "money.h"

namespace opay {

// More display items than this: the invoice backend's answer is refused.
inline constexpr std::size_t kMaxDisplayItems = 100;

// Texts are views of the invoice's document (Invoice::doc), which its
// copies share: no copies of their own.
struct DisplayItem {
    std::string_view label;
    Money amount;
};

struct Invoice {
    std::shared_ptr<json::Document> doc;  // owns entity and the texts
    const json::Value* entity = nullptr;  // the schema.org Invoice
    std::string_view identifier;
    Money total{};
    std::string_view payment_status;  // bare name: "PaymentDue", ...
    std::vector<DisplayItem> display_items;
    std::optional<bool> request_shipping;
};

struct InvoiceError {
    std::string message;  // for the error log: names the invoice and rule
};

std::variant<Invoice, InvoiceError> parse_invoice(std::string_view body);

// Reads a W3C PaymentCurrencyAmount {"currency", "value"}.
std::variant<Money, std::string> parse_amount(const json::Value& amount);
// The same reading of an amount's currency code and value text.
std::variant<Money, std::string> read_amount(std::string_view currency,
                                             std::string_view value);

// "http://schema.org/PaymentDue" -> "PaymentDue".
std::string_view bare_payment_status(std::string_view status);

}  // namespace opay
