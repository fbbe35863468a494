#include "simulator.h"

#include <algorithm>

#include "base64url.h"
#include "config.h"
#include "invoice.h"
#include "json.h"
#include "stripe.h"

namespace opay {

namespace {

// Collects violations of one answer, each naming the field it is about.
class Rules {
  public:
    explicit Rules(StepReport& r) : r_(r) {}
    bool require(bool ok, std::string what) {
        if (!ok) r_.violations.push_back(std::move(what));
        return ok;
    }
    void say(std::string what) { r_.said.push_back(std::move(what)); }

  private:
    StepReport& r_;
};

// A W3C PaymentCurrencyAmount as an answer must hold it: value a string
// that is a valid decimal monetary value, currency a known ISO 4217 code.
std::optional<Money> w3c_amount(const json::Value* amount,
                                const std::string& where, Rules& rules) {
    if (!rules.require(amount != nullptr && amount->IsObject(),
                       where + " is missing or not an object")) {
        return std::nullopt;
    }
    auto value = json::string_member(*amount, "value");
    if (!rules.require(value.has_value(),
                       where + ".value is not a string (W3C: DOMString)")) {
        return std::nullopt;
    }
    if (!rules.require(is_valid_decimal(*value),
                       where + ".value \"" + std::string(*value) +
                           "\" is not a valid decimal monetary value")) {
        return std::nullopt;
    }
    auto parsed = parse_amount(*amount);
    if (auto* e = std::get_if<std::string>(&parsed)) {
        rules.require(false, where + ": " + *e);
        return std::nullopt;
    }
    return std::get<Money>(parsed);
}

std::string show(const Money& m) {
    return format_value(m) + " " + std::string(m.currency.view());
}

// The error shape of every refusal: {"error":{"code","message"}}.
void check_refusal(const EndpointAnswer& a, Rules& rules) {
    json::Document d;
    bool parsed = !json::parse(a.body, d) && d.IsObject();
    const json::Value* error = parsed ? json::object_member(d, "error")
                                      : nullptr;
    auto code = error ? json::string_member(*error, "code") : std::nullopt;
    auto message = error ? json::string_member(*error, "message")
                         : std::nullopt;
    rules.require(a.content_type.rfind("application/json", 0) == 0,
                  "refusal Content-Type is \"" + a.content_type +
                      "\", not application/json");
    rules.require(code && message,
                  "refusal body is not {\"error\":{\"code\",\"message\"}}");
    if (a.status == 401) {
        rules.require(a.www_authenticate.find("Bearer") == 0 &&
                          a.www_authenticate.find("invalid_token") !=
                              std::string::npos,
                      "401 without WWW-Authenticate: Bearer "
                      "error=\"invalid_token\"");
    }
    rules.say("refused: " + std::to_string(a.status) + " " +
              std::string(code.value_or("?")) +
              (message ? " (" + std::string(*message) + ")" : ""));
}

// A 200 is in JSON; any other status is checked as a refusal (false).
bool check_success_status(const EndpointAnswer& a, Rules& rules) {
    if (a.status != 200) {
        check_refusal(a, rules);
        return false;
    }
    rules.require(a.content_type.rfind("application/json", 0) == 0,
                  "Content-Type is \"" + a.content_type +
                      "\", not application/json");
    return true;
}

// Adds "currencySystem": null to an amount, as the service's echoes do.
void mark_currency_system(json::Value* amount, json::Allocator& a) {
    if (amount != nullptr && amount->IsObject()) {
        json::set(*amount, "currencySystem", json::Value(), a);
    }
}

}  // namespace

std::string reference_address(std::string_view country) {
    json::Document d;
    json::parse(R"({"country":"US","addressLine":["One Microsoft Way"],
        "region":"WA","city":"Redmond","dependantLocality":null,
        "postalCode":"98052","sortingCode":"","languageCode":"",
        "organization":"Microsoft","recipient":"Patti Fernandez",
        "phone":"4255551212"})",
                d);
    json::set(d, "country", json::str(country, d.GetAllocator()),
              d.GetAllocator());
    return json::write(d);
}

std::variant<Simulator, std::string> Simulator::start(SimulatorOptions o) {
    json::Document d;
    if (json::parse(o.product_context, d) || !d.IsObject()) {
        return std::string("product context is not a JSON object");
    }
    if (json::parse(o.shipping_address, d) || !d.IsObject()) {
        return std::string("shipping address is not a JSON object");
    }
    Simulator s(std::move(o));
    json::Document body;
    json::parse(R"({"methodData":[{"supportedMethods":"","data":{}}]})",
                body);
    auto& a = body.GetAllocator();
    json::Value& data = body["methodData"][0]["data"];
    body["methodData"][0]["supportedMethods"] = json::str(kPayMethod, a);
    json::Document ctx;
    json::parse(s.options_.product_context, ctx);
    data.AddMember("productContext", json::Value(ctx, a), a);
    data.AddMember("event", "loadentity", a);
    s.pending_ = {Webhook::kPaymentRequest, "loadentity", json::write(body)};
    return s;
}

std::optional<Call> Simulator::next() const {
    if (stage_ == Stage::kDone) return std::nullopt;
    return pending_;
}

// The service's next PaymentRequest call: the endpoint's last answer with
// the new event, and what the payer said.
std::string Simulator::echo(std::string_view event) const {
    json::Document d;
    json::parse(last_answer_, d);
    auto& a = d.GetAllocator();
    json::set(d, "id", json::str(request_id_, a), a);
    json::Value& data = d["methodData"][0]["data"];
    json::set(data, "event", json::str(event, a), a);
    if (json::Value* details = json::object_member(d, "details")) {
        if (json::Value* total = json::object_member(*details, "total")) {
            mark_currency_system(json::object_member(*total, "amount"), a);
        }
        if (json::Value* items = json::array_member(*details,
                                                     "displayItems")) {
            for (auto& item : items->GetArray()) {
                mark_currency_system(json::object_member(item, "amount"), a);
            }
        }
    }
    json::Document address;
    json::parse(options_.shipping_address, address);
    json::set(d, "shippingAddress", json::Value(address, a), a);
    if (event == "shippingoptionchange") {
        json::set(d, "shippingOption", json::str(chosen_option_, a), a);
    }
    return json::write(d);
}

std::string Simulator::complete_body() const {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    d.AddMember("requestId", json::str(request_id_, a), a);
    d.AddMember("methodName", json::str(kPayMethod, a), a);
    json::Value details(rapidjson::kObjectType);
    json::Document ctx;
    json::parse(options_.product_context, ctx);
    details.AddMember("productContext", json::Value(ctx, a), a);
    // Header and payload as the service makes them; the signature part is
    // not verifiable by anyone (no key was ever published).
    std::string header = std::string("{\"Format\":\"Stripe\",\"TestMode\":") +
                         (test_mode_ ? "true" : "false") + "}";
    std::string token = base64url_encode(header) + "." +
                        base64url_encode(options_.card) + "." +
                        base64url_encode("opay-simulate");
    details.AddMember("paymentToken", json::str(token, a), a);
    json::Value amount(rapidjson::kObjectType);
    amount.AddMember("currency", json::str(total_->currency.view(), a), a);
    amount.AddMember("value", json::str(format_value(*total_), a), a);
    amount.AddMember("currencySystem", json::Value(), a);
    details.AddMember("amount", amount, a);
    d.AddMember("details", details, a);
    if (shipping_) {
        json::Document address;
        json::parse(options_.shipping_address, address);
        d.AddMember("shippingAddress", json::Value(address, a), a);
        d.AddMember("shippingOption", json::str(chosen_option_, a), a);
    }
    if (payer_name_) d.AddMember("payerName", "Patti Fernandez", a);
    if (payer_email_) d.AddMember("payerEmail", "patti@contoso.com", a);
    if (payer_phone_) d.AddMember("payerPhone", "+14255551212", a);
    return json::write(d);
}

StepReport Simulator::feed(const EndpointAnswer& answer) {
    StepReport r;
    r.event = pending_.event;
    if (stage_ == Stage::kDone) return r;
    Stage was = stage_;
    stage_ = Stage::kDone;  // unless the checks move the conversation on
    if (was == Stage::kComplete) {
        check_complete_answer(answer, r);
    } else {
        check_request_answer(answer, r);
    }
    violations_ += static_cast<int>(r.violations.size());
    if (!r.ok()) stage_ = Stage::kDone;
    if (stage_ == Stage::kDone && r.ok() && was == Stage::kComplete) {
        finished_ = true;
    }
    return r;
}

void Simulator::check_request_answer(const EndpointAnswer& a, StepReport& r) {
    Rules rules(r);
    const std::string event = pending_.event;
    if (!check_success_status(a, rules)) return;
    json::Document d;
    if (auto e = json::parse(a.body, d)) {
        rules.require(false, "answer is not valid JSON (" + e->reason + ")");
        return;
    }
    if (!rules.require(d.IsObject(), "answer is not a JSON object")) return;

    // methodData[0]
    const json::Value* md = json::array_member(d, "methodData");
    if (!rules.require(md && md->Size() > 0 && (*md)[0].IsObject(),
                       "methodData is missing or empty")) {
        return;
    }
    const json::Value& m0 = (*md)[0];
    rules.require(json::string_member(m0, "supportedMethods") ==
                      std::optional<std::string_view>(kPayMethod),
                  "methodData[0].supportedMethods is not " +
                      std::string(kPayMethod));
    const json::Value* data = json::object_member(m0, "data");
    if (!rules.require(data != nullptr, "methodData[0].data is missing")) {
        return;
    }
    auto got_event = json::string_member(*data, "event");
    rules.require(got_event == std::optional<std::string_view>(event),
                  "data.event is \"" +
                      std::string(got_event.value_or("(none)")) +
                      "\", not \"" + event + "\"");
    json::Document ctx;
    json::parse(options_.product_context, ctx);
    const json::Value* got_ctx = json::member(*data, "productContext");
    rules.require(got_ctx != nullptr && *got_ctx == ctx,
                  "data.productContext is not the one sent");
    for (auto [name, ok] :
         {std::pair<const char*, bool (*)(std::string_view)>{
              "supportedNetworks", known_network},
          {"supportedTypes", known_type}}) {
        const json::Value* list = json::array_member(*data, name);
        if (!rules.require(list && list->Size() > 0,
                           std::string("data.") + name +
                               " is missing or empty")) {
            continue;
        }
        for (const auto& v : list->GetArray()) {
            auto t = json::string_text(&v);
            rules.require(t && ok(*t), std::string("data.") + name + " has \"" +
                                           std::string(t.value_or("?")) +
                                           "\", not a documented value");
        }
    }
    if (const json::Value* mode = json::member(*data, "mode")) {
        rules.require(json::string_text(mode) ==
                          std::optional<std::string_view>("TEST"),
                      "data.mode is present but not \"TEST\"");
    }
    bool test_mode = json::member(*data, "mode") != nullptr;

    // the schema.org entity
    const json::Value* entity = json::object_member(*data, "entity");
    std::optional<Money> entity_due;
    if (rules.require(entity != nullptr, "data.entity is missing")) {
        rules.require(json::string_member(*entity, "@type") ==
                          std::optional<std::string_view>("Invoice"),
                      "data.entity.@type is not Invoice");
        auto id = json::string_member(*entity, "identifier");
        if (rules.require(id.has_value(),
                          "data.entity.identifier is missing")) {
            if (identifier_.empty()) identifier_ = *id;
            rules.require(*id == identifier_,
                          "data.entity.identifier changed from \"" +
                              identifier_ + "\"");
        }
        const json::Value* due = json::object_member(*entity,
                                                     "totalPaymentDue");
        if (rules.require(due != nullptr,
                          "data.entity.totalPaymentDue is missing")) {
            json::Document amount(rapidjson::kObjectType);
            auto& al = amount.GetAllocator();
            if (auto* p = json::member(*due, "price")) {
                amount.AddMember("value", json::Value(*p, al), al);
            }
            if (auto* c = json::member(*due, "priceCurrency")) {
                amount.AddMember("currency", json::Value(*c, al), al);
            }
            auto money = parse_amount(amount);
            if (auto* e = std::get_if<std::string>(&money)) {
                rules.require(false, "data.entity.totalPaymentDue: " + *e);
            } else {
                entity_due = std::get<Money>(money);
            }
        }
    }

    // options
    const json::Value* options = json::member(d, "options");
    if (event == "loadentity") {
        if (options != nullptr && rules.require(options->IsObject(),
                                                "options is not an object")) {
            auto flag = [&](const char* name) {
                const json::Value* v = json::member(*options, name);
                rules.require(v == nullptr || v->IsBool(),
                              std::string("options.") + name +
                                  " is not a boolean");
                return v != nullptr && v->IsBool() && v->GetBool();
            };
            shipping_ = flag("requestShipping");
            payer_name_ = flag("requestPayerName");
            payer_email_ = flag("requestPayerEmail");
            payer_phone_ = flag("requestPayerPhone");
        }
        test_mode_ = test_mode;
    }
    if (options != nullptr && options->IsObject()) {
        if (auto* st = json::member(*options, "shippingType")) {
            auto t = json::string_text(st);
            rules.require(t && (*t == "shipping" || *t == "delivery" ||
                                *t == "pickup"),
                          "options.shippingType is not shipping, delivery "
                          "or pickup");
        }
    }

    // details
    const json::Value* details = json::object_member(d, "details");
    if (!rules.require(details != nullptr, "details is missing")) return;
    auto id = json::string_member(*details, "id");
    if (rules.require(id && !id->empty(), "details.id is missing")) {
        if (event == "loadentity") request_id_ = *id;
        rules.require(*id == request_id_, "details.id changed from \"" +
                                              request_id_ + "\"");
    }
    const json::Value* total = json::object_member(*details, "total");
    std::optional<Money> total_money;
    if (rules.require(total != nullptr, "details.total is missing")) {
        rules.require(json::string_member(*total, "label").has_value(),
                      "details.total.label is missing");
        total_money = w3c_amount(json::member(*total, "amount"),
                                 "details.total.amount", rules);
        if (total_money) {
            rules.require(total_money->minor >= 0,
                          "details.total is negative");
        }
    }
    std::optional<Money> items_sum;
    std::string items_said;
    if (const json::Value* items = json::member(*details, "displayItems")) {
        if (rules.require(items->IsArray(),
                          "details.displayItems is not an array") &&
            total_money) {
            items_sum = Money{0, total_money->currency};
            std::string list;
            for (rapidjson::SizeType i = 0; i < items->Size(); ++i) {
                std::string where = "details.displayItems[" +
                                    std::to_string(i) + "]";
                const json::Value& item = (*items)[i];
                auto label = item.IsObject()
                                 ? json::string_member(item, "label")
                                 : std::nullopt;
                rules.require(label.has_value(), where + ".label is missing");
                auto m = item.IsObject()
                             ? w3c_amount(json::member(item, "amount"),
                                          where + ".amount", rules)
                             : std::nullopt;
                if (!m) {
                    items_sum.reset();
                    break;
                }
                if (!rules.require(m->currency == total_money->currency,
                                   where + " is in " +
                                       std::string(m->currency.view()) +
                                       ", the total in " +
                                       std::string(total_money->currency
                                                       .view()))) {
                    items_sum.reset();
                    break;
                }
                auto sum = checked_add(items_sum->minor, m->minor);
                if (!sum) {
                    items_sum.reset();
                    break;
                }
                items_sum->minor = *sum;
                list += (list.empty() ? "" : ", ") +
                        std::string(label.value_or("?")) + " " +
                        format_value(*m);
            }
            if (items_sum) {
                rules.require(items_sum->minor == total_money->minor,
                              "details.total " + show(*total_money) +
                                  " is not the sum of displayItems " +
                                  show(*items_sum));
                items_said = "items: " + list;
            }
        }
    }
    if (total_money && entity_due) {
        rules.require(entity_due->currency == total_money->currency &&
                          entity_due->minor == total_money->minor,
                      "data.entity.totalPaymentDue " + show(*entity_due) +
                          " is not in step with details.total " +
                          show(*total_money));
    }

    // shipping options
    std::vector<std::pair<std::string, Money>> offered;
    std::string selected;
    if (const json::Value* so = json::member(*details, "shippingOptions")) {
        if (rules.require(so->IsArray(),
                          "details.shippingOptions is not an array")) {
            for (rapidjson::SizeType i = 0; i < so->Size(); ++i) {
                std::string where = "details.shippingOptions[" +
                                    std::to_string(i) + "]";
                const json::Value& o = (*so)[i];
                auto oid = o.IsObject() ? json::string_member(o, "id")
                                        : std::nullopt;
                if (!rules.require(oid.has_value(), where + ".id is missing")) {
                    continue;
                }
                rules.require(json::string_member(o, "label").has_value(),
                              where + ".label is missing");
                for (const auto& [seen, _] : offered) {
                    rules.require(seen != *oid, where + ".id \"" +
                                                    std::string(*oid) +
                                                    "\" is not unique");
                }
                auto m = w3c_amount(json::member(o, "amount"),
                                    where + ".amount", rules);
                if (m && total_money) {
                    rules.require(m->currency == total_money->currency,
                                  where + " is not in the total's currency");
                }
                const json::Value* sel = json::member(o, "selected");
                rules.require(sel == nullptr || sel->IsBool(),
                              where + ".selected is not a boolean");
                if (sel && sel->IsBool() && sel->GetBool()) {
                    selected = std::string(*oid);  // the last one wins
                }
                if (m) offered.emplace_back(std::string(*oid), *m);
            }
        }
    }
    auto error = json::string_member(*details, "error");
    if (error) rules.say("error for the payer: " + std::string(*error));

    // what each event must do
    std::optional<Money> shipping_cost;
    if (event == "loadentity") {
        base_total_ = total_money;
        if (total_money) {
            rules.say("invoice " + identifier_ + ", total " +
                      show(*total_money) +
                      (shipping_ ? ", shipping asked" : "") +
                      (test_mode ? ", TEST mode" : ""));
        }
    } else {
        json::Document address;
        json::parse(options_.shipping_address, address);
        const json::Value* got = json::member(d, "shippingAddress");
        bool refused_address = got != nullptr && got->IsNull();
        rules.require(refused_address || (got != nullptr && *got == address),
                      "shippingAddress is not the one sent (nor null)");
        if (refused_address) {
            rules.require(error.has_value(),
                          "shippingAddress refused (null) without "
                          "details.error");
        }
        if (offered.empty()) {
            rules.require(error.has_value(),
                          "no shippingOptions and no details.error to tell "
                          "the payer why");
        } else {
            std::string list;
            for (const auto& [oid, m] : offered) {
                list += (list.empty() ? "" : ", ") + oid + " " +
                        format_value(m);
            }
            rules.say("shipping options: " + list);
        }
        if (event == "shippingoptionchange") {
            auto got_option = json::member(d, "shippingOption");
            bool refused = got_option != nullptr && got_option->IsNull();
            if (refused) {
                rules.require(error.has_value(),
                              "shippingOption refused (null) without "
                              "details.error");
            } else {
                rules.require(json::string_text(got_option) ==
                                  std::optional<std::string_view>(
                                      chosen_option_),
                              "shippingOption is not the \"" +
                                  chosen_option_ + "\" chosen");
                rules.require(selected == chosen_option_,
                              "the chosen option \"" + chosen_option_ +
                                  "\" is not the one marked selected (\"" +
                                  selected + "\")");
            }
        }
        if (!selected.empty()) {
            for (const auto& [oid, m] : offered) {
                if (oid == selected) shipping_cost = m;
            }
        }
        if (base_total_ && total_money &&
            base_total_->currency == total_money->currency) {
            int64_t want = base_total_->minor +
                           (shipping_cost ? shipping_cost->minor : 0);
            rules.require(total_money->minor == want,
                          "details.total " + show(*total_money) +
                              " is not the invoice's " + show(*base_total_) +
                              " plus the selected shipping " +
                              (shipping_cost ? format_value(*shipping_cost)
                                             : std::string("0")));
        }
        if (total_money) {
            rules.say((selected.empty() ? std::string("no option selected")
                                        : selected + " selected") +
                      ", total " + show(*total_money));
        }
    }
    if (!items_said.empty()) rules.say(items_said);
    if (!r.ok()) return;
    last_answer_ = a.body;
    total_ = total_money;

    // the payer's next move
    if (event == "loadentity" && shipping_) {
        stage_ = Stage::kAddress;
        pending_ = {Webhook::kPaymentRequest, "shippingaddresschange",
                    echo("shippingaddresschange")};
        return;
    }
    if (event == "shippingaddresschange") {
        if (offered.empty()) {
            rules.say("the payer cannot go on: no shipping to this address");
            return;
        }
        chosen_option_ = options_.shipping_option.empty()
                             ? offered.back().first
                             : options_.shipping_option;
        stage_ = Stage::kOption;
        pending_ = {Webhook::kPaymentRequest, "shippingoptionchange",
                    echo("shippingoptionchange")};
        return;
    }
    if (options_.card.empty()) {
        rules.say("no --card: the payer stops before paying");
        finished_ = true;
        return;
    }
    stage_ = Stage::kComplete;
    pending_ = {Webhook::kPaymentComplete, "paymentcomplete",
                complete_body()};
}

void Simulator::check_complete_answer(const EndpointAnswer& a, StepReport& r) {
    Rules rules(r);
    if (!check_success_status(a, rules)) return;
    json::Document d;
    if (json::parse(a.body, d) || !d.IsObject()) {
        rules.require(false, "answer is not a JSON object");
        return;
    }
    rules.require(json::string_member(d, "requestId") ==
                      std::optional<std::string_view>(request_id_),
                  "requestId is not the \"" + request_id_ + "\" sent");
    auto result = json::string_member(d, "result");
    if (!rules.require(result && (*result == "success" || *result == "fail"),
                       "result is not \"success\" or \"fail\"")) {
        return;
    }
    rules.require(json::string_member(d, "details").has_value(),
                  "details is not a string");
    if (*result == "success") {
        rules.require(json::member(d, "error") == nullptr,
                      "a success carries an error");
        const json::Value* entity = json::object_member(d, "entity");
        if (rules.require(entity != nullptr, "entity is missing")) {
            auto status = json::string_member(*entity, "paymentStatus");
            rules.require(status && bare_payment_status(*status) ==
                                        "PaymentComplete",
                          "entity.paymentStatus is not PaymentComplete");
            rules.require(json::string_member(*entity, "identifier") ==
                              std::optional<std::string_view>(identifier_),
                          "entity.identifier is not \"" + identifier_ + "\"");
            auto conf = json::string_member(*entity, "confirmationNumber");
            rules.say("success, " + show(*total_) + " paid" +
                      (conf ? ", confirmation " + std::string(*conf) : ""));
        }
        return;
    }
    const json::Value* error = json::object_member(d, "error");
    if (!rules.require(error != nullptr, "a fail without error")) return;
    rules.require(json::string_member(*error, "code") ==
                      std::optional<std::string_view>("card_error"),
                  "error.code is not card_error");
    rules.require(json::string_member(*error, "message").has_value(),
                  "error.message is missing");
    const json::Value* inner = json::object_member(*error, "innererror");
    auto inner_code = inner ? json::string_member(*inner, "code")
                            : std::nullopt;
    rules.require(inner_code && is_inner_error_code(*inner_code),
                  "error.innererror.code is not one of the documented codes");
    rules.require(inner && json::string_member(*inner, "message").has_value(),
                  "error.innererror.message is missing");
    rules.say("fail: card_error/" + std::string(inner_code.value_or("?")));
}

}  // namespace opay
