// The PaymentRequest webhook's state machine: loadentity (fetch the
// invoice, answer) and the two shipping events (fetch the invoice and the
// shipping options in parallel, answer). What it answers is built in
// payment_request.h.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "flow.h"

namespace opay {

class PaymentRequestFlow final : public Flow {
  public:
    PaymentRequestFlow(const Config& config, const Input& in);

  private:
    enum class Stage {
        kLoadInvoice,
        kShipping,
    };

    void on_fetched(const std::vector<Result>& results) override;
    void on_resolved(int result, std::string_view data) override;
    void ask(std::vector<Fetch> fetches, Stage next);

    void start();
    void start_shipping_event();
    void on_invoice(const Result& r);
    void on_shipping(const Result& invoice, const Result& options);

    Stage stage_ = Stage::kLoadInvoice;
    std::string invoice_id_;                    // echoed details.id
    std::optional<std::string> chosen_option_;  // echoed shippingOption
};

}  // namespace opay
