// The PaymentComplete flow's outcome: what the processor's state came to
// for the payer (the reply), the record (journal and notify target), the
// journal lines around the notify call, and the log line of the call.
#include "payment_complete_flow.h"

#include "ascii.h"
#include "outcome.h"
#include "payment_complete_flow_parts.h"

namespace opay {

using namespace complete_flow;

void PaymentCompleteFlow::conclude(Verdict v) {
    // the entry only names the outcome for its notify lines: without
    // random bytes, the confirmation count keeps it apart
    std::string nonce = random_hex(config_.random_bytes, 6);
    if (nonce.empty()) nonce = "n" + std::to_string(confirms_);
    outcome_.entry = request_id_ + "/" + std::to_string(now_) + "/" + nonce;
    outcome_.kind = v.kind;
    outcome_.payment_intent = intent_id_;
    outcome_log_ = std::move(v.log);
    charge_kind_ = v.kind;
    charge_code_ = v.inner_code;
    // the record tells what happened to the invoice (a charge, whoever's
    // pair it was); the reply, what it means for this payer
    bool charged = v.kind == OPAY_CHARGE_SUCCEEDED ||
                   v.kind == OPAY_CHARGE_ALREADY_PAID ||
                   v.kind == OPAY_CHARGE_OTHER_PAYER;
    if (charged) {
        outcome_.result = Recorded::kSuccess;
        outcome_.confirmation = intent_id_;
    } else if (v.answer == Answer::kUnknown) {
        outcome_.result = Recorded::kUnknown;
    } else {
        outcome_.result = Recorded::kFail;
        outcome_.error_code = v.inner_code;
    }
    if (v.answer == Answer::kSuccess) {
        result_ = OPAY_RESULT_SUCCESS;
        reply_status_ = 200;
        reply_ = success_reply(request_id_, config_.success_message, *invoice_,
                               intent_id_);
    } else if (v.answer == Answer::kUnknown) {
        // may have charged: never a failure, never a success; a retry asks
        // Stripe again
        error_ = OPAY_REFUSAL_PAYMENT_IN_PROGRESS;  // $opay_result unset
        reply_status_ = 409;
        reply_ = error_body(refusal_name(OPAY_REFUSAL_PAYMENT_IN_PROGRESS),
                            kInProgressMessage, request_id_);
    } else {
        result_ = OPAY_RESULT_FAIL;
        reply_status_ = 200;
        reply_ = fail_reply(request_id_, v.inner_code, v.message);
    }
    // A success is final for the invoice, replayed for this amount only; a
    // decline is not: the payer's next card pays the same PaymentIntent.
    store_reply_ = v.answer == Answer::kSuccess;
    notify_body_ = notify_record(payload_, invoice_->identifier, due_,
                                 outcome_, token_.sub(), config_.test_mode);
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
        ask(Fetch{OPAY_TARGET_NOTIFY, true, notify_body_, "application/json",
                  {}, {}},
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
    bool fine = outcome_.result == Recorded::kSuccess ||
                outcome_.kind == OPAY_CHARGE_DECLINED ||
                outcome_.kind == OPAY_CHARGE_REQUIRES_ACTION;
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
            outcome_.result == Recorded::kSuccess ? outcome_.amount : due_;
        log += "; journal write failed, outcome entry \"" +
               log_value(outcome_.entry, 128) + "\" (" +
               std::string(charge_name(outcome_.kind)) +
               ", " + intent_id_ + ", " + format_value(m) + " " +
               std::string(m.currency.view()) + ")";
    }
    finish(Response{reply_status_, reply_, false, level, std::move(log)},
           store_reply_);
}

}  // namespace opay
