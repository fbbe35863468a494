// opay card: writes the payment request e-mail, or checks one (--check).
// The rules are the core's (card.h).
#include <ctime>
#include <fstream>
#include <iostream>

#include "ascii.h"
#include "card.h"
#include "cli.h"
#include "jwks.h"
#include "jws.h"

namespace opay::cli {

namespace {

int check(const Args& a) {
    const std::string path = a.options.at("--check");
    auto html = read_file(path);
    if (!html) {
        std::cerr << "opay: cannot read " << path << "\n";
        return 2;
    }
    std::optional<KeySet> keys;
    if (a.options.count("--jwks")) {
        auto text = read_file(a.options.at("--jwks"));
        if (!text) {
            std::cerr << "opay: cannot read " << a.options.at("--jwks")
                      << "\n";
            return 2;
        }
        auto loaded = load_jwks(*text);
        if (auto* e = std::get_if<KeySetError>(&loaded)) {
            std::cerr << "opay: " << printable(e->message) << "\n";
            return 2;
        }
        keys = std::get<KeySet>(std::move(loaded));
    }
    CardReport r = check_card(*html, keys ? &*keys : nullptr,
                              std::time(nullptr));
    // the card's text is escaped: it cannot print an "ok" line itself
    std::cout << printable(path) << ": "
              << (r.format.empty() ? "no card" : printable(r.format)) << "\n";
    if (!r.signature.empty()) {
        std::cout << "  signature: " << printable(r.signature) << "\n";
    }
    for (const auto& p : r.problems) {
        std::cout << "  problem: " << printable(to_string(p)) << "\n";
    }
    std::cout << (r.ok() ? "ok" : "INVALID: " +
                                      std::to_string(r.problems.size()) +
                                      " problem(s)")
              << "\n";
    return r.ok() ? 0 : 1;
}

// The Adaptive Card a payer sees (card_view), for the renderer.
int view(const Args& a) {
    const std::string path = a.options.at("--view");
    auto html = read_file(path);
    if (!html) {
        std::cerr << "opay: cannot read " << printable(path) << "\n";
        return 2;
    }
    auto out = card_view(*html, std::time(nullptr));
    if (auto* problems = std::get_if<std::vector<CardProblem>>(&out)) {
        for (const auto& p : *problems) {
            std::cerr << "opay card: " << printable(to_string(p)) << "\n";
        }
        return 1;
    }
    // compact JSON (json::write) holding the card's text
    std::cout << printable(std::get<std::string>(out), Printable::kJson)
              << "\n";
    return 0;
}

}  // namespace

int card(const Args& a) {
    if (a.options.count("--check")) return check(a);
    if (a.options.count("--view")) return view(a);
    for (const char* required :
         {"--merchant-id", "--display-id", "--originator", "--invoice"}) {
        if (!a.options.count(required)) {
            std::cerr << "opay card: " << required << " is required\n";
            return usage();
        }
    }
    CardInput in;
    in.merchant_id = a.options.at("--merchant-id");
    in.display_id = a.options.at("--display-id");
    in.originator = a.options.at("--originator");
    auto invoice = read_file(a.options.at("--invoice"));
    if (!invoice) {
        std::cerr << "opay: cannot read " << a.options.at("--invoice") << "\n";
        return 2;
    }
    in.invoice = *invoice;
    in.product_context = option(a, "--product-context", "");
    auto format = parse_card_format(option(a, "--format", "action-request"));
    if (!format) {
        std::cerr << "opay card: --format is action-request, adaptive-card "
                     "or message-card\n";
        return 2;
    }
    in.format = *format;
    if (a.options.count("--sign-key")) {
        auto pem = read_file(a.options.at("--sign-key"));
        CardSigning s;
        s.key = pem ? private_key_from_pem(*pem) : nullptr;
        if (!s.key) {
            std::cerr << "opay: cannot read a private key from "
                      << a.options.at("--sign-key") << "\n";
            return 2;
        }
        s.kid = option(a, "--sign-kid", "");
        s.sender = option(a, "--sender", "");
        s.recipient = option(a, "--recipient", "");
        s.now = std::time(nullptr);
        in.signing = std::move(s);
    }
    auto out = write_card(in);
    if (auto* problems = std::get_if<std::vector<CardProblem>>(&out)) {
        for (const auto& p : *problems) {
            std::cerr << "opay card: " << to_string(p) << "\n";
        }
        return 1;
    }
    const std::string& html = std::get<std::string>(out);
    if (a.options.count("--out")) {
        std::ofstream f(a.options.at("--out"), std::ios::binary);
        if (!(f << html)) {
            std::cerr << "opay: cannot write " << a.options.at("--out")
                      << "\n";
            return 2;
        }
    } else {
        std::cout << html;
    }
    return 0;
}

}  // namespace opay::cli
