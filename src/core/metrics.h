// opay_status's Prometheus exposition (text format 0.0.4): the series a
// call counts in, their keys (name{labels}, values escaped), and the page
// written from the series the shim keeps in its shared zone: families
// grouped in key order with one HELP and TYPE each, counters, histograms
// (cumulative buckets, _sum, _count), the key sources' gauges and the
// dropped count. Pure: no I/O, no clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "fixed_list.h"
#include "opay.h"

namespace opay::metrics {

struct Label {
    std::string_view name;
    std::string_view value;
};

// A label value as the text format wants it: \ " and newline escaped,
// each byte of an invalid UTF-8 sequence written as U+FFFD.
std::string escape(std::string_view value);
// name{n1="v1",n2="v2"}, or name alone without labels.
std::string key(std::string_view name, std::initializer_list<Label> labels);
// The family's name: the key up to its "{".
std::string_view family(std::string_view key) noexcept;

// What an answered call is labelled with.
struct Call {
    std::string_view location;
    opay_webhook_e webhook = OPAY_PAYMENT_REQUEST;
    std::string_view event;           // empty: "none"
    opay_result_e result = OPAY_RESULT_NONE;  // none: ok or refused
    int status = 0;
    opay_refusal_e refusal = OPAY_REFUSAL_NONE;
    opay_charge_e charge = OPAY_CHARGE_NONE;
    std::string_view charge_code;
};

// A series a call counts in, its key written in place (no allocation).
struct Metric {
    // empty: longer than OPAY_METRICS_KEY_MAX (dropped)
    std::string_view key() const { return {text, size}; }
    bool histogram = false;
    char text[OPAY_METRICS_KEY_MAX];
    std::size_t size = 0;
};
using CallSeries = FixedList<Metric, OPAY_METRICS_CALL_MAX>;

// The series a call counts in, at most OPAY_METRICS_CALL_MAX: requests,
// its refusal and its charge when it has one, the duration histogram.
CallSeries call_series(const Call& call);
// The histogram of a fetch's time: the processor's, or a backend's;
// written to buf, its size returned (0: over size bytes).
std::size_t fetch_key(opay_target_e target, char* buf,
                      std::size_t size) noexcept;

// One more for a counter; one observation of us microseconds for a
// histogram.
void count(opay_series_t& s, uint64_t us) noexcept;

// The whole page. Series with len 0 (free slots) are skipped; the order
// of series does not matter.
std::string write(const opay_series_t* series, size_t n,
                  const opay_key_stats_t* keys, size_t n_keys,
                  uint64_t dropped, int64_t now);

}  // namespace opay::metrics
