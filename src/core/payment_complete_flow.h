// The PaymentComplete webhook's state machine: claim the requestId, fetch
// the invoice (and shipping options), check the amount, then charge
// through the invoice's one PaymentIntent: create (or find again) it with
// a placeholder amount, make the payment token a PaymentMethod, set this
// payer's amount and card on it in one update, confirm what is set, read
// it back whenever an answer does not say what happened; journal the
// outcome, notify, journal the notify, settle the claim, answer. Its
// payload, replies and journal lines are built in payment_complete.h;
// Stripe's wire format in stripe.h. The class is written in four files by
// role (payment_complete_flow.cpp and payment_complete_flow_charge,
// _lookup and _outcome.cpp; payment_complete_flow_parts.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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
        kReadBack,
        kPaymentMethod,
        kUpdate,
        kJournalAttempt,
        kConfirm,
        kCancel,
        kJournalOutcome,
        kNotify,
        kJournalNotify,
        kSettle,
    };

    // What this payer is answered.
    enum class Answer { kSuccess, kFail, kUnknown };

    // What the processor's state came to, for the payer, the journal and
    // the notify target.
    struct Verdict {
        opay_charge_e kind;      // Outcome::kind
        Answer answer = Answer::kFail;
        std::string inner_code;  // on failure
        std::string message;     // on failure, for the payer
        std::string log;
    };

    // a confirm was asked (confirm() counts it once asked)
    bool may_have_charged() const noexcept override { return confirms_ > 0; }
    void on_fetched(const Results& results) override;
    void on_resolved(int result, std::string_view data) override;
    // A claimed payment is settled before its answer goes out.
    void finish(Response r, bool store) override;
    void ask(Fetches fetches, Stage next);
    void ask(Fetch fetch, Stage next);
    // A form POSTed to the processor under its idempotency key.
    void post_processor(std::string form, std::string key, std::string path,
                        Stage next);
    void act(Action a, Stage next);

    void start();
    void on_claim(int result, std::string_view stored);
    void on_complete_fetch(const Result& invoice, const Result* options);
    // The invoice says it is not due: its PaymentIntent, if it succeeded
    // at this payer's amount, answers that success; otherwise the
    // refusal stands. Never at the payload's amount or currency.
    void look_up_paid();
    // The invoice's PaymentIntent of this generation.
    void create();
    void on_create(const Result& r);
    void read_back();
    void on_read_back(const Result& r);
    // Every decision on the intent's state, from whichever answer showed
    // it (create, update, confirm, read-back).
    void on_intent(const StripeAnswer& a);
    void on_succeeded(const StripeAnswer& a);
    // The intent is canceled (or its key can never make one): the next
    // generation's key, on every node alike.
    void next_generation(const std::string& why);
    // No answer that made what was asked (what: "PaymentIntent", "payment
    // method"), nothing of ours confirmed: 502 (504 on a timeout).
    void processor_failed(int status, const char* what,
                          const std::string& log);
    // Stripe takes no placeholder for this invoice: a final refusal.
    void no_placeholder(const std::string& why);
    // Whether this call made the intent: a fresh 200 to its create, or a
    // replay, after its own create got no answer, of an intent nobody
    // has touched since.
    bool made_here(const StripeAnswer& a) const;
    // Set this payer's pair on the intent (a PaymentMethod first).
    void pay();
    void on_payment_method(const Result& r);
    void update();
    void on_update(const Result& r);
    // Journal the attempt (when configured), then confirm.
    void attempt();
    void confirm();
    void on_confirm(const Result& r);
    void cancel();
    // A refused cancel (the intent moved on): read it back and answer
    // from it.
    void on_cancel(const Result& r);
    // Nothing more can be learned now: 409, and, once a confirm of ours
    // was sent, an unknown outcome journalled.
    void undecided(std::string log);
    // random_hex gave nothing for what (a key): 500, or undecided once a
    // confirm was asked
    void no_random_bytes(std::string_view what);
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
    bool ours(const StripeAnswer& a) const;  // this payer's pair is set
    std::string stored_amount() const;       // "<amount> <currency>"

    Stage stage_ = Stage::kClaim;
    int64_t now_ = 0;
    CompletePayload payload_;
    PaymentToken payment_token_;
    std::optional<Invoice> invoice_;
    Money due_{};
    StripeAmount amount_;        // this payer's, in Stripe's units
    StripeAmount placeholder_;   // the intent's until an update
    int generation_ = 0;
    bool create_again_ = false;  // a fresh 5xx: the same key once more
    bool created_ = false;       // this call's create made the intent
    // this call's create of this key got no answer: it may have made the
    // intent the retry replays
    bool create_unanswered_ = false;
    // a canceled generation was passed on the way to this one
    bool passed_canceled_ = false;
    std::string intent_key_;
    std::string intent_id_;
    std::string payment_method_;
    std::string nonce_;          // this payer's current attempt
    std::string shipping_option_;  // priced in: the intent's metadata
    int updates_ = 0;            // updates sent by this call
    int confirms_ = 0;           // confirmations sent by this call
    bool may_run_ = false;       // a confirm without answer may still run
    bool paid_check_ = false;    // looking up a paid invoice's intent
    bool cancel_refused_ = false;  // the lookup's cancel met another state
    // found succeeded at this payer's amount before paying: whose charge
    // it is, told by this payer's PaymentMethod (paid_ while it is made)
    bool identifying_ = false;
    std::optional<StripeAnswer> paid_;
    std::string last_log_;       // what the last answer said
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
