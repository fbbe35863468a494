// What both webhooks' flows share: the first checks of every call (method,
// size, bearer token, media type, JSON body), the refusals, reading the
// invoice backend's answer, and the step plumbing (ask, act, feed, resolve,
// respond, variables).
#include "flow.h"

#include <algorithm>
#include <utility>

#include "ascii.h"
#include "jwt.h"
#include "outcome.h"

namespace opay {

std::string error_body(std::string_view code, std::string_view message,
                       std::string_view request_id) {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    if (!request_id.empty()) {
        d.AddMember("requestId", json::str(request_id, a), a);
    }
    json::Value e(rapidjson::kObjectType);
    e.AddMember("code", json::str(code, a), a);
    e.AddMember("message", json::str(message, a), a);
    d.AddMember("error", e, a);
    return json::write(d);
}

namespace {

bool is_json_media_type(std::string_view ct) {
    auto semi = ct.find(';');
    std::string_view type = ct.substr(0, semi);
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    return iequals(type, "application/json");
}

}  // namespace

bool Flow::admit(const Input& in) {
    if (in.method != "POST") {
        refuse(405, OPAY_REFUSAL_METHOD_NOT_ALLOWED, "only POST is allowed",
               OPAY_LOG_INFO, "method " + std::string(in.method) +
                                  " not allowed");
        return false;
    }
    if (in.too_large) {
        refuse(413, OPAY_REFUSAL_BODY_TOO_LARGE, "request body is too large",
               OPAY_LOG_INFO, "request body exceeds opay_max_body_size");
        return false;
    }

    std::string_view header = !in.authorization.empty()
                                   ? in.authorization
                                   : in.action_authorization;
    opay_refusal_e reason = OPAY_REFUSAL_NONE;
    if (header.empty()) {
        reason = OPAY_REFUSAL_MISSING_TOKEN;
    } else if (auto token = bearer_token(header)) {
        if (config_.remote_keys && in.keys == nullptr &&
            config_.keys.keys.empty()) {
            refuse(503, OPAY_REFUSAL_NO_SIGNING_KEYS,
                   "no signing keys yet: " + std::string(in.keys_error),
                   OPAY_LOG_NONE, {});  // logged once per fetch, not here
            response_->keys_wait = OPAY_KEYS_WAIT_NO_KEYS;
            return false;
        }
        // Fetched keys first; opay_jwks_file's keys are the fallback.
        // the reason is all a refusal says: no detail text is made
        TokenResult t = verify_token(*token, in.keys ? *in.keys : config_.keys,
                                     config_.token, in.now, false);
        if (in.keys != nullptr && t.reason == OPAY_REFUSAL_UNKNOWN_KEY &&
            !config_.keys.keys.empty()) {
            t = verify_token(*token, config_.keys, config_.token, in.now,
                             false);
        }
        if (!t.ok()) {
            reason = t.reason;
        } else {
            token_ = std::move(t.claims);
        }
    } else {
        reason = OPAY_REFUSAL_BAD_SCHEME;
    }
    if (reason != OPAY_REFUSAL_NONE) {
        // Before verification every part of the token is the caller's: the
        // log gets the fixed reason code only (opay verify-token says more).
        error_ = reason;
        std::string_view code = refusal_name(reason);
        response_ = Response{401, error_body("invalid_token", code), true,
                             OPAY_LOG_INFO,
                             "bearer token refused: " + std::string(code)};
        // a kid the fetched keys lack may be a rotation: refresh and retry
        if (config_.remote_keys && reason == OPAY_REFUSAL_UNKNOWN_KEY)
            response_->keys_wait = OPAY_KEYS_WAIT_UNKNOWN_KEY;
        return false;
    }

    if (!is_json_media_type(in.content_type)) {
        refuse(415, OPAY_REFUSAL_UNSUPPORTED_MEDIA_TYPE,
               "request body must be application/json", OPAY_LOG_INFO,
               "content type is not application/json");
        return false;
    }
    request_.emplace(in.arenas);
    if (auto err = json::parse(in.body, request_->doc())) {
        refuse(400, OPAY_REFUSAL_MALFORMED_JSON,
               "request body is not valid JSON",
               OPAY_LOG_INFO, "request body is not valid JSON: " +
                                  err->reason);
        return false;
    }
    return true;
}

void Flow::feed(std::size_t index, int status, std::string_view body,
                bool replayed) {
    if (responding() || action_ || index >= results_.size() ||
        results_[index].done) {
        return;
    }
    Result& r = results_[index];
    bool last = std::all_of(results_.begin(), results_.end(),
                            [&r](const Result& x) {
                                return &x == &r || x.done;
                            });
    if (!last) {
        // the caller's buffer is not ours past this call; copied before
        // anything is marked, so that a failed copy changes nothing
        r.kept = body;
        r.body = r.kept;
    } else {
        r.body = body;
    }
    r.done = true;
    r.status = status;
    r.replayed = replayed;
    if (!last) return;
    waiting_ = false;
    on_fetched(results_);
    // nor is it here: what was read from it was copied out
    if (index < results_.size() && results_[index].kept.empty())
        results_[index].body = {};
    ensure_progress();
}

void Flow::resolve(int result, std::string_view data) {
    if (!action_ || responding()) return;
    action_.reset();
    waiting_ = false;
    on_resolved(result, data);
    ensure_progress();
}

bool Flow::refuse_backend_failure(opay_target_e backend, const Result& r) {
    if (r.status == 200) return false;
    std::string who = std::string(opay_target_name(backend)) + " backend";
    if (r.status == 504) {
        refuse(504, OPAY_REFUSAL_BACKEND_TIMEOUT,
               who + " timed out", OPAY_LOG_ERROR,
               who + " timed out");
    } else if (r.status == OPAY_FETCH_FAILED) {
        refuse(502, OPAY_REFUSAL_BACKEND_ERROR, who + " failed", OPAY_LOG_ERROR,
               who + " request failed (response too big, or see above)");
    } else {
        refuse(502, OPAY_REFUSAL_BACKEND_ERROR, who + " failed", OPAY_LOG_ERROR,
               who + " answered status " + std::to_string(r.status));
    }
    return true;
}

std::optional<Invoice> Flow::read_invoice(const Result& r) {
    if (r.status == 404) {
        refuse(404, OPAY_REFUSAL_UNKNOWN_INVOICE,
               "no such invoice", OPAY_LOG_INFO,
               "invoice backend: no such invoice");
        return std::nullopt;
    }
    if (refuse_backend_failure(OPAY_TARGET_INVOICE, r)) return std::nullopt;
    auto parsed = parse_invoice(r.body);
    if (auto* e = std::get_if<InvoiceError>(&parsed)) {
        refuse(502, OPAY_REFUSAL_BACKEND_ERROR,
               "invoice backend gave an invalid invoice",
               OPAY_LOG_ERROR, e->message);
        return std::nullopt;
    }
    request_id_ = std::get<Invoice>(parsed).identifier;
    return std::move(std::get<Invoice>(parsed));
}

void Flow::ask(Fetches fetches) {
    fetches_ = std::move(fetches);
    results_.assign(fetches_.size());
    waiting_ = true;
}

void Flow::ask(Fetch fetch) {
    fetches_.clear();
    fetches_.push_back(std::move(fetch));
    results_.assign(1);
    waiting_ = true;
}

void Flow::act(Action a) {
    fetches_.clear();
    action_ = std::move(a);
    waiting_ = true;
}

void Flow::respond(int status, std::string body, bool store) {
    finish(Response{status, std::move(body), false, OPAY_LOG_NONE, {}}, store);
}

// Every step must lead somewhere: an answer, an action or fetches.
void Flow::ensure_progress() {
    if (!responding() && !action_ && !waiting_) {
        refuse(500, OPAY_REFUSAL_INTERNAL_ERROR,
               "internal error", OPAY_LOG_ERROR,
               "flow ended without an answer");
    }
}

bool Flow::check_text(std::string_view field, std::string_view value) {
    if (!has_control(value)) return true;
    invalid(std::string(field) + " must not contain control characters");
    return false;
}

// $opay_ctx_* hands these values to URIs, headers and logs: none may carry
// a control character (a line break there would end a request line, a
// header or a log line).
bool Flow::check_product_context() {
    if (product_context_ == nullptr || !product_context_->IsObject()) {
        return true;
    }
    for (const auto& m : product_context_->GetObject()) {
        std::string_view name(m.name.GetString(), m.name.GetStringLength());
        // the field's name, made only for a refusal
        auto field = [name] { return "productContext." + log_value(name); };
        if (has_control(name)) {
            invalid(field() + ": a member name must not contain control "
                              "characters");
            return false;
        }
        auto text = json::string_text(&m.value);  // a string, not a number
        if (text && has_control(*text)) return check_text(field(), *text);
    }
    return true;
}

void Flow::invalid(const std::string& what) {
    refuse(400, OPAY_REFUSAL_INVALID_PAYLOAD, what, OPAY_LOG_INFO,
           "invalid payload: " + what);
}

void Flow::refuse(int status, opay_refusal_e code, std::string_view message,
                  opay_log_e log, std::string log_message) {
    error_ = code;
    finish(Response{status,
                    error_body(refusal_name(code), message,
                               echo_request_id_ ? request_id_ : ""),
                    status == 401, log,
                    std::move(log_message)},
           false);
}

void Flow::finish(Response r, bool /*store*/) {
    fetches_.clear();
    response_ = std::move(r);
}

void Flow::out_of_memory() noexcept {
    result_ = OPAY_RESULT_NONE;
    if (!may_have_charged()) {
        error_ = OPAY_REFUSAL_INTERNAL_ERROR;
        return;
    }
    error_ = OPAY_REFUSAL_PAYMENT_IN_PROGRESS;
    if (charge_kind_ == OPAY_CHARGE_NONE) charge_kind_ = OPAY_CHARGE_UNKNOWN;
}

std::optional<std::string_view> Flow::variable(opay_var_e var) const {
    std::string_view s;
    switch (var) {
    case OPAY_VAR_EVENT: s = event_; break;
    case OPAY_VAR_SUB: s = token_.sub(); break;
    case OPAY_VAR_SENDER: s = token_.sender(); break;
    case OPAY_VAR_REQUEST_ID: s = request_id_; break;
    case OPAY_VAR_RESULT: s = result_name(result_); break;
    case OPAY_VAR_ERROR: s = refusal_name(error_); break;
    case OPAY_VAR_CHARGE: s = charge_name(charge_kind_); break;
    case OPAY_VAR_CHARGE_CODE: s = charge_code_; break;
    }
    if (s.empty()) return std::nullopt;
    return s;
}

std::optional<std::string_view> Flow::context_field(
    std::string_view name) const {
    if (product_context_ == nullptr) return std::nullopt;
    if (const json::Value* v = json::member(*product_context_, name)) {
        return json::scalar_text(*v);
    }
    // nginx lower-cases variable names: $opay_ctx_invoiceid must find
    // "invoiceId".
    for (const auto& m : product_context_->GetObject()) {
        std::string_view key(m.name.GetString(), m.name.GetStringLength());
        if (iequals(key, name)) return json::scalar_text(m.value);
    }
    return std::nullopt;
}

}  // namespace opay
