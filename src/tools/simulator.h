// The payment service, played against an endpoint: the conversation of
// the webhook reference (loadentity, shippingaddresschange,
// shippingoptionchange, then PaymentComplete), each request built the way
// the service builds it (echoing the endpoint's last answer), and each
// answer checked against the protocol. Sans-I/O: the caller sends each
// Call and feeds back the answer.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "money.h"

namespace opay {

inline constexpr std::string_view kPayMethod =
    "https://pay.microsoft.com/microsoftpay";

// An endpoint's answer is read up to this (opay simulate --max-answer):
// the module's answers are a few KiB; anything past the cap is refused
// before it is all in memory.
inline constexpr std::size_t kDefaultMaxAnswer = 1024 * 1024;

struct SimulatorOptions {
    std::string product_context;   // JSON object
    std::string shipping_address;  // JSON AddressInit
    std::string shipping_option;   // id to pick; empty: the last offered
    std::string card;              // processor token; empty: do not pay
    std::size_t max_answer = kDefaultMaxAnswer;  // bytes of one answer
};

// The reference's shipping address (One Microsoft Way), in country.
std::string reference_address(std::string_view country);

enum class Webhook { kPaymentRequest, kPaymentComplete };

struct Call {
    Webhook webhook;
    std::string event;  // loadentity ... paymentcomplete
    std::string body;   // JSON
};

// What an endpoint answered (its own name: payment_request.h has Answer).
struct EndpointAnswer {
    int status = 0;
    std::string content_type;
    std::string www_authenticate;
    std::string body;
};

struct StepReport {
    std::string event;
    std::vector<std::string> said;        // what the answer says, briefly
    std::vector<std::string> violations;  // each protocol rule it breaks

    bool ok() const { return violations.empty(); }
};

class Simulator {
  public:
    // The error names the option that is not valid JSON.
    static std::variant<Simulator, std::string> start(SimulatorOptions o);

    // The next request the service sends; nullopt when the conversation
    // is over.
    std::optional<Call> next() const;
    StepReport feed(const EndpointAnswer& answer);

    // Every step answered, nothing violated, nothing refused.
    bool passed() const { return finished_ && violations_ == 0; }
    bool finished() const { return finished_; }
    int violations() const { return violations_; }

  private:
    enum class Stage { kLoad, kAddress, kOption, kComplete, kDone };

    explicit Simulator(SimulatorOptions o) : options_(std::move(o)) {}
    std::string echo(std::string_view event) const;
    std::string complete_body() const;
    void check_request_answer(const EndpointAnswer& a, StepReport& r);
    void check_complete_answer(const EndpointAnswer& a, StepReport& r);

    SimulatorOptions options_;
    Stage stage_ = Stage::kLoad;
    Call pending_{};
    std::string last_answer_;     // the endpoint's last PaymentRequest answer
    std::string request_id_;      // details.id of loadentity
    std::string identifier_;      // the entity's identifier
    std::optional<Money> base_total_;
    std::optional<Money> total_;
    std::string chosen_option_;
    bool test_mode_ = false;
    bool shipping_ = false;
    bool payer_name_ = false, payer_email_ = false, payer_phone_ = false;
    bool finished_ = false;
    int violations_ = 0;
};

}  // namespace opay
