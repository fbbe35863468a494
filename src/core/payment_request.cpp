#include "payment_request.h"

#include <algorithm>
#include <iterator>
#include <set>

#include "payment_complete.h"

namespace opay {

namespace {

constexpr const char* kNoShipping = "We do not ship to this address.";
constexpr const char* kNoAddress = "Please enter a shipping address.";
constexpr const char* kUnknownOption =
    "The selected shipping option is not available.";

json::Value string_array(const std::vector<std::string>& items,
                         json::Allocator& a) {
    json::Value arr(rapidjson::kArrayType);
    for (const auto& s : items) arr.PushBack(json::str(s, a), a);
    return arr;
}

json::Value line_item(std::string_view label, const Money& m,
                      json::Allocator& a) {
    json::Value item(rapidjson::kObjectType);
    item.AddMember("label", json::str(label, a), a);
    item.AddMember("amount", amount_json(m, a), a);
    item.AddMember("pending", false, a);
    return item;
}

// The invoice's schema.org entity, its price set to total (a JSON number
// if the backend wrote a number), as Microsoft's sample kept it in step
// with details.total.
json::Value entity_at(const Invoice& invoice, const Money& total,
                      json::Allocator& a) {
    json::Value entity(*invoice.entity, a);
    json::Value* due = json::object_member(entity, "totalPaymentDue");
    if (due == nullptr) return entity;
    const json::Value* price = json::member(*due, "price");
    std::string value = format_value(total);
    json::set(*due, "price",
              price != nullptr && json::is_number(*price)
                  ? json::make_number(value, a)
                  : json::str(value, a),
              a);
    return entity;
}

json::Value method_data(const Config& c, Event event,
                        const json::Value& product_context,
                        json::Value entity, json::Allocator& a) {
    json::Value data(rapidjson::kObjectType);
    data.AddMember("event", json::str(event_name(event), a), a);
    data.AddMember("productContext", json::Value(product_context, a), a);
    data.AddMember("supportedNetworks", string_array(c.networks, a), a);
    data.AddMember("supportedTypes", string_array(c.types, a), a);
    data.AddMember("entity", entity, a);
    if (c.test_mode) data.AddMember("mode", "TEST", a);

    json::Value method(rapidjson::kObjectType);
    method.AddMember("supportedMethods",
                     rapidjson::StringRef(kMicrosoftPayMethod), a);
    method.AddMember("data", data, a);
    json::Value methods(rapidjson::kArrayType);
    methods.PushBack(method, a);
    return methods;
}

// What the payer is asked for: the location's requestPayer* (unless
// nothing is to be paid) and shipping when the invoice is shipped here.
json::Value options_json(const Config& c, bool pay, bool shipping,
                         json::Allocator& a) {
    json::Value options(rapidjson::kObjectType);
    options.AddMember("requestPayerName", pay && c.payer_name, a);
    options.AddMember("requestPayerEmail", pay && c.payer_email, a);
    options.AddMember("requestPayerPhone", pay && c.payer_phone, a);
    options.AddMember("requestShipping", shipping, a);
    if (shipping) {
        options.AddMember("shippingType", json::str(c.shipping_type, a), a);
    }
    return options;
}

// details: id, the total, the invoice's display items and, with an
// option, one Shipping line. Built from the invoice each time, so repeated
// changes never duplicate the Shipping line.
json::Value details_json(const Invoice& invoice, const Money& total,
                         const ShippingOption* shipping, json::Allocator& a) {
    json::Value details(rapidjson::kObjectType);
    details.AddMember("id", json::str(invoice.identifier, a), a);
    details.AddMember("total", line_item("Total Due", total, a), a);
    if (!invoice.display_items.empty() || shipping != nullptr) {
        json::Value items(rapidjson::kArrayType);
        for (const auto& item : invoice.display_items) {
            items.PushBack(line_item(item.label, item.amount, a), a);
        }
        if (shipping != nullptr) {
            items.PushBack(line_item("Shipping", shipping->amount, a), a);
        }
        details.AddMember("displayItems", items, a);
    }
    return details;
}

const ShippingOption* find_option(const ShippingOptions& options,
                                  std::string_view id) {
    for (const auto& o : options.options) {
        if (o.id == id) return &o;
    }
    return nullptr;
}

// An answer is built, checked and written within one call: its document
// starts on the stack (an invoice's entity and items fit in 8 KiB).
using AnswerDocument = json::LocalDocument<8192>;

Answer checked(const json::Document& out) {
    if (auto broken = check_details(out["details"])) return {{}, *broken};
    return {json::write(out), {}};
}

}  // namespace

json::Value amount_json(const Money& m, json::Allocator& a) {
    json::Value v(rapidjson::kObjectType);
    v.AddMember("currency", json::str(m.currency.view(), a), a);
    v.AddMember("value", json::str(format_value(m), a), a);
    return v;
}

Answer loadentity_answer(const Config& c, const json::Value& product_context,
                         const Invoice& invoice) {
    AnswerDocument answer(rapidjson::kObjectType);
    json::Document& out = answer.doc();
    auto& a = out.GetAllocator();
    bool shipping = c.shipping && invoice.request_shipping.value_or(true);
    out.AddMember("id", json::str(invoice.identifier, a), a);
    out.AddMember("methodData",
                  method_data(c, Event::kLoadEntity, product_context,
                              json::Value(*invoice.entity, a), a),
                  a);
    out.AddMember("options", options_json(c, true, shipping, a), a);
    out.AddMember("details", details_json(invoice, invoice.total, nullptr, a),
                  a);
    return checked(out);
}

std::string not_due_message(std::string_view status) {
    if (status == "PaymentComplete") {
        return "This invoice has already been paid.";
    }
    if (status == "PaymentAutomaticallyApplied") {
        return "This invoice is paid automatically: nothing is due.";
    }
    return "This invoice is not due for payment.";
}

Answer not_due_answer(const Config& c, Event event,
                      const json::Value& product_context,
                      const Invoice& invoice) {
    AnswerDocument answer(rapidjson::kObjectType);
    json::Document& out = answer.doc();
    auto& a = out.GetAllocator();
    Money nothing{0, invoice.total.currency};
    json::Value details(rapidjson::kObjectType);
    details.AddMember("id", json::str(invoice.identifier, a), a);
    details.AddMember("total", line_item("Total Due", nothing, a), a);
    details.AddMember("error",
                      json::str(not_due_message(invoice.payment_status), a),
                      a);
    out.AddMember("id", json::str(invoice.identifier, a), a);
    out.AddMember("methodData",
                  method_data(c, event, product_context,
                              entity_at(invoice, nothing, a), a),
                  a);
    out.AddMember("options", options_json(c, false, false, a), a);
    out.AddMember("details", details, a);
    return checked(out);
}

Answer shipping_answer(const Config& c, const json::Value& request,
                       const Echo& echo, const Invoice& invoice,
                       const ShippingOptions& options) {
    // Which option applies, and what the payer is told otherwise.
    std::optional<std::string> payer_error;
    bool address_refused = false;
    const ShippingOption* chosen = nullptr;
    if (echo.shipping_address == nullptr) {
        payer_error = kNoAddress;
        address_refused = true;
    } else if (options.error || options.options.empty()) {
        payer_error = options.error.value_or(kNoShipping);
        address_refused = true;
    } else if (echo.event == Event::kOptionChange) {
        chosen = find_option(options, *echo.shipping_option);
        if (chosen == nullptr) payer_error = kUnknownOption;
    } else if (echo.shipping_option) {
        chosen = find_option(options, *echo.shipping_option);
    } else {
        chosen = selected_option(options);
    }

    Money total = invoice.total;
    if (chosen != nullptr) {
        auto sum = checked_add(total.minor, chosen->amount.minor);
        if (!sum) return {{}, "total with shipping overflows"};
        total.minor = *sum;
        if (total.minor < 0) {
            return {{}, "total due must not be negative (shipping option \"" +
                            chosen->id + "\" makes it " +
                            format_value(total) + ")"};
        }
    }

    AnswerDocument answer(rapidjson::kObjectType);
    json::Document& out = answer.doc();
    auto& a = out.GetAllocator();
    out.AddMember("id", json::str(invoice.identifier, a), a);
    out.AddMember("methodData",
                  method_data(c, echo.event, *echo.product_context,
                              entity_at(invoice, total, a), a),
                  a);
    out.AddMember("options", options_json(c, true, true, a), a);
    json::Value details = details_json(invoice, total, chosen, a);
    json::Value list(rapidjson::kArrayType);
    if (!address_refused) {
        for (const auto& o : options.options) {
            json::Value item(rapidjson::kObjectType);
            item.AddMember("id", json::str(o.id, a), a);
            item.AddMember("label", json::str(o.label, a), a);
            item.AddMember("amount", amount_json(o.amount, a), a);
            item.AddMember("selected", &o == chosen, a);
            list.PushBack(item, a);
        }
    }
    details.AddMember("shippingOptions", list, a);
    if (payer_error) details.AddMember("error", json::str(*payer_error, a), a);
    out.AddMember("details", details, a);

    // Members the protocol does not name are the service's, not ours:
    // they go back as they came.
    static constexpr std::string_view kNamed[] = {
        "id", "methodData", "options", "details", "shippingAddress",
        "shippingOption"};
    for (const auto& m : request.GetObject()) {
        std::string_view name(m.name.GetString(), m.name.GetStringLength());
        if (std::find(std::begin(kNamed), std::end(kNamed), name) ==
            std::end(kNamed)) {
            out.AddMember(json::Value(m.name, a), json::Value(m.value, a), a);
        }
    }

    // What the payer said: the address (null once refused), the option
    // that applies (null when the one they had does not).
    out.AddMember("shippingAddress",
                  address_refused ? json::Value()
                                  : json::Value(*echo.shipping_address, a),
                  a);
    if (chosen != nullptr) {
        out.AddMember("shippingOption", json::str(chosen->id, a), a);
    } else if (json::member(request, "shippingOption") != nullptr) {
        out.AddMember("shippingOption", json::Value(), a);
    }
    return checked(out);
}

std::optional<std::string> check_details(const json::Value& details) {
    // where() names the amount's holder: text made only for a refusal
    auto check_amount = [](const json::Value* holder, auto&& where,
                           bool total) -> std::optional<std::string> {
        const json::Value* amount =
            holder ? json::object_member(*holder, "amount") : nullptr;
        if (amount == nullptr) return where() + ".amount is missing";
        auto parsed = parse_amount(*amount);
        if (auto* e = std::get_if<std::string>(&parsed)) {
            return where() + ".amount: " + *e;
        }
        if (total && std::get<Money>(parsed).minor < 0) {
            return where() + " must not be negative";
        }
        return std::nullopt;
    };
    if (auto e = check_amount(json::object_member(details, "total"),
                              [] { return std::string("details.total"); },
                              true)) {
        return e;
    }
    if (const json::Value* items = json::array_member(details, "displayItems")) {
        for (rapidjson::SizeType i = 0; i < items->Size(); ++i) {
            auto where = [i] {
                return "details.displayItems[" + std::to_string(i) + "]";
            };
            if (auto e = check_amount(&(*items)[i], where, false)) return e;
        }
    }
    if (const json::Value* opts =
            json::array_member(details, "shippingOptions")) {
        std::set<std::string_view> ids;
        for (rapidjson::SizeType i = 0; i < opts->Size(); ++i) {
            auto where = [i] {
                return "details.shippingOptions[" + std::to_string(i) + "]";
            };
            auto id = json::string_member((*opts)[i], "id");
            if (!id || !ids.insert(*id).second) {
                return where() + ": ids must be present and unique";
            }
            if (auto e = check_amount(&(*opts)[i], where, false)) return e;
        }
    }
    return std::nullopt;
}

}  // namespace opay
