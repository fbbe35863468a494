// Fuzzes the PaymentComplete payment token reader (three base64url parts,
// a JSON header, the processor token as payload).
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "fuzz_util.h"
#include "payment_token.h"

using namespace opay;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parsed = parse_payment_token(fuzz::text(data, size));
    if (auto* error = std::get_if<std::string>(&parsed)) {
        fuzz::require(!error->empty());
        return 0;
    }
    const PaymentToken& t = std::get<PaymentToken>(parsed);
    if (t.amount) fuzz::require(is_valid_decimal(format_value(*t.amount)));
    return 0;
}
