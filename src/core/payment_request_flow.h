// The PaymentRequest webhook's state machine: loadentity (fetch the
// invoice, answer) and the two shipping events (fetch the invoice and the
// shipping options in parallel, answer). What it answers is built in
// payment_request.h.
#pragma once

#include <optional>
#include <string>

#include "echo.h"
#include "flow.h"
#include "payment_request.h"

namespace opay {

class PaymentRequestFlow final : public Flow {
  public:
    PaymentRequestFlow(const Config& config, const Input& in);

  private:
    enum class Stage {
        kLoadInvoice,
        kShipping,
    };

    void on_fetched(const Results& results) override;
    void on_resolved(int result, std::string_view data) override;
    void ask(Fetches fetches, Stage next);
    void ask(Fetch fetch, Stage next);

    void start();
    void start_shipping_event();
    void on_invoice(const Result& r);
    void on_shipping(const Result& invoice, const Result* options);
    // An invoice that is not due is not offered for payment: true when
    // answered so.
    bool answer_not_due(const Invoice& invoice);
    // A built answer, or 502 when the backends' data would break a W3C
    // rule (message for the caller; the log names the invoice, or the
    // shipping backend, and the rule).
    void respond_answer(Answer answer, std::string_view message,
                        const Invoice& invoice, bool shipping_backend);

    Stage stage_ = Stage::kLoadInvoice;
    Echo echo_;
};

}  // namespace opay
