// opay_status's exposition: series keys, the call's series, the page.
#include "metrics.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "json.h"
#include "opay_str.h"
#include "outcome.h"

namespace opay::metrics {

namespace {

struct Family {
    std::string_view name;
    std::string_view type;
    std::string_view help;
};

constexpr Family kFamilies[] = {
    {"opay_requests_total", "counter",
     "Webhook calls answered, by location, webhook, event, outcome and "
     "HTTP status."},
    {"opay_refusals_total", "counter",
     "Webhook calls refused, by location and reason code."},
    {"opay_charges_total", "counter",
     "Charges made through the processor, by result and inner error code."},
    {"opay_request_duration_seconds", "histogram",
     "Time from the webhook call to its answer, by location."},
    {"opay_backend_duration_seconds", "histogram",
     "Time of the invoice, shipping and notify subrequests, by backend."},
    {"opay_processor_duration_seconds", "histogram",
     "Time of the processor subrequests."},
    {"opay_keys_age_seconds", "gauge",
     "Age of the signing key set in use, since it was fetched, by key URL."},
    {"opay_keys_last_refresh_timestamp_seconds", "gauge",
     "When the last key fetch ended, whatever its result, by key URL."},
    {"opay_keys_refresh_total", "counter",
     "Key fetches that ended, by key URL and result."},
    {"opay_status_dropped_total", "counter",
     "Observations not recorded, one per series left out: the opay_status "
     "zone was full, or the labels too long."},
};

constexpr std::string_view kRequests = "opay_requests_total";
constexpr std::string_view kRefusals = "opay_refusals_total";
constexpr std::string_view kCharges = "opay_charges_total";
constexpr std::string_view kRequestDuration = "opay_request_duration_seconds";
constexpr std::string_view kBackendDuration = "opay_backend_duration_seconds";
constexpr std::string_view kProcessorDuration =
    "opay_processor_duration_seconds";
constexpr std::string_view kKeysAge = "opay_keys_age_seconds";
constexpr std::string_view kKeysRefreshed =
    "opay_keys_last_refresh_timestamp_seconds";
constexpr std::string_view kKeysRefresh = "opay_keys_refresh_total";
constexpr std::string_view kDropped = "opay_status_dropped_total";

// upper bounds of the finite buckets, in microseconds, and as printed
constexpr uint64_t kBucketUs[OPAY_METRICS_BUCKETS] = {
    5000,    10000,   25000,   50000,   100000,  250000,
    500000,  1000000, 2500000, 5000000, 10000000};
constexpr std::string_view kBucketLe[OPAY_METRICS_BUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
    "0.5",   "1",    "2.5",   "5",    "10"};

// HELP and TYPE of a family the module writes; nothing for another name
void family_lines(std::string& out, std::string_view name) {
    for (const Family& f : kFamilies) {
        if (f.name != name) continue;
        out.append("# HELP ").append(f.name).append(" ").append(f.help);
        out.append("\n# TYPE ").append(f.name).append(" ").append(f.type);
        out.append("\n");
        return;
    }
}

void sample(std::string& out, std::string_view key, std::string_view value) {
    out.append(key).append(" ").append(value).append("\n");
}

void sample(std::string& out, std::string_view key, uint64_t value) {
    sample(out, key, std::to_string(value));
}

// name{labels} -> name_bucket{labels,le="..."}, name_sum{labels} and
// name_count{labels}
void histogram(std::string& out, const opay_series_t& s,
               std::string_view key) {
    std::string_view name = family(key);
    std::string_view labels = key.substr(name.size());  // "{...}" or empty
    uint64_t cumulative = 0;
    for (int i = 0; i <= OPAY_METRICS_BUCKETS; i++) {
        cumulative = i < OPAY_METRICS_BUCKETS ? cumulative + s.buckets[i]
                                              : s.value;
        out.append(name).append("_bucket");
        if (labels.empty()) {
            out.append("{");
        } else {
            out.append(labels.substr(0, labels.size() - 1)).append(",");
        }
        out.append("le=\"")
            .append(i < OPAY_METRICS_BUCKETS ? kBucketLe[i] : "+Inf")
            .append("\"}");
        out.append(" ").append(std::to_string(cumulative)).append("\n");
    }
    std::string fraction = std::to_string(s.sum % 1000000);
    fraction.insert(0, 6 - fraction.size(), '0');
    sample(out, std::string(name) + "_sum" + std::string(labels),
           std::to_string(s.sum / 1000000) + "." + fraction);
    sample(out, std::string(name) + "_count" + std::string(labels), s.value);
}

// Per key URL: the age of the set in use, when the last fetch ended, and
// the fetches by result (every result written, 0 or not, so that a rate
// needs no first sample); a family's lines together, as the format wants.
void key_lines(std::string& out, const opay_key_stats_t* keys, size_t n,
               int64_t now) {
    if (n == 0) return;
    family_lines(out, kKeysAge);
    for (size_t i = 0; i < n; i++) {
        if (keys[i].fetched_at == 0) continue;
        sample(out, key(kKeysAge, {{"url", view(keys[i].url)}}),
               std::to_string(std::max<int64_t>(now - keys[i].fetched_at, 0)));
    }
    family_lines(out, kKeysRefreshed);
    for (size_t i = 0; i < n; i++) {
        if (keys[i].refreshed_at == 0) continue;
        sample(out, key(kKeysRefreshed, {{"url", view(keys[i].url)}}),
               std::to_string(keys[i].refreshed_at));
    }
    family_lines(out, kKeysRefresh);
    for (size_t i = 0; i < n; i++) {
        for (int r = 0; r < OPAY_KEY_RESULTS; r++) {
            opay_str_t result =
                opay_key_result_name(static_cast<opay_key_result_e>(r));
            sample(out,
                   key(kKeysRefresh,
                       {{"url", view(keys[i].url)}, {"result", view(result)}}),
                   keys[i].results[r]);
        }
    }
}

std::string_view series_key(const opay_series_t& s) noexcept {
    return std::string_view(s.key, std::min<size_t>(s.len, sizeof(s.key)));
}

// A key written into a caller's buffer of size bytes: what does not fit
// makes it over (then it is dropped), never a write past the end.
class Bounded {
  public:
    Bounded(char* buf, std::size_t size) : buf_(buf), room_(size) {}
    Bounded& append(std::string_view s) {
        if (s.size() > room_ - size_) {
            over_ = true;
        } else if (!over_ && !s.empty()) {
            // an empty view may have no data at all: memcpy's is nonnull
            std::memcpy(buf_ + size_, s.data(), s.size());
            size_ += s.size();
        }
        return *this;
    }
    // 0 when over
    std::size_t size() const { return over_ ? 0 : size_; }

  private:
    char* buf_;
    std::size_t room_;
    std::size_t size_ = 0;
    bool over_ = false;
};

// The text format is UTF-8: a byte of an invalid sequence is written as
// U+FFFD, as json::write does, or Prometheus refuses the whole page.
// Out: a std::string or a Bounded.
template <typename Out>
void escape_to(Out& out, std::string_view value) {
    std::size_t plain = 0;  // start of the bytes written as they are
    auto flush = [&](std::size_t i) {
        out.append(value.substr(plain, i - plain));
    };
    for (std::size_t i = 0; i < value.size();) {
        char c = value[i];
        if (static_cast<unsigned char>(c) >= 0x80) {
            std::size_t len = json::utf8_sequence(value, i);
            if (len == 0) {
                flush(i);
                out.append("\xEF\xBF\xBD");
                plain = ++i;
            } else {
                i += len;
            }
            continue;
        }
        if (c == '\\' || c == '"' || c == '\n') {
            flush(i);
            out.append(c == '\\' ? "\\\\" : c == '"' ? "\\\"" : "\\n");
            plain = i + 1;
        }
        i++;
    }
    flush(value.size());
}

template <typename Out>
void key_to(Out& out, std::string_view name,
            std::initializer_list<Label> labels) {
    out.append(name);
    std::string_view sep = "{";
    for (const Label& l : labels) {
        out.append(sep).append(l.name).append("=\"");
        escape_to(out, l.value);
        out.append("\"");
        sep = ",";
    }
    if (labels.size() > 0) out.append("}");
}

}  // namespace

std::string escape(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    escape_to(out, value);
    return out;
}

std::string key(std::string_view name, std::initializer_list<Label> labels) {
    std::string out;
    key_to(out, name, labels);
    return out;
}

std::string_view family(std::string_view key) noexcept {
    return key.substr(0, key.find('{'));
}

CallSeries call_series(const Call& c) {
    char status[16];
    int n = std::snprintf(status, sizeof status, "%d", c.status);
    opay_result_e result = c.result;
    if (result == OPAY_RESULT_NONE) {
        result = c.status == 200 ? OPAY_RESULT_OK : OPAY_RESULT_REFUSED;
    }
    CallSeries out;
    auto add = [&out](bool histogram, std::string_view name,
                      std::initializer_list<Label> labels) {
        Metric m;
        m.histogram = histogram;
        Bounded text(m.text, sizeof m.text);
        key_to(text, name, labels);
        m.size = text.size();
        out.push_back(m);
    };
    add(false, kRequests,
        {{"location", c.location},
         {"webhook", c.webhook == OPAY_PAYMENT_COMPLETE ? "payment_complete"
                                                        : "payment_request"},
         {"event", c.event.empty() ? "none" : c.event},
         {"outcome", result_name(result)},
         {"status", std::string_view(status, static_cast<std::size_t>(n))}});
    if (c.refusal != OPAY_REFUSAL_NONE) {
        add(false, kRefusals,
            {{"location", c.location}, {"reason", refusal_name(c.refusal)}});
    }
    if (c.charge != OPAY_CHARGE_NONE) {
        add(false, kCharges,
            {{"result", charge_name(c.charge)}, {"code", c.charge_code}});
    }
    add(true, kRequestDuration, {{"location", c.location}});
    return out;
}

std::size_t fetch_key(opay_target_e target, char* buf,
                      std::size_t size) noexcept {
    Bounded out(buf, size);
    if (target == OPAY_TARGET_PROCESSOR) {
        key_to(out, kProcessorDuration, {});
    } else {
        key_to(out, kBackendDuration, {{"backend", opay_target_name(target)}});
    }
    return out.size();
}

void count(opay_series_t& s, uint64_t us) noexcept {
    s.value++;
    if (!s.histogram) return;
    s.sum += us;
    for (int i = 0; i < OPAY_METRICS_BUCKETS; i++) {
        if (us <= kBucketUs[i]) {
            s.buckets[i]++;
            return;
        }
    }
}

std::string write(const opay_series_t* series, size_t n,
                  const opay_key_stats_t* keys, size_t n_keys,
                  uint64_t dropped, int64_t now) {
    // by key: the series of one family come together, in a stable order
    std::vector<const opay_series_t*> sorted;
    for (size_t i = 0; i < n; i++) {
        if (series[i].len != 0) sorted.push_back(&series[i]);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const opay_series_t* a, const opay_series_t* b) {
                  return series_key(*a) < series_key(*b);
              });
    std::string out;
    std::string_view previous;
    for (const opay_series_t* s : sorted) {
        std::string_view k = series_key(*s);
        // the first series of its family: HELP and TYPE first
        if (s == sorted.front() || family(k) != previous) {
            family_lines(out, family(k));
        }
        previous = family(k);
        if (s->histogram) {
            histogram(out, *s, k);
        } else {
            sample(out, k, s->value);
        }
    }
    key_lines(out, keys, n_keys, now);
    family_lines(out, kDropped);
    sample(out, kDropped, dropped);
    return out;
}

}  // namespace opay::metrics
