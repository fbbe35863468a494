#include "payment_request.h"

namespace opay {

namespace {

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

std::string loadentity_answer(const Config& c,
                              const json::Value& product_context,
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
    options.AddMember("requestShipping", false, a);

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
    return json::write(out);
}

}  // namespace opay
