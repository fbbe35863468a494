// The PaymentRequest webhook's state machine: which event the payload
// carries, what each event fetches, and turning the backends' answers into
// the answer (or a refusal).
#include "payment_request_flow.h"

#include "payment_request.h"
#include "shipping.h"

namespace opay {

PaymentRequestFlow::PaymentRequestFlow(const Config& config, const Input& in)
    : Flow(config) {
    if (admit(in)) start();
}

void PaymentRequestFlow::ask(std::vector<Fetch> fetches, Stage next) {
    stage_ = next;
    Flow::ask(std::move(fetches));
}

void PaymentRequestFlow::start() {
    const json::Value* methods = json::array_member(request_, "methodData");
    if (methods == nullptr || methods->Empty() ||
        !(*methods)[0].IsObject()) {
        return invalid("methodData must be a non-empty array of objects");
    }
    const json::Value& method = (*methods)[0];
    if (json::string_member(method, "supportedMethods") !=
        std::string_view(kMicrosoftPayMethod)) {
        return invalid(std::string("methodData[0].supportedMethods must be ") +
                       kMicrosoftPayMethod);
    }
    const json::Value* data = json::object_member(method, "data");
    if (data == nullptr) return invalid("methodData[0].data must be an object");
    auto event = json::string_member(*data, "event");
    if (!event) return invalid("methodData[0].data.event must be a string");
    product_context_ = json::object_member(*data, "productContext");
    if (product_context_ == nullptr) {
        return invalid("methodData[0].data.productContext must be an object");
    }
    event_ = std::string(event->substr(0, 64));
    // shippingOption tells an option change apart: the reference's own
    // example still says "shippingaddresschange" in that payload.
    bool option_change = json::member(request_, "shippingOption") != nullptr;
    if (*event == "loadentity" && !option_change) {
        ask({Fetch{OPAY_TARGET_INVOICE, false, {}, {}, {}}},
            Stage::kLoadInvoice);
        return;
    }
    if (*event == "shippingaddresschange" || *event == "shippingoptionchange" ||
        option_change) {
        if (option_change) event_ = "shippingoptionchange";
        start_shipping_event();
        return;
    }
    invalid("unknown event");
}

void PaymentRequestFlow::start_shipping_event() {
    if (!config_.shipping) {
        refuse(400, "unsupported_event", "shipping is not asked for here",
               OPAY_LOG_INFO,
               "event " + event_ + " but opay_shipping_uri is not set");
        return;
    }
    const json::Value* address = json::member(request_, "shippingAddress");
    if (address == nullptr) return invalid("shippingAddress is missing");
    if (auto why = check_address(*address)) return invalid(*why);
    if (event_ == "shippingoptionchange") {
        auto option = json::string_member(request_, "shippingOption");
        if (!option) return invalid("shippingOption must be a string");
        chosen_option_ = std::string(*option);
    }
    const json::Value* details = json::object_member(request_, "details");
    auto id = details ? json::string_member(*details, "id") : std::nullopt;
    if (!id || id->empty()) return invalid("details.id must be a string");
    invoice_id_ = std::string(*id);
    ask({Fetch{OPAY_TARGET_INVOICE, false, {}, {}, {}},
         Fetch{OPAY_TARGET_SHIPPING, true,
               shipping_request(invoice_id_, *product_context_, *address),
               "application/json", {}}},
        Stage::kShipping);
}

void PaymentRequestFlow::on_fetched(const std::vector<Result>& results) {
    switch (stage_) {
    case Stage::kLoadInvoice:
        on_invoice(results[0]);
        break;
    case Stage::kShipping:
        on_shipping(results[0], results[1]);
        break;
    }
}

// This flow asks for no action, so there is never one to resolve.
void PaymentRequestFlow::on_resolved(int, std::string_view) {}

void PaymentRequestFlow::on_invoice(const Result& r) {
    auto invoice = read_invoice(r);
    if (!invoice) return;
    Answer answer = loadentity_answer(config_, *product_context_, *invoice);
    if (!answer.error.empty()) {
        refuse(502, "backend_error", "invoice backend gave an invalid invoice",
               OPAY_LOG_ERROR, "invoice \"" + invoice->identifier +
                                   "\": answer would break a W3C rule: " +
                                   answer.error);
        return;
    }
    respond(200, std::move(answer.body));
}

void PaymentRequestFlow::on_shipping(const Result& invoice_result,
                                     const Result& options) {
    auto invoice = read_invoice(invoice_result);
    if (!invoice) return;
    std::string name = "invoice \"" + invoice->identifier + "\"";
    if (invoice->identifier != invoice_id_) {
        refuse(400, "invalid_payload", "details.id does not match the invoice",
               OPAY_LOG_INFO, "invalid payload: details.id \"" +
                                  invoice_id_.substr(0, 64) + "\" but " +
                                  name);
        return;
    }
    if (invoice->request_shipping == false) {
        refuse(400, "unsupported_event", "this invoice is not shipped",
               OPAY_LOG_INFO, name + " does not ask for shipping");
        return;
    }
    if (refuse_backend_failure("shipping", options)) return;
    auto parsed = parse_shipping_options(options.body, invoice->total.currency);
    if (auto* e = std::get_if<std::string>(&parsed)) {
        refuse(502, "backend_error", "shipping backend gave invalid options",
               OPAY_LOG_ERROR, "shipping backend for " + name + ": " + *e);
        return;
    }
    Answer answer =
        shipping_answer(request_, event_, *invoice,
                        std::get<ShippingOptions>(parsed), chosen_option_);
    if (!answer.error.empty()) {
        refuse(502, "backend_error", "shipping backend gave invalid options",
               OPAY_LOG_ERROR, "shipping backend for " + name + ": " +
                                   answer.error);
        return;
    }
    respond(200, std::move(answer.body));
}

}  // namespace opay
