#include "metrics.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "opay_str.h"

namespace opay::metrics {
namespace {

opay_series_t series(std::string_view key, bool histogram = false) {
    opay_series_t s{};
    s.len = static_cast<uint16_t>(key.size());
    s.histogram = histogram ? 1 : 0;
    std::memcpy(s.key, key.data(), key.size());
    return s;
}

std::string page(const std::vector<opay_series_t>& s, uint64_t dropped = 0) {
    return write(s.data(), s.size(), nullptr, 0, dropped, 0);
}

size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos;
         at = text.find(what, at + 1)) {
        n++;
    }
    return n;
}

constexpr char kDroppedLines[] =
    "# HELP opay_status_dropped_total Observations not recorded, one per "
    "series left out: the opay_status zone was full, or the labels too "
    "long.\n"
    "# TYPE opay_status_dropped_total counter\n";

TEST(Metrics, EscapesBackslashQuoteAndNewline) {
    EXPECT_EQ(escape("a\\b"), "a\\\\b");
    EXPECT_EQ(escape("a\"b"), "a\\\"b");
    EXPECT_EQ(escape("a\nb"), "a\\nb");
    EXPECT_EQ(escape("\\\"\n"), "\\\\\\\"\\n");
    // nothing else is special in a label value
    EXPECT_EQ(escape("{x=\ty,}\r\xc3\xa9#"), "{x=\ty,}\r\xc3\xa9#");
    EXPECT_EQ(escape(""), "");
}

// Prometheus reads label values as UTF-8 and refuses a page with anything
// else: a byte of an invalid sequence becomes U+FFFD, valid ones stay.
TEST(Metrics, EscapeReplacesInvalidUtf8) {
    EXPECT_EQ(escape("/caf\xe9"), "/caf\xef\xbf\xbd");
    EXPECT_EQ(escape("/caf\xc3\xa9"), "/caf\xc3\xa9");
    EXPECT_EQ(escape("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
    EXPECT_EQ(escape("a\xc3"), "a\xef\xbf\xbd");            // cut
    EXPECT_EQ(escape("\xed\xa0\x80"),                        // a surrogate
              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_EQ(escape("\xc0\xaf\"\n"), "\xef\xbf\xbd\xef\xbf\xbd\\\"\\n");
    EXPECT_EQ(key("m", {{"location", "/x\xff"}}),
              "m{location=\"/x\xef\xbf\xbd\"}");
}

TEST(Metrics, KeyIsNameAndEscapedLabels) {
    EXPECT_EQ(key("opay_processor_duration_seconds", {}),
              "opay_processor_duration_seconds");
    EXPECT_EQ(key("m", {{"a", "1"}}), "m{a=\"1\"}");
    EXPECT_EQ(key("m", {{"a", "q\"u\\o"}, {"b", "x\ny"}, {"c", ""}}),
              "m{a=\"q\\\"u\\\\o\",b=\"x\\ny\",c=\"\"}");
}

TEST(Metrics, FamilyIsTheNameBeforeTheLabels) {
    EXPECT_EQ(family("m"), "m");
    EXPECT_EQ(family("m{a=\"{b}\"}"), "m");
    EXPECT_EQ(family(key("m", {{"a", "x{"}})), "m");
    EXPECT_EQ(family(""), "");
}

TEST(Metrics, RefusedCallSeries) {
    Call c;
    c.location = "/opay/pr";
    c.status = 401;
    c.refusal = OPAY_REFUSAL_BAD_SIGNATURE;
    auto m = call_series(c);
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(m[0].key(),
              "opay_requests_total{location=\"/opay/pr\",webhook=\"payment_"
              "request\",event=\"none\",outcome=\"refused\",status=\"401\"}");
    EXPECT_FALSE(m[0].histogram);
    EXPECT_EQ(m[1].key(),
              "opay_refusals_total{location=\"/opay/pr\",reason=\"bad_"
              "signature\"}");
    EXPECT_EQ(m[2].key(),
              "opay_request_duration_seconds{location=\"/opay/pr\"}");
    EXPECT_TRUE(m[2].histogram);
}

TEST(Metrics, OutcomeOfACallWithoutResultIsOkOrRefusedByStatus) {
    Call c;
    c.location = "/l";
    c.event = "loadentity";
    c.status = 200;
    EXPECT_NE(call_series(c)[0].key().find(",outcome=\"ok\",status=\"200\"}"),
              std::string::npos);
    c.status = 404;
    c.refusal = OPAY_REFUSAL_UNKNOWN_INVOICE;
    auto m = call_series(c);
    EXPECT_NE(m[0].key().find("event=\"loadentity\",outcome=\"refused\","
                            "status=\"404\"}"),
              std::string::npos);
    EXPECT_EQ(m[1].key(),
              "opay_refusals_total{location=\"/l\",reason=\"unknown_invoice\"}");
}

TEST(Metrics, PaymentCallSeriesCarryResultAndCharge) {
    Call c;
    c.location = "/pc";
    c.webhook = OPAY_PAYMENT_COMPLETE;
    c.event = "paymentcomplete";
    c.status = 200;
    c.result = OPAY_RESULT_SUCCESS;
    c.charge = OPAY_CHARGE_SUCCEEDED;
    auto m = call_series(c);
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(m[0].key(),
              "opay_requests_total{location=\"/pc\",webhook=\"payment_"
              "complete\",event=\"paymentcomplete\",outcome=\"success\","
              "status=\"200\"}");
    EXPECT_EQ(m[1].key(),
              "opay_charges_total{result=\"succeeded\",code=\"\"}");
    c.result = OPAY_RESULT_FAIL;
    c.refusal = OPAY_REFUSAL_NONE;
    c.charge = OPAY_CHARGE_DECLINED;
    c.charge_code = "card_declined";
    m = call_series(c);
    EXPECT_NE(m[0].key().find("outcome=\"fail\""), std::string::npos);
    EXPECT_EQ(m[1].key(),
              "opay_charges_total{result=\"declined\",code=\"card_declined\"}");
}

TEST(Metrics, KeysOverTheLimitAreEmptiedToBeCountedAsDropped) {
    // opay_request_duration_seconds{location="..."}: 41 bytes around it
    const size_t around = key("opay_request_duration_seconds",
                              {{"location", ""}}).size();
    Call c;
    c.status = 200;
    std::string location(OPAY_METRICS_KEY_MAX - around, 'x');
    c.location = location;
    auto m = call_series(c);
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0].key(), "") << "requests: over the limit";
    EXPECT_EQ(m[1].key().size(), size_t{OPAY_METRICS_KEY_MAX}) << "just fits";
    location += 'x';
    c.location = location;
    EXPECT_EQ(call_series(c)[1].key(), "") << "one byte over";
    // escaping counts: a quote takes two bytes
    location.assign(OPAY_METRICS_KEY_MAX - around - 1, 'x');
    location += '"';
    c.location = location;
    EXPECT_EQ(call_series(c)[1].key(), "");
}

TEST(Metrics, FetchKeys) {
    char buf[OPAY_METRICS_KEY_MAX];
    auto key_of = [&buf](opay_target_e target) {
        return std::string(buf, fetch_key(target, buf, sizeof buf));
    };
    EXPECT_EQ(key_of(OPAY_TARGET_PROCESSOR),
              "opay_processor_duration_seconds");
    EXPECT_EQ(key_of(OPAY_TARGET_INVOICE),
              "opay_backend_duration_seconds{backend=\"invoice\"}");
    EXPECT_EQ(key_of(OPAY_TARGET_SHIPPING),
              "opay_backend_duration_seconds{backend=\"shipping\"}");
    EXPECT_EQ(key_of(OPAY_TARGET_NOTIFY),
              "opay_backend_duration_seconds{backend=\"notify\"}");
    // a key that does not fit: 0, dropped
    std::string invoice = key_of(OPAY_TARGET_INVOICE);
    EXPECT_EQ(fetch_key(OPAY_TARGET_INVOICE, buf, invoice.size() - 1), 0u);
    EXPECT_EQ(fetch_key(OPAY_TARGET_INVOICE, buf, invoice.size()),
              invoice.size()) << "just fits";
}

TEST(Metrics, CountsCountersAndHistogramBuckets) {
    opay_series_t c = series("c");
    count(c, 123456789);
    count(c, 0);
    EXPECT_EQ(c.value, 2u);
    EXPECT_EQ(c.sum, 0u) << "a counter has no sum";

    opay_series_t h = series("h", true);
    count(h, 0);         // <= 0.005
    count(h, 5000);      // <= 0.005: the bounds are inclusive
    count(h, 5001);      // <= 0.01
    count(h, 10000000);  // <= 10
    count(h, 10000001);  // +Inf only
    EXPECT_EQ(h.value, 5u);
    EXPECT_EQ(h.sum, 0u + 5000 + 5001 + 10000000 + 10000001);
    EXPECT_EQ(h.buckets[0], 2u);
    EXPECT_EQ(h.buckets[1], 1u);
    EXPECT_EQ(h.buckets[OPAY_METRICS_BUCKETS - 1], 1u);
    uint64_t total = 0;
    for (uint64_t b : h.buckets) total += b;
    EXPECT_EQ(total, 4u);
}

TEST(Metrics, EmptyPageHasTheDroppedCount) {
    EXPECT_EQ(page({}, 7),
              std::string(kDroppedLines) + "opay_status_dropped_total 7\n");
}

TEST(Metrics, CounterFamiliesSortedWithOneHelpAndTypeEach) {
    opay_series_t a = series("opay_refusals_total{location=\"/b\",reason=\"x\"}");
    a.value = 3;
    opay_series_t b = series("opay_refusals_total{location=\"/a\",reason=\"y\"}");
    b.value = 4;
    opay_series_t c = series("opay_charges_total{result=\"declined\",code=\"\"}");
    c.value = 1;
    opay_series_t free_slot{};
    std::vector<opay_series_t> in{a, free_slot, b, c};
    EXPECT_EQ(page(in),
              "# HELP opay_charges_total Charges made through the processor, "
              "by result and inner error code.\n"
              "# TYPE opay_charges_total counter\n"
              "opay_charges_total{result=\"declined\",code=\"\"} 1\n"
              "# HELP opay_refusals_total Webhook calls refused, by location "
              "and reason code.\n"
              "# TYPE opay_refusals_total counter\n"
              "opay_refusals_total{location=\"/a\",reason=\"y\"} 4\n"
              "opay_refusals_total{location=\"/b\",reason=\"x\"} 3\n" +
                  std::string(kDroppedLines) + "opay_status_dropped_total 0\n");
    // any order in, the same page out
    std::vector<opay_series_t> reversed{c, b, free_slot, a};
    EXPECT_EQ(page(reversed), page(in));
}

TEST(Metrics, HistogramLines) {
    opay_series_t h =
        series("opay_request_duration_seconds{location=\"/l\"}", true);
    count(h, 3000);
    count(h, 30000);
    count(h, 20000000);
    EXPECT_EQ(
        page({h}),
        "# HELP opay_request_duration_seconds Time from the webhook call to "
        "its answer, by location.\n"
        "# TYPE opay_request_duration_seconds histogram\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"0.005\"} 1\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"0.01\"} 1\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"0.025\"} 1\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"0.05\"} 2\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"0.1\"} 2\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"0.25\"} 2\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"0.5\"} 2\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"1\"} 2\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"2.5\"} 2\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"5\"} 2\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"10\"} 2\n"
        "opay_request_duration_seconds_bucket{location=\"/l\",le=\"+Inf\"} 3\n"
        "opay_request_duration_seconds_sum{location=\"/l\"} 20.033000\n"
        "opay_request_duration_seconds_count{location=\"/l\"} 3\n" +
            std::string(kDroppedLines) + "opay_status_dropped_total 0\n");
}

TEST(Metrics, HistogramWithoutLabels) {
    opay_series_t h = series("opay_processor_duration_seconds", true);
    count(h, 7);
    std::string p = page({h});
    EXPECT_NE(p.find("opay_processor_duration_seconds_bucket{le=\"0.005\"} 1\n"),
              std::string::npos);
    EXPECT_NE(p.find("opay_processor_duration_seconds_bucket{le=\"+Inf\"} 1\n"),
              std::string::npos);
    EXPECT_NE(p.find("\nopay_processor_duration_seconds_sum 0.000007\n"),
              std::string::npos);
    EXPECT_NE(p.find("\nopay_processor_duration_seconds_count 1\n"),
              std::string::npos);
}

TEST(Metrics, OneHelpAndTypePerFamilyAcrossManySeries) {
    std::vector<opay_series_t> in;
    std::vector<std::string> keys;
    for (int i = 0; i < 20; i++) {
        keys.push_back(key("opay_requests_total",
                           {{"location", "/" + std::to_string(i % 7)},
                            {"status", std::to_string(i)}}));
        keys.push_back(
            key("opay_backend_duration_seconds",
                {{"backend", std::to_string(i)}}));
    }
    for (size_t i = 0; i < keys.size(); i++) {
        in.push_back(series(keys[i], i % 2 == 1));
    }
    std::string p = page(in);
    EXPECT_EQ(count_of(p, "# TYPE opay_requests_total counter\n"), 1u);
    EXPECT_EQ(count_of(p, "# HELP opay_requests_total "), 1u);
    EXPECT_EQ(count_of(p, "# TYPE opay_backend_duration_seconds histogram\n"),
              1u);
    // each family's lines together: after its TYPE line, until the next
    // comment line, only its samples
    size_t type = p.find("# TYPE opay_requests_total counter\n");
    size_t end = p.find("# ", type + 1);
    EXPECT_EQ(count_of(p.substr(type, end - type), "\nopay_requests_total{"),
              20u);
    // sorted by key
    std::vector<std::string> lines;
    for (size_t at = type; at < end;) {
        size_t nl = p.find('\n', at);
        lines.push_back(p.substr(at, nl - at));
        at = nl + 1;
    }
    EXPECT_TRUE(std::is_sorted(lines.begin() + 1, lines.end()));
}

TEST(Metrics, UnknownFamilyHasNoHelp) {
    std::string p = page({series("other_total")});
    EXPECT_EQ(p.find("# HELP other_total"), std::string::npos);
    EXPECT_EQ(p.rfind("other_total 0\n", 0), 0u);
}

TEST(Metrics, KeySourceLines) {
    opay_key_stats_t k[2]{};
    k[0].url = str("https://a/\"k\"");
    k[0].fetched_at = 100;
    k[0].refreshed_at = 150;
    k[0].results[OPAY_KEY_OK] = 3;
    k[0].results[OPAY_KEY_TLS] = 1;
    k[1].url = str("https://b/");
    k[1].fetched_at = 0;  // none yet: no age
    k[1].refreshed_at = 0;
    std::string p = write(nullptr, 0, k, 2, 0, 130);
    EXPECT_EQ(p.rfind("# HELP opay_keys_age_seconds Age of the signing key "
                      "set in use, since it was fetched, by key URL.\n"
                      "# TYPE opay_keys_age_seconds gauge\n"
                      "opay_keys_age_seconds{url=\"https://a/\\\"k\\\"\"} 30\n"
                      "# HELP opay_keys_last_refresh_timestamp_seconds When "
                      "the last key fetch ended, whatever its result, by key "
                      "URL.\n"
                      "# TYPE opay_keys_last_refresh_timestamp_seconds gauge\n"
                      "opay_keys_last_refresh_timestamp_seconds{url=\"https://"
                      "a/\\\"k\\\"\"} 150\n"
                      "# HELP opay_keys_refresh_total Key fetches that ended, "
                      "by key URL and result.\n"
                      "# TYPE opay_keys_refresh_total counter\n"
                      "opay_keys_refresh_total{url=\"https://a/\\\"k\\\"\","
                      "result=\"ok\"} 3\n",
                      0),
              0u)
        << p;
    EXPECT_NE(p.find("opay_keys_refresh_total{url=\"https://a/\\\"k\\\"\","
                     "result=\"tls\"} 1\n"),
              std::string::npos);
    // every result of every source, 0 or not
    EXPECT_EQ(count_of(p, "\nopay_keys_refresh_total{"),
              size_t{2 * OPAY_KEY_RESULTS});
    EXPECT_EQ(count_of(p, "https://b/"), size_t{OPAY_KEY_RESULTS});
    // an age is never negative (a clock that went back)
    k[0].fetched_at = 200;
    EXPECT_NE(write(nullptr, 0, k, 1, 0, 130)
                  .find("opay_keys_age_seconds{url=\"https://a/\\\"k\\\"\"} 0\n"),
              std::string::npos);
    // the key families come after the zone's series, before the dropped
    opay_series_t s = series("opay_charges_total{result=\"x\",code=\"\"}");
    p = write(&s, 1, k, 1, 5, 130);
    EXPECT_LT(p.find("opay_charges_total{"), p.find("opay_keys_age_seconds"));
    EXPECT_LT(p.find("opay_keys_refresh_total{"),
              p.find("opay_status_dropped_total 5\n"));
}

TEST(Metrics, CApiWritesInTwoPasses) {
    opay_series_t s = series("opay_charges_total{result=\"x\",code=\"\"}");
    s.value = 2;
    size_t need = opay_metrics_write(nullptr, 0, &s, 1, nullptr, 0, 0, 0);
    ASSERT_GT(need, 0u);
    std::string buf(need, '\0');
    EXPECT_EQ(opay_metrics_write(buf.data(), buf.size(), &s, 1, nullptr, 0, 0,
                                 0),
              need);
    EXPECT_EQ(buf, page({s}));
    // too small: what fits, and the whole length
    std::string small(10, '\0');
    EXPECT_EQ(opay_metrics_write(small.data(), small.size(), &s, 1, nullptr,
                                 0, 0, 0),
              need);
    EXPECT_EQ(small, buf.substr(0, 10));

    char key[OPAY_METRICS_KEY_MAX];
    size_t n = opay_metrics_fetch_key(OPAY_TARGET_SHIPPING, key, sizeof(key));
    EXPECT_EQ(std::string(key, n),
              "opay_backend_duration_seconds{backend=\"shipping\"}");
    EXPECT_EQ(opay_metrics_fetch_key(OPAY_TARGET_SHIPPING, key, 10), 0u);
}

}  // namespace
}  // namespace opay::metrics
