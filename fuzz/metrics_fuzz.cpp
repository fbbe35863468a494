// Fuzzes opay_status's exposition: arbitrary label values (a location, an
// event, a charge code, key URLs, any bytes) in arbitrary series sets
// never make an invalid page. A small validator of the text format 0.0.4
// reads every page back: each line a HELP or TYPE comment or a sample
// name{labels} value, label values escaped (\\ \" \n only), valid UTF-8
// (Prometheus rejects a page with any other) and read back to the bytes
// that went in when those were valid UTF-8, one HELP and TYPE per family
// before its samples, a family's lines together, histogram buckets
// cumulative up to +Inf = _count; a key is never over OPAY_METRICS_KEY_MAX.
// Input: parts separated by "\n--\n"; the first byte of a part picks its
// series' family and kind, the rest is a label value.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "json.h"
#include "metrics.h"
#include "opay_str.h"

using namespace opay;

namespace {

const char* const kFamilies[] = {
    "opay_requests_total",           "opay_refusals_total",
    "opay_charges_total",            "opay_request_duration_seconds",
    "opay_backend_duration_seconds", "opay_processor_duration_seconds",
    "other_total"};

bool name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == ':' || (!first && c >= '0' && c <= '9');
}

// a metric or label name at s[at...]; its end
size_t read_name(std::string_view s, size_t at) {
    size_t i = at;
    while (i < s.size() && name_char(s[i], i == at)) i++;
    fuzz::require(i > at);
    return i;
}

struct Sample {
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;  // unescaped
    std::string value;
};

// name{l="v",...} value: the labels' values unescaped
Sample read_sample(std::string_view line) {
    Sample s;
    size_t at = read_name(line, 0);
    s.name = std::string(line.substr(0, at));
    if (at < line.size() && line[at] == '{') {
        at++;
        while (true) {
            size_t end = read_name(line, at);
            std::string label(line.substr(at, end - at));
            fuzz::require(end + 1 < line.size() && line[end] == '=' &&
                          line[end + 1] == '"');
            at = end + 2;
            std::string value;
            while (true) {
                fuzz::require(at < line.size());
                char c = line[at++];
                if (c == '"') break;
                if (c == '\\') {
                    fuzz::require(at < line.size());
                    char e = line[at++];
                    fuzz::require(e == '\\' || e == '"' || e == 'n');
                    value += e == 'n' ? '\n' : e;
                    continue;
                }
                value += c;
            }
            fuzz::require(json::valid_utf8(value));
            s.labels.emplace_back(label, value);
            fuzz::require(at < line.size());
            if (line[at] == '}') {
                at++;
                break;
            }
            fuzz::require(line[at] == ',');
            at++;
        }
    }
    fuzz::require(at < line.size() && line[at] == ' ');
    s.value = std::string(line.substr(at + 1));
    // an unsigned integer, or one with a fraction of six digits (a sum)
    size_t dot = s.value.find('.');
    std::string_view whole = std::string_view(s.value).substr(0, dot);
    fuzz::require(!whole.empty() && whole.size() <= 20);
    for (char c : whole) fuzz::require(c >= '0' && c <= '9');
    if (dot != std::string::npos) {
        std::string_view frac = std::string_view(s.value).substr(dot + 1);
        fuzz::require(frac.size() == 6);
        for (char c : frac) fuzz::require(c >= '0' && c <= '9');
    }
    return s;
}

uint64_t number(const std::string& v) {
    return std::stoull(v.substr(0, v.find('.')));
}

// The page is valid text format 0.0.4; returns its samples by line.
std::vector<Sample> validate(const std::string& page) {
    fuzz::require(!page.empty() && page.back() == '\n');
    std::map<std::string, std::string> types;  // family -> type
    std::set<std::string> closed;              // families left behind
    std::string current;
    std::vector<Sample> samples;
    size_t at = 0;
    while (at < page.size()) {
        size_t nl = page.find('\n', at);
        std::string_view line(page.data() + at, nl - at);
        at = nl + 1;
        fuzz::require(!line.empty());
        if (line[0] == '#') {
            bool help = line.rfind("# HELP ", 0) == 0;
            bool type = line.rfind("# TYPE ", 0) == 0;
            fuzz::require(help || type);
            size_t end = read_name(line, 7);
            std::string name(line.substr(7, end - 7));
            fuzz::require(end < line.size() && line[end] == ' ');
            fuzz::require(closed.count(name) == 0);
            if (name != current) {
                if (!current.empty()) closed.insert(current);
                current = name;
            }
            if (type) {
                std::string_view t = line.substr(end + 1);
                fuzz::require(t == "counter" || t == "gauge" ||
                              t == "histogram");
                fuzz::require(types.emplace(name, t).second);
            }
            continue;
        }
        Sample s = read_sample(line);
        std::string fam = s.name;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            std::string_view sv(suffix);
            if (fam.size() > sv.size() &&
                fam.compare(fam.size() - sv.size(), sv.size(), sv) == 0 &&
                types.count(fam.substr(0, fam.size() - sv.size())) &&
                types[fam.substr(0, fam.size() - sv.size())] == "histogram") {
                fam.resize(fam.size() - sv.size());
                break;
            }
        }
        if (fam != current) {
            if (!current.empty()) closed.insert(current);
            current = fam;
        }
        fuzz::require(closed.count(fam) == 0);
        samples.push_back(std::move(s));
    }
    return samples;
}

// histogram series: buckets cumulative in le order, +Inf = _count
void check_histograms(const std::vector<Sample>& samples) {
    for (size_t i = 0; i < samples.size(); i++) {
        const Sample& s = samples[i];
        if (s.name.size() < 7 ||
            s.name.compare(s.name.size() - 7, 7, "_bucket") != 0) {
            continue;
        }
        fuzz::require(!s.labels.empty() && s.labels.back().first == "le");
        if (s.labels.back().second != "0.005") continue;  // the first
        std::string base = s.name.substr(0, s.name.size() - 7);
        uint64_t last = 0;
        size_t j = i;
        for (; j < samples.size() && samples[j].name == s.name; j++) {
            uint64_t v = number(samples[j].value);
            fuzz::require(v >= last);
            last = v;
            if (samples[j].labels.back().second == "+Inf") break;
        }
        fuzz::require(j < samples.size() &&
                      samples[j].labels.back().second == "+Inf");
        fuzz::require(j + 2 < samples.size() &&
                      samples[j + 1].name == base + "_sum" &&
                      samples[j + 2].name == base + "_count");
        fuzz::require(number(samples[j + 2].value) == last);
    }
}

uint64_t bytes_value(std::string_view s) {
    uint64_t v = 0;
    for (char c : s) v = v * 131 + static_cast<unsigned char>(c);
    return v;
}

struct Table {
    std::vector<opay_series_t> series;
    uint64_t dropped = 0;

    // as the shim adds: an empty key is dropped; the same key counts on
    void add(const std::string& key, bool histogram, uint64_t us) {
        fuzz::require(key.size() <= OPAY_METRICS_KEY_MAX);
        if (key.empty()) {
            dropped++;
            return;
        }
        for (auto& s : series) {
            if (std::string_view(s.key, s.len) == key) {
                fuzz::require(s.histogram == (histogram ? 1 : 0));
                metrics::count(s, us);
                return;
            }
        }
        opay_series_t s{};
        s.len = static_cast<uint16_t>(key.size());
        s.histogram = histogram ? 1 : 0;
        std::memcpy(s.key, key.data(), key.size());
        metrics::count(s, us);
        series.push_back(s);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = fuzz::split(fuzz::text(data, size), 16);
    Table table;
    std::vector<std::string> values;  // every label value that went in

    // an answered call, labelled by the core
    metrics::Call call;
    call.location = parts[0];
    call.event = parts.size() > 1 ? parts[1] : "";
    call.charge_code = parts.size() > 2 ? parts[2] : "";
    uint64_t pick = bytes_value(parts[0]);
    call.webhook = pick & 1 ? OPAY_PAYMENT_COMPLETE : OPAY_PAYMENT_REQUEST;
    call.result = static_cast<opay_result_e>(pick % OPAY_RESULTS);
    call.refusal = static_cast<opay_refusal_e>(pick % OPAY_REFUSALS);
    call.charge = static_cast<opay_charge_e>(pick % OPAY_CHARGES);
    call.status = static_cast<int>(pick % 600);
    auto calls = metrics::call_series(call);
    fuzz::require(!calls.empty() && calls.size() <= OPAY_METRICS_CALL_MAX);
    for (const auto& m : calls) {
        table.add(std::string(m.key()), m.histogram, pick % 20000000);
    }

    // any series of the families, with any label values
    for (size_t i = 1; i < parts.size(); i++) {
        std::string_view p = parts[i];
        unsigned char b = p.empty() ? 0 : static_cast<unsigned char>(p[0]);
        std::string_view value = p.empty() ? p : p.substr(1);
        std::string_view name = kFamilies[b % std::size(kFamilies)];
        bool histogram = name.find("_seconds") != std::string_view::npos;
        std::string key = b & 0x80 ? metrics::key(name, {})
                                   : metrics::key(name, {{"a", value},
                                                         {"b", parts[0]}});
        if (!(b & 0x80)) values.emplace_back(value);
        // read back: the labels are the values that went in, when those
        // were valid UTF-8
        Sample s = read_sample(key + " 0");
        fuzz::require(s.name == name);
        if (!(b & 0x80) && json::valid_utf8(value) &&
            json::valid_utf8(parts[0])) {
            fuzz::require(s.labels.size() == 2 && s.labels[0].second == value &&
                          s.labels[1].second == parts[0]);
        }
        table.add(key.size() > OPAY_METRICS_KEY_MAX ? std::string() : key,
                  histogram, bytes_value(p) % 30000000);
    }

    // key sources: their URLs are label values too
    std::vector<opay_key_stats_t> keys(std::min<size_t>(parts.size(), 3));
    for (size_t i = 0; i < keys.size(); i++) {
        keys[i].url = str(parts[parts.size() - 1 - i]);
        keys[i].fetched_at = static_cast<int64_t>(bytes_value(parts[i]) % 3);
        keys[i].refreshed_at = static_cast<int64_t>(pick % 2);
        for (int r = 0; r < OPAY_KEY_RESULTS; r++) {
            keys[i].results[r] = (pick >> r) & 7;
        }
    }

    std::string page =
        metrics::write(table.series.data(), table.series.size(), keys.data(),
                       keys.size(), table.dropped, 1);
    auto samples = validate(page);
    check_histograms(samples);
    fuzz::require(samples.back().name == "opay_status_dropped_total" &&
                  number(samples.back().value) == table.dropped);
    for (const auto& s : table.series) {
        fuzz::require(page.find(std::string(s.key, s.len)) !=
                          std::string::npos ||
                      s.histogram);
    }

    // the C API's two passes give the same page
    size_t need = opay_metrics_write(nullptr, 0, table.series.data(),
                                     table.series.size(), keys.data(),
                                     keys.size(), table.dropped, 1);
    fuzz::require(need == page.size());
    std::string again(need, '\0');
    opay_metrics_write(again.data(), again.size(), table.series.data(),
                       table.series.size(), keys.data(), keys.size(),
                       table.dropped, 1);
    fuzz::require(again == page);
    return 0;
}
