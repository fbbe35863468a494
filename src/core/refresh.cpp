#include "refresh.h"

#include <algorithm>

namespace opay {

bool schedule_start(opay_schedule_t& s, const opay_refresh_t& policy,
                    int64_t now, bool unknown_kid) {
    if (s.fetching) {
        if (now - s.fetch_started < policy.stale_ms) return false;
        s.fetching = 0;  // its worker died mid-fetch
    }
    if (unknown_kid) {
        if (s.last_unknown != 0 &&
            now - s.last_unknown < policy.min_refresh_ms) {
            return false;
        }
        s.last_unknown = now;
    } else if (now < s.next_due) {
        return false;
    }
    s.fetching = 1;
    s.fetch_started = now;
    return true;
}

void schedule_done(opay_schedule_t& s, const opay_refresh_t& policy,
                   int64_t now, bool ok, uint64_t random) {
    s.fetching = 0;
    if (ok) {
        s.failures = 0;
        int64_t jitter = policy.refresh_ms / 10;
        s.next_due = now + policy.refresh_ms -
                     (jitter > 0 ? static_cast<int64_t>(
                                       random % static_cast<uint64_t>(jitter))
                                 : 0);
        return;
    }
    s.failures = std::min<uint32_t>(s.failures + 1, 30);
    int64_t backoff = policy.min_refresh_ms;
    for (uint32_t i = 1; i < s.failures && backoff < policy.refresh_ms; ++i) {
        backoff *= 2;
    }
    s.next_due = now + std::min(backoff, policy.refresh_ms);
}

int64_t retry_after(const opay_schedule_t& s, int64_t now) {
    int64_t wait = s.next_due - now;
    if (wait < 1000) wait = 1000;
    return (wait + 999) / 1000;
}

}  // namespace opay
