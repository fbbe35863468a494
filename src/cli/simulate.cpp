// opay simulate: plays the payment service against a running endpoint
// (the conversation and its checks are the core's Simulator; this file
// is the HTTP and the transcript).
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include <curl/curl.h>
#include <unistd.h>

#include "ascii.h"
#include "cli.h"
#include "json.h"
#include "jws.h"
#include "simulator.h"

namespace opay::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct Target {
    std::string request_url;
    std::string complete_url;
    std::string authorization;  // "Authorization: Bearer ..."
    std::size_t max_answer;     // bytes of one answer
};

// An answer's body, up to max bytes: past that the transfer stops (0 is
// curl's "write error") before the rest is read.
struct Body {
    std::string* text;
    std::size_t max;
    bool too_large = false;
};

size_t collect(char* data, size_t size, size_t n, void* out) {
    auto* body = static_cast<Body*>(out);
    if (size * n > body->max - body->text->size()) {
        body->too_large = true;
        return 0;
    }
    body->text->append(data, size * n);
    return size * n;
}

size_t collect_header(char* data, size_t size, size_t n, void* out) {
    std::string line(data, size * n);
    auto* answer = static_cast<EndpointAnswer*>(out);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        value.erase(value.find_last_not_of("\r\n") + 1);
        if (name == "www-authenticate") answer->www_authenticate = value;
        if (name == "content-type") answer->content_type = value;
    }
    return size * n;
}

// One HTTP client (keeps its connection between calls).
class Http {
  public:
    Http() : curl_(curl_easy_init(), curl_easy_cleanup) {}

    // status 0: no answer (error says why); max: the answer's cap, bytes
    EndpointAnswer post(const std::string& url,
                        const std::string& authorization,
                        const std::string& body, std::size_t max, double& ms,
                        std::string& error) {
        EndpointAnswer answer;
        Body collected{&answer.body, max};
        CURL* c = curl_.get();
        curl_easy_reset(c);
        std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
            curl_slist_append(nullptr, "Content-Type: application/json"),
            curl_slist_free_all);
        curl_slist_append(headers.get(), authorization.c_str());
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
                         static_cast<long>(body.size()));
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &collected);
        // refused at once when Content-Length says it is over the cap
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                         static_cast<curl_off_t>(max));
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &answer);
        auto t0 = Clock::now();
        CURLcode rc = curl_easy_perform(c);
        ms = std::chrono::duration<double, std::milli>(Clock::now() - t0)
                 .count();
        if (collected.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
            error = "answer larger than " + std::to_string(max) +
                    " bytes (--max-answer), not read";
            return EndpointAnswer{};
        }
        if (rc != CURLE_OK) {
            error = curl_easy_strerror(rc);
            return EndpointAnswer{};
        }
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        answer.status = static_cast<int>(status);
        return answer;
    }

  private:
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl_;
};

struct Step {
    Call call;
    EndpointAnswer answer;
    double ms = 0;
    StepReport report;
    std::string transport_error;
};

// Runs one whole conversation; steps in order.
std::vector<Step> converse(Simulator sim, const Target& t, Http& http,
                           bool& passed) {
    std::vector<Step> steps;
    while (auto call = sim.next()) {
        Step s;
        s.call = *call;
        const std::string& url = call->webhook == Webhook::kPaymentRequest
                                     ? t.request_url
                                     : t.complete_url;
        s.answer = http.post(url, t.authorization, call->body, t.max_answer,
                             s.ms,
                             s.transport_error);
        if (s.answer.status == 0) {
            s.report.event = call->event;
            s.report.violations.push_back("no answer: " + s.transport_error);
            steps.push_back(std::move(s));
            passed = false;
            return steps;
        }
        s.report = sim.feed(s.answer);
        steps.push_back(std::move(s));
    }
    passed = sim.passed();
    return steps;
}

void print_transcript(const std::vector<Step>& steps, const Target& t,
                      bool passed) {
    int violations = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const Step& s = steps[i];
        const std::string& url = s.call.webhook == Webhook::kPaymentRequest
                                     ? t.request_url
                                     : t.complete_url;
        std::printf("%zu. %s -> POST %s\n", i + 1, s.call.event.c_str(),
                    printable(url).c_str());
        if (s.answer.status != 0) {
            std::printf("   <- %d %s, %.1f ms\n", s.answer.status,
                        printable(s.answer.content_type).c_str(), s.ms);
        }
        // what the endpoint said goes to the terminal escaped: it cannot
        // write a line of this transcript (an "ok", a verdict) itself
        for (const auto& said : s.report.said) {
            std::printf("   %s\n", printable(said).c_str());
        }
        for (const auto& v : s.report.violations) {
            std::printf("   VIOLATION: %s\n", printable(v).c_str());
        }
        violations += static_cast<int>(s.report.violations.size());
        std::printf("   %s\n", s.report.ok() ? "ok" : "FAILED");
    }
    std::printf("verdict: %s (%zu steps, %d violations)\n",
                passed ? "PASS" : "FAIL", steps.size(), violations);
}

void print_json(const std::vector<Step>& steps, bool passed) {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    json::Value list(rapidjson::kArrayType);
    for (const Step& s : steps) {
        json::Value step(rapidjson::kObjectType);
        step.AddMember("event", json::str(s.call.event, a), a);
        step.AddMember("status", s.answer.status, a);
        step.AddMember("ms", s.ms, a);
        json::Document request, answer;
        if (!json::parse(s.call.body, request)) {
            step.AddMember("request", json::Value(request, a), a);
        }
        if (!json::parse(s.answer.body, answer)) {
            step.AddMember("answer", json::Value(answer, a), a);
        } else {
            step.AddMember("answer", json::str(s.answer.body, a), a);
        }
        for (auto [name, texts] :
             {std::pair<const char*, const std::vector<std::string>*>{
                  "said", &s.report.said},
              {"violations", &s.report.violations}}) {
            json::Value v(rapidjson::kArrayType);
            for (const auto& t : *texts) v.PushBack(json::str(t, a), a);
            step.AddMember(rapidjson::StringRef(name), v, a);
        }
        list.PushBack(step, a);
    }
    d.AddMember("steps", list, a);
    d.AddMember("passed", passed, a);
    std::printf("%s\n", printable(json::write(d), Printable::kJson).c_str());
}

double percentile(std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    std::size_t i = static_cast<std::size_t>(p * (sorted.size() - 1) + 0.5);
    return sorted[std::min(i, sorted.size() - 1)];
}

// --concurrency N --count M: M conversations, N at a time, every answer
// still checked.
int load(const SimulatorOptions& options, const Target& t, int concurrency,
         int count, bool json_out) {
    std::atomic<int> next{0}, done{0}, failed{0}, requests{0};
    std::mutex mu;
    std::vector<double> latencies;
    std::vector<std::string> first_violations;
    auto t0 = Clock::now();
    auto worker = [&] {
        Http http;
        std::vector<double> mine;
        while (next.fetch_add(1) < count) {
            bool passed = false;
            auto started = Simulator::start(options);
            auto steps = converse(std::get<Simulator>(std::move(started)), t,
                                  http, passed);
            for (const Step& s : steps) mine.push_back(s.ms);
            requests += static_cast<int>(steps.size());
            if (!passed) {
                ++failed;
                std::lock_guard<std::mutex> lock(mu);
                for (const Step& s : steps) {
                    for (const auto& v : s.report.violations) {
                        if (first_violations.size() < 5) {
                            first_violations.push_back(s.call.event + ": " +
                                                       v);
                        }
                    }
                }
            }
            ++done;
        }
        std::lock_guard<std::mutex> lock(mu);
        latencies.insert(latencies.end(), mine.begin(), mine.end());
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < concurrency; ++i) threads.emplace_back(worker);
    bool tty = isatty(STDERR_FILENO);
    while (done.load() < count) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        double s = std::chrono::duration<double>(Clock::now() - t0).count();
        std::fprintf(stderr, "%s%d/%d conversations, %d requests, %.0f req/s%s",
                     tty ? "\r" : "", done.load(), count, requests.load(),
                     requests.load() / s, tty ? "" : "\n");
    }
    for (auto& th : threads) th.join();
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (tty) std::fprintf(stderr, "\n");
    std::sort(latencies.begin(), latencies.end());
    double rps = latencies.size() / seconds;
    if (json_out) {
        std::printf("{\"conversations\":%d,\"failed\":%d,\"requests\":%zu,"
                    "\"seconds\":%.3f,\"requests_per_second\":%.1f,"
                    "\"latency_ms\":{\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,"
                    "\"max\":%.2f}}\n",
                    count, failed.load(), latencies.size(), seconds, rps,
                    percentile(latencies, 0.5), percentile(latencies, 0.9),
                    percentile(latencies, 0.99),
                    latencies.empty() ? 0 : latencies.back());
    } else {
        std::printf("%d conversations (%zu requests), %d at a time, in "
                    "%.2f s: %.0f req/s\n"
                    "latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n"
                    "%d conversations failed\n",
                    count, latencies.size(), concurrency, seconds, rps,
                    percentile(latencies, 0.5), percentile(latencies, 0.9),
                    percentile(latencies, 0.99),
                    latencies.empty() ? 0 : latencies.back(), failed.load());
        for (const auto& v : first_violations) {
            std::printf("  e.g. %s\n", printable(v).c_str());
        }
    }
    return failed.load() == 0 ? 0 : 1;
}

}  // namespace

int simulate(const Args& a) {
    for (const char* required : {"--url", "--key", "--kid", "--merchant-id"}) {
        if (!a.options.count(required)) {
            std::cerr << "opay simulate: " << required << " is required\n";
            return usage();
        }
    }
    SimulatorOptions o;
    if (a.options.count("--product-context")) {
        o.product_context = a.options.at("--product-context");
    } else if (a.options.count("--invoice")) {
        json::Document ctx(rapidjson::kObjectType);
        ctx.AddMember("invoiceId",
                      json::str(a.options.at("--invoice"), ctx.GetAllocator()),
                      ctx.GetAllocator());
        o.product_context = json::write(ctx);
    } else {
        std::cerr << "opay simulate: --invoice or --product-context is "
                     "required\n";
        return usage();
    }
    if (a.options.count("--address")) {
        auto text = read_file(a.options.at("--address"));
        if (!text) {
            std::cerr << "opay: cannot read " << a.options.at("--address")
                      << "\n";
            return 2;
        }
        o.shipping_address = *text;
    } else {
        o.shipping_address = reference_address(option(a, "--country", "US"));
    }
    o.shipping_option = option(a, "--option", "");
    o.card = option(a, "--card", "");
    if (a.options.count("--max-answer")) {
        const std::string& max = a.options.at("--max-answer");
        char* end = nullptr;
        unsigned long long n = std::strtoull(max.c_str(), &end, 10);
        if (max.empty() || !std::isdigit(static_cast<unsigned char>(max[0])) ||
            *end != '\0' || n == 0 || n > (1ULL << 40)) {
            std::cerr << "opay simulate: --max-answer is a number of bytes, "
                         "1 to 2^40\n";
            return 2;
        }
        o.max_answer = static_cast<std::size_t>(n);
    }
    auto started = Simulator::start(o);
    if (auto* e = std::get_if<std::string>(&started)) {
        std::cerr << "opay simulate: " << *e << "\n";
        return 2;
    }

    auto pem = read_file(a.options.at("--key"));
    PkeyPtr key = pem ? private_key_from_pem(*pem) : nullptr;
    if (!key) {
        std::cerr << "opay: cannot read a private key from "
                  << a.options.at("--key") << "\n";
        return 2;
    }
    NameValues claims = {{"aud", a.options.at("--merchant-id")},
                         {"sub", option(a, "--payer", "patti@contoso.com")}};
    if (a.options.count("--sender")) {
        claims.emplace_back("sender", a.options.at("--sender"));
    }
    auto token = mint(key.get(), a.options.at("--kid"), {}, claims);
    if (!token) {
        std::cerr << "opay: signing failed (RS256 needs an RSA key)\n";
        return 2;
    }
    std::string base = a.options.at("--url");
    while (!base.empty() && base.back() == '/') base.pop_back();
    Target t{base + option(a, "--request-path", "/opay/payment-request"),
             base + option(a, "--complete-path", "/opay/payment-complete"),
             "Authorization: Bearer " + *token, o.max_answer};
    bool json_out = has_flag(a, "--json");

    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (a.options.count("--count") || a.options.count("--concurrency")) {
        int count = std::atoi(option(a, "--count", "100").c_str());
        int concurrency = std::atoi(option(a, "--concurrency", "1").c_str());
        if (count < 1 || concurrency < 1 || concurrency > 1024) {
            std::cerr << "opay simulate: --count and --concurrency must be "
                         "positive (concurrency at most 1024)\n";
            return 2;
        }
        rc = load(o, t, concurrency, count, json_out);
    } else {
        Http http;
        bool passed = false;
        auto steps = converse(std::get<Simulator>(std::move(started)), t,
                              http, passed);
        if (json_out) {
            print_json(steps, passed);
        } else {
            print_transcript(steps, t, passed);
        }
        rc = passed ? 0 : 1;
    }
    curl_global_cleanup();
    return rc;
}

}  // namespace opay::cli
