// Fuzzes the processor's (Stripe's) answer reader, the form bodies and
// Stripe's units. Input: the HTTP status (digits), the separator line, the
// answer body. The rules checked: an answer that may mean money moved is
// never read as "nothing done", an id that reaches a path is a Stripe id,
// and an amount in Stripe's units is the same money.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "jwks.h"
#include "stripe.h"

using namespace opay;
using Kind = StripeAnswer::Kind;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = fuzz::split(fuzz::text(data, size), 2);
    int status = 0;
    for (char c : parts[0].substr(0, 3)) {
        if (c < '0' || c > '9') return 0;
        status = status * 10 + (c - '0');
    }
    std::string_view body = parts.size() > 1 ? parts[1] : "";

    StripeAnswer out = read_stripe_answer(status, body);
    fuzz::require(!out.log.empty());
    if (status == 0 || status >= 500 || status == 200) {
        fuzz::require(out.kind == Kind::kIntent ||
                      out.kind == Kind::kPaymentMethod ||
                      out.kind == Kind::kUnknown);
    }
    if (out.kind == Kind::kIntent) {
        fuzz::require(status == 200 && !out.status.empty());
    }
    if (!out.id.empty()) {
        fuzz::require(out.kind == Kind::kPaymentMethod
                          ? valid_payment_method_id(out.id)
                          : valid_intent_id(out.id));
    }
    if (out.kind == Kind::kCardError) {
        fuzz::require(status == 402 && !out.message.empty());
    }
    std::string inner = inner_error_code(out.code);
    fuzz::require(inner_error_code(inner) == inner);

    // the form encodes every value: the body cannot add a field
    IntentRequest r{StripeAmount{status, "usd"}, std::string(body),
                    std::string(body)};
    size_t fields = 1;
    for (char ch : create_form(r)) fields += ch == '&';
    fuzz::require(fields == 5);
    fields = 1;
    for (char ch : payment_method_form(body)) fields += ch == '&';
    fuzz::require(fields == 2);
    fields = 1;
    for (char ch : update_form({status, std::string(body), std::string(body),
                                std::string(body)})) {
        fields += ch == '&';
    }
    fuzz::require(fields == 4);
    if (out.kind == Kind::kIntent && !out.payment_method.empty()) {
        fuzz::require(valid_payment_method_id(out.payment_method));
    }
    if (!out.declined_payment_method.empty()) {
        fuzz::require(valid_payment_method_id(out.declined_payment_method));
    }

    // Stripe's units: never rounded; scaled by a power of ten only
    for (const char* code : {"USD", "JPY", "MGA", "ISK", "KWD", "IQD"}) {
        Money m{static_cast<int64_t>(fuzz::text(data, size).size()) * 7 +
                    status,
                *parse_currency(code)};
        auto units = stripe_amount(m);
        if (auto* a = std::get_if<StripeAmount>(&units)) {
            fuzz::require(a->amount > 0);
            if (a->amount <= kStripeMaxAmount) {
                auto back = from_stripe_amount(a->amount, m.currency);
                fuzz::require(back && back->minor == m.minor);
            }
            fuzz::require(a->amount % 10 == 0 || a->amount == m.minor ||
                          a->amount * 100 == m.minor);
        }
    }
    MdPtr sha256 = fetch_sha256();
    fuzz::require(intent_key(sha256.get(), "m", body, "usd", 0).size() ==
                  5 + 64);
    return 0;
}
