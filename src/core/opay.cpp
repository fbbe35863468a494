// The C API: every entry point is noexcept and turns any exception (in
// practice std::bad_alloc) into an error value.
#include "opay.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ascii.h"
#include "config.h"
#include "flow.h"
#include "keyset.h"
#include "metrics.h"
#include "opay_str.h"
#include "outcome.h"
#include "payment_complete_flow.h"
#include "payment_request_flow.h"
#include "uri.h"

struct opay_conf_s {
    opay::Config config;
};

struct opay_arenas_s {
    // shared with the flows' leases: a flow may outlive the handle
    std::shared_ptr<opay::json::Arenas> arenas;
};

struct opay_flow_s {
    // The flow, made in place: one allocation for it and this. On the
    // heap, never moved: the flow keeps pointers into its own document.
    std::variant<std::monostate, opay::PaymentRequestFlow,
                 opay::PaymentCompleteFlow>
        made;
    opay::Flow* flow = nullptr;         // the one made
    // views into flow->fetches(), held in place
    std::array<opay_fetch_t, opay::kMaxFetches> fetches;
    bool broken = false;                // out of memory mid-flow
    std::string log;                    // the answer's log line, escaped
    opay_webhook_e webhook = OPAY_PAYMENT_REQUEST;
    opay::metrics::CallSeries metrics;  // opay_flow_metrics' keys
};

namespace {

using opay::str;
using opay::view;

opay::uri::Escape escape_kind(int how) {
    return how == OPAY_ESCAPE_URI ? opay::uri::Escape::kSegment
                                  : opay::uri::Escape::kText;
}

// A view, not a std::string: an exception's text is written out of
// memory, with nothing to allocate.
void write_error(char* err, size_t size, std::string_view msg) noexcept {
    if (err != nullptr && size > 0) {
        std::snprintf(err, size, "%.*s", static_cast<int>(msg.size()),
                      msg.data());
    }
}

// A flow that ran out of memory mid-call answers from constants (there is
// no memory to build an answer): 500, or, once a confirm may have charged,
// 409 payment_in_progress, never a failure (Flow::out_of_memory).
void out_of_memory(const opay::Flow& flow, opay_step_t* step) noexcept {
    bool charging = flow.refusal() == OPAY_REFUSAL_PAYMENT_IN_PROGRESS;
    step->kind = OPAY_STEP_RESPOND;
    step->status = charging ? 409 : 500;
    step->body = str(charging ? "{\"error\":{\"code\":\"payment_in_progress\","
                                "\"message\":\"out of memory while this "
                                "payment was being processed\"}}"
                              : "{\"error\":{\"code\":\"internal_error\","
                                "\"message\":\"out of memory\"}}");
    step->log_level = OPAY_LOG_ERROR;
    step->log_message =
        str(charging ? "out of memory after a confirm was sent: the payment "
                       "may have been charged, a retry asks the processor"
                     : "out of memory");
}

// Moves the flow on by step unless it is broken. Out of memory breaks
// it: it then answers from constants (opay_flow_next) and reads nothing
// more, so the shim's other fetches of the step still end.
template <typename Step>
void advance(opay_flow_t* f, Step step) noexcept {
    if (f->broken) return;
    try {
        step(*f->flow);
    } catch (...) {
        f->broken = true;
        f->flow->out_of_memory();
    }
}

}  // namespace

extern "C" {

opay_conf_t* opay_conf_create(const opay_settings_t* s, char* err,
                              size_t err_size) noexcept {
    try {
        auto made = opay::make_config(*s);
        if (auto* e = std::get_if<opay::ConfigError>(&made)) {
            write_error(err, err_size, e->message);
            return nullptr;
        }
        return new opay_conf_s{std::move(std::get<opay::Config>(made))};
    } catch (const std::exception& e) {
        write_error(err, err_size, e.what());
        return nullptr;
    }
}

void opay_conf_free(opay_conf_t* conf) noexcept {
    std::unique_ptr<opay_conf_s> owned(conf);
}

int opay_known_network(opay_str_t name) noexcept {
    return opay::known_network(view(name)) ? 1 : 0;
}

int opay_known_type(opay_str_t name) noexcept {
    return opay::known_type(view(name)) ? 1 : 0;
}

const char* opay_target_name(opay_target_e target) noexcept {
    static const char* const kNames[] = {"invoice", "shipping", "processor",
                                         "notify"};
    if (target < OPAY_TARGET_INVOICE || target > OPAY_TARGET_NOTIFY)
        return "unknown";
    return kNames[target];
}

size_t opay_escape_len(opay_str_t value, int how) noexcept {
    return opay::uri::escaped_size(view(value), escape_kind(how));
}

char* opay_escape(char* dst, opay_str_t value, int how) noexcept {
    return opay::uri::escape(dst, view(value), escape_kind(how));
}

int opay_uri_split(opay_str_t uri, char* path, size_t* path_len,
                   opay_str_t* args) noexcept {
    opay::uri::Split split;
    bool safe = opay::uri::split(view(uri), path, split);
    *path_len = split.path_len;
    *args = split.has_args ? str(split.args) : opay_str_t{nullptr, 0};
    return safe ? 0 : -1;
}

opay_arenas_t* opay_arenas_create(size_t n, size_t bytes) noexcept {
    if (n == 0) return nullptr;
    try {
        return std::make_unique<opay_arenas_s>(opay_arenas_s{
                   std::make_shared<opay::json::Arenas>(n, bytes)})
            .release();
    } catch (...) {
        return nullptr;
    }
}

void opay_arenas_free(opay_arenas_t* arenas) noexcept {
    std::unique_ptr<opay_arenas_s> owned(arenas);
}

void opay_arenas_stats(const opay_arenas_t* arenas, size_t* lent,
                       size_t* made) noexcept {
    *lent = arenas != nullptr ? arenas->arenas->lent() : 0;
    *made = arenas != nullptr ? arenas->arenas->made() : 0;
}

opay_flow_t* opay_flow_start(const opay_conf_t* conf,
                             const opay_input_t* in) noexcept {
    try {
        opay::Input input;
        input.method = view(in->method);
        input.content_type = view(in->content_type);
        input.authorization = view(in->authorization);
        input.action_authorization = view(in->action_authorization);
        input.too_large = in->too_large != 0;
        input.body = view(in->body);
        input.now = in->now;
        input.keys = opay::key_set(in->keys);
        std::string keys_error;  // read while the flow starts
        if (in->keys == nullptr && conf->config.remote_keys) {
            keys_error = opay::no_keys_text(in->keys_failure);
            input.keys_error = keys_error;
        }
        if (in->arenas != nullptr) input.arenas = in->arenas->arenas;
        // default- not value-initialized: no zeroing of the flows' room
        std::unique_ptr<opay_flow_s> f(new opay_flow_s);
        f->webhook = in->webhook;
        if (in->webhook == OPAY_PAYMENT_COMPLETE) {
            f->flow = &f->made.emplace<opay::PaymentCompleteFlow>(conf->config,
                                                                  input);
        } else {
            f->flow = &f->made.emplace<opay::PaymentRequestFlow>(conf->config,
                                                                 input);
        }
        return f.release();
    } catch (...) {
        return nullptr;
    }
}

void opay_flow_free(opay_flow_t* flow) noexcept {
    std::unique_ptr<opay_flow_s> owned(flow);
}

void opay_flow_next(opay_flow_t* f, opay_step_t* step) noexcept {
    *step = opay_step_t{};
    if (f->broken) return out_of_memory(*f->flow, step);
    if (const opay::Action* a = f->flow->action()) {
        step->kind = a->kind;
        step->key = str(a->key);
        step->data = str(a->data);
        step->store = a->store ? 1 : 0;
        return;
    }
    if (f->flow->responding()) {
        const opay::Response& r = f->flow->response();
        step->kind = OPAY_STEP_RESPOND;
        step->status = r.status;
        step->body = str(r.body);
        step->www_authenticate = r.www_authenticate ? 1 : 0;
        step->log_level = r.log;
        step->keys_wait = r.keys_wait;
        // one line of printable ASCII, whatever text went into it
        try {
            f->log = opay::log_line(r.log_message);
        } catch (...) {
            f->log.clear();
        }
        step->log_message = str(f->log);
        return;
    }
    size_t n = 0;
    for (const auto& fetch : f->flow->fetches()) {
        f->fetches[n++] = opay_fetch_t{
            fetch.target, fetch.post ? 1 : 0, str(fetch.body),
            str(fetch.content_type), str(fetch.idempotency_key),
            str(fetch.path)};
    }
    step->kind = OPAY_STEP_FETCH;
    step->fetches = f->fetches.data();
    step->n_fetches = n;
}

void opay_flow_feed(opay_flow_t* f, size_t index, int status,
                    opay_str_t body, int replayed) noexcept {
    advance(f, [&](opay::Flow& flow) {
        flow.feed(index, status, view(body), replayed != 0);
    });
}

void opay_flow_resolve(opay_flow_t* f, int result, opay_str_t data) noexcept {
    advance(f, [&](opay::Flow& flow) { flow.resolve(result, view(data)); });
}

int opay_flow_var(const opay_flow_t* f, opay_var_e var,
                  opay_str_t* out) noexcept {
    auto v = f->flow->variable(var);
    if (!v) return 0;
    *out = str(*v);
    return 1;
}

int opay_flow_ctx(const opay_flow_t* f, opay_str_t name,
                  opay_str_t* out) noexcept {
    auto v = f->flow->context_field(view(name));
    if (!v) return 0;
    *out = str(*v);
    return 1;
}

size_t opay_flow_metrics(opay_flow_t* f, opay_str_t location, int status,
                         opay_metric_t out[OPAY_METRICS_CALL_MAX]) noexcept {
    const opay::Flow& flow = *f->flow;
    opay::metrics::Call call;
    call.location = view(location);
    call.webhook = f->webhook;
    call.event = flow.variable(OPAY_VAR_EVENT).value_or("");
    call.result = flow.result();
    call.status = status;
    call.refusal = flow.refusal();
    call.charge = flow.charge();
    call.charge_code = flow.charge_code();
    try {
        f->metrics = opay::metrics::call_series(call);
    } catch (...) {
        f->metrics.clear();
    }
    size_t n = 0;
    for (const auto& m : f->metrics) {
        out[n++] = opay_metric_t{str(m.key()), m.histogram ? 1 : 0};
    }
    return n;
}

size_t opay_metrics_fetch_key(opay_target_e target, char* buf,
                              size_t size) noexcept {
    return opay::metrics::fetch_key(target, buf, size);
}

void opay_series_count(opay_series_t* s, uint64_t us) noexcept {
    opay::metrics::count(*s, us);
}

size_t opay_metrics_write(char* buf, size_t size, const opay_series_t* series,
                          size_t n, const opay_key_stats_t* keys,
                          size_t n_keys, uint64_t dropped,
                          int64_t now) noexcept {
    try {
        std::string page =
            opay::metrics::write(series, n, keys, n_keys, dropped, now);
        if (size > 0) page.copy(buf, std::min(page.size(), size));
        return page.size();
    } catch (...) {
        return 0;
    }
}

}  // extern "C"
