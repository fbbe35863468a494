// The PaymentComplete webhook's state machine: claim the requestId, fetch
// the invoice (and shipping options), check the amount, journal the
// attempt, charge, journal the outcome, notify, journal the notify, settle
// the claim, answer. Its payload, replies and journal lines are built in
// payment_complete.h; the charge in stripe.h.
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
        kJournalAttempt,
        kCharge,
        kJournalOutcome,
        kNotify,
        kJournalNotify,
        kSettle,
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
    void charge();
    void on_charge(const Result& r);
    void after_outcome_journal();
    void on_notify(const Result& r);
    void finish_payment();
    // A refusal of the payment itself (nothing charged): 200, result fail.
    void refuse_payment(std::string_view message, opay_log_e log,
                        std::string log_message);

    Stage stage_ = Stage::kClaim;
    int64_t now_ = 0;
    CompletePayload payload_;
    PaymentToken payment_token_;
    std::optional<Invoice> invoice_;
    Money due_{};
    std::string idempotency_key_;
    std::string claim_key_;
    bool claimed_ = false;
    std::optional<Response> pending_;           // sent once settled
    ChargeOutcome charge_;
    Outcome outcome_;
    std::string reply_;
    bool store_reply_ = false;
    std::string notify_body_;
    int notify_status_ = 0;
    bool journal_failed_ = false;
};

}  // namespace opay
