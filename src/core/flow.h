// What both webhooks' flows share: the types a flow talks in (Input, Fetch,
// Action, Response), the checks every call passes first (method, size,
// bearer token, media type, JSON body), the refusals, and the step plumbing
// (ask, act, feed, resolve, respond). A flow is a small state machine with
// no I/O of its own: it asks for fetches (run by the caller, possibly in
// parallel) or an action, is fed their results, and ends with exactly one
// response. PaymentRequestFlow and PaymentCompleteFlow are the two kinds.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config.h"
#include "fixed_list.h"
#include "invoice.h"
#include "json.h"
#include "jwt.h"
#include "opay.h"

namespace opay {

// {"requestId"?, "error": {"code", "message"}}: every refusal's body.
std::string error_body(std::string_view code, std::string_view message,
                       std::string_view request_id = {});

struct Input {
    std::string_view method;
    std::string_view content_type;
    std::string_view authorization;
    std::string_view action_authorization;
    bool too_large = false;
    std::string_view body;
    int64_t now = 0;
    // With opay_jwks_url: the fetched keys, or nullptr and why there are
    // none yet.
    const KeySet* keys = nullptr;
    std::string_view keys_error;
    // Where the body is parsed: an arena borrowed from these for the
    // flow's life, or (none free, or no arenas) a fresh pool.
    std::shared_ptr<json::Arenas> arenas;
};

// Fetches asked at once, at most: the invoice and the shipping options.
inline constexpr std::size_t kMaxFetches = 2;

struct Fetch {
    opay_target_e target;
    bool post = false;
    std::string body;
    std::string_view content_type;  // a literal: "application/json", ...
    std::string idempotency_key;
    std::string path;  // below the target's URI (the processor's prefix)
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
    opay_keys_wait_e keys_wait = OPAY_KEYS_WAIT_NONE;
};

class Flow {
  public:
    virtual ~Flow() = default;

    bool responding() const { return response_.has_value(); }
    const Response& response() const { return *response_; }
    // The pending action, if the flow waits on one (and not on fetches).
    const Action* action() const { return action_ ? &*action_ : nullptr; }
    using Fetches = FixedList<Fetch, kMaxFetches>;
    const Fetches& fetches() const { return fetches_; }

    // Result of fetches()[index]; when all are in, the flow moves on.
    // replayed: the processor's answer carried Idempotent-Replayed: true.
    void feed(std::size_t index, int status, std::string_view body,
              bool replayed = false);
    // Result of action(): an OPAY_CLAIM_* value, or 0 / -1.
    void resolve(int result, std::string_view data);

    std::optional<std::string_view> variable(opay_var_e var) const;
    // What the call came to, typed: the variables' and metrics' values.
    opay_result_e result() const { return result_; }
    opay_refusal_e refusal() const { return error_; }
    opay_charge_e charge() const { return charge_kind_; }
    std::string_view charge_code() const { return charge_code_; }
    std::optional<std::string_view> context_field(std::string_view name) const;

    // Out of memory mid-call (the C API's catch; nothing of the flow runs
    // after): what the call came to instead, without allocating. One that
    // may have charged is neither a failure nor a success:
    // payment_in_progress (409), its charge unknown unless the processor
    // said it; any other, internal_error (500).
    void out_of_memory() noexcept;

    // The arena the request body was parsed into; nullptr: a fresh pool.
    const json::Arena* arena() const {
        return request_ ? request_->arena() : nullptr;
    }

  protected:
    struct Result {
        bool done = false;
        int status = 0;
        // The answer: the caller's own while on_fetched runs when it came
        // last (no copy), else a view of kept, kept until the next ask.
        std::string_view body;
        bool replayed = false;  // the processor's stored answer
        std::string kept;
    };
    using Results = FixedList<Result, kMaxFetches>;

    explicit Flow(const Config& config) : config_(config) {}

    // The checks both webhooks make first, in order: method, size, bearer
    // token, media type, JSON body (into request_). Responds with the first
    // refusal and returns false.
    bool admit(const Input& in);

    // A step that may charge was handed out (a confirm).
    virtual bool may_have_charged() const noexcept { return false; }
    // All of fetches() are in (results in the same order).
    virtual void on_fetched(const Results& results) = 0;
    // The action() was run.
    virtual void on_resolved(int result, std::string_view data) = 0;

    void ask(Fetches fetches);
    // The same for one fetch.
    void ask(Fetch fetch);
    void act(Action a);
    void respond(int status, std::string body, bool store = false);
    // Every answer goes out here; store says whether it is final (a
    // payment's outcome to replay).
    virtual void finish(Response r, bool store);
    void refuse(int status, opay_refusal_e code, std::string_view message,
                opay_log_e log, std::string log_message);
    // 400 invalid_payload: what is wrong, for the caller and the log.
    void invalid(const std::string& what);
    // false (and 400 invalid_payload naming the field) if value, or a
    // top-level string of productContext, holds a control character.
    bool check_text(std::string_view field, std::string_view value);
    bool check_product_context();
    // Fetch failed or answered other than 200: refuses and returns true.
    bool refuse_backend_failure(opay_target_e backend, const Result& r);
    // Reads the invoice backend's answer; on failure responds and returns
    // nullopt.
    std::optional<Invoice> read_invoice(const Result& r);

    const Config& config_;
    std::optional<Response> response_;
    Fetches fetches_;
    std::optional<Action> action_;

    // The body, parsed (once the token is good: a refused call holds no
    // arena) into an arena borrowed until the flow is freed. Whatever
    // points into it (product_context_, the payload's and the echo's
    // values) is a member of the flow and dies with it; what the flow
    // hands out is copied out (the std::strings below, the answer, the
    // fetches).
    std::optional<json::ArenaDocument> request_;
    const json::Value* product_context_ = nullptr;
    // What the variables show.
    std::string_view event_;  // a literal: event_name()'s or our own
    TokenClaims token_;  // sub and sender
    std::string request_id_;
    opay_result_e result_ = OPAY_RESULT_NONE;     // success or fail
    opay_refusal_e error_ = OPAY_REFUSAL_NONE;
    opay_charge_e charge_kind_ = OPAY_CHARGE_NONE;  // a charge this call made
    std::string charge_code_;  // its inner error code
    // Refusals carry request_id_ (PaymentComplete, once it is read).
    bool echo_request_id_ = false;

  private:
    void ensure_progress();

    Results results_;
    bool waiting_ = false;  // on fetches or an action, asked and not answered
};

}  // namespace opay
