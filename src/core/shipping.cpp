#include "shipping.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "ascii.h"
#include "invoice.h"

namespace opay {

namespace {

constexpr const char* kStringFields[] = {
    "region",       "city",         "dependentLocality", "dependantLocality",
    "postalCode",   "sortingCode",  "languageCode",      "organization",
    "recipient",    "phone"};

}  // namespace

std::optional<std::string> check_address(const json::Value& a) {
    if (!a.IsObject()) return "shippingAddress must be an object";
    auto country = json::string_member(a, "country");
    if (!country || country->size() != 2 ||
        !std::all_of(country->begin(), country->end(), [](char c) {
            return std::isalpha(static_cast<unsigned char>(c)) &&
                   static_cast<unsigned char>(c) < 0x80;
        })) {
        return "shippingAddress.country must be a two-letter country code";
    }
    if (const json::Value* lines = json::member(a, "addressLine")) {
        if (!lines->IsArray()) {
            return "shippingAddress.addressLine must be an array of strings";
        }
        if (lines->Size() > kMaxAddressLines) {
            return "shippingAddress.addressLine has more than " +
                   std::to_string(kMaxAddressLines) + " lines";
        }
        for (const auto& l : lines->GetArray()) {
            if (!l.IsString() || json::is_number(l)) {
                return "shippingAddress.addressLine must be an array of "
                       "strings";
            }
        }
    }
    for (const char* field : kStringFields) {
        const json::Value* v = json::member(a, field);
        if (v != nullptr && !v->IsNull() &&
            (!v->IsString() || json::is_number(*v))) {
            return std::string("shippingAddress.") + field +
                   " must be a string or null";
        }
    }
    return std::nullopt;
}

std::variant<ShippingOptions, std::string> parse_shipping_options(
    std::string_view body, const Currency& currency) {
    json::Document doc;
    if (auto err = json::parse(body, doc)) {
        return "shipping backend answered invalid JSON (" + err->reason + ")";
    }
    if (!doc.IsObject()) return std::string("shipping backend answer is not "
                                            "a JSON object");
    ShippingOptions out;
    if (json::member(doc, "error") != nullptr) {
        auto text = json::string_member(doc, "error");
        if (!text) return std::string("shipping backend \"error\" is not a "
                                      "string");
        out.error = std::string(*text);
    }
    const json::Value* list = json::member(doc, "shippingOptions");
    if (list == nullptr && out.error) return out;
    if (list == nullptr || !list->IsArray()) {
        return std::string("shipping backend \"shippingOptions\" is not an "
                           "array");
    }
    if (list->Size() > kMaxShippingOptions) {
        return "shipping backend gave " + std::to_string(list->Size()) +
               " shippingOptions, over the limit of " +
               std::to_string(kMaxShippingOptions);
    }
    std::set<std::string> ids;
    std::size_t i = 0;
    for (const auto& o : list->GetArray()) {
        std::string where = "shippingOptions[" + std::to_string(i++) + "]";
        auto id = json::string_member(o, "id");
        auto label = json::string_member(o, "label");
        const json::Value* amount = json::member(o, "amount");
        if (!id || id->empty() || !label || amount == nullptr) {
            return where + " needs a non-empty \"id\", a \"label\" and an "
                           "\"amount\"";
        }
        if (!ids.insert(std::string(*id)).second) {
            return where + ": shipping option ids must be unique, \"" +
                   std::string(*id) + "\" is repeated";
        }
        auto money = parse_amount(*amount);
        if (auto* e = std::get_if<std::string>(&money)) {
            return where + ": " + *e;
        }
        const Money& m = std::get<Money>(money);
        if (m.currency != currency) {
            return where + ": currency " + std::string(m.currency.view()) +
                   " differs from the invoice's " +
                   std::string(currency.view());
        }
        bool selected = false;
        if (const json::Value* s = json::member(o, "selected")) {
            if (!s->IsBool()) return where + ": \"selected\" is not a boolean";
            selected = s->GetBool();
        }
        out.options.push_back(
            {std::string(*id), std::string(*label), m, selected});
    }
    return out;
}

const ShippingOption* selected_option(const ShippingOptions& s) {
    const ShippingOption* chosen = nullptr;
    for (const auto& o : s.options) {
        if (o.selected) chosen = &o;
    }
    return chosen;
}

ShippingDue shipping_due(const Money& total, bool asks_shipping,
                         const std::optional<std::string>& option,
                         const std::string_view* options_body) {
    using Verdict = ShippingDue::Verdict;
    if (!asks_shipping) return {Verdict::kDue, total, {}, {}};
    if (!option || options_body == nullptr) {
        return {Verdict::kRefused, {},
                "A shipping address and a shipping option are needed to pay "
                "this invoice.",
                "the invoice asks for shipping but the payment has no " +
                    std::string(option ? "shippingAddress"
                                       : "shippingOption")};
    }
    auto parsed = parse_shipping_options(*options_body, total.currency);
    if (auto* e = std::get_if<std::string>(&parsed)) {
        return {Verdict::kBackendInvalid, {}, {}, *e};
    }
    const ShippingOption* chosen = nullptr;
    for (const auto& o : std::get<ShippingOptions>(parsed).options) {
        if (o.id == *option) chosen = &o;
    }
    if (chosen == nullptr) {
        return {Verdict::kRefused, {},
                "The selected shipping option is not available.",
                "shipping option \"" + log_value(*option) +
                    "\" is not offered for the address"};
    }
    auto sum = checked_add(total.minor, chosen->amount.minor);
    if (!sum || *sum < 0) {
        return {Verdict::kBackendInvalid, {}, {},
                "total due with shipping is invalid"};
    }
    return {Verdict::kDue, Money{*sum, total.currency}, {}, {}};
}

std::string shipping_request(std::string_view invoice,
                             const json::Value& product_context,
                             const json::Value& address) {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("invoice", json::str(invoice, a), a);
    d.AddMember("productContext", json::Value(product_context, a), a);
    d.AddMember("shippingAddress", json::Value(address, a), a);
    return json::write(d);
}

}  // namespace opay
