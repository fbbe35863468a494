// The PaymentComplete flow at Stripe: the invoice's one PaymentIntent as
// the arbiter of exactly-once. Create (or find again) it with a
// placeholder amount, make the payment token a PaymentMethod, set this
// payer's amount and card on it in one update, journal the attempt,
// confirm what is set, read it back whenever an answer does not say what
// happened, and decide from the state it shows.
#include "payment_complete_flow.h"

#include <openssl/rand.h>

#include "ascii.h"
#include "payment_complete_flow_parts.h"

namespace opay {

using namespace complete_flow;

namespace complete_flow {

std::string random_hex(int (*random_bytes)(unsigned char*, int), int bytes) {
    unsigned char rnd[16];
    if (bytes > 16 || random_bytes(rnd, bytes) != 1) return {};
    std::string out;
    append_hex(out, rnd, static_cast<std::size_t>(bytes));
    return out;
}

}  // namespace complete_flow

// Creating charges nothing: the same key finds the same PaymentIntent on
// every node, whatever a payer chose and whatever the invoice backend
// says today (Stripe replays the first answer, as it was then).
void PaymentCompleteFlow::create() {
    if (generation_ >= kMaxGenerations) {
        if (paid_check_) {
            refuse_payment(kNotDueMessage, OPAY_LOG_INFO,
                           paid_invoice() + " and its PaymentIntent keys are "
                                            "used up: not charging");
            return;
        }
        refuse_payment(kProcessingMessage, OPAY_LOG_ERROR,
                       rid() + " not charged: the invoice's " +
                           std::to_string(kMaxGenerations) +
                           " PaymentIntent keys are used up (last: " +
                           last_log_ + ")");
        return;
    }
    placeholder_ = placeholder_amount(due_);
    intent_key_ = intent_key(config_.sha256.get(), config_.token.audience,
                             invoice_->identifier, placeholder_.currency,
                             generation_);
    // the identifier is the requestId: within Stripe's limits as it is
    static_assert(kMaxRequestId <= kStripeMetadataValueMax &&
                      kMaxRequestId + 8 <= kStripeDescriptionMax,
                  "an invoice id must fit Stripe's metadata and description");
    IntentRequest r{placeholder_,
                    "Invoice " + std::string(invoice_->identifier),
                    std::string(invoice_->identifier)};
    post_processor(create_form(r), intent_key_, std::string(kIntentsPath),
                   Stage::kCreate);
}

void PaymentCompleteFlow::on_create(const Result& r) {
    using Kind = StripeAnswer::Kind;
    StripeAnswer a = read_stripe_answer(r.status, r.body, r.replayed);
    last_log_ = a.log;
    if (a.kind == Kind::kIntent) {
        intent_id_ = a.id;
        if (a.replayed) {
            // the intent as it was created: what it is now decides
            read_back();
            return;
        }
        created_ = true;
        on_intent(a);
        return;
    }
    if (a.kind == Kind::kBusy) {
        in_progress(OPAY_LOG_INFO, "processor: the PaymentIntent of " + rid() +
                                       " is being created elsewhere (" +
                                       a.log + ")");
        return;
    }
    if (a.kind == Kind::kUnknown) {
        if (a.replayed && r.status >= 500) {
            // Stripe keeps this 5xx for the key: no node can ever learn
            // an intent through it
            next_generation("its create's key replays " + a.log);
            return;
        }
        if (!create_again_) {
            // a fresh 5xx, a timeout or the edge's 503 proves nothing (it
            // may hide a stored 200): the same key again first
            create_again_ = true;
            create_unanswered_ = true;
            create();
            return;
        }
        // nothing of ours was confirmed: the processor's failure, and the
        // next delivery asks again
        processor_failed(r.status, "PaymentIntent", a.log);
        return;
    }
    if (a.kind == Kind::kRefused &&
        (a.code == "amount_too_large" || a.code == "amount_too_small")) {
        // the placeholder is over this account's maximum (its settlement
        // currency's): final, never "try again later", and never another
        // amount (another key: a second PaymentIntent, a second charge)
        no_placeholder("Stripe refused placeholder " +
                       std::to_string(placeholder_.amount) + " (" + a.log +
                       ")");
        return;
    }
    if (paid_check_) {
        refuse_payment(kNotDueMessage, OPAY_LOG_INFO,
                       paid_invoice() +
                           " and Stripe refused to find its PaymentIntent (" +
                           a.log + "): not charging");
        return;
    }
    // Stripe refused the create: no id, nothing can be charged
    refuse_payment(kProcessingMessage, OPAY_LOG_ERROR,
                   rid() + " not charged: no PaymentIntent (" + a.log + ")");
}

void PaymentCompleteFlow::processor_failed(int status, const char* what,
                                           const std::string& log) {
    refuse(status == 504 ? 504 : 502,
           status == 504 ? OPAY_REFUSAL_BACKEND_TIMEOUT
                         : OPAY_REFUSAL_BACKEND_ERROR,
           "the processor failed", OPAY_LOG_ERROR,
           std::string("processor: no ") + what + " for " + rid() + " (" +
               log + "), nothing confirmed");
}

void PaymentCompleteFlow::next_generation(const std::string& why) {
    ++generation_;
    create_again_ = create_unanswered_ = created_ = false;
    last_log_ = "PaymentIntent " + std::to_string(generation_ - 1) + " " + why;
    create();
}

// Whenever an answer does not say what happened, the PaymentIntent does.
void PaymentCompleteFlow::read_back() {
    ask(Fetch{OPAY_TARGET_PROCESSOR, false, {}, {}, {},
              intent_path(intent_id_)},
        Stage::kReadBack);
}

void PaymentCompleteFlow::on_read_back(const Result& r) {
    StripeAnswer a = read_stripe_answer(r.status, r.body, r.replayed);
    if (a.kind != StripeAnswer::Kind::kIntent || a.id != intent_id_) {
        undecided("its PaymentIntent unreadable (" + last_log_ +
                  "; read back: " + a.log + ")");
        return;
    }
    last_log_ += "; read back: " + a.log;
    on_intent(a);
}

void PaymentCompleteFlow::no_placeholder(const std::string& why) {
    if (paid_check_) {
        refuse_payment(kNotDueMessage, OPAY_LOG_INFO,
                       paid_invoice() + " and its PaymentIntent cannot be "
                                        "made: " + why + ": not charging");
        return;
    }
    refuse_payment(kNoPlaceholderMessage, OPAY_LOG_ERROR,
                   rid() + " not charged: the invoice's PaymentIntent cannot "
                           "be made: " + why);
}

bool PaymentCompleteFlow::made_here(const StripeAnswer& a) const {
    return created_ ||
           (create_unanswered_ && a.status == "requires_payment_method" &&
            a.amount == placeholder_.amount && a.payment_method.empty() &&
            a.declined_payment_method.empty());
}

bool PaymentCompleteFlow::ours(const StripeAnswer& a) const {
    return !payment_method_.empty() && a.payment_method == payment_method_ &&
           a.amount == amount_.amount && a.currency == amount_.currency;
}

void PaymentCompleteFlow::on_intent(const StripeAnswer& a) {
    const std::string& status = a.status;
    if (status == "canceled") {
        passed_canceled_ = true;
        next_generation("is canceled");
        return;
    }
    if (status == "succeeded") {
        on_succeeded(a);
        return;
    }
    if (status == "processing" || a.currency != placeholder_.currency) {
        // being charged now, or not what we asked for: never guess
        undecided("outcome unknown: " + last_log_);
        return;
    }
    if (paid_check_) {
        if (made_here(a) && !passed_canceled_ && !cancel_refused_) {
            // made only for this lookup: nothing lingers at Stripe. Only
            // the first generation's: one made past a canceled one stays
            // open for the next payer, so that lookups (any number, of an
            // invoice not due yet) never use up the generations
            cancel();
            return;
        }
        refuse_payment(kNotDueMessage, OPAY_LOG_INFO,
                       paid_invoice() +
                           " and its PaymentIntent was not paid (" +
                           last_log_ + "): not charging");
        return;
    }
    if (confirms_ > 0 && !payment_method_.empty() &&
        a.declined_payment_method == payment_method_ &&
        (status == "requires_payment_method" ||
         (status == "requires_confirmation" && !ours(a)))) {
        // a decline is ours only if it names our payment method (another
        // payer's update may have set their pair since)
        conclude({OPAY_CHARGE_DECLINED, Answer::kFail, inner_error_code(a.code),
                  a.message.empty() ? "Your card was declined." : a.message,
                  "declined: " + last_log_});
        return;
    }
    if (status == "requires_action" && ours(a) && confirms_ > 0) {
        conclude({OPAY_CHARGE_REQUIRES_ACTION, Answer::kFail, "card_declined",
                  kActionMessage,
                  "declined, the card asks for authentication: " + last_log_});
        return;
    }
    if (status == "requires_confirmation" && ours(a) && updates_ > 0) {
        // our pair is set and not charged: confirm it (again: the last
        // confirm met a lock, or did not run)
        if (confirms_ < 3) {
            attempt();
            return;
        }
        if (!may_run_) {
            // Stripe answered every confirm and none charged: the next
            // delivery tries again
            conclude({OPAY_CHARGE_REJECTED, Answer::kFail, "processing_error",
                      kProcessingMessage,
                      "not charged, the PaymentIntent still waits: " +
                          last_log_});
            return;
        }
        undecided("still not confirmed: " + last_log_);
        return;
    }
    if (status != "requires_payment_method" &&
        status != "requires_confirmation" && status != "requires_action") {
        undecided("outcome unknown: " + last_log_);
        return;
    }
    // open: set this payer's pair (again, if another payer's replaced it)
    if (updates_ < 2) {
        pay();
        return;
    }
    undecided("another payer holds the PaymentIntent: " + last_log_);
}

// Who was charged is the succeeded intent's (payment method, amount), not
// who confirmed it. The payer at the amount that was paid gets that
// success; any other amount, "already paid". A charge of another payer's
// pair is still journalled and notified as their success: they may never
// come back.
void PaymentCompleteFlow::on_succeeded(const StripeAnswer& a) {
    auto charged = from_stripe_amount(a.amount, invoice_->total.currency);
    if (!charged || a.currency != placeholder_.currency) {
        undecided("succeeded at an amount not in the invoice's currency: " +
                  last_log_);
        return;
    }
    bool same_amount =
        a.amount == amount_.amount && a.currency == amount_.currency;
    if (same_amount && payment_method_.empty() && !identifying_) {
        // at the paid amount, before paying: the PaymentMethod this
        // payer's token makes (keyed by the token, it replays as the same
        // one if this token paid) tells whether the charge is this
        // payer's own (a retry whose first answer was lost)
        identifying_ = true;
        paid_ = a;
        pay();
        return;
    }
    outcome_.amount = *charged;
    outcome_.payment_method = a.payment_method;
    outcome_.shipping_option = a.shipping_option;
    // this payer's pair (its payment method is its single-use token's:
    // this payment, perhaps charged by an earlier delivery of it) is
    // succeeded; a delivery at the paid amount whose token's payment
    // method is not the one charged (a lookup, or a charge found before
    // paying) cannot tell whose charge it is: already_paid, a record that
    // names no payer
    opay_charge_e kind = ours(a)       ? OPAY_CHARGE_SUCCEEDED
                         : same_amount && identifying_
                             ? OPAY_CHARGE_ALREADY_PAID
                             : OPAY_CHARGE_OTHER_PAYER;
    std::string log = (kind == OPAY_CHARGE_SUCCEEDED ? "charged: "
                                                     : "paid before: ") +
                      last_log_;
    if (same_amount) {
        conclude({kind, Answer::kSuccess, {}, {}, std::move(log)});
        return;
    }
    conclude({kind, Answer::kFail, "processing_error", kPaidMessage,
              std::move(log) + ", at another amount than " +
                  stored_amount()});
}

void PaymentCompleteFlow::pay() {
    if (!payment_method_.empty()) {
        update();
        return;
    }
    const std::string& token = payment_token_.processor_token;
    post_processor(payment_method_form(token),
                   payment_method_key(config_.sha256.get(), token),
                   std::string(kPaymentMethodsPath), Stage::kPaymentMethod);
}

void PaymentCompleteFlow::on_payment_method(const Result& r) {
    using Kind = StripeAnswer::Kind;
    StripeAnswer a = read_stripe_answer(r.status, r.body, r.replayed);
    if (paid_) {
        // only to tell whose the charge is: without an answer, nobody's
        if (a.kind == Kind::kPaymentMethod) payment_method_ = a.id;
        StripeAnswer paid = std::move(*paid_);
        paid_.reset();
        on_succeeded(paid);
        return;
    }
    switch (a.kind) {
    case Kind::kPaymentMethod:
        payment_method_ = a.id;
        update();
        return;
    case Kind::kCardError:
        conclude({OPAY_CHARGE_DECLINED, Answer::kFail, inner_error_code(a.code),
                  a.message, "declined: payment method: " + a.log});
        return;
    case Kind::kBusy:
        in_progress(OPAY_LOG_INFO, "processor: the payment method of " +
                                       rid() + " is being made (" + a.log +
                                       ")");
        return;
    case Kind::kUnknown:
        // nothing of this payer's is on the intent: the processor's failure
        processor_failed(r.status, "payment method", a.log);
        return;
    default:
        refuse_payment("This card cannot be used. Please use another card.",
                       OPAY_LOG_INFO,
                       rid() + " not charged: Stripe refused the payment "
                               "token (" + a.log + ")");
        return;
    }
}

// Amount and card together, in one request: a confirm can then only ever
// charge one payer's own pair.
void PaymentCompleteFlow::update() {
    nonce_ = random_hex(config_.random_bytes, 8);
    if (nonce_.empty()) {
        no_random_bytes("the attempt's key");
        return;
    }
    ++updates_;
    IntentUpdate u{amount_.amount, payment_method_,
                   shipping_option_, nonce_};
    post_processor(update_form(u),
                   attempt_key(config_.sha256.get(), "update", intent_id_,
                               nonce_),
                   intent_path(intent_id_), Stage::kUpdate);
}

void PaymentCompleteFlow::on_update(const Result& r) {
    using Kind = StripeAnswer::Kind;
    StripeAnswer a = read_stripe_answer(r.status, r.body, r.replayed);
    last_log_ = "update: " + a.log;
    if (a.kind == Kind::kIntent && a.id == intent_id_) {
        on_intent(a);
        return;
    }
    if (a.kind == Kind::kRefused &&
        (a.code == "amount_too_small" || a.code == "amount_too_large")) {
        // Stripe's minimum depends on the merchant's settlement currency:
        // its word is final, never "try again later"
        conclude({OPAY_CHARGE_REJECTED, Answer::kFail, "processing_error",
                  a.code == "amount_too_small" ? kTooSmallMessage
                                               : kTooLargeMessage,
                  "not charged: " + a.log});
        return;
    }
    if (a.kind == Kind::kRefused && confirms_ == 0) {
        refuse_payment(kProcessingMessage, OPAY_LOG_ERROR,
                       rid() + " not charged: Stripe refused the update (" +
                           a.log + ")");
        return;
    }
    // processing, succeeded or canceled; a confirm's lock; no answer: the
    // intent says what it is now
    read_back();
}

void PaymentCompleteFlow::attempt() {
    if (config_.journal) {
        act({OPAY_STEP_JOURNAL, {},
             journal_attempt(request_id_, invoice_->identifier, due_,
                             intent_key_, intent_id_, confirms_ + 1, now_),
             false},
            Stage::kJournalAttempt);
        return;
    }
    confirm();
}

void PaymentCompleteFlow::confirm() {
    std::string nonce = random_hex(config_.random_bytes, 8);
    if (nonce.empty()) {
        no_random_bytes("the confirmation's key");
        return;
    }
    post_processor(confirm_form(),
                   attempt_key(config_.sha256.get(), "confirm", intent_id_,
                               nonce),
                   confirm_path(intent_id_), Stage::kConfirm);
    // counted once asked (nothing allocates after): an allocation failure
    // before it is no confirm (may_have_charged)
    ++confirms_;
}

void PaymentCompleteFlow::on_confirm(const Result& r) {
    using Kind = StripeAnswer::Kind;
    StripeAnswer a = read_stripe_answer(r.status, r.body, r.replayed);
    last_log_ = "confirm: " + a.log;
    // sticky: one confirm that got no answer may still charge
    may_run_ = may_run_ || (a.kind == Kind::kUnknown && !a.answered);
    if (a.kind == Kind::kIntent && a.id == intent_id_) {
        on_intent(a);
        return;
    }
    if (a.kind == Kind::kCardError && !a.declined_payment_method.empty()) {
        if (a.declined_payment_method == payment_method_) {
            bool action = a.code == "authentication_required";
            conclude({action ? OPAY_CHARGE_REQUIRES_ACTION
                             : OPAY_CHARGE_DECLINED,
                      Answer::kFail,
                      inner_error_code(a.code),
                      action ? kActionMessage : a.message,
                      (action ? "declined, the card asks for "
                                "authentication: "
                              : "declined: ") +
                          a.log});
            return;
        }
        // another payer's card was declined: not this payer's decline;
        // set our pair once more
        if (updates_ < 2) {
            pay();
            return;
        }
        undecided("another payer's card was declined: " + last_log_);
        return;
    }
    // a lock, a state, a refusal or no answer: the read-back says which
    read_back();
}

// Not asked: nothing more is charged by this call. Before any confirm
// that is a 500 (nothing charged); after one (a confirm that went
// unanswered, another payer's pair met) the earlier confirm may have
// charged: undecided, never a 500 that says nothing was.
void PaymentCompleteFlow::no_random_bytes(std::string_view what) {
    std::string log = "no random bytes for " + std::string(what);
    if (may_have_charged()) {
        undecided(log + ", not confirming again");
        return;
    }
    refuse(500, OPAY_REFUSAL_INTERNAL_ERROR, "internal error", OPAY_LOG_ERROR,
           log + ": not charging");
}

void PaymentCompleteFlow::undecided(std::string log) {
    if (confirms_ > 0) {
        // may have charged: never a failure, never a success; a retry asks
        // Stripe again
        conclude({OPAY_CHARGE_UNKNOWN, Answer::kUnknown, {}, {},
                  std::move(log) + (may_run_ ? ", the confirmation may "
                                               "still run"
                                             : "")});
        return;
    }
    in_progress(paid_check_ ? OPAY_LOG_ERROR : OPAY_LOG_INFO,
                (paid_check_ ? paid_invoice() : rid()) + ": " + log);
}

}  // namespace opay
