// opay_status's exposition: series keys, the call's series, the page.
#include "metrics.h"

#include <algorithm>

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

}  // namespace

// The text format is UTF-8: a byte of an invalid sequence is written as
// U+FFFD, as json::write does, or Prometheus refuses the whole page.
std::string escape(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size();) {
        char c = value[i];
        if (static_cast<unsigned char>(c) >= 0x80) {
            std::size_t len = json::utf8_sequence(value, i);
            if (len == 0) {
                out += "\xEF\xBF\xBD";
                i++;
            } else {
                out.append(value, i, len);
                i += len;
            }
            continue;
        }
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
        i++;
    }
    return out;
}

std::string key(std::string_view name, std::initializer_list<Label> labels) {
    std::string out(name);
    char sep = '{';
    for (const Label& l : labels) {
        out.append(1, sep).append(l.name).append("=\"");
        out.append(escape(l.value)).append("\"");
        sep = ',';
    }
    if (labels.size() > 0) out += '}';
    return out;
}

std::string_view family(std::string_view key) noexcept {
    return key.substr(0, key.find('{'));
}

std::vector<Metric> call_series(const Call& c) {
    std::string status = std::to_string(c.status);
    opay_result_e result = c.result;
    if (result == OPAY_RESULT_NONE) {
        result = c.status == 200 ? OPAY_RESULT_OK : OPAY_RESULT_REFUSED;
    }
    std::vector<Metric> out;
    out.push_back(
        {key(kRequests,
             {{"location", c.location},
              {"webhook", c.webhook == OPAY_PAYMENT_COMPLETE
                              ? "payment_complete"
                              : "payment_request"},
              {"event", c.event.empty() ? "none" : c.event},
              {"outcome", result_name(result)},
              {"status", status}}),
         false});
    if (c.refusal != OPAY_REFUSAL_NONE) {
        out.push_back({key(kRefusals, {{"location", c.location},
                                       {"reason", refusal_name(c.refusal)}}),
                       false});
    }
    if (c.charge != OPAY_CHARGE_NONE) {
        out.push_back({key(kCharges, {{"result", charge_name(c.charge)},
                                      {"code", c.charge_code}}),
                       false});
    }
    out.push_back({key(kRequestDuration, {{"location", c.location}}), true});
    for (Metric& m : out) {
        if (m.key.size() > OPAY_METRICS_KEY_MAX) m.key.clear();
    }
    return out;
}

std::string fetch_key(opay_target_e target) {
    if (target == OPAY_TARGET_PROCESSOR) return key(kProcessorDuration, {});
    return key(kBackendDuration, {{"backend", opay_target_name(target)}});
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
