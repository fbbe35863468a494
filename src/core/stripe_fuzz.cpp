// Fuzzes the processor's (Stripe's) answer reader and the charge form.
// Input: the HTTP status (digits), the separator line, the answer body.
// The rule checked: an answer that may mean money moved is never read as
// "nothing charged".
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "stripe.h"

using namespace opay;
using Kind = ChargeOutcome::Kind;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = fuzz::split(fuzz::text(data, size), 2);
    int status = 0;
    for (char c : parts[0].substr(0, 3)) {
        if (c < '0' || c > '9') return 0;
        status = status * 10 + (c - '0');
    }
    std::string_view body = parts.size() > 1 ? parts[1] : "";

    ChargeOutcome out = read_charge_answer(status, body);
    fuzz::require(!out.log.empty());
    if (status == 0 || status >= 500 || status == 200) {
        fuzz::require(out.kind == Kind::kSucceeded ||
                      out.kind == Kind::kUnknown);
    }
    if (out.kind == Kind::kSucceeded) {
        fuzz::require(status == 200 && !out.charge_id.empty());
    } else {
        fuzz::require(inner_error_code(out.inner_code) == out.inner_code);
        fuzz::require(!out.message.empty());
    }
    if (out.kind == Kind::kDeclined) fuzz::require(status == 402);

    // the form encodes every value: the body cannot add a field
    ChargeRequest c{Money{status, *parse_currency("usd")}, std::string(body),
                    std::string(body), std::string(parts[0]),
                    std::string(body)};
    std::string form = charge_form(c);
    size_t fields = 1;
    for (char ch : form) fields += ch == '&';
    fuzz::require(fields == 6);
    fuzz::require(idempotency_key("m", body).size() == 5 + 64);
    return 0;
}
