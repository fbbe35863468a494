#include "payment_request.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <tuple>

#include "ascii.h"
#include "payment_complete.h"

namespace opay {

namespace {

constexpr const char* kNoShipping = "We do not ship to this address.";
constexpr const char* kNoAddress = "Please enter a shipping address.";
constexpr const char* kUnknownOption =
    "The selected shipping option is not available.";

// The answers' member names, checked when the program is built to need no
// escaping and written as they stand (json::Name).
constexpr json::Name kAmount{"amount"};
constexpr json::Name kCurrency{"currency"};
constexpr json::Name kData{"data"};
constexpr json::Name kDetails{"details"};
constexpr json::Name kDisplayItems{"displayItems"};
constexpr json::Name kEntity{"entity"};
constexpr json::Name kError{"error"};
constexpr json::Name kEvent{"event"};
constexpr json::Name kId{"id"};
constexpr json::Name kLabel{"label"};
constexpr json::Name kMethodData{"methodData"};
constexpr json::Name kMode{"mode"};
constexpr json::Name kOptions{"options"};
constexpr json::Name kPending{"pending"};
constexpr json::Name kPrice{"price"};
constexpr json::Name kProductContext{"productContext"};
constexpr json::Name kRequestPayerEmail{"requestPayerEmail"};
constexpr json::Name kRequestPayerName{"requestPayerName"};
constexpr json::Name kRequestPayerPhone{"requestPayerPhone"};
constexpr json::Name kRequestShipping{"requestShipping"};
constexpr json::Name kSelected{"selected"};
constexpr json::Name kShippingAddress{"shippingAddress"};
constexpr json::Name kShippingOption{"shippingOption"};
constexpr json::Name kShippingOptions{"shippingOptions"};
constexpr json::Name kShippingType{"shippingType"};
constexpr json::Name kSupportedMethods{"supportedMethods"};
constexpr json::Name kSupportedNetworks{"supportedNetworks"};
constexpr json::Name kSupportedTypes{"supportedTypes"};
constexpr json::Name kTotal{"total"};
constexpr json::Name kValue{"value"};

// Answers are written straight from the settings, the invoice and the
// echo with json::Writer: no document is built only to be written (that
// was a third of an answer's cost). The W3C rules for what we own in the
// details (amounts well formed, a total not negative, shipping option ids
// present and unique) are checked on the values as they are written.
// What depends on the location's settings alone (the method, networks,
// types, mode, options) is written once, when its Config is made
// (render_answer_parts), and copied in (json::Writer::raw).

// The name of a parsed member, as it came.
std::string_view name_of(const json::Value& name) {
    return {name.GetString(), name.GetStringLength()};
}

void write_strings(json::Writer& w, const std::vector<std::string>& items) {
    w.begin_array();
    for (const auto& s : items) w.string(s);
    w.end_array();
}

// What the W3C rules say of one amount, read back: where() names its
// holder (text made only for a refusal); a total may not be negative.
template <typename Where>
std::optional<std::string> amount_problem(
    const std::variant<Money, std::string>& read, Where&& where, bool total) {
    if (auto* e = std::get_if<std::string>(&read)) {
        return where() + ".amount: " + *e;
    }
    if (total && std::get<Money>(read).minor < 0) {
        return where() + " must not be negative";
    }
    return std::nullopt;
}

// {"currency": ..., "value": ...}, checked as a payer's wallet reads it.
template <typename Where>
std::optional<std::string> write_amount(json::Writer& w, const Money& m,
                                        Where&& where, bool total) {
    std::string value = format_value(m);
    w.begin_object();
    w.key(kCurrency);
    w.string(m.currency.view());
    w.key(kValue);
    w.string(value);
    w.end_object();
    return amount_problem(read_amount(m.currency.view(), value), where, total);
}

template <typename Where>
std::optional<std::string> write_line_item(json::Writer& w,
                                           std::string_view label,
                                           const Money& m, Where&& where,
                                           bool total = false) {
    w.begin_object();
    w.key(kLabel);
    w.string(label);
    w.key(kAmount);
    auto problem = write_amount(w, m, where, total);
    w.key(kPending);
    w.boolean(false);
    w.end_object();
    return problem;
}

// The invoice's schema.org entity, its price set to total (a JSON number
// if the backend wrote a number), as Microsoft's sample kept it in step
// with details.total: the price replaced where it stands, or added last.
void write_entity_at(json::Writer& w, const json::Value& entity,
                     const Money& total) {
    const json::Value* due = json::object_member(entity, "totalPaymentDue");
    if (due == nullptr) {
        w.value(entity);
        return;
    }
    std::string value = format_value(total);
    w.begin_object();
    for (const auto& m : entity.GetObject()) {
        w.key(name_of(m.name));
        if (&m.value != due) {
            w.value(m.value);
            continue;
        }
        w.begin_object();
        bool priced = false;
        for (const auto& d : due->GetObject()) {
            w.key(name_of(d.name));
            if (!priced && name_of(d.name) == "price") {
                priced = true;
                if (json::is_number(d.value)) {
                    w.number(value);
                } else {
                    w.string(value);
                }
            } else {
                w.value(d.value);
            }
        }
        if (!priced) {
            w.key(kPrice);
            w.string(value);
        }
        w.end_object();
    }
    w.end_object();
}

// The index of an event's part in AnswerParts::events.
std::size_t event_index(Event e) {
    static_assert(static_cast<std::size_t>(Event::kOptionChange) + 1 ==
                      std::tuple_size<decltype(AnswerParts::events)>::value,
                  "a part for each event");
    return static_cast<std::size_t>(e);
}

// methodData: our one payment method, with the entity as given; all but
// the event's productContext and the entity written once per location.
template <typename WriteEntity>
void write_method_data(json::Writer& w, const AnswerParts& parts,
                       Event event, const json::Value& product_context,
                       WriteEntity&& write_entity) {
    w.begin_array();
    w.begin_object();
    w.raw(parts.method);
    w.key(kData);
    w.begin_object();
    w.raw(parts.events[event_index(event)]);
    w.key(kProductContext);
    w.value(product_context);
    w.raw(parts.networks_types);
    w.key(kEntity);
    write_entity();
    w.raw(parts.mode);
    w.end_object();
    w.end_object();
    w.end_array();
}

// What the payer is asked for: the location's requestPayer* (unless
// nothing is to be paid) and shipping when the invoice is shipped here.
// Written once per location, for each pay and shipping (AnswerParts).
void write_options(json::Writer& w, const Config& c, bool pay,
                   bool shipping) {
    w.begin_object();
    w.key(kRequestPayerName);
    w.boolean(pay && c.payer_name);
    w.key(kRequestPayerEmail);
    w.boolean(pay && c.payer_email);
    w.key(kRequestPayerPhone);
    w.boolean(pay && c.payer_phone);
    w.key(kRequestShipping);
    w.boolean(shipping);
    if (shipping) {
        w.key(kShippingType);
        w.string(c.shipping_type);
    }
    w.end_object();
}

// The members of details (its braces are the caller's): id, the total,
// the invoice's display items and, with an option, one Shipping line.
// Written from the invoice each time, so repeated changes never duplicate
// the Shipping line.
std::optional<std::string> write_details(json::Writer& w,
                                         const Invoice& invoice,
                                         const Money& total,
                                         const ShippingOption* shipping) {
    w.key(kId);
    w.string(invoice.identifier);
    w.key(kTotal);
    if (auto e = write_line_item(w, "Total Due", total,
                                 [] { return std::string("details.total"); },
                                 true)) {
        return e;
    }
    if (invoice.display_items.empty() && shipping == nullptr) {
        return std::nullopt;
    }
    w.key(kDisplayItems);
    w.begin_array();
    std::size_t i = 0;
    auto where = [&i] {
        return "details.displayItems[" + std::to_string(i) + "]";
    };
    for (const auto& item : invoice.display_items) {
        if (auto e = write_line_item(w, item.label, item.amount, where)) {
            return e;
        }
        ++i;
    }
    if (shipping != nullptr) {
        if (auto e = write_line_item(w, "Shipping", shipping->amount, where)) {
            return e;
        }
    }
    w.end_array();
    return std::nullopt;
}

// details.shippingOptions, its ids checked unique as written.
std::optional<std::string> write_shipping_options(
    json::Writer& w, const ShippingOptions& options,
    const ShippingOption* chosen, bool address_refused) {
    w.key(kShippingOptions);
    w.begin_array();
    if (!address_refused) {
        std::set<std::string_view> ids;
        std::size_t i = 0;
        auto where = [&i] {
            return "details.shippingOptions[" + std::to_string(i) + "]";
        };
        for (const auto& o : options.options) {
            if (!ids.insert(o.id).second) {
                return where() + ": ids must be present and unique";
            }
            w.begin_object();
            w.key(kId);
            w.string(o.id);
            w.key(kLabel);
            w.string(o.label);
            w.key(kAmount);
            if (auto e = write_amount(w, o.amount, where, false)) return e;
            w.key(kSelected);
            w.boolean(&o == chosen);
            w.end_object();
            ++i;
        }
    }
    w.end_array();
    return std::nullopt;
}

const ShippingOption* find_option(const ShippingOptions& options,
                                  std::string_view id) {
    for (const auto& o : options.options) {
        if (o.id == id) return &o;
    }
    return nullptr;
}

// The members that write() writes into an object, without its braces.
template <typename WriteMembers>
std::string members(WriteMembers&& write) {
    json::Writer w;
    w.begin_object();
    write(w);
    w.end_object();
    std::string text = w.done();
    return text.substr(1, text.size() - 2);
}

// A Config made by hand and not given its parts (make_config always
// renders them) would write broken JSON: nothing is sent instead.
constexpr const char* kNoParts =
    "the location's answer parts are not rendered";

bool rendered(const Config& c) { return !c.answer_parts.method.empty(); }

}  // namespace

AnswerParts render_answer_parts(const Config& c) {
    AnswerParts p;
    p.method = members([](json::Writer& w) {
        w.key(kSupportedMethods);
        w.string(kMicrosoftPayMethod);
    });
    for (Event e :
         {Event::kLoadEntity, Event::kAddressChange, Event::kOptionChange}) {
        p.events[event_index(e)] = members([e](json::Writer& w) {
            w.key(kEvent);
            w.string(event_name(e));
        });
    }
    p.networks_types = members([&c](json::Writer& w) {
        w.key(kSupportedNetworks);
        write_strings(w, c.networks);
        w.key(kSupportedTypes);
        write_strings(w, c.types);
    });
    if (c.test_mode) {
        p.mode = members([](json::Writer& w) {
            w.key(kMode);
            w.string("TEST");
        });
    }
    for (bool pay : {false, true}) {
        for (bool shipping : {false, true}) {
            json::Writer w;
            write_options(w, c, pay, shipping);
            p.options[pay][shipping] = w.done();
        }
    }
    return p;
}

json::Value amount_json(const Money& m, json::Allocator& a) {
    json::Value v(rapidjson::kObjectType);
    v.AddMember("currency", json::str(m.currency.view(), a), a);
    v.AddMember("value", json::str(format_value(m), a), a);
    return v;
}

Answer loadentity_answer(const Config& c, const json::Value& product_context,
                         const Invoice& invoice) {
    if (!rendered(c)) return {{}, kNoParts};
    bool shipping = c.shipping && invoice.request_shipping.value_or(true);
    json::Writer w;
    w.begin_object();
    w.key(kId);
    w.string(invoice.identifier);
    w.key(kMethodData);
    write_method_data(w, c.answer_parts, Event::kLoadEntity, product_context,
                      [&] { w.value(*invoice.entity); });
    w.key(kOptions);
    w.raw(c.answer_parts.options[true][shipping]);
    w.key(kDetails);
    w.begin_object();
    if (auto e = write_details(w, invoice, invoice.total, nullptr)) {
        return {{}, *e};
    }
    w.end_object();
    w.end_object();
    return {w.done(), {}};
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
    if (!rendered(c)) return {{}, kNoParts};
    Money nothing{0, invoice.total.currency};
    json::Writer w;
    w.begin_object();
    w.key(kId);
    w.string(invoice.identifier);
    w.key(kMethodData);
    write_method_data(w, c.answer_parts, event, product_context,
                      [&] { write_entity_at(w, *invoice.entity, nothing); });
    w.key(kOptions);
    w.raw(c.answer_parts.options[false][false]);
    w.key(kDetails);
    w.begin_object();
    w.key(kId);
    w.string(invoice.identifier);
    w.key(kTotal);
    if (auto e = write_line_item(w, "Total Due", nothing,
                                 [] { return std::string("details.total"); },
                                 true)) {
        return {{}, *e};
    }
    w.key(kError);
    w.string(not_due_message(invoice.payment_status));
    w.end_object();
    w.end_object();
    return {w.done(), {}};
}

Answer shipping_answer(const Config& c, const json::Value& request,
                       const Echo& echo, const Invoice& invoice,
                       const ShippingOptions& options) {
    if (!rendered(c)) return {{}, kNoParts};
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
                            log_value(chosen->id) + "\" makes it " +
                            format_value(total) + ")"};
        }
    }

    json::Writer w;
    w.begin_object();
    w.key(kId);
    w.string(invoice.identifier);
    w.key(kMethodData);
    write_method_data(w, c.answer_parts, echo.event, *echo.product_context,
                      [&] { write_entity_at(w, *invoice.entity, total); });
    w.key(kOptions);
    w.raw(c.answer_parts.options[true][true]);
    w.key(kDetails);
    w.begin_object();
    if (auto e = write_details(w, invoice, total, chosen)) return {{}, *e};
    if (auto e = write_shipping_options(w, options, chosen, address_refused)) {
        return {{}, *e};
    }
    if (payer_error) {
        w.key(kError);
        w.string(*payer_error);
    }
    w.end_object();

    // Members the protocol does not name are the service's, not ours:
    // they go back as they came.
    static constexpr std::string_view kNamed[] = {
        "id", "methodData", "options", "details", "shippingAddress",
        "shippingOption"};
    for (const auto& m : request.GetObject()) {
        std::string_view name = name_of(m.name);
        if (std::find(std::begin(kNamed), std::end(kNamed), name) ==
            std::end(kNamed)) {
            w.key(name);
            w.value(m.value);
        }
    }

    // What the payer said: the address (null once refused), the option
    // that applies (null when the one they had does not).
    w.key(kShippingAddress);
    if (address_refused) {
        w.null();
    } else {
        w.value(*echo.shipping_address);
    }
    if (chosen != nullptr) {
        w.key(kShippingOption);
        w.string(chosen->id);
    } else if (json::member(request, "shippingOption") != nullptr) {
        w.key(kShippingOption);
        w.null();
    }
    w.end_object();
    return {w.done(), {}};
}

}  // namespace opay
