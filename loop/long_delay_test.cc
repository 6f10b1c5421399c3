// Tests for delays too long for the loop's Duration (about 292 years): they
// mean "never", as asyncio's math.inf. Each call that takes a delay used to
// add it to the clock unchecked; the sum wrapped around to a deadline long
// past, so a "forever" sleep, timer or timeout fired at once.
#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/timeout.h"
#include "corio/loop/wait.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

constexpr auto kThousandYears = std::chrono::hours(24 * 365 * 1000);

Task<void> sleep_for(Duration d) { co_await sleep(d); }

TEST(ToDuration, SaturatesInsteadOfWrappingAround) {
  EXPECT_EQ(internal::to_duration(kThousandYears), Duration::max());
  EXPECT_EQ(internal::to_duration(-kThousandYears), Duration::min());
  EXPECT_EQ(internal::to_duration(std::chrono::hours::max()), Duration::max());
  EXPECT_EQ(internal::to_duration(std::chrono::duration<double>(1e300)), Duration::max());
  EXPECT_EQ(internal::to_duration(std::chrono::duration<double>(-std::numeric_limits<double>::infinity())),
            Duration::min());
}

TEST(ToDuration, ConvertsInRangeDelaysExactly) {
  EXPECT_EQ(internal::to_duration(2h), Duration(7'200'000'000'000));
  EXPECT_EQ(internal::to_duration(std::chrono::duration<double>(0.25)), 250ms);
  EXPECT_EQ(internal::to_duration(std::chrono::duration<long long, std::pico>(2500)), 2ns);
}

// Unsigned counts: one above INT64_MAX nanoseconds used to wrap around to a
// negative delay, and a small one in seconds to saturate at Duration::min().
TEST(ToDuration, SaturatesUnsignedCountsInsteadOfWrappingAround) {
  constexpr auto kMaxU64 = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(internal::to_duration(std::chrono::duration<std::uint64_t, std::nano>(kMaxU64)), Duration::max());
  EXPECT_EQ(internal::to_duration(std::chrono::duration<std::uint64_t, std::milli>(kMaxU64)), Duration::max());
}

TEST(ToDuration, ConvertsSmallUnsignedCountsExactly) {
  EXPECT_EQ(internal::to_duration(std::chrono::duration<unsigned, std::ratio<1>>(5)), 5s);
  EXPECT_EQ(internal::to_duration(std::chrono::duration<std::uint64_t, std::nano>(7)), 7ns);
}

TEST(ToDuration, RejectsNaN) {
  EXPECT_THROW(internal::to_duration(std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())),
               std::invalid_argument);
}

TEST(DeadlineAfter, SaturatesAtTheEndsOfTimePoint) {
  const TimePoint now(1h);
  EXPECT_EQ(internal::deadline_after(now, Duration::max()), kNever);
  EXPECT_EQ(internal::deadline_after(now, 5s), TimePoint(1h + 5s));
  EXPECT_EQ(internal::deadline_after(TimePoint(-1h), Duration::min()), TimePoint::min());
}

CO_TEST(LongDelay, SleepForDurationMaxWaitsUntilCancelled) {
  auto sleeper = create_task(sleep_for(Duration::max()));
  co_await sleep(1h);
  EXPECT_FALSE(sleeper.done());
  sleeper.cancel();
  EXPECT_THROW(co_await sleeper, CancelledError);
}

CO_TEST(LongDelay, SleepForAThousandYearsDoesNotWrapAround) {
  auto sleeper = create_task([]() -> Task<void> { co_await sleep(kThousandYears); }());
  co_await sleep(1h);
  EXPECT_FALSE(sleeper.done());
  sleeper.cancel();
  EXPECT_THROW(co_await sleeper, CancelledError);
}

CO_TEST(LongDelay, SleepForNaNThrowsInvalidArgument) {
  EXPECT_THROW(co_await sleep(std::chrono::duration<double>(std::numeric_limits<double>::quiet_NaN())),
               std::invalid_argument);
}

TEST(LongDelay, CallLaterForeverNeverFires) {
  LoopOptions options;
  options.virtual_clock = true;
  EventLoop loop(options);
  bool fired = false;
  TimerHandle forever = loop.call_later(Duration::max(), [&] { fired = true; });
  loop.call_later(1s, [&] { loop.stop(); });
  loop.run_forever();
  EXPECT_FALSE(fired);
  EXPECT_EQ(forever.when(), kNever);
  forever.cancel();
}

TEST(LongDelay, TheVirtualClockDoesNotJumpToNever) {
  // With nothing left but a forever timer, the loop waits (here for a post
  // from another thread) instead of jumping to the end of time.
  LoopOptions options;
  options.virtual_clock = true;
  EventLoop loop(options);
  const TimePoint start = loop.time();
  bool fired = false;
  TimerHandle forever = loop.call_later(Duration::max(), [&] { fired = true; });
  std::thread poster([&] {
    std::this_thread::sleep_for(20ms);
    loop.call_soon_threadsafe([&] { loop.stop(); });
  });
  loop.run_forever();
  poster.join();
  EXPECT_FALSE(fired);
  EXPECT_LT(loop.time() - start, 1h);
  forever.cancel();
}

CO_TEST(LongDelay, TimeoutOfDurationMaxNeverExpires) {
  const TimePoint start = current_loop().time();
  co_await timeout(Duration::max(), sleep_for(1h));  // would throw TimeoutError
  EXPECT_EQ(current_loop().time() - start, 1h);
}

CO_TEST(LongDelay, WaitForOfDurationMaxWaitsForTheWork) {
  int v = co_await wait_for(
      []() -> Task<int> {
        co_await sleep(1h);
        co_return 7;
      }(),
      Duration::max());
  EXPECT_EQ(v, 7);
}

CO_TEST(LongDelay, WaitWithATimeoutOfDurationMaxWaitsForTheTasks) {
  std::vector<TaskHandle<void>> tasks{create_task(sleep_for(1h))};
  auto r = co_await wait(tasks, ReturnWhen::kAllCompleted, Duration::max());
  EXPECT_EQ(r.done.size(), 1u);
  EXPECT_TRUE(r.pending.empty());
}

// Delays in other units than nanoseconds: timeouts and waits took a
// Duration, so std::chrono's conversion wrapped a thousand years around to a
// negative delay and they expired at once.
CO_TEST(LongDelay, TimeoutOfAThousandYearsNeverExpires) {
  const TimePoint start = current_loop().time();
  co_await timeout(kThousandYears, sleep_for(1h));
  EXPECT_EQ(current_loop().time() - start, 1h);
}

CO_TEST(LongDelay, WaitForOfAThousandYearsWaitsForTheTask) {
  auto h = create_task(sleep_for(1h));
  co_await wait_for(h, kThousandYears);
  EXPECT_TRUE(h.done());
}

CO_TEST(LongDelay, WaitWithATimeoutOfAThousandYearsWaitsForTheTasks) {
  std::vector<TaskHandle<void>> tasks{create_task(sleep_for(1h))};
  auto r = co_await wait(tasks, ReturnWhen::kAllCompleted, kThousandYears);
  EXPECT_EQ(r.done.size(), 1u);
  EXPECT_TRUE(r.pending.empty());
}

CO_TEST(LongDelay, AsCompletedWithATimeoutOfAThousandYearsHandsOutTheTask) {
  AsCompleted<void> ac({create_task(sleep_for(1h))}, kThousandYears);
  co_await ac.next();  // would raise TimeoutError
  EXPECT_TRUE(ac.empty());
}

CO_TEST(LongDelay, WaitForTakesAFloatingPointDelay) {
  const TimePoint start = current_loop().time();
  bool timed_out = false;
  try {
    co_await wait_for(sleep_for(1h), std::chrono::duration<double>(0.5));
  } catch (const TimeoutError&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(current_loop().time() - start, 500ms);
}

}  // namespace
}  // namespace corio
