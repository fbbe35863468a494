// The PaymentComplete webhook's state machine: the claim on the requestId,
// the checks before any charge (token format and mode, invoice due, amount
// with shipping, Stripe's units and limits), the stages' dispatch, and
// settling the claim before the answer goes out. The invoice's one
// PaymentIntent as the arbiter of exactly-once (create, payment method,
// update, confirm, read back) is in payment_complete_flow_charge.cpp; the
// lookup of an invoice that says it is paid in
// payment_complete_flow_lookup.cpp; the outcome's record, journal lines
// and notify call in payment_complete_flow_outcome.cpp.
#include "payment_complete_flow.h"

#include "ascii.h"
#include "outcome.h"
#include "payment_complete_flow_parts.h"
#include "shipping.h"

namespace opay {

using namespace complete_flow;

PaymentCompleteFlow::PaymentCompleteFlow(const Config& config, const Input& in)
    : Flow(config), now_(in.now) {
    if (admit(in)) start();
}

void PaymentCompleteFlow::ask(Fetches fetches, Stage next) {
    stage_ = next;
    Flow::ask(std::move(fetches));
}

void PaymentCompleteFlow::ask(Fetch fetch, Stage next) {
    stage_ = next;
    Flow::ask(std::move(fetch));
}

void PaymentCompleteFlow::post_processor(std::string form, std::string key,
                                         std::string path, Stage next) {
    ask(Fetch{OPAY_TARGET_PROCESSOR, true, std::move(form),
              "application/x-www-form-urlencoded", std::move(key),
              std::move(path)},
        next);
}

void PaymentCompleteFlow::act(Action a, Stage next) {
    stage_ = next;
    Flow::act(std::move(a));
}

// Settles the claim first: the reply stored for replay when final, the
// claim released otherwise.
void PaymentCompleteFlow::finish(Response r, bool store) {
    fetches_.clear();
    if (claimed_) {
        claimed_ = false;
        pending_ = std::move(r);
        // a stored success names the amount it is the answer for
        act({OPAY_STEP_SETTLE, claim_key_,
             store ? stored_amount() + "\n" + pending_->body : "", store},
            Stage::kSettle);
        return;
    }
    Flow::finish(std::move(r), store);
}

void PaymentCompleteFlow::on_fetched(const Results& results) {
    switch (stage_) {
    case Stage::kCompleteFetch:
        on_complete_fetch(results[0],
                          results.size() > 1 ? &results[1] : nullptr);
        break;
    case Stage::kCreate:
        on_create(results[0]);
        break;
    case Stage::kPaymentMethod:
        on_payment_method(results[0]);
        break;
    case Stage::kUpdate:
        on_update(results[0]);
        break;
    case Stage::kConfirm:
        on_confirm(results[0]);
        break;
    case Stage::kReadBack:
        on_read_back(results[0]);
        break;
    case Stage::kCancel:
        on_cancel(results[0]);
        break;
    case Stage::kNotify:
        on_notify(results[0]);
        break;
    default:
        break;
    }
}

void PaymentCompleteFlow::on_resolved(int result, std::string_view data) {
    switch (stage_) {
    case Stage::kClaim:
        on_claim(result, data);
        break;
    case Stage::kJournalAttempt:
        if (result != 0 && may_run_) {
            // an earlier confirm of this call may still charge
            undecided("journal write failed before confirming again: " +
                      last_log_);
        } else if (result != 0) {
            refuse(503, OPAY_REFUSAL_JOURNAL_UNAVAILABLE,
                   "the payment cannot be recorded now", OPAY_LOG_ERROR,
                   "journal write failed: not charging " + rid());
        } else {
            confirm();
        }
        break;
    case Stage::kJournalOutcome:
        journal_failed_ = result != 0;
        after_outcome_journal();
        break;
    case Stage::kJournalNotify:
        journal_failed_ = journal_failed_ || result != 0;
        finish_payment();
        break;
    case Stage::kSettle:
        response_ = std::move(pending_);
        pending_.reset();
        break;
    default:
        break;
    }
}

void PaymentCompleteFlow::start() {
    event_ = "paymentcomplete";
    auto parsed = read_complete_payload(request_->doc());
    if (auto* e = std::get_if<std::string>(&parsed)) {
        invalid(*e);
        return;
    }
    payload_ = std::move(std::get<CompletePayload>(parsed));
    request_id_ = payload_.request_id;
    echo_request_id_ = true;
    product_context_ = payload_.product_context;
    if (!check_text("requestId", request_id_) || !check_product_context()) {
        return;
    }
    auto token = parse_payment_token(payload_.payment_token);
    if (auto* e = std::get_if<std::string>(&token)) {
        refuse(400, OPAY_REFUSAL_INVALID_PAYLOAD,
               "details.paymentToken is malformed",
               OPAY_LOG_INFO, "invalid payload: " + *e);
        return;
    }
    payment_token_ = std::move(std::get<PaymentToken>(token));
    if (!config_.processor) {
        refuse(500, OPAY_REFUSAL_INTERNAL_ERROR,
               "internal error", OPAY_LOG_ERROR,
               "no processor configured");
        return;
    }
    if (!iequals(payment_token_.format, "Stripe")) {
        refuse_payment("This payment method is not accepted.", OPAY_LOG_INFO,
                       "payment token Format \"" +
                           log_value(payment_token_.format, 32) +
                           "\" is not the configured processor (Stripe), " +
                           rid() + ": not charging");
        return;
    }
    if (payment_token_.test_mode != config_.test_mode) {
        refuse_payment(
            "This payment method is not accepted.", OPAY_LOG_INFO,
            std::string(payment_token_.test_mode
                            ? "test payment token refused in live mode"
                            : "live payment token refused in test mode") +
                ", " + rid() + ": not charging");
        return;
    }
    // the location's identity: another mode or another Stripe account of
    // the same merchant never answers for this one
    claim_key_ = config_.token.audience + "\n" +
                 (config_.test_mode ? "test" : "live") + "\n" +
                 config_.processor_prefix + "\n" + request_id_;
    act({OPAY_STEP_CLAIM, claim_key_, {}, false}, Stage::kClaim);
}

void PaymentCompleteFlow::on_claim(int result, std::string_view stored) {
    if (result == OPAY_CLAIM_DONE) {
        // "<amount> <currency>\n" and the success reply: the same
        // success only for the amount that was paid
        std::size_t nl = stored.find('\n');
        std::string_view paid = stored.substr(0, nl);
        if (nl == std::string_view::npos || paid != stored_amount()) {
            refuse_payment(kPaidMessage, OPAY_LOG_INFO,
                           rid() + " was paid at " + log_value(paid, 64) +
                               ", not " + stored_amount() +
                               ": not charging");
            return;
        }
        std::string_view reply = stored.substr(nl + 1);
        // only a success is stored (settle's store, finish_payment)
        result_ = OPAY_RESULT_SUCCESS;
        finish(Response{200, std::string(reply), false, OPAY_LOG_INFO,
                        "replayed the stored outcome of " + rid()},
               false);
        return;
    }
    if (result == OPAY_CLAIM_BUSY) {
        in_progress(OPAY_LOG_INFO, rid() + " is already in flight");
        return;
    }
    if (result != OPAY_CLAIM_NEW) {
        refuse(503, OPAY_REFUSAL_STATE_UNAVAILABLE,
               "the payment cannot be recorded now",
               OPAY_LOG_ERROR, "opay zone is full: not charging " + rid());
        return;
    }
    claimed_ = true;
    Fetches fetches;
    fetches.push_back(Fetch{OPAY_TARGET_INVOICE, false, {}, {}, {}, {}});
    if (payload_.shipping_option && !config_.shipping) {
        refuse(400, OPAY_REFUSAL_INVALID_PAYLOAD,
               "shippingOption given, but shipping is not asked for here",
               OPAY_LOG_INFO, "invalid payload: shippingOption without "
                              "opay_shipping_uri");
        return;
    }
    if (payload_.shipping_option && payload_.shipping_address) {
        fetches.push_back(Fetch{
            OPAY_TARGET_SHIPPING, true,
            shipping_request(request_id_, *product_context_,
                             *payload_.shipping_address),
            "application/json", {}, {}});
    }
    ask(std::move(fetches), Stage::kCompleteFetch);
}

void PaymentCompleteFlow::on_complete_fetch(const Result& invoice_result,
                                            const Result* options) {
    if (invoice_result.status == 404) {
        refuse_payment("This invoice could not be found.", OPAY_LOG_INFO,
                       "invoice backend: no such invoice for " + rid() +
                           ": not charging");
        return;
    }
    auto invoice = read_invoice(invoice_result);
    if (!invoice) return;
    std::string name = "invoice \"" + log_value(invoice->identifier) + "\"";
    request_id_ = payload_.request_id;  // read_invoice set the identifier
    if (invoice->identifier != payload_.request_id) {
        refuse_payment("This payment does not match the invoice.",
                       OPAY_LOG_INFO, rid() + " but the backend answered " +
                                          name + ": not charging");
        return;
    }
    if (!payment_due(invoice->payment_status)) {
        invoice_ = std::move(invoice);
        look_up_paid();
        return;
    }
    bool ships = config_.shipping && invoice->request_shipping.value_or(true);
    if (ships && options != nullptr &&
        refuse_backend_failure(OPAY_TARGET_SHIPPING, *options)) {
        return;
    }
    ShippingDue shipping =
        shipping_due(invoice->total, ships, payload_.shipping_option,
                     options ? &options->body : nullptr);
    if (shipping.verdict == ShippingDue::Verdict::kRefused) {
        refuse_payment(shipping.for_payer, OPAY_LOG_INFO,
                       shipping.log + " for " + name + ": not charging");
        return;
    }
    if (shipping.verdict == ShippingDue::Verdict::kBackendInvalid) {
        refuse(502, OPAY_REFUSAL_BACKEND_ERROR,
               "shipping backend gave invalid options",
               OPAY_LOG_ERROR, "shipping backend for " + name + ": " +
                                   shipping.log);
        return;
    }
    Money due = shipping.due;
    auto mismatch = [&](const Money& m) {
        return m.currency != due.currency || m.minor != due.minor;
    };
    if (mismatch(payload_.amount)) {
        refuse_payment("The amount does not match the invoice.", OPAY_LOG_INFO,
                       "details.amount " + format_value(payload_.amount) + " " +
                           std::string(payload_.amount.currency.view()) +
                           " differs from the amount due " + format_value(due) +
                           " " + std::string(due.currency.view()) + " for " +
                           name + ": not charging");
        return;
    }
    if (payment_token_.amount && mismatch(*payment_token_.amount)) {
        refuse_payment("The amount does not match the invoice.", OPAY_LOG_INFO,
                       "payment token Amount " +
                           format_value(*payment_token_.amount) + " " +
                           std::string(payment_token_.amount->currency.view()) +
                           " differs from the amount due for " + name +
                           ": not charging");
        return;
    }
    auto units = stripe_amount(due);
    auto* charged = std::get_if<StripeAmount>(&units);
    if (charged != nullptr && charged->amount > kStripeMaxAmount) {
        refuse_payment(kTooLargeMessage, OPAY_LOG_INFO,
                       format_value(due) + " " +
                           std::string(due.currency.view()) + " for " + name +
                           " is over Stripe's eight digits: not charging");
        return;
    }
    if (auto* why = std::get_if<std::string>(&units)) {
        refuse_payment("This amount cannot be charged in " +
                           std::string(due.currency.view()) + ".",
                       OPAY_LOG_INFO,
                       format_value(due) + " " +
                           std::string(due.currency.view()) + " for " + name +
                           ": " + *why + ": not charging");
        return;
    }
    amount_ = std::move(*charged);
    // the option priced in (one the backend offered), for the intent's
    // metadata; a payer's text for an unshipped invoice goes nowhere
    if (ships && payload_.shipping_option &&
        payload_.shipping_option->size() <= kStripeMetadataValueMax) {
        shipping_option_ = *payload_.shipping_option;
    }
    invoice_ = std::move(invoice);
    due_ = due;
    create();
}

void PaymentCompleteFlow::in_progress(opay_log_e log,
                                      std::string log_message) {
    refuse(409, OPAY_REFUSAL_PAYMENT_IN_PROGRESS, kInProgressMessage, log,
           std::move(log_message));
}

std::string PaymentCompleteFlow::rid() const {
    return "requestId \"" + log_value(request_id_) + "\"";
}

std::string PaymentCompleteFlow::stored_amount() const {
    return format_value(payload_.amount) + " " +
           std::string(payload_.amount.currency.view());
}

void PaymentCompleteFlow::refuse_payment(std::string_view message,
                                         opay_log_e log,
                                         std::string log_message) {
    result_ = OPAY_RESULT_FAIL;
    error_ = OPAY_REFUSAL_PAYMENT_REFUSED;
    finish(Response{200, fail_reply(request_id_, "processing_error", message),
                    false, log, std::move(log_message)},
           false);
}

}  // namespace opay
