// The PaymentComplete webhook's state machine: the claim on the requestId,
// the checks before any charge (token format and mode, invoice due, amount
// with shipping, Stripe's units and limits), the invoice's one
// PaymentIntent as the arbiter of exactly-once (create, payment method,
// update, confirm, read back), the journal lines around the confirmation,
// the notify call, and settling the claim before the answer goes out.
#include "payment_complete_flow.h"


#include <openssl/rand.h>

#include "ascii.h"
#include "shipping.h"

namespace opay {

namespace {

constexpr const char* kProcessingMessage =
    "We could not process your card right now. Please try again later.";
// A payment this node or another is charging now: retryable, never a
// failure.
constexpr const char* kInProgress = "payment_in_progress";
constexpr const char* kInProgressMessage = "this payment is being processed";
constexpr const char* kPaidMessage = "This invoice has already been paid.";
constexpr const char* kNotDueMessage = "This invoice is not due for payment.";
constexpr const char* kTooSmallMessage =
    "This amount is less than the smallest amount that can be charged "
    "by card.";
constexpr const char* kTooLargeMessage =
    "This amount is more than the largest amount that can be charged "
    "by card.";
constexpr const char* kNoPlaceholderMessage =
    "The card processor refuses to take payments for this invoice. "
    "Please contact the merchant.";
constexpr const char* kActionMessage =
    "Your bank asks for a verification step that cannot be completed "
    "here. Please use another card.";

// bytes random bytes in hex; empty if OpenSSL has none to give
std::string random_hex(int bytes) {
    unsigned char rnd[16];
    if (bytes > 16 || RAND_bytes(rnd, bytes) != 1) return {};
    std::string out;
    append_hex(out, rnd, static_cast<std::size_t>(bytes));
    return out;
}

}  // namespace

PaymentCompleteFlow::PaymentCompleteFlow(const Config& config, const Input& in)
    : Flow(config), now_(in.now) {
    if (admit(in)) start();
}

void PaymentCompleteFlow::ask(std::vector<Fetch> fetches, Stage next) {
    stage_ = next;
    Flow::ask(std::move(fetches));
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

void PaymentCompleteFlow::on_fetched(const std::vector<Result>& results) {
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
            refuse(503, "journal_unavailable",
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
        refuse(400, "invalid_payload", "details.paymentToken is malformed",
               OPAY_LOG_INFO, "invalid payload: " + *e);
        return;
    }
    payment_token_ = std::move(std::get<PaymentToken>(token));
    if (!config_.processor) {
        refuse(500, "internal_error", "internal error", OPAY_LOG_ERROR,
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
        json::Document d;
        if (!json::parse(reply, d)) {
            result_ = std::string(
                json::string_member(d, "result").value_or(""));
        }
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
        refuse(503, "state_unavailable", "the payment cannot be recorded now",
               OPAY_LOG_ERROR, "opay zone is full: not charging " + rid());
        return;
    }
    claimed_ = true;
    std::vector<Fetch> fetches{
        Fetch{OPAY_TARGET_INVOICE, false, {}, {}, {}, {}}};
    if (payload_.shipping_option && !config_.shipping) {
        refuse(400, "invalid_payload",
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
        refuse_backend_failure("shipping", *options)) {
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
        refuse(502, "backend_error", "shipping backend gave invalid options",
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
    intent_key_ = intent_key(config_.token.audience, invoice_->identifier,
                             placeholder_.currency, generation_);
    // the identifier is the requestId: within Stripe's limits as it is
    static_assert(kMaxRequestId <= kStripeMetadataValueMax &&
                      kMaxRequestId + 8 <= kStripeDescriptionMax,
                  "an invoice id must fit Stripe's metadata and description");
    IntentRequest r{placeholder_, "Invoice " + invoice_->identifier,
                    invoice_->identifier};
    ask({Fetch{OPAY_TARGET_PROCESSOR, true, create_form(r),
               "application/x-www-form-urlencoded", intent_key_,
               std::string(kIntentsPath)}},
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
        refuse(r.status == 504 ? 504 : 502,
               r.status == 504 ? "backend_timeout" : "backend_error",
               "the processor failed", OPAY_LOG_ERROR,
               "processor: no PaymentIntent for " + rid() + " (" + a.log +
                   "), nothing confirmed");
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

void PaymentCompleteFlow::next_generation(const std::string& why) {
    ++generation_;
    create_again_ = create_unanswered_ = created_ = false;
    last_log_ = "PaymentIntent " + std::to_string(generation_ - 1) + " " + why;
    create();
}

// Whenever an answer does not say what happened, the PaymentIntent does.
void PaymentCompleteFlow::read_back() {
    ask({Fetch{OPAY_TARGET_PROCESSOR, false, {}, {}, {},
               intent_path(intent_id_)}},
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
        conclude({"declined", Answer::kFail, inner_error_code(a.code),
                  a.message.empty() ? "Your card was declined." : a.message,
                  "declined: " + last_log_});
        return;
    }
    if (status == "requires_action" && ours(a) && confirms_ > 0) {
        conclude({"requires_action", Answer::kFail, "card_declined",
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
            conclude({"rejected", Answer::kFail, "processing_error",
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
    std::string kind = ours(a) ? "succeeded"
                       : same_amount && identifying_ ? "already_paid"
                                                     : "other_payer";
    std::string log = (kind == "succeeded" ? "charged: " : "paid before: ") +
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
    ask({Fetch{OPAY_TARGET_PROCESSOR, true, payment_method_form(token),
               "application/x-www-form-urlencoded", payment_method_key(token),
               std::string(kPaymentMethodsPath)}},
        Stage::kPaymentMethod);
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
        conclude({"declined", Answer::kFail, inner_error_code(a.code),
                  a.message, "declined: payment method: " + a.log});
        return;
    case Kind::kBusy:
        in_progress(OPAY_LOG_INFO, "processor: the payment method of " +
                                       rid() + " is being made (" + a.log +
                                       ")");
        return;
    case Kind::kUnknown:
        // nothing of this payer's is on the intent: the processor's failure
        refuse(r.status == 504 ? 504 : 502,
               r.status == 504 ? "backend_timeout" : "backend_error",
               "the processor failed", OPAY_LOG_ERROR,
               "processor: no payment method for " + rid() + " (" + a.log +
                   "), nothing confirmed");
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
    nonce_ = random_hex(8);
    if (nonce_.empty()) {
        refuse(500, "internal_error", "internal error", OPAY_LOG_ERROR,
               "no random bytes for the attempt's key: not charging");
        return;
    }
    ++updates_;
    IntentUpdate u{amount_.amount, payment_method_,
                   shipping_option_, nonce_};
    ask({Fetch{OPAY_TARGET_PROCESSOR, true, update_form(u),
               "application/x-www-form-urlencoded",
               attempt_key("update", intent_id_, nonce_),
               intent_path(intent_id_)}},
        Stage::kUpdate);
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
        conclude({"rejected", Answer::kFail, "processing_error",
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
    std::string nonce = random_hex(8);
    if (nonce.empty()) {
        refuse(500, "internal_error", "internal error", OPAY_LOG_ERROR,
               "no random bytes for the confirmation's key: not charging");
        return;
    }
    ++confirms_;
    ask({Fetch{OPAY_TARGET_PROCESSOR, true, confirm_form(),
               "application/x-www-form-urlencoded",
               attempt_key("confirm", intent_id_, nonce),
               confirm_path(intent_id_)}},
        Stage::kConfirm);
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
            conclude({action ? "requires_action" : "declined", Answer::kFail,
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

void PaymentCompleteFlow::cancel() {
    ask({Fetch{OPAY_TARGET_PROCESSOR, true, cancel_form(),
               "application/x-www-form-urlencoded",
               attempt_key("cancel", intent_id_, {}),
               cancel_path(intent_id_)}},
        Stage::kCancel);
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

void PaymentCompleteFlow::undecided(std::string log) {
    if (confirms_ > 0) {
        // may have charged: never a failure, never a success; a retry asks
        // Stripe again
        conclude({"unknown", Answer::kUnknown, {}, {},
                  std::move(log) + (may_run_ ? ", the confirmation may "
                                               "still run"
                                             : "")});
        return;
    }
    in_progress(paid_check_ ? OPAY_LOG_ERROR : OPAY_LOG_INFO,
                (paid_check_ ? paid_invoice() : rid()) + ": " + log);
}

void PaymentCompleteFlow::conclude(Verdict v) {
    // the entry only names the outcome for its notify lines: without
    // random bytes, the confirmation count keeps it apart
    std::string nonce = random_hex(6);
    if (nonce.empty()) nonce = "n" + std::to_string(confirms_);
    outcome_.entry = request_id_ + "/" + std::to_string(now_) + "/" + nonce;
    outcome_.kind = v.kind;
    outcome_.payment_intent = intent_id_;
    outcome_log_ = std::move(v.log);
    charge_kind_ = v.kind;
    charge_code_ = v.inner_code;
    // the record tells what happened to the invoice (a charge, whoever's
    // pair it was); the reply, what it means for this payer
    bool charged = v.kind == "succeeded" || v.kind == "already_paid" ||
                   v.kind == "other_payer";
    if (charged) {
        outcome_.result = "success";
        outcome_.confirmation = intent_id_;
    } else if (v.answer == Answer::kUnknown) {
        outcome_.result = "unknown";
    } else {
        outcome_.result = "fail";
        outcome_.error_code = v.inner_code;
    }
    if (v.answer == Answer::kSuccess) {
        result_ = "success";
        reply_status_ = 200;
        reply_ = success_reply(request_id_, config_.success_message, *invoice_,
                               intent_id_);
    } else if (v.answer == Answer::kUnknown) {
        // may have charged: never a failure, never a success; a retry asks
        // Stripe again
        error_ = kInProgress;  // $opay_result stays unset
        reply_status_ = 409;
        reply_ = error_body(kInProgress, kInProgressMessage, request_id_);
    } else {
        result_ = "fail";
        reply_status_ = 200;
        reply_ = fail_reply(request_id_, v.inner_code, v.message);
    }
    // A success is final for the invoice, replayed for this amount only; a
    // decline is not: the payer's next card pays the same PaymentIntent.
    store_reply_ = v.answer == Answer::kSuccess;
    notify_body_ = notify_record(payload_, invoice_->identifier, due_,
                                 outcome_, sub_, config_.test_mode);
    if (config_.journal) {
        act({OPAY_STEP_JOURNAL, {},
             journal_outcome(outcome_, request_id_, notify_body_, now_),
             false},
            Stage::kJournalOutcome);
        return;
    }
    after_outcome_journal();
}

void PaymentCompleteFlow::after_outcome_journal() {
    if (config_.notify) {
        ask({Fetch{OPAY_TARGET_NOTIFY, true, notify_body_, "application/json",
                   {}, {}}},
            Stage::kNotify);
        return;
    }
    finish_payment();
}

void PaymentCompleteFlow::on_notify(const Result& r) {
    notify_status_ = r.status;
    if (!config_.journal) return finish_payment();
    act({OPAY_STEP_JOURNAL, {},
         journal_notify(outcome_.entry, request_id_,
                        notify_status_ >= 200 && notify_status_ < 300,
                        notify_status_, now_),
         false},
        Stage::kJournalNotify);
}

void PaymentCompleteFlow::finish_payment() {
    std::string log = rid() + " " + outcome_log_;
    bool fine = outcome_.result == "success" ||
                outcome_.kind == "declined" ||
                outcome_.kind == "requires_action";
    opay_log_e level = fine ? OPAY_LOG_INFO : OPAY_LOG_ERROR;
    if (config_.notify && (notify_status_ < 200 || notify_status_ >= 300)) {
        level = OPAY_LOG_ERROR;
        log += "; notify backend " +
               (notify_status_ == 0 ? std::string("failed")
                                    : "answered " +
                                          std::to_string(notify_status_)) +
               ", record kept in the journal for opay journal replay";
    }
    if (journal_failed_) {
        level = OPAY_LOG_ERROR;
        // the record itself (payer's name, e-mail, phone, address) is for
        // the journal and the notify backend only, never the error log
        const Money& m =
            outcome_.result == "success" ? outcome_.amount : due_;
        log += "; journal write failed, outcome entry \"" +
               log_value(outcome_.entry, 128) + "\" (" + outcome_.kind +
               ", " + intent_id_ + ", " + format_value(m) + " " +
               std::string(m.currency.view()) + ")";
    }
    finish(Response{reply_status_, reply_, false, level, std::move(log)},
           store_reply_);
}

void PaymentCompleteFlow::in_progress(opay_log_e log,
                                      std::string log_message) {
    refuse(409, kInProgress, kInProgressMessage, log, std::move(log_message));
}

std::string PaymentCompleteFlow::rid() const {
    return "requestId \"" + log_value(request_id_) + "\"";
}

std::string PaymentCompleteFlow::stored_amount() const {
    return format_value(payload_.amount) + " " +
           std::string(payload_.amount.currency.view());
}

std::string PaymentCompleteFlow::paid_invoice() const {
    return "invoice \"" + log_value(invoice_->identifier) + "\" is " +
           log_value(invoice_->payment_status);
}

void PaymentCompleteFlow::refuse_payment(std::string_view message,
                                         opay_log_e log,
                                         std::string log_message) {
    result_ = "fail";
    error_ = "payment_refused";
    finish(Response{200, fail_reply(request_id_, "processing_error", message),
                    false, log, std::move(log_message)},
           false);
}

}  // namespace opay
