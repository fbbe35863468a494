// One webhook call as a small state machine with no I/O of its own: it asks
// for fetches (run by the caller, possibly in parallel), is fed their
// results, and ends with exactly one response.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "invoice.h"
#include "json.h"
#include "opay.h"
#include "payment_complete.h"
#include "payment_token.h"
#include "stripe.h"

namespace opay {

struct Input {
    opay_webhook_e webhook = OPAY_PAYMENT_REQUEST;
    std::string_view method;
    std::string_view content_type;
    std::string_view authorization;
    std::string_view action_authorization;
    bool too_large = false;
    std::string_view body;
    int64_t now = 0;
};

struct Fetch {
    opay_target_e target;
    bool post = false;
    std::string body;
    std::string content_type;
    std::string idempotency_key;
};

// A step the caller runs synchronously: claim, journal, settle.
struct Action {
    opay_step_e kind = OPAY_STEP_CLAIM;
    std::string key;
    std::string data;
    bool store = false;
};

struct Response {
    int status = 500;
    std::string body;
    bool www_authenticate = false;
    opay_log_e log = OPAY_LOG_NONE;
    std::string log_message;
};

class Flow {
  public:
    Flow(const Config& config, const Input& in);

    bool responding() const { return response_.has_value(); }
    const Response& response() const { return *response_; }
    // The pending action, if the flow waits on one (and not on fetches).
    const Action* action() const { return action_ ? &*action_ : nullptr; }
    const std::vector<Fetch>& fetches() const { return fetches_; }

    // Result of fetches()[index]; when all are in, the flow moves on.
    void feed(std::size_t index, int status, std::string_view body);
    // Result of action(): an OPAY_CLAIM_* value, or 0 / -1.
    void resolve(int result, std::string_view data);

    std::optional<std::string_view> variable(opay_var_e var) const;
    std::optional<std::string_view> context_field(std::string_view name) const;

  private:
    struct Result {
        bool done = false;
        int status = 0;
        std::string body;
    };
    enum class Stage {
        kDone,
        kLoadInvoice,
        kShipping,
        kClaim,
        kCompleteFetch,
        kJournalAttempt,
        kCharge,
        kJournalOutcome,
        kNotify,
        kJournalNotify,
        kSettle,
    };

    void start_payment_request();
    void start_shipping_event();
    void on_invoice(const Result& r);
    void on_shipping(const Result& invoice, const Result& options);
    // Reads the invoice backend's answer; on failure responds and returns
    // nullopt.
    std::optional<Invoice> read_invoice(const Result& r);
    // Fetch failed or answered other than 200: the refusal, else nullopt.
    bool refuse_backend_failure(const char* backend, const Result& r);
    void start_payment_complete();
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
    void act(Action a, Stage next);
    void ask(std::vector<Fetch> fetches, Stage next);
    void respond(int status, std::string body, bool store = false);
    void finish(Response r, bool store);
    void refuse(int status, std::string_view code, std::string_view message,
                opay_log_e log, std::string log_message);
    // 400 invalid_payload: what is wrong, for the caller and the log.
    void invalid(const std::string& what);
    void ensure_progress();

    const Config& config_;
    Stage stage_ = Stage::kDone;
    std::optional<Response> response_;
    std::vector<Fetch> fetches_;
    std::vector<Result> results_;

    json::Document request_;
    const json::Value* product_context_ = nullptr;
    std::string event_;
    std::string invoice_id_;                    // echoed details.id
    std::optional<std::string> chosen_option_;  // echoed shippingOption

    // PaymentComplete
    int64_t now_ = 0;
    CompletePayload payload_;
    PaymentToken payment_token_;
    std::optional<Invoice> invoice_;
    Money due_{};
    std::string idempotency_key_;
    std::string claim_key_;
    bool claimed_ = false;
    std::optional<Action> action_;
    std::optional<Response> pending_;           // sent once settled
    ChargeOutcome charge_;
    Outcome outcome_;
    std::string reply_;
    bool store_reply_ = false;
    std::string notify_body_;
    int notify_status_ = 0;
    bool journal_failed_ = false;
    std::string sub_;
    std::string sender_;
    std::string request_id_;
    std::string result_;
    std::string error_;
};

}  // namespace opay
