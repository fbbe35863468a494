// A PaymentRequest call as the payment service sends it: on the shipping
// events, our own last answer echoed back with the new event and what the
// payer said. Only that is read from it: which event it is, the address,
// the option, the opaque productContext (and details.id, to name the
// invoice to the shipping backend before the invoice is in). Everything
// else in it was ours to say and is re-derived, never taken from here.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "json.h"

namespace opay {

enum class Event {
    kLoadEntity,
    kAddressChange,
    kOptionChange,
};

// The event's name as the protocol spells it: a literal, valid forever.
std::string_view event_name(Event e);

struct Echo {
    Event event = Event::kLoadEntity;
    const json::Value* product_context = nullptr;
    // Shipping events only. The address: nullptr when the echo carries our
    // refusal (null). The option: a string, or nullopt (absent or null).
    const json::Value* shipping_address = nullptr;
    std::optional<std::string> shipping_option;
    std::string details_id;
};

// The event rule. data.event "shippingoptionchange" is an option change;
// "shippingaddresschange" is an address change, unless shippingOption is a
// string that is not the id of the option marked selected in the echoed
// details.shippingOptions (the reference's own option-change example is
// labelled "shippingaddresschange" and echoes no options): then it is an
// option change. The option an address change carries is the payer's
// earlier choice.
std::optional<Event> classify_event(std::string_view event,
                                    const json::Value& request);

// Reads and checks what every PaymentRequest call carries: methodData[0]
// (the Microsoft Pay method, data.event, data.productContext). Pointers
// point into request; the error says which field is wrong.
std::variant<Echo, std::string> read_echo(const json::Value& request);

// Reads what the payer said on a shipping event into echo: the address
// (an AddressInit, or our own null), the option (a string, or our own
// null; an option change needs a string) and details.id. Returns what is
// wrong, or nullopt.
std::optional<std::string> read_payer_choice(const json::Value& request,
                                             Echo& echo);

}  // namespace opay
