// Stripe's PaymentIntents on the wire: amounts in Stripe's units, the
// Idempotency-Keys, the form bodies and paths, and what an answer says.
// The decisions made on an answer are payment_complete_flow's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <openssl/types.h>

#include "money.h"

namespace opay {

// An amount as Stripe takes it: `amount` in Stripe's units for the
// currency (not always ISO 4217's), `currency` in lower case.
struct StripeAmount {
    int64_t amount = 0;
    std::string currency;
};

// Stripe's conventions, currency by currency (its "Supported currencies"
// page): zero-decimal currencies in whole units (MGA too, which ISO 4217
// gives two decimals), ISK and UGX still with two decimals though ISO
// gives none, three-decimal currencies only in tens. The error says why an
// amount cannot be charged exactly; nothing is rounded.
std::variant<StripeAmount, std::string> stripe_amount(const Money& m);
// The same money back from Stripe's units (what a PaymentIntent charged);
// nullopt if it is not a whole number of the currency's minor units.
std::optional<Money> from_stripe_amount(int64_t amount,
                                        const Currency& currency);

// Stripe's largest amount: eight digits in its units. Larger amounts are
// refused before Stripe is asked.
constexpr int64_t kStripeMaxAmount = 99999999;

// What the invoice's PaymentIntent is created with before any payer's
// amount is set (never charged: the update replaces it before any
// confirm): the largest eight-digit amount the currency's step allows. One
// fixed amount, never a ladder of smaller ones: a refusal that changed
// within the key's 24 h (account limits, FX) would send two nodes to two
// amounts, two keys, two PaymentIntents and two charges. It depends on
// nothing a payer or the invoice backend says, so every node sends the
// same create.
StripeAmount placeholder_amount(const Money& due);

// How many generations of an invoice's PaymentIntent key may be used: a
// replayed 5xx or a canceled intent moves every node to the next one.
constexpr int kMaxGenerations = 8;

// The create's key: one PaymentIntent per (merchant, invoice, currency,
// generation), the same on every node and every retry.
// Each key is SHA-256 (sha256: fetched, Config::sha256) of its parts.
std::string intent_key(const EVP_MD* sha256, std::string_view merchant_id,
                       std::string_view invoice, std::string_view currency,
                       int generation);
// The PaymentMethod's key is the token's: a token is single-use, so a
// retry must replay the first PaymentMethod, never ask for a second.
std::string payment_method_key(const EVP_MD* sha256, std::string_view token);
// Update and confirm keys: fresh per request (nonce), so that a retry
// after an unknown answer is a new request and not the replay of a saved
// 5xx; the PaymentIntent's own state keeps it to one charge.
std::string attempt_key(const EVP_MD* sha256, std::string_view what,
                        std::string_view intent_id, std::string_view nonce);

struct IntentRequest {
    StripeAmount amount;  // the placeholder
    std::string description;
    std::string invoice;
};

// Stripe's longest metadata value and description.
constexpr std::size_t kStripeMetadataValueMax = 500;
constexpr std::size_t kStripeDescriptionMax = 1000;

// The payer's pair, set on the intent in one update.
struct IntentUpdate {
    int64_t amount = 0;  // Stripe's units
    std::string payment_method;
    std::string shipping_option;  // empty: none
    std::string attempt;          // nonce naming this payer's attempt
};

// application/x-www-form-urlencoded bodies.
std::string create_form(const IntentRequest& r);
std::string payment_method_form(std::string_view processor_token);
std::string update_form(const IntentUpdate& u);
// Confirms what is set, with no payment method: one here would change the
// card but not the amount. error_on_requires_action: Outlook cannot show
// 3-D Secure, so a card that asks for it is a decline that leaves the
// PaymentIntent open for the next payer.
std::string confirm_form();
std::string cancel_form();

// Paths below opay_processor's prefix.
constexpr std::string_view kIntentsPath = "v1/payment_intents";
constexpr std::string_view kPaymentMethodsPath = "v1/payment_methods";
std::string intent_path(std::string_view id);
std::string confirm_path(std::string_view id);
std::string cancel_path(std::string_view id);

// Stripe's ids are a prefix ("pi_", "pm_") and letters, digits and '_'
// only: anything else never reaches a path or a form.
bool valid_intent_id(std::string_view id);
bool valid_payment_method_id(std::string_view id);

struct StripeAnswer {
    enum class Kind {
        kIntent,           // 200 with a readable PaymentIntent
        kPaymentMethod,    // 200 with a readable PaymentMethod
        kCardError,        // 402 card_error: declined; the intent stays open
        kUnexpectedState,  // 400 payment_intent_unexpected_state
        kBusy,             // 429 lock_timeout, 409 idempotency_key_in_use
        kRefused,          // any other 4xx: Stripe did nothing
        kUnknown,          // no answer, 5xx, unreadable: may have happened
    };
    Kind kind = Kind::kUnknown;
    std::string id;       // the PaymentIntent's (or PaymentMethod's)
    std::string status;   // its status, with kIntent
    // With kIntent: what it is set to (amount, currency, payment method)
    // and the payment method of its last decline.
    int64_t amount = 0;
    std::string currency;
    std::string payment_method;
    std::string shipping_option;  // metadata[shipping_option]
    // The payment method a decline names (error.payment_method, or the
    // intent's last_payment_error), with kCardError and kIntent.
    std::string declined_payment_method;
    std::string code;     // Stripe's error code
    std::string message;  // Stripe's message for the payer (card errors)
    std::string log;      // status, type and code, for the error log
    // Stripe itself answered, with its JSON: the request ended there. A
    // timeout, a proxy's page or a cut answer may leave it running.
    bool answered = false;
    // Idempotent-Replayed: true: Stripe's stored answer to the key's
    // first request (a stored 5xx proves the key can never make an
    // intent, even when the body is cut).
    bool replayed = false;
};

StripeAnswer read_stripe_answer(int status, std::string_view body,
                                bool replayed = false);

// Stripe's error code to one of the ten Outlook inner error codes.
std::string inner_error_code(std::string_view stripe_code);
// One of those ten.
bool is_inner_error_code(std::string_view code);

}  // namespace opay
