#include "invoice.h"

namespace opay {

namespace {

std::string currency_problem(std::string_view code) {
    return "currency \"" + std::string(code) + "\" is not an ISO 4217 code";
}

std::variant<Money, std::string> read_value(const Currency& currency,
                                            std::string_view value) {
    auto parsed = parse_money(value, currency);
    if (!parsed.money) {
        return "amount \"" + std::string(value) + "\": " +
               to_string(parsed.error);
    }
    return *parsed.money;
}

std::variant<Money, std::string> read_money(const json::Value* value,
                                            const json::Value* currency) {
    if (currency == nullptr || !currency->IsString() ||
        json::is_number(*currency)) {
        return std::string("currency missing or not a string");
    }
    auto code = *json::scalar_text(*currency);
    auto cur = parse_currency(code);
    if (!cur) return currency_problem(code);
    // A JSON number or a decimal string: both read from their exact text.
    if (value == nullptr || !value->IsString()) {
        return std::string("amount missing or not a number or string");
    }
    return read_value(*cur, *json::scalar_text(*value));
}

}  // namespace

std::variant<Money, std::string> read_amount(std::string_view currency,
                                             std::string_view value) {
    auto cur = parse_currency(currency);
    if (!cur) return currency_problem(currency);
    return read_value(*cur, value);
}

std::string_view bare_payment_status(std::string_view s) {
    for (std::string_view prefix : {"http://schema.org/", "https://schema.org/"}) {
        if (s.substr(0, prefix.size()) == prefix) return s.substr(prefix.size());
    }
    return s;
}

std::variant<Money, std::string> parse_amount(const json::Value& amount) {
    if (!amount.IsObject()) return std::string("amount is not an object");
    return read_money(json::member(amount, "value"),
                      json::member(amount, "currency"));
}

std::variant<Invoice, InvoiceError> parse_invoice(std::string_view body) {
    Invoice inv;
    // most invoices fit in 4 KiB of pool (about 2.5 times their text)
    inv.doc = json::shared_document<4096>();
    json::Document& doc = *inv.doc;
    if (auto err = json::parse(body, doc)) {
        return InvoiceError{"invoice backend answered invalid JSON (" +
                            err->reason + ")"};
    }
    if (!doc.IsObject()) {
        return InvoiceError{"invoice backend answer is not a JSON object"};
    }
    const json::Value* items = nullptr;
    if (const json::Value* entity = json::member(doc, "entity")) {
        if (!entity->IsObject()) {
            return InvoiceError{"invoice \"entity\" is not an object"};
        }
        inv.entity = entity;
        if (const json::Value* di = json::member(doc, "displayItems")) {
            if (!di->IsArray()) {
                return InvoiceError{"invoice \"displayItems\" is not an array"};
            }
            if (di->Size() > kMaxDisplayItems) {
                return InvoiceError{"invoice has " +
                                    std::to_string(di->Size()) +
                                    " displayItems, over the limit of " +
                                    std::to_string(kMaxDisplayItems)};
            }
            items = di;
        }
        if (const json::Value* rs = json::member(doc, "requestShipping")) {
            if (!rs->IsBool()) {
                return InvoiceError{
                    "invoice \"requestShipping\" is not a boolean"};
            }
            inv.request_shipping = rs->GetBool();
        }
    } else {
        inv.entity = &doc;
    }
    const json::Value& entity = *inv.entity;

    auto type = json::string_member(entity, "@type");
    const json::Value* id = json::member(entity, "identifier");
    auto id_text = id ? json::scalar_text(*id) : std::nullopt;
    if (!id_text || id_text->empty()) {
        return InvoiceError{"invoice has no \"identifier\""};
    }
    inv.identifier = *id_text;
    // the log's text, made only for a refusal
    auto name = [&inv] {
        return "invoice \"" + std::string(inv.identifier) + "\"";
    };
    if (!type || bare_payment_status(*type) != "Invoice") {
        return InvoiceError{name() + ": \"@type\" is not \"Invoice\""};
    }
    if (const json::Value* status = json::member(entity, "paymentStatus")) {
        auto text = json::string_text(status);
        if (!text) {
            return InvoiceError{name() + ": \"paymentStatus\" is not a string"};
        }
        inv.payment_status = bare_payment_status(*text);
    }

    const json::Value* due = json::object_member(entity, "totalPaymentDue");
    if (due == nullptr) {
        return InvoiceError{name() + ": \"totalPaymentDue\" missing"};
    }
    auto total = read_money(json::member(*due, "price"),
                            json::member(*due, "priceCurrency"));
    if (auto* e = std::get_if<std::string>(&total)) {
        return InvoiceError{name() + ": totalPaymentDue: " + *e};
    }
    inv.total = std::get<Money>(total);
    if (inv.total.minor < 0) {
        return InvoiceError{name() + ": total due is negative"};
    }

    if (items != nullptr) {
        inv.display_items.reserve(items->Size());
        int64_t sum = 0;
        std::size_t i = 0;
        for (const auto& item : items->GetArray()) {
            auto where = [&name, i] {
                return name() + ": displayItems[" + std::to_string(i) + "]";
            };
            ++i;
            auto label = json::string_member(item, "label");
            const json::Value* amount = json::member(item, "amount");
            if (!label || amount == nullptr) {
                return InvoiceError{where() +
                                    " needs \"label\" and \"amount\""};
            }
            auto money = parse_amount(*amount);
            if (auto* e = std::get_if<std::string>(&money)) {
                return InvoiceError{where() + ": " + *e};
            }
            const Money& m = std::get<Money>(money);
            if (m.currency != inv.total.currency) {
                return InvoiceError{where() + ": currency " +
                                    std::string(m.currency.view()) +
                                    " differs from the total's " +
                                    std::string(inv.total.currency.view())};
            }
            auto next = checked_add(sum, m.minor);
            if (!next) return InvoiceError{where() + ": sum overflows"};
            sum = *next;
            inv.display_items.push_back({*label, m});
        }
        if (sum != inv.total.minor) {
            return InvoiceError{
                name() + ": display items add up to " +
                format_value(Money{sum, inv.total.currency}) +
                " but the total due is " + format_value(inv.total)};
        }
    }
    return inv;
}

}  // namespace opay
