#include "payment_request.h"

#include <set>

namespace opay {

namespace {

constexpr const char* kNoShipping = "We do not ship to this address.";
constexpr const char* kUnknownOption =
    "The selected shipping option is not available.";

// Sets currency and value in an existing amount object, keeping whatever
// else the peer put there (currencySystem, ...).
void set_amount(json::Value& holder, const Money& m, json::Allocator& a) {
    json::Value* amount = json::object_member(holder, "amount");
    if (amount == nullptr) {
        json::set(holder, "amount", amount_json(m, a), a);
        return;
    }
    json::set(*amount, "currency", json::str(m.currency.view(), a), a);
    json::set(*amount, "value", json::str(format_value(m), a), a);
}

json::Value& object_at(json::Value& parent, std::string_view name,
                       json::Allocator& a) {
    json::Value* v = json::member(parent, name);
    if (v == nullptr || !v->IsObject()) {
        json::set(parent, name, json::Value(rapidjson::kObjectType), a);
        v = json::member(parent, name);
    }
    return *v;
}

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

}  // namespace

json::Value amount_json(const Money& m, json::Allocator& a) {
    json::Value v(rapidjson::kObjectType);
    v.AddMember("currency", json::str(m.currency.view(), a), a);
    v.AddMember("value", json::str(format_value(m), a), a);
    return v;
}

Answer loadentity_answer(const Config& c, const json::Value& product_context,
                         const Invoice& invoice) {
    json::Document out(rapidjson::kObjectType);
    auto& a = out.GetAllocator();

    json::Value data(rapidjson::kObjectType);
    data.AddMember("event", "loadentity", a);
    data.AddMember("productContext", json::Value(product_context, a), a);
    data.AddMember("supportedNetworks", string_array(c.networks, a), a);
    data.AddMember("supportedTypes", string_array(c.types, a), a);
    data.AddMember("entity", json::Value(*invoice.entity, a), a);
    if (c.test_mode) data.AddMember("mode", "TEST", a);

    json::Value method(rapidjson::kObjectType);
    method.AddMember("supportedMethods",
                     rapidjson::StringRef(kMicrosoftPayMethod), a);
    method.AddMember("data", data, a);
    json::Value method_data(rapidjson::kArrayType);
    method_data.PushBack(method, a);

    json::Value options(rapidjson::kObjectType);
    options.AddMember("requestPayerName", c.payer_name, a);
    options.AddMember("requestPayerEmail", c.payer_email, a);
    options.AddMember("requestPayerPhone", c.payer_phone, a);
    bool shipping = c.shipping && invoice.request_shipping.value_or(true);
    options.AddMember("requestShipping", shipping, a);
    if (shipping) {
        options.AddMember("shippingType", json::str(c.shipping_type, a), a);
    }

    json::Value details(rapidjson::kObjectType);
    details.AddMember("id", json::str(invoice.identifier, a), a);
    details.AddMember("total", line_item("Total Due", invoice.total, a), a);
    if (!invoice.display_items.empty()) {
        json::Value items(rapidjson::kArrayType);
        for (const auto& item : invoice.display_items) {
            items.PushBack(line_item(item.label, item.amount, a), a);
        }
        details.AddMember("displayItems", items, a);
    }

    out.AddMember("id", json::str(invoice.identifier, a), a);
    out.AddMember("methodData", method_data, a);
    out.AddMember("options", options, a);
    out.AddMember("details", details, a);
    if (auto broken = check_details(out["details"])) return {{}, *broken};
    return {json::write(out), {}};
}

Answer shipping_answer(json::Document& request,
                               std::string_view event,
                               const Invoice& invoice,
                               const ShippingOptions& options,
                               const std::optional<std::string>& chosen_option) {
    auto& a = request.GetAllocator();
    json::Value& method = (*json::array_member(request, "methodData"))[0];
    json::Value& data = object_at(method, "data", a);
    json::set(data, "event", json::str(event, a), a);
    json::Value& details = object_at(request, "details", a);

    // Which option applies, and what the payer is told otherwise.
    std::optional<std::string> payer_error;
    std::optional<std::string> chosen_id;
    if (options.error || options.options.empty()) {
        payer_error = options.error.value_or(kNoShipping);
        json::set(request, "shippingAddress", json::Value(), a);
        if (chosen_option) json::set(request, "shippingOption", json::Value(), a);
    } else if (chosen_option) {
        for (const auto& o : options.options) {
            if (o.id == *chosen_option) chosen_id = o.id;
        }
        if (!chosen_id) {
            payer_error = kUnknownOption;
            json::set(request, "shippingOption", json::Value(), a);
        }
    } else if (const ShippingOption* sel = selected_option(options)) {
        chosen_id = sel->id;
    }

    const ShippingOption* chosen = nullptr;
    json::Value list(rapidjson::kArrayType);
    if (!payer_error || chosen_option) {
        for (const auto& o : options.options) {
            bool is_chosen = chosen_id && o.id == *chosen_id;
            if (is_chosen) chosen = &o;
            json::Value item(rapidjson::kObjectType);
            item.AddMember("id", json::str(o.id, a), a);
            item.AddMember("label", json::str(o.label, a), a);
            item.AddMember("amount", amount_json(o.amount, a), a);
            item.AddMember("selected", is_chosen, a);
            list.PushBack(item, a);
        }
    }
    json::set(details, "shippingOptions", std::move(list), a);

    Money total = invoice.total;
    if (chosen != nullptr) {
        auto sum = checked_add(total.minor, chosen->amount.minor);
        if (!sum) return {{}, "total with shipping overflows"};
        total.minor = *sum;
    }
    if (total.minor < 0) {
        return {{}, "total due must not be negative (shipping option \"" +
                        chosen->id + "\" makes it " + format_value(total) +
                        ")"};
    }

    json::Value& total_item = object_at(details, "total", a);
    json::set(total_item, "label", json::str("Total Due", a), a);
    set_amount(total_item, total, a);
    json::set(total_item, "pending", json::Value(false), a);

    // Display items come from the invoice, never from the echo: a repeated
    // change cannot duplicate the Shipping line. Extra members the peer
    // keeps on a line of the same label are echoed.
    const json::Value* echoed = json::array_member(details, "displayItems");
    json::Value items(rapidjson::kArrayType);
    for (std::size_t i = 0; i < invoice.display_items.size(); ++i) {
        const DisplayItem& d = invoice.display_items[i];
        json::Value item(rapidjson::kObjectType);
        if (echoed != nullptr && i < echoed->Size() &&
            json::string_member((*echoed)[i], "label") == d.label) {
            item.CopyFrom((*echoed)[i], a);
        }
        json::set(item, "label", json::str(d.label, a), a);
        set_amount(item, d.amount, a);
        json::set(item, "pending", json::Value(false), a);
        items.PushBack(item, a);
    }
    if (chosen != nullptr) {
        json::Value item(rapidjson::kObjectType);
        item.AddMember("label", "Shipping", a);
        item.AddMember("amount", amount_json(chosen->amount, a), a);
        item.AddMember("pending", false, a);
        items.PushBack(item, a);
    }
    json::set(details, "displayItems", std::move(items), a);

    if (payer_error) {
        json::set(details, "error", json::str(*payer_error, a), a);
    } else {
        details.RemoveMember("error");
    }

    // The schema.org entity is the invoice's, its price kept in step with
    // details.total (as a number if the backend wrote a number).
    json::Value entity(*invoice.entity, a);
    json::Value& due = object_at(entity, "totalPaymentDue", a);
    const json::Value* price = json::member(due, "price");
    std::string value = format_value(total);
    json::set(due, "price",
              price != nullptr && json::is_number(*price)
                  ? json::make_number(value, a)
                  : json::str(value, a),
              a);
    json::set(data, "entity", std::move(entity), a);

    if (auto broken = check_details(details)) return {{}, *broken};
    return {json::write(request), {}};
}

std::optional<std::string> check_details(const json::Value& details) {
    auto check_amount = [](const json::Value* holder, const std::string& where,
                           bool total) -> std::optional<std::string> {
        const json::Value* amount =
            holder ? json::object_member(*holder, "amount") : nullptr;
        if (amount == nullptr) return where + ".amount is missing";
        auto parsed = parse_amount(*amount);
        if (auto* e = std::get_if<std::string>(&parsed)) {
            return where + ".amount: " + *e;
        }
        if (total && std::get<Money>(parsed).minor < 0) {
            return where + " must not be negative";
        }
        return std::nullopt;
    };
    if (auto e = check_amount(json::object_member(details, "total"),
                              "details.total", true)) {
        return e;
    }
    if (const json::Value* items = json::array_member(details, "displayItems")) {
        for (rapidjson::SizeType i = 0; i < items->Size(); ++i) {
            if (auto e = check_amount(&(*items)[i],
                                      "details.displayItems[" +
                                          std::to_string(i) + "]",
                                      false)) {
                return e;
            }
        }
    }
    if (const json::Value* opts =
            json::array_member(details, "shippingOptions")) {
        std::set<std::string_view> ids;
        for (rapidjson::SizeType i = 0; i < opts->Size(); ++i) {
            std::string where =
                "details.shippingOptions[" + std::to_string(i) + "]";
            auto id = json::string_member((*opts)[i], "id");
            if (!id || !ids.insert(*id).second) {
                return where + ": ids must be present and unique";
            }
            if (auto e = check_amount(&(*opts)[i], where, false)) return e;
        }
    }
    return std::nullopt;
}

}  // namespace opay
