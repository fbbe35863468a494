// When to fetch the issuer's keys again. The state is a plain struct
// (opay_schedule_t) so that the shim can keep one copy in shared memory
// for all workers; every function takes the time, so tests inject a clock.
#pragma once

#include <cstdint>

#include "opay.h"

namespace opay {

// 1 if the caller must fetch now (and the schedule marks it fetching):
// the periodic refresh is due, or unknown_kid asks for one and the last
// such refresh is at least min_refresh old. A fetch older than
// policy.stale_ms is taken to have died with its worker.
bool schedule_start(opay_schedule_t& s, const opay_refresh_t& policy,
                    int64_t now, bool unknown_kid);

// The fetch ended. Success: the next refresh in refresh - jitter (jitter
// up to a tenth of refresh, from random). Failure: back-off, min_refresh
// doubled per failure in a row, at most refresh.
void schedule_done(opay_schedule_t& s, const opay_refresh_t& policy,
                   int64_t now, bool ok, uint64_t random);

// Seconds until the next refresh is due, rounded up, at least 1: what a
// refusal for want of keys tells the client in Retry-After.
int64_t retry_after(const opay_schedule_t& s, int64_t now);

}  // namespace opay
