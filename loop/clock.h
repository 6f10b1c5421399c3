// The loop's clock: the types every timer, sleep and timeout is measured in.
//
//   corio::TimePoint start = loop.time();        // on the loop's clock
//   co_await corio::sleep_until(start + 50ms);
//
// Thread safety: plain values.
#ifndef CORIO_LOOP_CLOCK_H_
#define CORIO_LOOP_CLOCK_H_

#include <chrono>

namespace corio {

// Monotonic, nanosecond resolution (virtual when the loop runs on the
// virtual clock: LoopOptions::virtual_clock).
using Clock = std::chrono::steady_clock;
using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<Clock, Duration>;

// A deadline that never comes: what a delay too long for Duration (about
// 292 years), such as Duration::max(), turns into. The virtual clock never
// jumps to it, so a task sleeping "forever" waits like asyncio's
// sleep(math.inf).
inline constexpr TimePoint kNever = TimePoint::max();

}  // namespace corio

#endif  // CORIO_LOOP_CLOCK_H_
