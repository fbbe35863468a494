#include "payment_token.h"

#include <algorithm>

#include "base64url.h"
#include "invoice.h"
#include "json.h"

namespace opay {

std::variant<PaymentToken, std::string> parse_payment_token(
    std::string_view token) {
    auto d1 = token.find('.');
    auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
    if (d2 == std::string_view::npos ||
        token.find('.', d2 + 1) != std::string_view::npos) {
        return std::string("payment token is not three dot-separated parts");
    }
    auto header_text = base64url_decode(token.substr(0, d1));
    auto payload = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
    if (!header_text || !payload || !base64url_decode(token.substr(d2 + 1))) {
        return std::string("payment token parts must be unpadded base64url");
    }
    json::Document header;
    if (json::parse(*header_text, header) || !header.IsObject()) {
        return std::string("payment token header is not a JSON object");
    }
    PaymentToken out;
    auto format = json::string_member(header, "Format");
    if (!format || format->empty()) {
        return std::string("payment token header has no \"Format\"");
    }
    out.format = std::string(*format);
    const json::Value* test = json::member(header, "TestMode");
    if (test == nullptr || !test->IsBool()) {
        return std::string("payment token header has no boolean "
                           "\"TestMode\"");
    }
    out.test_mode = test->GetBool();
    if (const json::Value* amount = json::member(header, "Amount")) {
        auto money = parse_amount(*amount);
        if (auto* e = std::get_if<std::string>(&money)) {
            return "payment token \"Amount\": " + *e;
        }
        out.amount = std::get<Money>(money);
    }
    // The processor's token goes into a form field: printable ASCII only.
    if (payload->empty() || payload->size() > 255 ||
        !std::all_of(payload->begin(), payload->end(), [](char c) {
            return c > 0x20 && c < 0x7f;
        })) {
        return std::string("payment token payload is not a processor token");
    }
    out.processor_token = std::move(*payload);
    return out;
}

}  // namespace opay
