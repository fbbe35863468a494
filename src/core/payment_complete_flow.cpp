// The PaymentComplete webhook's state machine: the claim on the requestId,
// the checks before any charge (token format and mode, invoice due, amount
// with shipping), the journal lines around the charge, the notify call,
// and settling the claim before the answer goes out.
#include "payment_complete_flow.h"

#include <cstdio>

#include <openssl/rand.h>

#include "ascii.h"
#include "shipping.h"

namespace opay {

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
    case Stage::kCharge:
        on_charge(results[0]);
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
                   "journal write failed: not charging requestId \"" +
                       log_value(request_id_) + "\"");
        } else {
            charge();
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
    auto parsed = read_complete_payload(request_);
    if (auto* e = std::get_if<std::string>(&parsed)) {
        invalid(*e);
        return;
    }
    payload_ = std::move(std::get<CompletePayload>(parsed));
    request_id_ = payload_.request_id;
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
    std::string rid = "requestId \"" + log_value(request_id_) + "\"";
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
                           rid + ": not charging");
        return;
    }
    if (payment_token_.test_mode != config_.test_mode) {
        refuse_payment(
            "This payment method is not accepted.", OPAY_LOG_INFO,
            std::string(payment_token_.test_mode
                            ? "test payment token refused in live mode"
                            : "live payment token refused in test mode") +
                ", " + rid + ": not charging");
        return;
    }
    claim_key_ = config_.token.audience + "\n" + request_id_;
    act({OPAY_STEP_CLAIM, claim_key_, {}, false}, Stage::kClaim);
}

void PaymentCompleteFlow::on_claim(int result, std::string_view stored) {
    std::string rid = "requestId \"" + log_value(request_id_) + "\"";
    if (result == OPAY_CLAIM_DONE) {
        json::Document d;
        if (!json::parse(stored, d)) {
            result_ = std::string(json::string_member(d, "result").value_or(""));
        }
        finish(Response{200, std::string(stored), false, OPAY_LOG_INFO,
                        "replayed the stored outcome of " + rid},
               false);
        return;
    }
    if (result == OPAY_CLAIM_BUSY) {
        refuse(409, "payment_in_progress", "this payment is being processed",
               OPAY_LOG_INFO, rid + " is already in flight");
        return;
    }
    if (result != OPAY_CLAIM_NEW) {
        refuse(503, "state_unavailable", "the payment cannot be recorded now",
               OPAY_LOG_ERROR, "opay zone is full: not charging " + rid);
        return;
    }
    claimed_ = true;
    std::vector<Fetch> fetches{Fetch{OPAY_TARGET_INVOICE, false, {}, {}, {}}};
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
            "application/json", {}});
    }
    ask(std::move(fetches), Stage::kCompleteFetch);
}

void PaymentCompleteFlow::on_complete_fetch(const Result& invoice_result,
                                            const Result* options) {
    auto invoice = read_invoice(invoice_result);
    if (!invoice) return;
    std::string name = "invoice \"" + log_value(invoice->identifier) + "\"";
    request_id_ = payload_.request_id;  // read_invoice set the identifier
    if (invoice->identifier != payload_.request_id) {
        refuse(400, "invalid_payload", "requestId does not match the invoice",
               OPAY_LOG_INFO, "invalid payload: requestId \"" +
                                  log_value(request_id_) + "\" but " + name);
        return;
    }
    if (!payment_due(invoice->payment_status)) {
        refuse_payment("This invoice is not due for payment.", OPAY_LOG_INFO,
                       name + " is " + invoice->payment_status +
                           ": not charging");
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
    invoice_ = std::move(invoice);
    due_ = due;
    idempotency_key_ = idempotency_key(config_.token.audience, request_id_);
    if (config_.journal) {
        act({OPAY_STEP_JOURNAL, {},
             journal_attempt(request_id_, invoice_->identifier, due_,
                             idempotency_key_, now_),
             false},
            Stage::kJournalAttempt);
        return;
    }
    charge();
}

void PaymentCompleteFlow::charge() {
    ChargeRequest c{due_, payment_token_.processor_token,
                    "Invoice " + invoice_->identifier, invoice_->identifier,
                    request_id_};
    ask({Fetch{OPAY_TARGET_PROCESSOR, true, charge_form(c),
               "application/x-www-form-urlencoded",
               idempotency_key_}},
        Stage::kCharge);
}

void PaymentCompleteFlow::on_charge(const Result& r) {
    charge_ = read_charge_answer(r.status, r.body);
    using Kind = ChargeOutcome::Kind;
    if (charge_.kind == Kind::kInFlight) {
        refuse(409, "payment_in_progress", "this payment is being processed",
               OPAY_LOG_INFO, "processor: requestId \"" + log_value(request_id_) +
                                  "\" is being charged elsewhere (" +
                                  charge_.log + ")");
        return;
    }
    unsigned char rnd[6];
    RAND_bytes(rnd, sizeof(rnd));
    char hex[13];
    for (int i = 0; i < 6; ++i) {
        std::snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    }
    outcome_.entry = request_id_ + "/" + std::to_string(now_) + "/" + hex;
    switch (charge_.kind) {
    case Kind::kSucceeded:
        outcome_.kind = "succeeded";
        break;
    case Kind::kDeclined:
        outcome_.kind = "declined";
        break;
    case Kind::kRejected:
        outcome_.kind = "rejected";
        break;
    default:
        outcome_.kind = "unknown";
    }
    charge_kind_ = outcome_.kind;
    charge_code_ = charge_.kind == Kind::kSucceeded ? "" : charge_.inner_code;
    if (charge_.kind == Kind::kSucceeded) {
        outcome_.result = result_ = "success";
        outcome_.confirmation = charge_.charge_id;
        reply_ = success_reply(request_id_, config_.success_message, *invoice_,
                               charge_.charge_id);
    } else {
        outcome_.result = result_ = "fail";
        outcome_.error_code = charge_.inner_code;
        reply_ = fail_reply(request_id_, charge_.inner_code, charge_.message);
    }
    // Only a processor's own verdict is final; without one, a retry asks
    // again with the same Idempotency-Key and learns the truth.
    store_reply_ = charge_.kind == Kind::kSucceeded ||
                   charge_.kind == Kind::kDeclined;
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
                   {}}},
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
    using Kind = ChargeOutcome::Kind;
    std::string rid = "requestId \"" + log_value(request_id_) + "\"";
    opay_log_e level = OPAY_LOG_INFO;
    std::string log;
    switch (charge_.kind) {
    case Kind::kSucceeded:
        log = rid + " charged: " + charge_.log;
        break;
    case Kind::kDeclined:
        log = rid + " declined: " + charge_.log;
        break;
    default:
        level = OPAY_LOG_ERROR;
        log = rid + " not charged: " + charge_.log;
    }
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
               (outcome_.confirmation.empty()
                    ? std::string()
                    : ", " + log_value(outcome_.confirmation)) +
               ", " + format_value(due_) + " " +
               std::string(due_.currency.view()) + ")";
    }
    finish(Response{200, reply_, false, level, std::move(log)}, store_reply_);
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
