#include "payment_complete.h"

#include "config.h"
#include "outcome.h"
#include "payment_request.h"
#include "shipping.h"

namespace opay {

namespace {

std::string payer_field(const json::Document& doc, const char* name) {
    return std::string(json::string_member(doc, name).value_or(""));
}

}  // namespace

std::variant<CompletePayload, std::string> read_complete_payload(
    const json::Document& doc) {
    if (!doc.IsObject()) return std::string("payload must be a JSON object");
    CompletePayload p;
    auto request_id = json::string_member(doc, "requestId");
    if (!request_id || request_id->empty() ||
        request_id->size() > kMaxRequestId) {
        return std::string("requestId must be a non-empty string");
    }
    p.request_id = std::string(*request_id);
    if (json::string_member(doc, "methodName") !=
        std::string_view(kMicrosoftPayMethod)) {
        return std::string("methodName must be ") + kMicrosoftPayMethod;
    }
    const json::Value* details = json::object_member(doc, "details");
    if (details == nullptr) return std::string("details must be an object");
    p.product_context = json::object_member(*details, "productContext");
    if (p.product_context == nullptr) {
        return std::string("details.productContext must be an object");
    }
    auto token = json::string_member(*details, "paymentToken");
    if (!token || token->empty()) {
        return std::string("details.paymentToken must be a string");
    }
    p.payment_token = std::string(*token);
    const json::Value* amount = json::member(*details, "amount");
    if (amount == nullptr) return std::string("details.amount is missing");
    auto money = parse_amount(*amount);
    if (auto* e = std::get_if<std::string>(&money)) {
        return "details.amount: " + *e;
    }
    p.amount = std::get<Money>(money);
    // null is what our own answers say when nothing applies: absent.
    if (const json::Value* o = json::member(doc, "shippingOption");
        o != nullptr && !o->IsNull()) {
        auto id = json::string_member(doc, "shippingOption");
        if (!id) return std::string("shippingOption must be a string or null");
        p.shipping_option = std::string(*id);
    }
    if (const json::Value* a = json::member(doc, "shippingAddress");
        a != nullptr && !a->IsNull()) {
        if (auto why = check_address(*a)) return *why;
        p.shipping_address = a;
    }
    p.payer_name = payer_field(doc, "payerName");
    p.payer_email = payer_field(doc, "payerEmail");
    p.payer_phone = payer_field(doc, "payerPhone");
    return p;
}

bool payment_due(std::string_view status) {
    return status.empty() || status == "PaymentDue" ||
           status == "PaymentPastDue" || status == "PaymentDeclined";
}

std::string success_reply(std::string_view request_id,
                          std::string_view message, const Invoice& invoice,
                          std::string_view confirmation) {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("requestId", json::str(request_id, a), a);
    d.AddMember("result", "success", a);
    d.AddMember("details", json::str(message, a), a);
    json::Value entity(*invoice.entity, a);
    json::set(entity, "paymentStatus", json::str("PaymentComplete", a), a);
    if (json::Value* due = json::object_member(entity, "totalPaymentDue")) {
        const json::Value* price = json::member(*due, "price");
        Money zero{0, invoice.total.currency};
        json::set(*due, "price",
                  price != nullptr && json::is_number(*price)
                      ? json::make_number("0", a)
                      : json::str(format_value(zero), a),
                  a);
    }
    json::set(entity, "confirmationNumber", json::str(confirmation, a), a);
    d.AddMember("entity", entity, a);
    return json::write(d);
}

std::string fail_reply(std::string_view request_id, std::string_view inner_code,
                       std::string_view message) {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("requestId", json::str(request_id, a), a);
    d.AddMember("result", "fail", a);
    d.AddMember("details", "We were unable to charge your card.", a);
    json::Value inner(rapidjson::kObjectType);
    inner.AddMember("code", json::str(inner_code, a), a);
    inner.AddMember("message", json::str(message, a), a);
    json::Value error(rapidjson::kObjectType);
    error.AddMember("code", "card_error", a);
    error.AddMember("message", "Card cannot be processed.", a);
    error.AddMember("target", "paymentToken", a);
    error.AddMember("innererror", inner, a);
    d.AddMember("error", error, a);
    return json::write(d);
}

std::string_view recorded_name(Recorded r) noexcept {
    switch (r) {
    case Recorded::kSuccess: return "success";
    case Recorded::kUnknown: return "unknown";
    case Recorded::kFail: break;
    }
    return "fail";
}

std::string notify_record(const CompletePayload& p, std::string_view invoice,
                          const Money& amount, const Outcome& o,
                          std::string_view sub, bool test_mode) {
    // a charge this caller did not make (another payer's, or an earlier
    // one found again): the record names the charge only, never this
    // caller's details or address, so a merchant fulfilling on records
    // cannot be sent to whoever resent a paid invoice's amount
    bool other = o.kind == OPAY_CHARGE_OTHER_PAYER ||
                 o.kind == OPAY_CHARGE_ALREADY_PAID;
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("requestId", json::str(p.request_id, a), a);
    d.AddMember("invoice", json::str(invoice, a), a);
    d.AddMember("productContext", json::Value(*p.product_context, a), a);
    d.AddMember("mode", test_mode ? "test" : "live", a);
    d.AddMember("result", json::str(recorded_name(o.result), a), a);
    d.AddMember("kind", json::str(charge_name(o.kind), a), a);
    if (!o.payment_intent.empty()) {
        d.AddMember("paymentIntent", json::str(o.payment_intent, a), a);
    }
    bool charged = o.result == Recorded::kSuccess;
    d.AddMember("amount", amount_json(charged ? o.amount : amount, a), a);
    if (charged && !o.payment_method.empty()) {
        d.AddMember("paymentMethod", json::str(o.payment_method, a), a);
    }
    if (!o.confirmation.empty()) {
        d.AddMember("confirmationNumber", json::str(o.confirmation, a), a);
    }
    if (!o.error_code.empty()) {
        d.AddMember("error", json::str(o.error_code, a), a);
    }
    if (other) {
        if (!o.shipping_option.empty()) {
            d.AddMember("shippingOption", json::str(o.shipping_option, a), a);
        }
        return json::write(d);
    }
    json::Value payer(rapidjson::kObjectType);
    payer.AddMember("sub", json::str(sub, a), a);
    payer.AddMember("name", json::str(p.payer_name, a), a);
    payer.AddMember("email", json::str(p.payer_email, a), a);
    payer.AddMember("phone", json::str(p.payer_phone, a), a);
    d.AddMember("payer", payer, a);
    if (p.shipping_address != nullptr) {
        d.AddMember("shippingAddress", json::Value(*p.shipping_address, a), a);
    }
    if (p.shipping_option) {
        d.AddMember("shippingOption", json::str(*p.shipping_option, a), a);
    }
    return json::write(d);
}

namespace {

// What every journal line starts with.
json::Document journal_line(const char* type, int64_t now) {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("type", rapidjson::StringRef(type), a);
    d.AddMember("time", json::make_number(std::to_string(now), a), a);
    return d;
}

}  // namespace

std::string journal_attempt(std::string_view request_id,
                            std::string_view invoice, const Money& amount,
                            std::string_view idempotency_key,
                            std::string_view payment_intent,
                            int confirmation, int64_t now) {
    json::Document d = journal_line("attempt", now);
    auto& a = d.GetAllocator();
    d.AddMember("requestId", json::str(request_id, a), a);
    d.AddMember("invoice", json::str(invoice, a), a);
    d.AddMember("amount", amount_json(amount, a), a);
    d.AddMember("idempotencyKey", json::str(idempotency_key, a), a);
    d.AddMember("paymentIntent", json::str(payment_intent, a), a);
    d.AddMember("confirmation", confirmation, a);
    return json::write(d);
}

std::string journal_outcome(const Outcome& o, std::string_view request_id,
                            std::string_view record, int64_t now) {
    json::Document d = journal_line("outcome", now);
    auto& a = d.GetAllocator();
    d.AddMember("entry", json::str(o.entry, a), a);
    d.AddMember("requestId", json::str(request_id, a), a);
    d.AddMember("kind", json::str(charge_name(o.kind), a), a);
    d.AddMember("paymentIntent", json::str(o.payment_intent, a), a);
    // record is notify_record()'s JSON text: spliced in, not parsed again
    std::string line = json::write(d);
    line.insert(line.size() - 1, ",\"record\":" + std::string(record));
    return line;
}

std::string journal_notify(std::string_view entry, std::string_view request_id,
                           bool ok, int status, int64_t now) {
    json::Document d = journal_line("notify", now);
    auto& a = d.GetAllocator();
    d.AddMember("entry", json::str(entry, a), a);
    d.AddMember("requestId", json::str(request_id, a), a);
    d.AddMember("ok", ok, a);
    d.AddMember("status", status, a);
    return json::write(d);
}

}  // namespace opay
