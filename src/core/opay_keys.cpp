// The C API of key fetching (opay.h): every entry point is noexcept and
// turns any exception (in practice std::bad_alloc) into an error value.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "ascii.h"
#include "http_get.h"
#include "keyset.h"
#include "opay.h"
#include "opay_str.h"
#include "refresh.h"

struct opay_keys_s {
    opay::KeySet set;
};

namespace opay {

const KeySet* key_set(const opay_keys_s* keys) {
    return keys == nullptr ? nullptr : &keys->set;
}

}  // namespace opay

namespace {

using opay::str;
using opay::text;

// kids, URLs and reasons come from the key server or a file: they go to
// the log as one line of printable ASCII, so a kid cannot forge a line.
void hand_out(opay::Fetched&& fetched, opay_fetched_t* out) {
    fetched.kids = opay::log_line(fetched.kids);
    fetched.url = opay::log_line(fetched.url);
    fetched.error = opay::log_line(fetched.error);
    auto owned = std::make_unique<opay::Fetched>(std::move(fetched));
    out->ok = owned->ok() ? 1 : 0;
    out->result = owned->result;
    out->document = str(owned->document);
    out->kids = str(owned->kids);
    out->url = str(owned->url);
    out->error = str(owned->error);
    out->fetched_at = owned->fetched_at;
    out->priv = owned.release();
}

void out_of_memory(opay_fetched_t* out) {
    static const char kMessage[] = "memory: out of memory";
    *out = opay_fetched_t{};
    out->error = opay_str_t{kMessage, sizeof(kMessage) - 1};
    out->result = OPAY_KEY_MEMORY;
}

}  // namespace

extern "C" {

opay_keys_t* opay_keys_load(opay_str_t jwks, char* err,
                            size_t err_size) noexcept {
    try {
        auto loaded = opay::load_jwks(std::string_view(
            jwks.data == nullptr ? "" : jwks.data, jwks.len));
        if (auto* e = std::get_if<opay::KeySetError>(&loaded)) {
            if (err != nullptr && err_size > 0) {
                std::snprintf(err, err_size, "%s",
                              opay::log_line(e->message).c_str());
            }
            return nullptr;
        }
        return new opay_keys_s{std::move(std::get<opay::KeySet>(loaded))};
    } catch (...) {
        if (err != nullptr && err_size > 0) {
            std::snprintf(err, err_size, "out of memory");
        }
        return nullptr;
    }
}

void opay_keys_free(opay_keys_t* keys) noexcept {
    std::unique_ptr<opay_keys_s> owned(keys);
}

int opay_url_problem(opay_str_t url, char* err, size_t err_size) noexcept {
    try {
        auto bad = opay::url_problem(text(url));
        if (!bad) return 0;
        if (err != nullptr && err_size > 0) {
            std::snprintf(err, err_size, "%s", bad->c_str());
        }
        return 1;
    } catch (...) {
        return 1;
    }
}

int opay_http_init(void) noexcept { return opay::http_init() ? 1 : 0; }

void opay_http_cleanup(void) noexcept { opay::http_cleanup(); }

}  // extern "C"

// C++ linkage: it returns a C++ type (clang refuses that with C linkage)
namespace {

opay::KeySource key_source(const opay_source_t* src) {
    opay::KeySource source;
    source.jwks_url = text(src->jwks_url);
    source.openid_url = text(src->openid_url);
    source.ca_file = text(src->ca_file);
    source.cache_path = text(src->cache_path);
    source.max_size = src->max_size;
    source.timeout_ms = src->timeout_ms;
    return source;
}

}  // namespace

extern "C" {

void opay_keys_fetch(const opay_source_t* src, int64_t now,
                     opay_fetched_t* out) noexcept {
    try {
        opay::KeySource source = key_source(src);
        auto get = [&source](const std::string& url) {
            return opay::http_get(url, source);
        };
        hand_out(opay::fetch_keys(source, get, now), out);
    } catch (...) {
        out_of_memory(out);
    }
}

void opay_keys_read_cache(const opay_source_t* src, const uid_t* owners,
                          size_t n_owners, opay_fetched_t* out) noexcept {
    try {
        hand_out(opay::read_cache(key_source(src),
                                  std::vector<uid_t>(owners,
                                                     owners + n_owners)),
                 out);
    } catch (...) {
        out_of_memory(out);
    }
}

void opay_fetched_zone_full(opay_fetched_t* f) noexcept {
    f->ok = 0;
    f->result = OPAY_KEY_MEMORY;
    f->error = {};
    auto* owned = static_cast<opay::Fetched*>(f->priv);
    if (owned == nullptr) return;
    owned->result = OPAY_KEY_MEMORY;
    try {
        owned->error = opay::zone_full_text();
        f->error = str(owned->error);
    } catch (...) {
        // the kind alone, as counted; no text for the log
    }
}

void opay_fetched_free(opay_fetched_t* f) noexcept {
    std::unique_ptr<opay::Fetched> owned(
        static_cast<opay::Fetched*>(f->priv));
    *f = opay_fetched_t{};
}

opay_str_t opay_key_result_name(opay_key_result_e result) noexcept {
    std::string_view name = opay::result_name(result);
    return opay_str_t{name.data(), name.size()};
}

int64_t opay_schedule_retry_after(const opay_schedule_t* s,
                                  int64_t now_ms) noexcept {
    return opay::retry_after(*s, now_ms);
}

int opay_schedule_start(opay_schedule_t* s, const opay_refresh_t* policy,
                        int64_t now_ms, int unknown_kid) noexcept {
    return opay::schedule_start(*s, *policy, now_ms, unknown_kid != 0) ? 1
                                                                        : 0;
}

void opay_schedule_done(opay_schedule_t* s, const opay_refresh_t* policy,
                        int64_t now_ms, int ok, uint64_t random) noexcept {
    opay::schedule_done(*s, *policy, now_ms, ok != 0, random);
}

}  // extern "C"
