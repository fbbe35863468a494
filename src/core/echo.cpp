#include "echo.h"

#include "config.h"
#include "shipping.h"

namespace opay {

namespace {

// The id of the option marked selected in the echoed
// details.shippingOptions (the last one, as W3C says), or nullopt. A
// malformed list selects nothing: it only decides how an event is read.
std::optional<std::string_view> echoed_selection(const json::Value& request) {
    const json::Value* details = json::object_member(request, "details");
    const json::Value* options =
        details ? json::array_member(*details, "shippingOptions") : nullptr;
    std::optional<std::string_view> selected;
    if (options == nullptr) return selected;
    for (const auto& o : options->GetArray()) {
        const json::Value* s = json::member(o, "selected");
        if (s != nullptr && s->IsBool() && s->GetBool()) {
            selected = json::string_member(o, "id");
        }
    }
    return selected;
}

}  // namespace

std::string_view event_name(Event e) {
    switch (e) {
    case Event::kLoadEntity: return "loadentity";
    case Event::kAddressChange: return "shippingaddresschange";
    case Event::kOptionChange: return "shippingoptionchange";
    }
    return "";
}

std::optional<Event> classify_event(std::string_view event,
                                    const json::Value& request) {
    if (event == "loadentity") return Event::kLoadEntity;
    if (event == "shippingoptionchange") return Event::kOptionChange;
    if (event != "shippingaddresschange") return std::nullopt;
    auto option = json::string_member(request, "shippingOption");
    if (option && echoed_selection(request) != option) {
        return Event::kOptionChange;
    }
    return Event::kAddressChange;
}

std::variant<Echo, std::string> read_echo(const json::Value& request) {
    const json::Value* methods = json::array_member(request, "methodData");
    if (methods == nullptr || methods->Empty() ||
        !(*methods)[0].IsObject()) {
        return std::string("methodData must be a non-empty array of objects");
    }
    const json::Value& method = (*methods)[0];
    if (json::string_member(method, "supportedMethods") !=
        std::string_view(kMicrosoftPayMethod)) {
        return std::string("methodData[0].supportedMethods must be ") +
               kMicrosoftPayMethod;
    }
    const json::Value* data = json::object_member(method, "data");
    if (data == nullptr) {
        return std::string("methodData[0].data must be an object");
    }
    auto event = json::string_member(*data, "event");
    if (!event) return std::string("methodData[0].data.event must be a string");
    Echo echo;
    echo.product_context = json::object_member(*data, "productContext");
    if (echo.product_context == nullptr) {
        return std::string(
            "methodData[0].data.productContext must be an object");
    }
    auto kind = classify_event(*event, request);
    if (!kind) return std::string("unknown event");
    echo.event = *kind;
    return echo;
}

std::optional<std::string> read_payer_choice(const json::Value& request,
                                             Echo& echo) {
    const json::Value* address = json::member(request, "shippingAddress");
    if (address == nullptr) return std::string("shippingAddress is missing");
    if (!address->IsNull()) {
        if (auto why = check_address(*address)) return why;
        echo.shipping_address = address;
    }
    if (const json::Value* o = json::member(request, "shippingOption");
        o != nullptr && !o->IsNull()) {
        auto id = json::string_member(request, "shippingOption");
        if (!id) return std::string("shippingOption must be a string or null");
        echo.shipping_option = std::string(*id);
    }
    if (echo.event == Event::kOptionChange && !echo.shipping_option) {
        return std::string(
            "shippingOption must be the chosen option's id on a "
            "shippingoptionchange");
    }
    const json::Value* details = json::object_member(request, "details");
    auto id = details ? json::string_member(*details, "id") : std::nullopt;
    if (!id || id->empty()) return std::string("details.id must be a string");
    echo.details_id = std::string(*id);
    return std::nullopt;
}

}  // namespace opay
