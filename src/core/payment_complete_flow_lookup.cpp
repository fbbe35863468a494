// The PaymentComplete flow for an invoice that says it is not due: its
// PaymentIntent, looked up at this payer's amount, tells whether this
// payer is owed a success; one made only for the lookup is canceled.
#include "payment_complete_flow.h"

#include "ascii.h"
#include "payment_complete_flow_parts.h"

namespace opay {

using namespace complete_flow;

// The invoice's own word that it is paid is not the payer's answer: if it
// was paid through its PaymentIntent at this payer's amount (on another
// node, by an earlier delivery), the answer is that success. The intent is
// the invoice's, in the invoice's currency: never one at the payload's
// amount or currency.
void PaymentCompleteFlow::look_up_paid() {
    const Money& total = invoice_->total;
    auto units = stripe_amount(payload_.amount);
    auto* a = std::get_if<StripeAmount>(&units);
    if (!(payload_.amount.currency == total.currency) || a == nullptr ||
        a->amount > kStripeMaxAmount) {
        refuse_payment(kNotDueMessage, OPAY_LOG_INFO,
                       paid_invoice() + ": not charging");
        return;
    }
    paid_check_ = true;
    amount_ = std::move(*a);
    due_ = payload_.amount;  // in the invoice's currency
    create();
}

void PaymentCompleteFlow::cancel() {
    post_processor(cancel_form(),
                   attempt_key(config_.sha256.get(), "cancel", intent_id_, {}),
                   cancel_path(intent_id_), Stage::kCancel);
}

void PaymentCompleteFlow::on_cancel(const Result& r) {
    StripeAnswer a = read_stripe_answer(r.status, r.body, r.replayed);
    if (a.kind == StripeAnswer::Kind::kUnexpectedState) {
        // a payer elsewhere (whose backend still said due) may have
        // paid it first: what the intent is now answers
        cancel_refused_ = true;
        last_log_ = "cancel: " + a.log;
        read_back();
        return;
    }
    // whatever else it answered, nothing was paid through this call
    refuse_payment(kNotDueMessage, OPAY_LOG_INFO,
                   paid_invoice() + " and nothing was paid through its "
                   "PaymentIntent " + intent_id_ + " (canceled: " + a.log +
                   "): not charging");
}

std::string PaymentCompleteFlow::paid_invoice() const {
    return "invoice \"" + log_value(invoice_->identifier) + "\" is " +
           log_value(invoice_->payment_status);
}

}  // namespace opay
