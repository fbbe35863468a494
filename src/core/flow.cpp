#include "flow.h"

#include <algorithm>
#include <cctype>

#include "ascii.h"
#include "jwt.h"
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

Flow::Flow(const Config& config, const Input& in) : config_(config) {
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
    start_payment_request();
}

void Flow::start_payment_request() {
    auto invalid = [this](const std::string& what) {
        refuse(400, "invalid_payload", what, OPAY_LOG_INFO,
               "invalid payload: " + what);
    };
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
    auto invalid = [this](const std::string& what) {
        refuse(400, "invalid_payload", what, OPAY_LOG_INFO,
               "invalid payload: " + what);
    };
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
    if (responding() || index >= results_.size() || results_[index].done) {
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
    case Stage::kDone:
        break;
    }
    if (!responding() && stage_ == Stage::kDone) {
        refuse(500, "internal_error", "internal error", OPAY_LOG_ERROR,
               "flow ended without an answer");
    }
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
    std::string answer = loadentity_answer(config_, *product_context_,
                                           *invoice);
    json::Document check;
    if (!json::parse(answer, check)) {
        if (auto broken = check_details(check["details"])) {
            refuse(502, "backend_error", "invoice backend gave an invalid "
                   "invoice", OPAY_LOG_ERROR, "invoice \"" +
                   invoice->identifier + "\": answer would break a W3C "
                   "rule: " + *broken);
            return;
        }
    }
    respond(200, std::move(answer));
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
    ShippingAnswer answer =
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

void Flow::respond(int status, std::string body) {
    fetches_.clear();
    response_ = Response{status, std::move(body), false, OPAY_LOG_NONE, {}};
}

void Flow::refuse(int status, std::string_view code, std::string_view message,
                  opay_log_e log, std::string log_message) {
    fetches_.clear();
    error_ = std::string(code);
    response_ = Response{status, error_body(code, message), status == 401,
                         log, std::move(log_message)};
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
