// The PaymentComplete webhook's state machine: claim the requestId, fetch
// the invoice (and shipping options), check the amount, create (or find
// again) the invoice's PaymentIntent, journal the attempt, confirm it with
// the payment token, read it back when an answer does not say what
// happened, journal the outcome, notify, journal the notify, settle the
// claim, answer. Its payload, replies and journal lines are built in
// payment_complete.h; Stripe's wire format in stripe.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flow.h"
#include "money.h"
#include "payment_complete.h"
#include "payment_token.h"
#include "stripe.h"

namespace opay {

class PaymentCompleteFlow final : public Flow {
  public:
    PaymentCompleteFlow(const Config& config, const Input& in);

  private:
    enum class Stage {
        kClaim,
        kCompleteFetch,
        kCreate,
        kJournalAttempt,
        kConfirm,
        kReadBack,
        kJournalOutcome,
        kNotify,
        kJournalNotify,
        kSettle,
    };

    // What the processor's state came to, for the payer, the journal and
    // the notify target.
    struct Verdict {
        std::string kind;        // Outcome::kind
        std::string inner_code;  // on failure
        std::string message;     // on failure, for the payer
        std::string log;
    };

    void on_fetched(const std::vector<Result>& results) override;
    void on_resolved(int result, std::string_view data) override;
    // A claimed payment is settled before its answer goes out.
    void finish(Response r, bool store) override;
    void ask(std::vector<Fetch> fetches, Stage next);
    void act(Action a, Stage next);

    void start();
    void on_claim(int result, std::string_view stored);
    void on_complete_fetch(const Result& invoice, const Result* options);
    void create();
    void on_create(const Result& r);
    // The invoice says it is paid: its PaymentIntent, if it succeeded,
    // answers the same success; otherwise the refusal stands.
    void look_up_paid();
    // Journal the attempt (when configured), then confirm.
    void attempt();
    void confirm();
    void on_confirm(const Result& r);
    void read_back();
    void on_read_back(const Result& r);
    // The intent's status, read from a confirm (by_confirm) or a read-back.
    void on_status(const std::string& status, bool by_confirm,
                   std::string log);
    void conclude(Verdict v);
    void after_outcome_journal();
    void on_notify(const Result& r);
    void finish_payment();
    // 409 payment_in_progress: retryable, never a failure.
    void in_progress(opay_log_e log, std::string log_message);
    std::string rid() const;           // requestId "...", for the log
    std::string paid_invoice() const;  // invoice "..." is <its status>
    // A refusal of the payment itself (nothing charged): 200, result fail.
    void refuse_payment(std::string_view message, opay_log_e log,
                        std::string log_message);

    Stage stage_ = Stage::kClaim;
    int64_t now_ = 0;
    CompletePayload payload_;
    PaymentToken payment_token_;
    std::optional<Invoice> invoice_;
    Money due_{};
    StripeAmount amount_;
    std::string intent_key_;
    std::string intent_id_;
    int confirms_ = 0;          // confirmations sent by this call
    bool maybe_ours_ = false;   // one of them may have charged
    bool may_run_ = false;      // the last may still run at Stripe
    bool locked_ = false;       // a confirm found the intent locked
    bool refused_ = false;      // Stripe refused the last confirm (4xx)
    bool paid_check_ = false;   // looking up a paid invoice's intent
    std::string confirm_log_;   // what the last confirm answered
    std::string claim_key_;
    bool claimed_ = false;
    std::optional<Response> pending_;           // sent once settled
    Outcome outcome_;
    int reply_status_ = 200;
    std::string reply_;
    std::string outcome_log_;
    bool store_reply_ = false;
    std::string notify_body_;
    int notify_status_ = 0;
    bool journal_failed_ = false;
};

}  // namespace opay
