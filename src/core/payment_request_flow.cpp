// The PaymentRequest webhook's state machine: which event the payload
// carries (echo.h), what each event fetches, and turning the backends'
// answers into the answer (payment_request.h) or a refusal.
#include "payment_request_flow.h"

#include "ascii.h"
#include "payment_complete.h"
#include "payment_request.h"
#include "shipping.h"

namespace opay {

PaymentRequestFlow::PaymentRequestFlow(const Config& config, const Input& in)
    : Flow(config) {
    if (admit(in)) start();
}

void PaymentRequestFlow::ask(Fetches fetches, Stage next) {
    stage_ = next;
    Flow::ask(std::move(fetches));
}

void PaymentRequestFlow::ask(Fetch fetch, Stage next) {
    stage_ = next;
    Flow::ask(std::move(fetch));
}

void PaymentRequestFlow::start() {
    auto read = read_echo(request_->doc());
    if (auto* e = std::get_if<std::string>(&read)) return invalid(*e);
    echo_ = std::get<Echo>(read);
    product_context_ = echo_.product_context;
    if (!check_product_context()) return;
    event_ = event_name(echo_.event);
    if (echo_.event == Event::kLoadEntity) {
        ask(Fetch{OPAY_TARGET_INVOICE, false, {}, {}, {}, {}},
            Stage::kLoadInvoice);
        return;
    }
    start_shipping_event();
}

void PaymentRequestFlow::start_shipping_event() {
    if (!config_.shipping) {
        refuse(400, OPAY_REFUSAL_UNSUPPORTED_EVENT,
               "shipping is not asked for here",
               OPAY_LOG_INFO,
               "event " + std::string(event_) +
                   " but opay_shipping_uri is not set");
        return;
    }
    if (auto why = read_payer_choice(request_->doc(), echo_)) return invalid(*why);
    if (!check_text("details.id", echo_.details_id)) return;
    Fetches fetches;
    fetches.push_back(Fetch{OPAY_TARGET_INVOICE, false, {}, {}, {}, {}});
    // Our own refusal echoed (shippingAddress null): nothing to price.
    if (echo_.shipping_address != nullptr) {
        fetches.push_back(Fetch{OPAY_TARGET_SHIPPING, true,
                                shipping_request(echo_.details_id,
                                                 *product_context_,
                                                 *echo_.shipping_address),
                                "application/json", {}, {}});
    }
    ask(std::move(fetches), Stage::kShipping);
}

void PaymentRequestFlow::on_fetched(const Results& results) {
    switch (stage_) {
    case Stage::kLoadInvoice:
        on_invoice(results[0]);
        break;
    case Stage::kShipping:
        on_shipping(results[0], results.size() > 1 ? &results[1] : nullptr);
        break;
    }
}

// This flow asks for no action, so there is never one to resolve.
void PaymentRequestFlow::on_resolved(int, std::string_view) {}

bool PaymentRequestFlow::answer_not_due(const Invoice& invoice) {
    if (payment_due(invoice.payment_status)) return false;
    std::string name = "invoice \"" + log_value(invoice.identifier) + "\"";
    Answer answer = not_due_answer(config_, echo_.event, *product_context_,
                                   invoice);
    if (!answer.error.empty()) {
        respond_answer(std::move(answer),
                       "invoice backend gave an invalid invoice", invoice,
                       false);
        return true;
    }
    finish(Response{200, std::move(answer.body), false, OPAY_LOG_INFO,
                    name + " is " + log_value(invoice.payment_status) +
                        ": answered with nothing due"},
           false);
    return true;
}

// The log's text is made only for a refusal.
void PaymentRequestFlow::respond_answer(Answer answer,
                                        std::string_view message,
                                        const Invoice& invoice,
                                        bool shipping_backend) {
    if (answer.error.empty()) return respond(200, std::move(answer.body));
    std::string name = "invoice \"" + log_value(invoice.identifier) + "\"";
    refuse(502, OPAY_REFUSAL_BACKEND_ERROR, message, OPAY_LOG_ERROR,
           (shipping_backend ? "shipping backend for " + name + ": "
                             : name + ": answer would break a W3C rule: ") +
               answer.error);
}

void PaymentRequestFlow::on_invoice(const Result& r) {
    auto invoice = read_invoice(r);
    if (!invoice || answer_not_due(*invoice)) return;
    respond_answer(loadentity_answer(config_, *product_context_, *invoice),
                   "invoice backend gave an invalid invoice", *invoice,
                   false);
}

void PaymentRequestFlow::on_shipping(const Result& invoice_result,
                                     const Result* options) {
    auto invoice = read_invoice(invoice_result);
    if (!invoice) return;
    std::string name = "invoice \"" + log_value(invoice->identifier) + "\"";
    if (invoice->identifier != echo_.details_id) {
        refuse(400, OPAY_REFUSAL_INVALID_PAYLOAD,
               "details.id does not match the invoice",
               OPAY_LOG_INFO, "invalid payload: details.id \"" +
                                  log_value(echo_.details_id) + "\" but " +
                                  name);
        return;
    }
    if (answer_not_due(*invoice)) return;
    if (invoice->request_shipping == false) {
        refuse(400, OPAY_REFUSAL_UNSUPPORTED_EVENT,
               "this invoice is not shipped",
               OPAY_LOG_INFO, name + " does not ask for shipping");
        return;
    }
    ShippingOptions offered;
    if (options != nullptr) {
        if (refuse_backend_failure(OPAY_TARGET_SHIPPING, *options)) return;
        auto parsed =
            parse_shipping_options(options->body, invoice->total.currency);
        if (auto* e = std::get_if<std::string>(&parsed)) {
            refuse(502, OPAY_REFUSAL_BACKEND_ERROR,
                   "shipping backend gave invalid options", OPAY_LOG_ERROR,
                   "shipping backend for " + name + ": " + *e);
            return;
        }
        offered = std::move(std::get<ShippingOptions>(parsed));
    }
    respond_answer(
        shipping_answer(config_, request_->doc(), echo_, *invoice, offered),
        "shipping backend gave invalid options", *invoice, true);
}

}  // namespace opay
