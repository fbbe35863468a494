#include "refresh.h"

#include <gtest/gtest.h>

namespace opay {
namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kHour = 3600 * kSecond;

// opay_jwks_refresh 1h, opay_jwks_min_refresh 30s; a fetch dies after 60s
const opay_refresh_t kPolicy{kHour, 30 * kSecond, 60 * kSecond};

// A clock the test moves by hand.
struct Clock {
    int64_t now = 1'700'000'000'000;
    void advance(int64_t ms) { now += ms; }
};

TEST(Refresh, FirstFetchIsDueAtOnce) {
    opay_schedule_t s{};
    Clock clock;
    EXPECT_TRUE(schedule_start(s, kPolicy, clock.now, false));
    EXPECT_EQ(s.fetching, 1);
}

TEST(Refresh, OnlyOneFetchAtATime) {
    opay_schedule_t s{};
    Clock clock;
    ASSERT_TRUE(schedule_start(s, kPolicy, clock.now, false));
    clock.advance(kSecond);
    EXPECT_FALSE(schedule_start(s, kPolicy, clock.now, false));
    EXPECT_FALSE(schedule_start(s, kPolicy, clock.now, true));
}

TEST(Refresh, AFetchWhoseWorkerDiedIsTakenOver) {
    opay_schedule_t s{};
    Clock clock;
    ASSERT_TRUE(schedule_start(s, kPolicy, clock.now, false));
    clock.advance(kPolicy.stale_ms);
    EXPECT_TRUE(schedule_start(s, kPolicy, clock.now, false));
}

TEST(Refresh, NextRefreshAfterSuccessIsRefreshMinusJitter) {
    opay_schedule_t s{};
    Clock clock;
    ASSERT_TRUE(schedule_start(s, kPolicy, clock.now, false));
    schedule_done(s, kPolicy, clock.now, true, 12345);
    int64_t done_at = clock.now;
    EXPECT_LE(s.next_due, done_at + kHour);
    EXPECT_GT(s.next_due, done_at + kHour - kHour / 10);
    EXPECT_EQ(s.next_due, done_at + kHour - 12345);
    clock.advance(s.next_due - done_at - 1);
    EXPECT_FALSE(schedule_start(s, kPolicy, clock.now, false));
    clock.advance(1);
    EXPECT_TRUE(schedule_start(s, kPolicy, clock.now, false));
}

TEST(Refresh, JitterSpreadsWorkersOfDifferentMachines) {
    opay_schedule_t a{}, b{};
    schedule_done(a, kPolicy, 0, true, 1);
    schedule_done(b, kPolicy, 0, true, 200'000);
    EXPECT_NE(a.next_due, b.next_due);
}

TEST(Refresh, FailuresBackOffFromMinRefreshUpToRefresh) {
    opay_schedule_t s{};
    Clock clock;
    int64_t expected[] = {30, 60, 120, 240, 480, 960, 1920, 3600, 3600};
    for (int64_t seconds : expected) {
        ASSERT_TRUE(schedule_start(s, kPolicy, clock.now, false));
        schedule_done(s, kPolicy, clock.now, false, 0);
        EXPECT_EQ(s.next_due - clock.now, seconds * kSecond);
        clock.advance(s.next_due - clock.now);
    }
    ASSERT_TRUE(schedule_start(s, kPolicy, clock.now, false));
    schedule_done(s, kPolicy, clock.now, true, 0);
    EXPECT_EQ(s.failures, 0u);
    EXPECT_EQ(s.next_due - clock.now, kHour);
}

TEST(Refresh, UnknownKidRefreshesAtMostOncePerMinRefresh) {
    opay_schedule_t s{};
    Clock clock;
    ASSERT_TRUE(schedule_start(s, kPolicy, clock.now, false));
    schedule_done(s, kPolicy, clock.now, true, 0);

    clock.advance(kSecond);
    EXPECT_TRUE(schedule_start(s, kPolicy, clock.now, true));
    schedule_done(s, kPolicy, clock.now, true, 0);
    for (int i = 0; i < 29; ++i) {
        clock.advance(kSecond);
        EXPECT_FALSE(schedule_start(s, kPolicy, clock.now, true)) << i;
    }
    clock.advance(kSecond);
    EXPECT_TRUE(schedule_start(s, kPolicy, clock.now, true));
}

TEST(Refresh, UnknownKidIsNotHeldBackByBackOff) {
    opay_schedule_t s{};
    Clock clock;
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(schedule_start(s, kPolicy, clock.now, false));
        schedule_done(s, kPolicy, clock.now, false, 0);
        clock.advance(s.next_due - clock.now);
    }
    ASSERT_TRUE(schedule_start(s, kPolicy, clock.now, false));
    schedule_done(s, kPolicy, clock.now, false, 0);  // 16 min to wait now
    clock.advance(kSecond);
    EXPECT_FALSE(schedule_start(s, kPolicy, clock.now, false));
    EXPECT_TRUE(schedule_start(s, kPolicy, clock.now, true));
}

TEST(Refresh, RetryAfterIsSecondsToTheNextRefreshAtLeastOne) {
    opay_schedule_t s{};
    Clock clock;
    s.next_due = clock.now + 30 * kSecond;
    EXPECT_EQ(retry_after(s, clock.now), 30);
    EXPECT_EQ(retry_after(s, clock.now + 1), 30);  // rounded up
    EXPECT_EQ(retry_after(s, clock.now + 29 * kSecond + 1), 1);
    EXPECT_EQ(retry_after(s, clock.now + 30 * kSecond), 1);  // due now
    EXPECT_EQ(retry_after(s, clock.now + kHour), 1);         // overdue
    s.next_due = clock.now + 1001;
    EXPECT_EQ(retry_after(s, clock.now), 2);
    EXPECT_EQ(opay_schedule_retry_after(&s, clock.now), 2);
}

}  // namespace
}  // namespace opay
