// Fuzzes one whole webhook call over the C API the shim uses (opay.h):
// the request, then every answer the flow asks for, to its one response.
//
// Input: parts split by fuzz_util.h's separator line:
//   1. "request" or "complete", then configuration letters: s shipping,
//      p processor, n notify, j journal, t test mode, r request payer
//      details, L body too large, G method GET, C content type text/plain,
//      A the body in a worker's arena (one of 4 KiB, kept across inputs,
//      so most bodies spill past it);
//   2. the Authorization header (seeds carry a token signed with the
//      demo-only key of conf-examples, valid at the fixed time below);
//   3. the body;
//   4. one part per answer, in the order the flow asks: for a fetch
//      "STATUS BODY" ("STATUSR BODY": with Idempotent-Replayed), for a
//      claim "RESULT DATA" (an OPAY_CLAIM_* digit),
//      for a journal write "0" or "-1". Missing parts are a failed fetch,
//      a new claim and a good write.
// Checked: the flow ends in one response, within a bounded number of
// steps, with a status and a JSON body (or, for a payment found finished in
// the zone at its amount, the stored reply as it is); an arena borrowed is
// given back
// when the flow is freed; no leak, no memory error.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "fuzz_util.h"
#include "json.h"
#include "opay.h"
#include "opay_str.h"

using namespace opay;

namespace {

constexpr int64_t kNow = 1700000000;
constexpr int kMaxSteps = 64;


struct ConfFree {
    void operator()(opay_conf_t* c) const noexcept { opay_conf_free(c); }
};
using ConfPtr = std::unique_ptr<opay_conf_t, ConfFree>;

struct ArenasFree {
    void operator()(opay_arenas_t* a) const noexcept { opay_arenas_free(a); }
};

// As a worker keeps them: made once, lent to one flow after another.
opay_arenas_t* worker_arenas() {
    static const std::unique_ptr<opay_arenas_t, ArenasFree> arenas(
        opay_arenas_create(1, 4096));
    fuzz::require(arenas != nullptr);
    return arenas.get();
}

struct FlowFree {
    void operator()(opay_flow_t* f) const noexcept { opay_flow_free(f); }
};

ConfPtr make_conf(std::string_view flags) {
    static const opay_str_t senders[] = {str("billing@contoso.com")};
    static const opay_str_t networks[] = {str("visa"), str("mastercard")};
    static const opay_str_t types[] = {str("credit"), str("debit")};
    auto has = [flags](char c) {
        return flags.find(c) != std::string_view::npos;
    };
    opay_settings_t s{};
    s.merchant_id = str("merchant-0001");
    s.jwks_file = str(OPAY_TESTDATA "/../conf-examples/demo-only-jwks.json");
    s.jwt_issuer = str(OPAY_DEFAULT_JWT_ISSUER);
    s.jwt_appid = str(OPAY_DEFAULT_JWT_APPID);
    s.jwt_version = str(OPAY_DEFAULT_JWT_VERSION);
    s.jwt_leeway = OPAY_DEFAULT_JWT_LEEWAY;
    s.allowed_senders = senders;
    s.n_allowed_senders = 1;
    s.test_mode = has('t');
    s.networks = networks;
    s.n_networks = 2;
    s.types = types;
    s.n_types = 2;
    s.request_payer =
        has('r') ? OPAY_PAYER_NAME | OPAY_PAYER_EMAIL | OPAY_PAYER_PHONE : 0;
    s.shipping = has('s');
    s.shipping_type = str("shipping");
    s.processor = has('p');
    s.notify = has('n');
    s.journal = has('j');
    s.success_message = str("Thank you for your payment.");
    char err[256];
    ConfPtr conf(opay_conf_create(&s, err, sizeof(err)));
    fuzz::require(conf != nullptr);
    return conf;
}

// One configuration per set of letters, made once: loading the keys on
// every input would be most of the work.
const opay_conf_t* conf_for(std::string_view flags) {
    static std::map<std::string, ConfPtr> confs;
    std::string key;
    for (char c : std::string_view("spnjtr")) {
        if (flags.find(c) != std::string_view::npos) key += c;
    }
    auto& conf = confs[key];
    if (!conf) conf = make_conf(key);
    return conf.get();
}

// "STATUS REST": the leading number (at most 4 digits, may be "-1") and
// what follows one space.
int leading_number(std::string_view part, std::string_view* rest) {
    size_t i = 0;
    bool negative = !part.empty() && part[0] == '-';
    if (negative) i = 1;
    int n = 0;
    while (i < part.size() && i < 5 && part[i] >= '0' && part[i] <= '9') {
        n = n * 10 + (part[i++] - '0');
    }
    if (i < part.size() && part[i] == ' ') i++;
    *rest = part.substr(i);
    return negative ? -n : n;
}

// One call; the response's status, or 0 when the input is not a call.
int run(std::string_view input) {
    auto parts = fuzz::split(input);
    if (parts.size() < 3) return 0;
    std::string_view meta = parts[0];
    size_t space = meta.find(' ');
    std::string_view flags =
        space == std::string_view::npos ? "" : meta.substr(space);
    auto has = [&flags](char c) {
        return flags.find(c) != std::string_view::npos;
    };

    opay_input_t in{};
    in.webhook = meta.substr(0, space) == "complete" ? OPAY_PAYMENT_COMPLETE
                                                     : OPAY_PAYMENT_REQUEST;
    in.method = str(has('G') ? "GET" : "POST");
    in.content_type = str(has('C') ? "text/plain" : "application/json");
    in.authorization = str(parts[1]);
    in.too_large = has('L');
    in.body = str(parts[2]);
    in.now = kNow;
    in.arenas = has('A') ? worker_arenas() : nullptr;

    std::unique_ptr<opay_flow_t, FlowFree> flow(
        opay_flow_start(conf_for(flags), &in));
    fuzz::require(flow != nullptr);

    size_t next = 3;
    auto answer = [&parts, &next](std::string_view* part) {
        if (next >= parts.size()) return false;
        *part = parts[next++];
        return true;
    };

    opay_step_t step;
    // a claim found DONE: the reply is what the zone stored, replayed as is
    std::string_view replay;
    bool replayed = false;
    for (int n = 0;; n++) {
        fuzz::require(n < kMaxSteps);
        opay_flow_next(flow.get(), &step);
        if (step.kind == OPAY_STEP_RESPOND) break;
        std::string_view part, rest;
        switch (step.kind) {
        case OPAY_STEP_FETCH: {
            fuzz::require(step.n_fetches > 0);
            // copied: fetches[] is only valid until the first feed
            size_t n_fetches = step.n_fetches;
            for (size_t i = 0; i < n_fetches; i++) {
                int status = OPAY_FETCH_FAILED;
                int replayed = 0;
                if (answer(&part)) status = leading_number(part, &rest);
                if (!rest.empty() && rest[0] == 'R') {
                    replayed = 1;
                    rest.remove_prefix(rest.size() > 1 && rest[1] == ' ' ? 2
                                                                         : 1);
                }
                opay_flow_feed(flow.get(), i, status, str(rest), replayed);
            }
            break;
        }
        case OPAY_STEP_CLAIM: {
            int result = OPAY_CLAIM_NEW;
            if (answer(&part)) result = leading_number(part, &rest) & 3;
            if (result == OPAY_CLAIM_DONE) {
                replay = rest;
                replayed = true;
            }
            opay_flow_resolve(flow.get(), result, str(rest));
            break;
        }
        case OPAY_STEP_JOURNAL: {
            fuzz::require(step.data.len > 0);
            int result = 0;
            if (answer(&part)) result = leading_number(part, &rest) < 0 ? -1 : 0;
            opay_flow_resolve(flow.get(), result, opay_str_t{});
            break;
        }
        case OPAY_STEP_SETTLE:
            opay_flow_resolve(flow.get(), 0, opay_str_t{});
            break;
        default:
            fuzz::violated();
        }
    }

    fuzz::require(step.status >= 200 && step.status <= 599);
    std::string_view reply(step.body.data, step.body.len);
    json::Document body;
    // a stored success ("<amount> <currency>" line, then the reply) is
    // replayed as it is for its amount; any other amount is refused
    size_t nl = replay.find('\n');
    bool as_stored = replayed && nl != std::string_view::npos &&
                     reply == replay.substr(nl + 1);
    fuzz::require(as_stored || !json::parse(reply, body));
    if (step.log_level != OPAY_LOG_NONE) fuzz::require(step.log_message.len);

    opay_str_t v;
    for (int var = OPAY_VAR_EVENT; var <= OPAY_VAR_ERROR; var++) {
        if (opay_flow_var(flow.get(), static_cast<opay_var_e>(var), &v)) {
            fuzz::require(v.data != nullptr || v.len == 0);
        }
    }
    (void)opay_flow_ctx(flow.get(), str("invoiceId"), &v);
    flow.reset();
    if (in.arenas != nullptr) {
        size_t lent = 0, made = 0;
        opay_arenas_stats(in.arenas, &lent, &made);
        fuzz::require(lent == 0 && made <= 1);
    }
    return step.status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // once: the seeds' token must still pass the configuration's checks,
    // or every input would stop at the 401 and the run would prove little
    static const bool seeds_get_through = run(fuzz::source_file(
        OPAY_TESTDATA "/fuzz/flow/loadentity")) == 200;
    fuzz::require(seeds_get_through);
    run(fuzz::text(data, size));
    return 0;
}
