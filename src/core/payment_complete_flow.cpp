// The PaymentComplete webhook's state machine: the claim on the requestId,
// the checks before any charge (token format and mode, invoice due, amount
// with shipping, Stripe's units), the invoice's PaymentIntent as the
// arbiter of exactly-once (create, confirm, read back), the journal lines
// around the confirmation, the notify call, and settling the claim before
// the answer goes out.
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
        act({OPAY_STEP_SETTLE, claim_key_, store ? pending_->body : "", store},
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
    case Stage::kConfirm:
        on_confirm(results[0]);
        break;
    case Stage::kReadBack:
        on_read_back(results[0]);
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
        if (result != 0) {
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
    claim_key_ = config_.token.audience + "\n" + request_id_;
    act({OPAY_STEP_CLAIM, claim_key_, {}, false}, Stage::kClaim);
}

void PaymentCompleteFlow::on_claim(int result, std::string_view stored) {
    if (result == OPAY_CLAIM_DONE) {
        json::Document d;
        if (!json::parse(stored, d)) {
            result_ = std::string(
                json::string_member(d, "result").value_or(""));
        }
        finish(Response{200, std::string(stored), false, OPAY_LOG_INFO,
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
    if (auto* why = std::get_if<std::string>(&units)) {
        refuse_payment("This amount cannot be charged in " +
                           std::string(due.currency.view()) + ".",
                       OPAY_LOG_INFO,
                       format_value(due) + " " +
                           std::string(due.currency.view()) + " for " + name +
                           ": " + *why + ": not charging");
        return;
    }
    amount_ = std::move(std::get<StripeAmount>(units));
    invoice_ = std::move(invoice);
    due_ = due;
    create();
}

// The invoice's own word that it is paid is not the payer's answer: if it
// was paid through this PaymentIntent (on another node, by an earlier
// delivery), the answer is that success. The create finds the intent (a
// replay, as it was then); the read-back tells its status now.
void PaymentCompleteFlow::look_up_paid() {
    auto units = stripe_amount(payload_.amount);
    if (std::holds_alternative<std::string>(units)) {
        refuse_payment("This invoice is not due for payment.", OPAY_LOG_INFO,
                       paid_invoice() + ": not charging");
        return;
    }
    paid_check_ = true;
    amount_ = std::move(std::get<StripeAmount>(units));
    due_ = payload_.amount;
    create();
}

// Creating charges nothing: the same key finds the same PaymentIntent on
// every node (Stripe replays the first answer, as it was then).
void PaymentCompleteFlow::create() {
    intent_key_ = intent_key(config_.token.audience, invoice_->identifier,
                             due_);
    IntentRequest r{amount_, "Invoice " + invoice_->identifier,
                    invoice_->identifier, request_id_};
    ask({Fetch{OPAY_TARGET_PROCESSOR, true, create_form(r),
               "application/x-www-form-urlencoded", intent_key_,
               std::string(kIntentsPath)}},
        Stage::kCreate);
}

void PaymentCompleteFlow::on_create(const Result& r) {
    using Kind = StripeAnswer::Kind;
    StripeAnswer a = read_stripe_answer(r.status, r.body);
    if (a.kind == Kind::kBusy) {
        in_progress(OPAY_LOG_INFO, "processor: the PaymentIntent of " + rid() +
                                       " is being created elsewhere (" +
                                       a.log + ")");
        return;
    }
    if (a.kind == Kind::kUnknown) {
        // Stripe did not say: the invoice may have been paid through its
        // intent on another node, so this is no answer for the payer
        // either way, only the processor's failure
        refuse(r.status == 504 ? 504 : 502,
               r.status == 504 ? "backend_timeout" : "backend_error",
               "the processor failed", OPAY_LOG_ERROR,
               "processor: no PaymentIntent for " + rid() + " (" + a.log +
                   "), nothing confirmed");
        return;
    }
    if (paid_check_) {
        if (a.kind == Kind::kIntent) {
            intent_id_ = a.id;
            read_back();
            return;
        }
        refuse_payment("This invoice is not due for payment.", OPAY_LOG_INFO,
                       paid_invoice() +
                           " and Stripe refused to find its PaymentIntent (" +
                           a.log + "): not charging");
        return;
    }
    if (a.kind != Kind::kIntent || a.status == "canceled") {
        // Stripe refused the create: no id, nothing can be charged
        result_ = "fail";
        error_ = "processor_error";
        charge_kind_ = "rejected";
        charge_code_ = "processing_error";
        finish(Response{200,
                        fail_reply(request_id_, "processing_error",
                                   kProcessingMessage),
                        false, OPAY_LOG_ERROR,
                        rid() + " not charged: no PaymentIntent (" + a.log +
                            ")"},
               false);
        return;
    }
    intent_id_ = a.id;
    attempt();
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
    const std::string& token = payment_token_.processor_token;
    ask({Fetch{OPAY_TARGET_PROCESSOR, true, confirm_form(token),
               "application/x-www-form-urlencoded",
               confirm_key(intent_id_, token, nonce),
               confirm_path(intent_id_)}},
        Stage::kConfirm);
}

void PaymentCompleteFlow::on_confirm(const Result& r) {
    using Kind = StripeAnswer::Kind;
    StripeAnswer a = read_stripe_answer(r.status, r.body);
    confirm_log_ = a.log;
    may_run_ = false;
    switch (a.kind) {
    case Kind::kIntent:
        if (a.id == intent_id_) {
            maybe_ours_ = maybe_ours_ || a.status == "succeeded";
            on_status(a.status, true, a.log);
            return;
        }
        // another intent's answer says nothing of ours
        maybe_ours_ = may_run_ = true;
        break;
    case Kind::kCardError:
        if (a.code == "authentication_required") {
            conclude({"requires_action", "card_declined", kActionMessage,
                      "declined, the card asks for authentication: " +
                          a.log});
        } else {
            conclude({"declined", inner_error_code(a.code), a.message,
                      "declined: " + a.log});
        }
        return;
    case Kind::kRefused:
        // a refusal could come from an earlier confirmation's success:
        // the read-back says which
        refused_ = true;
        break;
    case Kind::kBusy:
        locked_ = true;
        break;
    case Kind::kUnknown:
        maybe_ours_ = true;
        may_run_ = !a.answered;
        break;
    default:  // kUnexpectedState: it had succeeded before
        break;
    }
    read_back();
}

// Whenever a confirmation's answer does not say what happened, the
// PaymentIntent does.
void PaymentCompleteFlow::read_back() {
    ask({Fetch{OPAY_TARGET_PROCESSOR, false, {}, {}, {},
               intent_path(intent_id_)}},
        Stage::kReadBack);
}

void PaymentCompleteFlow::on_read_back(const Result& r) {
    StripeAnswer a = read_stripe_answer(r.status, r.body);
    if (paid_check_) {
        std::string why = paid_invoice();
        bool ours = a.kind == StripeAnswer::Kind::kIntent && a.id == intent_id_;
        if (ours && a.status == "succeeded") {
            conclude({"already_paid", {}, {},
                      "paid before: " + why + ", read back: " + a.log});
            return;
        }
        if (!ours || a.status == "processing") {
            // the paid invoice's intent could not be read: never a "fail"
            in_progress(OPAY_LOG_ERROR,
                        why + ", its PaymentIntent unreadable (read back: " +
                            a.log + ")");
            return;
        }
        refuse_payment("This invoice is not due for payment.", OPAY_LOG_INFO,
                       why + " (read back: " + a.log + "): not charging");
        return;
    }
    std::string log = "confirm: " + confirm_log_ + "; read back: " + a.log;
    if (a.kind != StripeAnswer::Kind::kIntent || a.id != intent_id_) {
        conclude({"unknown", {}, {}, "outcome unknown: " + log});
        return;
    }
    on_status(a.status, false, std::move(log));
}

void PaymentCompleteFlow::on_status(const std::string& status,
                                    bool by_confirm, std::string log) {
    if (status == "succeeded") {
        // charged by this call unless no confirmation of ours can have
        // (another node's, an earlier delivery's)
        conclude({maybe_ours_ ? "succeeded" : "already_paid", {}, {},
                  (maybe_ours_ ? "charged: " : "paid before: ") + log});
        return;
    }
    if (status == "requires_action") {
        // 3-D Secure and the like, which Outlook cannot show: the payer's
        // next card confirms the same PaymentIntent
        conclude({"requires_action", "card_declined", kActionMessage,
                  "declined, the card asks for authentication: " + log});
        return;
    }
    if (status == "requires_payment_method" ||
        status == "requires_confirmation") {
        if (refused_) {
            conclude({"rejected", "processing_error", kProcessingMessage,
                      "not charged: " + log});
            return;
        }
        if (by_confirm) {
            read_back();  // a confirm that did not move it: look again
            return;
        }
        if (locked_) {
            // another confirmation holds the intent: it decides
            conclude({"unknown", {}, {},
                      "being confirmed elsewhere: " + log});
            return;
        }
        if (may_run_) {
            // no answer from Stripe: the confirmation may still be running
            // there, and a read-back shows the state before it ends
            conclude({"unknown", {}, {},
                      "outcome unknown, the confirmation may still run: " +
                          log});
            return;
        }
        // Stripe answered, and nothing was charged: one fresh
        // confirmation, then let the next delivery try
        if (confirms_ < 2) {
            attempt();
            return;
        }
        conclude({"rejected", "processing_error", kProcessingMessage,
                  "not charged, the PaymentIntent still waits: " + log});
        return;
    }
    if (status == "canceled") {
        conclude({"rejected", "processing_error", kProcessingMessage,
                  "not charged, the PaymentIntent was canceled: " + log});
        return;
    }
    // processing, or a status we do not know: never guess
    conclude({"unknown", {}, {}, "outcome unknown: " + log});
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
    bool paid = v.kind == "succeeded" || v.kind == "already_paid";
    if (paid) {
        outcome_.result = result_ = "success";
        outcome_.confirmation = intent_id_;
        reply_status_ = 200;
        reply_ = success_reply(request_id_, config_.success_message, *invoice_,
                               intent_id_);
    } else if (v.kind == "unknown") {
        // may have charged: never a failure, never a success; a retry asks
        // Stripe again
        outcome_.result = "unknown";
        error_ = kInProgress;  // $opay_result stays unset
        reply_status_ = 409;
        reply_ = error_body(kInProgress, kInProgressMessage, request_id_);
    } else {
        outcome_.result = result_ = "fail";
        outcome_.error_code = v.inner_code;
        reply_status_ = 200;
        reply_ = fail_reply(request_id_, v.inner_code, v.message);
    }
    // A success is final for the invoice; a decline is not: the payer's
    // next card confirms the same PaymentIntent.
    store_reply_ = paid;
    notify_body_ = notify_record(payload_, invoice_->identifier, due_,
                                 outcome_, sub_);
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
    bool fine = outcome_.kind == "succeeded" ||
                outcome_.kind == "already_paid" ||
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
        log += "; journal write failed, outcome entry \"" +
               log_value(outcome_.entry, 128) + "\" (" + outcome_.kind +
               ", " + intent_id_ + ", " + format_value(due_) + " " +
               std::string(due_.currency.view()) + ")";
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
