// What the card's tests share (card*_test.cpp): the demo invoice and keys,
// a card written or its problems, and the texts an Adaptive Card shows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "card.h"
#include "json.h"
#include "jws.h"
#include "test_util.h"

namespace opay::card_test {

inline constexpr int64_t kNow = 1760000000;

inline constexpr const char* kMerchant = "3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10";

inline std::string demo(const std::string& name) {
    return test::read_testdata("../conf-examples/" + name);
}

inline CardInput input(CardFormat format = CardFormat::kActionRequest) {
    CardInput in;
    in.merchant_id = kMerchant;
    in.display_id = "5d1c2b3a-4e5f-4a6b-9c8d-7e6f5a4b3c2d";
    in.originator = "8a0f2c1e-6b3d-4f5a-9e7c-1d2b3a4c5e6f";
    in.invoice = demo("invoices/12345.json");
    in.format = format;
    return in;
}

inline std::string written(const CardInput& in) {
    auto out = write_card(in);
    if (auto* problems = std::get_if<std::vector<CardProblem>>(&out)) {
        std::string all;
        for (const auto& p : *problems) all += to_string(p) + "; ";
        ADD_FAILURE() << "card not written: " << all;
        return {};
    }
    return std::get<std::string>(out);
}

inline std::vector<std::string> problems_of(const CardInput& in) {
    auto out = write_card(in);
    std::vector<std::string> names;
    if (auto* problems = std::get_if<std::vector<CardProblem>>(&out)) {
        for (const auto& p : *problems) names.push_back(to_string(p));
    }
    return names;
}

inline bool has(const std::vector<std::string>& all, const std::string& want) {
    for (const auto& s : all) {
        if (s.find(want) != std::string::npos) return true;
    }
    return false;
}

inline std::string names(const CardReport& r) {
    std::string all;
    for (const auto& p : r.problems) all += to_string(p) + "\n";
    return all;
}

inline CardSigning signing(int64_t now = kNow) {
    CardSigning s;
    s.key = private_key_from_pem(demo("demo-only-key.pem"));
    s.kid = "demo-only";
    s.sender = "billing@contoso.com";
    s.recipient = "patti@contoso.com";
    s.now = now;
    return s;
}

inline KeySet demo_keys() {
    return std::get<KeySet>(load_jwks(demo("demo-only-jwks.json")));
}

// The card's JSON from the script in the e-mail's head.
inline void card_json(const std::string& html, json::Document& d) {
    auto start = html.find('>', html.find("<script")) + 1;
    auto end = html.find("</script>");
    ASSERT_FALSE(json::parse(html.substr(start, end - start), d)) << html;
}

// A TextBlock of an Adaptive Card: its text, whether it wraps, and the id
// of the element it is in (its own, or its nearest ancestor's).
struct Block {
    std::string id;
    std::string text;
    bool wrap;
};

inline void collect(const json::Value& elements, const std::string& parent,
                    std::vector<Block>& out) {
    for (const auto& e : elements.GetArray()) {
        auto id = json::string_member(e, "id");
        std::string at = id ? std::string(*id) : parent;
        if (json::string_member(e, "type") ==
            std::optional<std::string_view>("TextBlock")) {
            const json::Value* wrap = json::member(e, "wrap");
            out.push_back({at, std::string(*json::string_member(e, "text")),
                           wrap != nullptr && wrap->IsBool() &&
                               wrap->GetBool()});
        }
        if (const json::Value* items = json::array_member(e, "items")) {
            collect(*items, at, out);
        }
        if (const json::Value* cols = json::array_member(e, "columns")) {
            for (const auto& c : cols->GetArray()) {
                collect(*json::array_member(c, "items"), at, out);
            }
        }
    }
}

inline std::vector<Block> blocks(const json::Value& card) {
    std::vector<Block> out;
    collect(*json::array_member(card, "body"), "", out);
    return out;
}

// The texts of the blocks inside the element with this id, joined by "|".
inline std::string shown(const std::vector<Block>& all, const std::string& id) {
    std::string out;
    for (const Block& b : all) {
        if (b.id != id) continue;
        if (!out.empty()) out += "|";
        out += b.text;
    }
    return out;
}

inline std::string invoice_json(const std::string& merchant,
                                const std::string& id,
                                const std::string& status,
                                const std::string& price,
                                const std::string& currency,
                                const std::string& rest = "") {
    return R"({"entity":{"@type":"Invoice","identifier":")" + id +
           R"(","broker":{"@type":"LocalBusiness","name":")" + merchant +
           R"("},"paymentDueDate":"2026-12-31T00:00:00","paymentStatus":")" +
           status + R"(","totalPaymentDue":{"price":")" + price +
           R"(","priceCurrency":")" + currency + R"("}})" + rest + "}";
}

inline std::string adaptive_html(const std::string& card) {
    return "<html><head><script type=\"application/adaptivecard+json\">" +
           card + "</script></head></html>";
}

inline constexpr const char* kAction =
    R"({"type":"Action.Transaction","title":"Review and pay",)"
    R"("initializationContext":{"merchantId":)"
    R"("3f1e7c2a-0b8d-4e57-9c61-5d2a8f4b7e10","displayId":"d",)"
    R"("productContext":{"invoiceId":"1"}}})";

}  // namespace opay::card_test
