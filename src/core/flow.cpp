#include "flow.h"

#include <algorithm>
#include <cctype>

#include <cstdio>

#include "ascii.h"
#include "jwt.h"
#include <openssl/rand.h>

#include "payment_request.h"
#include "shipping.h"

namespace opay {

namespace {

std::string error_body(std::string_view code, std::string_view message) {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    json::Value e(rapidjson::kObjectType);
    e.AddMember("code", json::str(code, a), a);
    e.AddMember("message", json::str(message, a), a);
    d.AddMember("error", e, a);
    return json::write(d);
}

bool is_json_media_type(std::string_view ct) {
    auto semi = ct.find(';');
    std::string_view type = ct.substr(0, semi);
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    return iequals(type, "application/json");
}

}  // namespace

Flow::Flow(const Config& config, const Input& in)
    : config_(config), now_(in.now) {
    if (in.method != "POST") {
        refuse(405, "method_not_allowed", "only POST is allowed",
               OPAY_LOG_INFO, "method " + std::string(in.method) +
                                  " not allowed");
        return;
    }
    if (in.too_large) {
        refuse(413, "body_too_large", "request body is too large",
               OPAY_LOG_INFO, "request body exceeds opay_max_body_size");
        return;
    }

    std::string_view header = !in.authorization.empty()
                                   ? in.authorization
                                   : in.action_authorization;
    std::string reason;
    std::string detail;
    if (header.empty()) {
        reason = "missing_token";
        detail = "no Authorization or Action-Authorization header";
    } else if (auto token = bearer_token(header)) {
        TokenResult t = verify_token(*token, config_.keys, config_.token,
                                     in.now);
        sub_ = t.sub;
        sender_ = t.sender;
        if (!t.ok()) {
            reason = t.reason;
            for (const auto& c : t.checks) {
                if (!c.ok) {
                    detail = c.name + ": " + c.detail;
                    break;
                }
            }
        }
    } else {
        reason = "bad_scheme";
        detail = "authorization scheme is not Bearer";
    }
    if (!reason.empty()) {
        error_ = reason;
        response_ = Response{401, error_body("invalid_token", reason), true,
                             OPAY_LOG_INFO,
                             "bearer token refused: " + reason + " (" +
                                 detail + ")"};
        return;
    }

    if (!is_json_media_type(in.content_type)) {
        refuse(415, "unsupported_media_type",
               "request body must be application/json", OPAY_LOG_INFO,
               "content type is not application/json");
        return;
    }
    if (auto err = json::parse(in.body, request_)) {
        refuse(400, "malformed_json", "request body is not valid JSON",
               OPAY_LOG_INFO, "request body is not valid JSON: " +
                                  err->reason);
        return;
    }
    if (in.webhook == OPAY_PAYMENT_COMPLETE) {
        start_payment_complete();
    } else {
        start_payment_request();
    }
}

void Flow::start_payment_request() {
    const json::Value* methods = json::array_member(request_, "methodData");
    if (methods == nullptr || methods->Empty() ||
        !(*methods)[0].IsObject()) {
        return invalid("methodData must be a non-empty array of objects");
    }
    const json::Value& method = (*methods)[0];
    if (json::string_member(method, "supportedMethods") !=
        std::string_view(kMicrosoftPayMethod)) {
        return invalid(std::string("methodData[0].supportedMethods must be ") +
                       kMicrosoftPayMethod);
    }
    const json::Value* data = json::object_member(method, "data");
    if (data == nullptr) return invalid("methodData[0].data must be an object");
    auto event = json::string_member(*data, "event");
    if (!event) return invalid("methodData[0].data.event must be a string");
    product_context_ = json::object_member(*data, "productContext");
    if (product_context_ == nullptr) {
        return invalid("methodData[0].data.productContext must be an object");
    }
    event_ = std::string(event->substr(0, 64));
    // shippingOption tells an option change apart: the reference's own
    // example still says "shippingaddresschange" in that payload.
    bool option_change = json::member(request_, "shippingOption") != nullptr;
    if (*event == "loadentity" && !option_change) {
        ask({Fetch{OPAY_TARGET_INVOICE, false, {}, {}, {}}},
            Stage::kLoadInvoice);
        return;
    }
    if (*event == "shippingaddresschange" || *event == "shippingoptionchange" ||
        option_change) {
        if (option_change) event_ = "shippingoptionchange";
        start_shipping_event();
        return;
    }
    invalid("unknown event");
}

void Flow::start_shipping_event() {
    if (!config_.shipping) {
        refuse(400, "unsupported_event", "shipping is not asked for here",
               OPAY_LOG_INFO,
               "event " + event_ + " but opay_shipping_uri is not set");
        return;
    }
    const json::Value* address = json::member(request_, "shippingAddress");
    if (address == nullptr) return invalid("shippingAddress is missing");
    if (auto why = check_address(*address)) return invalid(*why);
    if (event_ == "shippingoptionchange") {
        auto option = json::string_member(request_, "shippingOption");
        if (!option) return invalid("shippingOption must be a string");
        chosen_option_ = std::string(*option);
    }
    const json::Value* details = json::object_member(request_, "details");
    auto id = details ? json::string_member(*details, "id") : std::nullopt;
    if (!id || id->empty()) return invalid("details.id must be a string");
    invoice_id_ = std::string(*id);
    ask({Fetch{OPAY_TARGET_INVOICE, false, {}, {}, {}},
         Fetch{OPAY_TARGET_SHIPPING, true,
               shipping_request(invoice_id_, *product_context_, *address),
               "application/json", {}}},
        Stage::kShipping);
}

void Flow::feed(std::size_t index, int status, std::string_view body) {
    if (responding() || action_ || index >= results_.size() ||
        results_[index].done) {
        return;
    }
    results_[index] = Result{true, status, std::string(body)};
    bool all = std::all_of(results_.begin(), results_.end(),
                           [](const Result& r) { return r.done; });
    if (!all) return;
    Stage stage = stage_;
    stage_ = Stage::kDone;
    switch (stage) {
    case Stage::kLoadInvoice:
        on_invoice(results_[0]);
        break;
    case Stage::kShipping:
        on_shipping(results_[0], results_[1]);
        break;
    case Stage::kCompleteFetch:
        on_complete_fetch(results_[0],
                          results_.size() > 1 ? &results_[1] : nullptr);
        break;
    case Stage::kCharge:
        on_charge(results_[0]);
        break;
    case Stage::kNotify:
        on_notify(results_[0]);
        break;
    default:
        break;
    }
    ensure_progress();
}

bool Flow::refuse_backend_failure(const char* backend, const Result& r) {
    std::string who = std::string(backend) + " backend";
    if (r.status == 200) return false;
    if (r.status == 504) {
        refuse(504, "backend_timeout", who + " timed out", OPAY_LOG_ERROR,
               who + " timed out");
    } else if (r.status == OPAY_FETCH_FAILED) {
        refuse(502, "backend_error", who + " failed", OPAY_LOG_ERROR,
               who + " request failed (response too big, or see above)");
    } else {
        refuse(502, "backend_error", who + " failed", OPAY_LOG_ERROR,
               who + " answered status " + std::to_string(r.status));
    }
    return true;
}

std::optional<Invoice> Flow::read_invoice(const Result& r) {
    if (r.status == 404) {
        refuse(404, "unknown_invoice", "no such invoice", OPAY_LOG_INFO,
               "invoice backend: no such invoice");
        return std::nullopt;
    }
    if (refuse_backend_failure("invoice", r)) return std::nullopt;
    auto parsed = parse_invoice(r.body);
    if (auto* e = std::get_if<InvoiceError>(&parsed)) {
        refuse(502, "backend_error", "invoice backend gave an invalid invoice",
               OPAY_LOG_ERROR, e->message);
        return std::nullopt;
    }
    request_id_ = std::get<Invoice>(parsed).identifier;
    return std::move(std::get<Invoice>(parsed));
}

void Flow::on_invoice(const Result& r) {
    auto invoice = read_invoice(r);
    if (!invoice) return;
    Answer answer = loadentity_answer(config_, *product_context_, *invoice);
    if (!answer.error.empty()) {
        refuse(502, "backend_error", "invoice backend gave an invalid invoice",
               OPAY_LOG_ERROR, "invoice \"" + invoice->identifier +
                                   "\": answer would break a W3C rule: " +
                                   answer.error);
        return;
    }
    respond(200, std::move(answer.body));
}

void Flow::on_shipping(const Result& invoice_result, const Result& options) {
    auto invoice = read_invoice(invoice_result);
    if (!invoice) return;
    std::string name = "invoice \"" + invoice->identifier + "\"";
    if (invoice->identifier != invoice_id_) {
        refuse(400, "invalid_payload", "details.id does not match the invoice",
               OPAY_LOG_INFO, "invalid payload: details.id \"" +
                                  invoice_id_.substr(0, 64) + "\" but " +
                                  name);
        return;
    }
    if (invoice->request_shipping == false) {
        refuse(400, "unsupported_event", "this invoice is not shipped",
               OPAY_LOG_INFO, name + " does not ask for shipping");
        return;
    }
    if (refuse_backend_failure("shipping", options)) return;
    auto parsed = parse_shipping_options(options.body, invoice->total.currency);
    if (auto* e = std::get_if<std::string>(&parsed)) {
        refuse(502, "backend_error", "shipping backend gave invalid options",
               OPAY_LOG_ERROR, "shipping backend for " + name + ": " + *e);
        return;
    }
    Answer answer =
        shipping_answer(request_, event_, *invoice,
                        std::get<ShippingOptions>(parsed), chosen_option_);
    if (!answer.error.empty()) {
        refuse(502, "backend_error", "shipping backend gave invalid options",
               OPAY_LOG_ERROR, "shipping backend for " + name + ": " +
                                   answer.error);
        return;
    }
    respond(200, std::move(answer.body));
}

void Flow::ask(std::vector<Fetch> fetches, Stage next) {
    fetches_ = std::move(fetches);
    results_.assign(fetches_.size(), Result{});
    stage_ = next;
}

void Flow::act(Action a, Stage next) {
    fetches_.clear();
    action_ = std::move(a);
    stage_ = next;
}

void Flow::respond(int status, std::string body, bool store) {
    finish(Response{status, std::move(body), false, OPAY_LOG_NONE, {}}, store);
}

// Every step must lead somewhere: an answer, an action or fetches.
void Flow::ensure_progress() {
    if (!responding() && !action_ && stage_ == Stage::kDone) {
        refuse(500, "internal_error", "internal error", OPAY_LOG_ERROR,
               "flow ended without an answer");
    }
}

void Flow::invalid(const std::string& what) {
    refuse(400, "invalid_payload", what, OPAY_LOG_INFO,
           "invalid payload: " + what);
}

void Flow::refuse(int status, std::string_view code, std::string_view message,
                  opay_log_e log, std::string log_message) {
    error_ = std::string(code);
    finish(Response{status, error_body(code, message), status == 401, log,
                    std::move(log_message)},
           false);
}

// Every answer goes out here. A claimed payment is settled first: its reply
// stored for replay when final, the claim released otherwise.
void Flow::finish(Response r, bool store) {
    fetches_.clear();
    if (claimed_) {
        claimed_ = false;
        pending_ = std::move(r);
        act({OPAY_STEP_SETTLE, claim_key_, store ? pending_->body : "", store},
            Stage::kSettle);
        return;
    }
    response_ = std::move(r);
}

void Flow::resolve(int result, std::string_view data) {
    if (!action_ || responding()) return;
    action_.reset();
    Stage stage = stage_;
    stage_ = Stage::kDone;
    switch (stage) {
    case Stage::kClaim:
        on_claim(result, data);
        break;
    case Stage::kJournalAttempt:
        if (result != 0) {
            refuse(503, "journal_unavailable",
                   "the payment cannot be recorded now", OPAY_LOG_ERROR,
                   "journal write failed: not charging requestId \"" +
                       request_id_ + "\"");
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
    ensure_progress();
}

void Flow::start_payment_complete() {
    event_ = "paymentcomplete";
    auto parsed = read_complete_payload(request_);
    if (auto* e = std::get_if<std::string>(&parsed)) {
        invalid(*e);
        return;
    }
    payload_ = std::move(std::get<CompletePayload>(parsed));
    request_id_ = payload_.request_id;
    product_context_ = payload_.product_context;
    auto token = parse_payment_token(payload_.payment_token);
    if (auto* e = std::get_if<std::string>(&token)) {
        refuse(400, "invalid_payload", "details.paymentToken is malformed",
               OPAY_LOG_INFO, "invalid payload: " + *e);
        return;
    }
    payment_token_ = std::move(std::get<PaymentToken>(token));
    std::string rid = "requestId \"" + request_id_ + "\"";
    if (!config_.processor) {
        refuse(500, "internal_error", "internal error", OPAY_LOG_ERROR,
               "no processor configured");
        return;
    }
    if (!iequals(payment_token_.format, "Stripe")) {
        refuse_payment("This payment method is not accepted.", OPAY_LOG_INFO,
                       "payment token Format \"" +
                           payment_token_.format.substr(0, 32) +
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

void Flow::on_claim(int result, std::string_view stored) {
    std::string rid = "requestId \"" + request_id_ + "\"";
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
    if (payload_.shipping_option) {
        if (!config_.shipping) {
            refuse(400, "invalid_payload",
                   "shippingOption given, but shipping is not asked for here",
                   OPAY_LOG_INFO, "invalid payload: shippingOption without "
                                  "opay_shipping_uri");
            return;
        }
        if (auto why = check_address(*payload_.shipping_address)) {
            return invalid(*why);
        }
        fetches.push_back(Fetch{
            OPAY_TARGET_SHIPPING, true,
            shipping_request(request_id_, *product_context_,
                             *payload_.shipping_address),
            "application/json", {}});
    }
    ask(std::move(fetches), Stage::kCompleteFetch);
}

void Flow::on_complete_fetch(const Result& invoice_result,
                             const Result* options) {
    auto invoice = read_invoice(invoice_result);
    if (!invoice) return;
    std::string name = "invoice \"" + invoice->identifier + "\"";
    request_id_ = payload_.request_id;  // read_invoice set the identifier
    if (invoice->identifier != payload_.request_id) {
        refuse(400, "invalid_payload", "requestId does not match the invoice",
               OPAY_LOG_INFO, "invalid payload: requestId \"" +
                                  request_id_ + "\" but " + name);
        return;
    }
    if (!payment_due(invoice->payment_status)) {
        refuse_payment("This invoice is not due for payment.", OPAY_LOG_INFO,
                       name + " is " + invoice->payment_status +
                           ": not charging");
        return;
    }
    Money due = invoice->total;
    if (options != nullptr) {
        if (refuse_backend_failure("shipping", *options)) return;
        auto parsed = parse_shipping_options(options->body, due.currency);
        if (auto* e = std::get_if<std::string>(&parsed)) {
            refuse(502, "backend_error", "shipping backend gave invalid options",
                   OPAY_LOG_ERROR, "shipping backend for " + name + ": " + *e);
            return;
        }
        const ShippingOption* chosen = nullptr;
        for (const auto& o : std::get<ShippingOptions>(parsed).options) {
            if (o.id == *payload_.shipping_option) chosen = &o;
        }
        if (chosen == nullptr) {
            refuse_payment("The selected shipping option is not available.",
                           OPAY_LOG_INFO, "shipping option \"" +
                                              payload_.shipping_option->substr(0, 64) +
                                              "\" not offered for " + name +
                                              ": not charging");
            return;
        }
        auto sum = checked_add(due.minor, chosen->amount.minor);
        if (!sum || *sum < 0) {
            refuse(502, "backend_error", "shipping backend gave invalid options",
                   OPAY_LOG_ERROR, "shipping backend for " + name +
                                       ": total due with shipping is invalid");
            return;
        }
        due.minor = *sum;
    }
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

void Flow::charge() {
    ChargeRequest c{due_, payment_token_.processor_token,
                    "Invoice " + invoice_->identifier, invoice_->identifier,
                    request_id_};
    ask({Fetch{OPAY_TARGET_PROCESSOR, true, charge_form(c),
               "application/x-www-form-urlencoded",
               idempotency_key_}},
        Stage::kCharge);
}

void Flow::on_charge(const Result& r) {
    charge_ = read_charge_answer(r.status, r.body);
    using Kind = ChargeOutcome::Kind;
    if (charge_.kind == Kind::kInFlight) {
        refuse(409, "payment_in_progress", "this payment is being processed",
               OPAY_LOG_INFO, "processor: requestId \"" + request_id_ +
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

void Flow::after_outcome_journal() {
    if (config_.notify) {
        ask({Fetch{OPAY_TARGET_NOTIFY, true, notify_body_, "application/json",
                   {}}},
            Stage::kNotify);
        return;
    }
    finish_payment();
}

void Flow::on_notify(const Result& r) {
    notify_status_ = r.status;
    if (!config_.journal) return finish_payment();
    act({OPAY_STEP_JOURNAL, {},
         journal_notify(outcome_.entry, request_id_,
                        notify_status_ >= 200 && notify_status_ < 300,
                        notify_status_, now_),
         false},
        Stage::kJournalNotify);
}

void Flow::finish_payment() {
    using Kind = ChargeOutcome::Kind;
    std::string rid = "requestId \"" + request_id_ + "\"";
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
        log += "; journal write failed, outcome: " + notify_body_;
    }
    finish(Response{200, reply_, false, level, std::move(log)}, store_reply_);
}

void Flow::refuse_payment(std::string_view message, opay_log_e log,
                          std::string log_message) {
    result_ = "fail";
    error_ = "payment_refused";
    finish(Response{200, fail_reply(request_id_, "processing_error", message),
                    false, log, std::move(log_message)},
           false);
}

std::optional<std::string_view> Flow::variable(opay_var_e var) const {
    const std::string* s = nullptr;
    switch (var) {
    case OPAY_VAR_EVENT: s = &event_; break;
    case OPAY_VAR_SUB: s = &sub_; break;
    case OPAY_VAR_SENDER: s = &sender_; break;
    case OPAY_VAR_REQUEST_ID: s = &request_id_; break;
    case OPAY_VAR_RESULT: s = &result_; break;
    case OPAY_VAR_ERROR: s = &error_; break;
    }
    if (s == nullptr || s->empty()) return std::nullopt;
    return *s;
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
