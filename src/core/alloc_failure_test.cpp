// Allocation failure at every point of a call, through the C API as the
// shim drives it. The test binary's global operator new/new[] (and
// OpenSSL's allocator) are replaced here by an injector that, armed on
// this thread, fails the k-th allocation made inside a C API call; off,
// it is plain malloc, and the other tests never arm it. Each sequence
// (loadentity, a shipping address change, PaymentComplete charged and
// declined) is run for k = 1, 2, ... until a run makes fewer than k
// allocations; every run must end in the answer of the run without
// failure, or in the answer of a flow out of memory: 500 internal_error
// (opay_flow_start's NULL: the shim's own 500), or, once a confirm was
// handed out, 409 payment_in_progress, never a result "fail" nor a
// "success" the processor did not give. LeakSanitizer (make unit
// SANITIZE=1) checks that nothing leaks on any of these paths. The
// injector replaces operator new for the whole binary (and with it ASan's
// new/delete mismatch checks): it is a test binary of its own,
// opay_alloc_tests, so that opay_tests keeps them.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "flow_fixture.h"
#include "opay.h"
#include "opay_str.h"
#include "payment_complete_flow_fixture.h"
#include "payment_request_flow.h"
#include "test_util.h"

namespace {

// The injector's state, this thread's: off (fail_at 0) unless a test arms
// it; allocations are counted only while active (inside a C API call), so
// the test's own bookkeeping never fails.
struct Injector {
    long fail_at = 0;
    long count = 0;
    bool active = false;
    bool fired = false;
};
thread_local Injector injector;

// true: this allocation fails
bool inject() noexcept {
    Injector& i = injector;
    if (!i.active) return false;
    if (++i.count != i.fail_at) return false;
    i.fired = true;
    return true;
}

void* allocate(std::size_t n) {
    if (inject()) throw std::bad_alloc();
    if (void* p = std::malloc(n != 0 ? n : 1)) return p;
    throw std::bad_alloc();
}

void* allocate_nothrow(std::size_t n) noexcept {
    if (inject()) return nullptr;
    return std::malloc(n != 0 ? n : 1);
}

// OpenSSL's allocations count in the same sequence. Installed before
// OpenSSL's first allocation (a static initializer: nothing in the test
// binary calls OpenSSL before main); installed tells whether it took.
void* ssl_malloc(std::size_t n, const char*, int) {
    return inject() ? nullptr : std::malloc(n);
}
void* ssl_realloc(void* p, std::size_t n, const char*, int) {
    return inject() ? nullptr : std::realloc(p, n);
}
void ssl_free(void* p, const char*, int) { std::free(p); }
const bool ssl_hooked =
    CRYPTO_set_mem_functions(ssl_malloc, ssl_realloc, ssl_free) == 1;

}  // namespace

// Replaced for the whole binary (ASan's runtime gives way to them as to
// any program's own; malloc and free below are still its).
void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    return allocate_nothrow(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return allocate_nothrow(n);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}

namespace opay {
namespace {

// Arms the injector for one run: the fail_at-th allocation inside a C API
// call fails (0: none does; the allocations are still counted).
class Armed {
  public:
    explicit Armed(long fail_at) { injector = Injector{fail_at, 0, false}; }
    ~Armed() { injector = Injector{}; }
    Armed(const Armed&) = delete;
    Armed& operator=(const Armed&) = delete;
    long count() const { return injector.count; }
    bool fired() const { return injector.fired; }
};

// f() counted, as one call into the core
template <typename F>
auto core(F f) {
    struct Active {
        Active() { injector.active = true; }
        ~Active() { injector.active = false; }
    } active;
    return f();
}

TEST(AllocationInjector, FailsTheKthAllocationOnlyWhenArmedAndActive) {
    {
        Armed armed(2);
        std::string outside(100, 'x');  // not inside the core: not counted
        EXPECT_THROW(core([] {
                         std::string a(100, 'a');
                         std::string b(100, 'b');
                     }),
                     std::bad_alloc);
        EXPECT_TRUE(armed.fired());
        EXPECT_EQ(armed.count(), 2);
        int* third = core([] { return new (std::nothrow) int[4]; });
        EXPECT_NE(third, nullptr) << "only the second fails";
        delete[] third;
    }
    EXPECT_NO_THROW(core([] { std::string c(100, 'c'); }));  // disarmed
    {
        Armed armed(1);
        EXPECT_EQ(core([] { return new (std::nothrow) int[4]; }), nullptr);
    }
    // OpenSSL's allocations are counted too
    ASSERT_TRUE(ssl_hooked) << "OpenSSL allocated before the injector";
    Armed armed(1);
    EXPECT_EQ(core([] { return OPENSSL_malloc(16); }), nullptr);
    EXPECT_TRUE(armed.fired());
}

using test::kAddressChange;
using test::kOptions;

// The answer fed first is copied before anything is marked: a failed copy
// changes nothing, the same answer fed again goes on as if first.
using FlowFeedTest = test::FlowTest;

TEST_F(FlowFeedTest, CopiesBeforeMarking) {
    config.shipping = true;
    const std::string options = kOptions;
    PaymentRequestFlow f(config, input(kAddressChange));
    ASSERT_EQ(f.fetches().size(), 2u);
    {
        Armed armed(1);
        EXPECT_THROW(core([&] { f.feed(1, 200, options); }), std::bad_alloc);
        EXPECT_TRUE(armed.fired());
    }
    f.feed(0, 200, test::kInvoice);
    EXPECT_FALSE(f.responding()) << "the failed feed marked its result";
    f.feed(1, 200, options);
    ASSERT_TRUE(f.responding());
    EXPECT_EQ(f.response().status, 200) << f.response().body;
}

// The backends' answer to a fetch: status and body.
using Backend = std::function<std::pair<int, std::string>(
    opay_target_e target, const std::string& path)>;

// One sequence: a location's settings, a call, its backends.
struct Sequence {
    opay_settings_t settings{};
    opay_webhook_e webhook = OPAY_PAYMENT_REQUEST;
    std::string authorization;
    std::string body;
    bool arenas = false;      // the worker's arenas, as the shim has them
    Backend backend;
};

constexpr opay_var_e kVars[] = {
    OPAY_VAR_EVENT,  OPAY_VAR_SUB,    OPAY_VAR_SENDER, OPAY_VAR_REQUEST_ID,
    OPAY_VAR_RESULT, OPAY_VAR_ERROR,  OPAY_VAR_CHARGE, OPAY_VAR_CHARGE_CODE};

// What one run through the C API came to.
struct Trace {
    long allocations = 0;
    bool fired = false;
    std::string failed_in;     // the C API call the failure hit
    bool conf_failed = false;
    std::string conf_error;
    bool start_failed = false;  // the shim answers its own 500
    std::vector<std::string> steps;
    bool confirm_sent = false;  // a step that may charge was handed out
    int status = 0;
    std::string body;
    std::string log;
    std::map<opay_var_e, std::optional<std::string>> vars;
    std::optional<std::string> ctx;  // $opay_ctx_invoiceid
    std::vector<std::string> metrics;
    // after the answer, a broken flow fed and resolved once more: its
    // answer again
    std::string again;
};

// The call as the shim makes it (ngx_http_opay_handler.c,
// _subrequest.c): the configuration, the flow, its steps until the
// answer (every fetch of a step fed before the next step is asked), the
// variables, the metrics, the frees.
Trace run(const Sequence& seq, long fail_at) {
    // an earlier run's OpenSSL errors are not this run's: read as this
    // run's, they would hide a failure that queues none
    ERR_clear_error();
    Trace r;
    opay_arenas_t* arenas =
        seq.arenas ? opay_arenas_create(2, 64 * 1024) : nullptr;
    Armed armed(fail_at);
    auto call = [&](const char* name, auto f) {
        bool before = armed.fired();
        auto result = core(f);
        if (!before && armed.fired()) r.failed_in = name;
        return result;
    };
    auto call_void = [&](const char* name, auto f) {
        call(name, [&] {
            f();
            return 0;
        });
    };
    char err[256] = "";
    opay_conf_t* conf = call("opay_conf_create", [&] {
        return opay_conf_create(&seq.settings, err, sizeof err);
    });
    opay_flow_t* flow = nullptr;
    if (conf == nullptr) {
        r.conf_failed = true;
        r.conf_error = err;
    } else {
        opay_input_t in{};
        in.webhook = seq.webhook;
        in.method = str("POST");
        in.content_type = str("application/json");
        in.body = str(seq.body);
        in.now = test::kNow;
        in.arenas = arenas;
        in.authorization = str(seq.authorization);
        flow = call("opay_flow_start",
                    [&] { return opay_flow_start(conf, &in); });
        r.start_failed = flow == nullptr;
    }
    for (int n = 0; flow != nullptr && n < 40; ++n) {
        opay_step_t step;
        call_void("opay_flow_next", [&] { opay_flow_next(flow, &step); });
        if (step.kind == OPAY_STEP_RESPOND) {
            r.status = step.status;
            r.body = text(step.body);
            r.log = text(step.log_message);
            break;
        }
        if (step.kind == OPAY_STEP_FETCH) {
            // answered, then fed one by one, the last fed first
            std::vector<std::pair<int, std::string>> answers;
            for (size_t i = 0; i < step.n_fetches; ++i) {
                const opay_fetch_t& fetch = step.fetches[i];
                std::string path = text(fetch.path);
                r.steps.push_back(std::string("fetch ") +
                                  opay_target_name(fetch.target) + " " +
                                  path);
                if (path.size() >= 8 &&
                    path.compare(path.size() - 8, 8, "/confirm") == 0) {
                    r.confirm_sent = true;
                }
                answers.push_back(seq.backend(fetch.target, path));
            }
            for (size_t i = answers.size(); i-- > 0;) {
                call_void("opay_flow_feed", [&] {
                    opay_flow_feed(flow, i, answers[i].first,
                                   str(answers[i].second), 0);
                });
            }
            continue;
        }
        // what an action is, not its data (nonces differ run to run)
        r.steps.push_back("step " + std::to_string(step.kind) + " " +
                          text(step.key) + " " +
                          std::to_string(step.store));
        int result = step.kind == OPAY_STEP_CLAIM ? OPAY_CLAIM_NEW : 0;
        call_void("opay_flow_resolve",
                  [&] { opay_flow_resolve(flow, result, {}); });
    }
    if (flow != nullptr) {
        for (opay_var_e var : kVars) {
            opay_str_t v{};
            int set = call("opay_flow_var",
                           [&] { return opay_flow_var(flow, var, &v); });
            r.vars[var] = set ? std::optional<std::string>(text(v))
                              : std::nullopt;
        }
        opay_str_t v{};
        if (call("opay_flow_ctx", [&] {
                return opay_flow_ctx(flow, str("invoiceid"), &v);
            })) {
            r.ctx = text(v);
        }
        opay_metric_t m[OPAY_METRICS_CALL_MAX];
        size_t n = call("opay_flow_metrics", [&] {
            return opay_flow_metrics(flow, str("/x"), r.status, m);
        });
        for (size_t i = 0; i < n; ++i) r.metrics.push_back(text(m[i].key));
        // a flow out of memory reads nothing more: fed and resolved, it
        // answers the same (the shim's parallel fetches still end)
        if (r.status == 500 || r.status == 409) {
            opay_step_t step;
            call_void("opay_flow_feed", [&] {
                opay_flow_feed(flow, 0, 200, str("{}"), 0);
                opay_flow_resolve(flow, 0, {});
                opay_flow_next(flow, &step);
            });
            r.again = std::to_string(step.status) + " " + text(step.body);
        }
    }
    call_void("opay_flow_free", [&] { opay_flow_free(flow); });
    call_void("opay_conf_free", [&] { opay_conf_free(conf); });
    r.allocations = armed.count();
    r.fired = armed.fired();
    opay_arenas_free(arenas);
    return r;
}

std::string_view kind_of(const Trace& ref, const Trace& r);

// Each sequence run with every allocation failed in turn.
struct AllocationSweep : ::testing::Test {
    test::TestKey key{"k1"};
    std::string jwks_path = testing::TempDir() + "opay-alloc-" +
                            std::to_string(getpid()) + "-jwks.json";
    std::string bearer =
        "Bearer " + key.token(R"({"iss":"iss","aud":"m1","sub":"p@x",
                                 "exp":1700003600})");

    AllocationSweep() { std::ofstream(jwks_path) << key.jwks(); }
    ~AllocationSweep() override { std::remove(jwks_path.c_str()); }

    Sequence sequence(opay_webhook_e webhook, std::string body,
                      Backend backend) const {
        Sequence seq;
        seq.settings = opay::test::c_api_settings(jwks_path);
        seq.webhook = webhook;
        seq.authorization = bearer;
        seq.body = std::move(body);
        seq.backend = std::move(backend);
        return seq;
    }

    Sequence payment_complete(std::string confirmed) const {
        Sequence seq = sequence(
            OPAY_PAYMENT_COMPLETE,
            complete_test::CompleteTest::payload(
                "10.00", R"({"Format":"stripe","TestMode":true})"),
            [confirmed](opay_target_e target, const std::string& path)
                -> std::pair<int, std::string> {
                if (target == OPAY_TARGET_INVOICE)
                    return {200, complete_test::kInvoice};
                if (target == OPAY_TARGET_NOTIFY) return {200, "{}"};
                if (path == "v1/payment_intents")
                    return {200, complete_test::kCreated};
                if (path == "v1/payment_methods")
                    return {200, complete_test::kMethod};
                if (path == "v1/payment_intents/pi_1")
                    return {200, complete_test::kSet};
                if (path == "v1/payment_intents/pi_1/confirm")
                    return {200, confirmed};
                return {404, "{}"};
            });
        opay_settings_t& s = seq.settings;
        s.test_mode = 1;
        s.processor = 1;
        s.processor_prefix = str("/stripe/");
        s.journal = 1;
        s.notify = 1;
        return seq;
    }

    // k = 1, 2, ... until a run makes fewer than k allocations; returns
    // the reference run (no failure)
    Trace sweep(const Sequence& seq) {
        run(seq, 0);  // OpenSSL's one-time set-up, unarmed
        Trace ref = run(seq, 0);
        EXPECT_FALSE(ref.conf_failed) << ref.conf_error;
        EXPECT_FALSE(ref.start_failed);
        EXPECT_NE(ref.status, 0);
        std::map<std::string_view, int> kinds;
        long k = 1;
        for (;; ++k) {
            Trace r = run(seq, k);
            if (!r.fired) break;
            SCOPED_TRACE("allocation " + std::to_string(k) + " of " +
                         std::to_string(ref.allocations) + " failed, in " +
                         r.failed_in);
            ++kinds[kind_of(ref, r)];
            if (HasFailure() || k > 100000) break;
        }
        EXPECT_GT(k, ref.allocations) << "the last run failed none";
        std::string seen;
        for (const auto& [kind, n] : kinds) {
            seen += " " + std::string(kind) + " " + std::to_string(n);
        }
        std::printf("%ld allocations failed one at a time:%s\n", k - 1,
                    seen.c_str());
        return ref;
    }
};

bool has(const std::string& s, std::string_view part) {
    return s.find(part) != std::string::npos;
}

// What a run with a failed allocation came to, checked against the run
// without: "same" answer, or the shim's answers to an allocation failure
// ("conf": nginx refuses the configuration; "start": the shim's own 500;
// "500"; "409" once a confirm was handed out).
std::string_view kind_of(const Trace& ref, const Trace& r) {
    if (r.conf_failed) {
        EXPECT_EQ(r.failed_in, "opay_conf_create");
        EXPECT_FALSE(r.conf_error.empty());
        return "conf";
    }
    if (r.start_failed) {
        // only an allocation failure makes no flow (anything else is an
        // answer), and nothing was handed out
        EXPECT_EQ(r.failed_in, "opay_flow_start");
        EXPECT_TRUE(r.steps.empty());
        return "start";
    }
    EXPECT_NE(r.status, 0) << "no answer after " << r.steps.size()
                           << " steps";
    // a success only as the processor's answer made it (the run without
    // failure's), and only once a confirm was handed out
    if (has(r.body, R"("result":"success")")) {
        EXPECT_TRUE(r.confirm_sent);
        EXPECT_EQ(r.body, ref.body);
    }
    // once a confirm was handed out the money may have moved: a "fail"
    // only as the processor's own answer (a decline)
    if (r.confirm_sent && has(r.body, R"("result":"fail")")) {
        EXPECT_EQ(r.body, ref.body);
    }
    if (r.status == ref.status && r.body == ref.body) {
        EXPECT_EQ(r.steps, ref.steps);
        EXPECT_EQ(r.vars, ref.vars);
        EXPECT_EQ(r.ctx, ref.ctx);
        // the log line and the series are made apart: either may be lost
        // alone (the answer goes out without it)
        if (r.log != ref.log) {
            EXPECT_EQ(r.log, "");
            EXPECT_EQ(r.failed_in, "opay_flow_next");
        }
        if (r.metrics != ref.metrics) {
            EXPECT_TRUE(r.metrics.empty());
            EXPECT_EQ(r.failed_in, "opay_flow_metrics");
        }
        return "same";
    }
    // out of memory mid-flow: 500, or 409 once a confirm may have charged;
    // neither a success nor a failure; what was handed out before is what
    // the run without failure handed out
    const char* code =
        r.confirm_sent ? "payment_in_progress" : "internal_error";
    EXPECT_EQ(r.status, r.confirm_sent ? 409 : 500) << r.body;
    EXPECT_TRUE(has(r.body, std::string(R"("code":")") + code + '"'))
        << r.body;
    EXPECT_EQ(r.again, std::to_string(r.status) + " " + r.body);
    EXPECT_FALSE(r.log.empty());
    EXPECT_TRUE(r.steps.size() <= ref.steps.size() &&
                std::equal(r.steps.begin(), r.steps.end(), ref.steps.begin()))
        << r.steps.size() << " steps";
    auto var = [&r](opay_var_e v) { return r.vars.at(v); };
    EXPECT_EQ(var(OPAY_VAR_RESULT), std::nullopt);
    EXPECT_EQ(var(OPAY_VAR_ERROR), code);
    if (r.confirm_sent) {
        // unknown, unless the processor's answer said what it came to
        EXPECT_TRUE(var(OPAY_VAR_CHARGE) == "unknown" ||
                    var(OPAY_VAR_CHARGE) == ref.vars.at(OPAY_VAR_CHARGE))
            << var(OPAY_VAR_CHARGE).value_or("unset");
    } else {
        EXPECT_EQ(var(OPAY_VAR_CHARGE), std::nullopt);
    }
    // the series say what was answered
    if (!r.metrics.empty()) {
        EXPECT_TRUE(has(r.metrics[0], "outcome=\"refused\",status=\"" +
                                          std::to_string(r.status) + "\""))
            << r.metrics[0];
    }
    return r.confirm_sent ? "409" : "500";
}

TEST_F(AllocationSweep, LoadEntity) {
    Sequence seq = sequence(
        OPAY_PAYMENT_REQUEST, test::kLoad,
        [](opay_target_e, const std::string&) -> std::pair<int, std::string> {
            return {200, test::kInvoice};
        });
    seq.arenas = true;
    Trace ref = sweep(seq);
    EXPECT_EQ(ref.status, 200);
}

// two fetches at once: the first fed is copied, a failure there leaves
// the second to a broken flow
TEST_F(AllocationSweep, ShippingAddressChange) {
    Sequence seq = sequence(
        OPAY_PAYMENT_REQUEST, kAddressChange,
        [](opay_target_e target,
           const std::string&) -> std::pair<int, std::string> {
            if (target == OPAY_TARGET_SHIPPING) return {200, kOptions};
            return {200, test::kInvoice};
        });
    seq.settings.shipping = 1;
    Trace ref = sweep(seq);
    EXPECT_EQ(ref.status, 200);
    EXPECT_TRUE(has(ref.body, R"("id":"priority")")) << ref.body;
}

// claim, invoice, create, payment method, update, journal, confirm
// (succeeded), journal, notify, journal, settle
TEST_F(AllocationSweep, PaymentCompleteCharged) {
    Trace ref = sweep(payment_complete(complete_test::kSucceeded));
    EXPECT_TRUE(ref.confirm_sent);
    EXPECT_TRUE(has(ref.body, R"("result":"success")")) << ref.body;
    EXPECT_EQ(ref.vars.at(OPAY_VAR_CHARGE), "succeeded");
}

// the same, the card declined at the confirm: the processor's "fail"
TEST_F(AllocationSweep, PaymentCompleteDeclined) {
    Trace ref = sweep(payment_complete(complete_test::intent(
        "requires_payment_method", 1000, nullptr, "pm_1")));
    EXPECT_TRUE(ref.confirm_sent);
    EXPECT_TRUE(has(ref.body, R"("result":"fail")")) << ref.body;
    EXPECT_EQ(ref.vars.at(OPAY_VAR_CHARGE), "declined");
}

}  // namespace
}  // namespace opay
