// Delay: how a length of time is handed to the loop's timeouts and waits,
// and the saturating arithmetic behind every deadline.
//
//   co_await corio::wait_for(jobs.get(), 1.5s);   // any std::chrono duration
//
// Errors: std::invalid_argument for a floating-point NaN delay.
// Thread safety: plain values and pure functions.
#ifndef CORIO_LOOP_DELAY_H_
#define CORIO_LOOP_DELAY_H_

#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>
#include <stdexcept>
#include <type_traits>

#include "corio/loop/clock.h"

namespace corio {

namespace internal {

// now + delay without overflow: past the end of TimePoint it is kNever,
// before its start TimePoint::min() (long past, so due at once).
constexpr TimePoint deadline_after(TimePoint now, Duration delay) noexcept {
  std::int64_t sum;
  if (__builtin_add_overflow(now.time_since_epoch().count(), delay.count(), &sum)) {
    return delay.count() > 0 ? kNever : TimePoint::min();
  }
  return TimePoint(Duration(sum));
}

// A delay in any std::chrono unit as a Duration, saturating at
// Duration::max()/min() instead of overflowing (std::chrono's own
// conversion wraps around: hours(24 * 365 * 1000) would come out negative).
// Errors: std::invalid_argument for a floating-point NaN.
template <class Rep, class Period>
constexpr Duration to_duration(std::chrono::duration<Rep, Period> delay) {
  if constexpr (std::is_floating_point_v<Rep>) {
    const double ns = std::chrono::duration<double, std::nano>(delay).count();
    if (ns != ns) throw std::invalid_argument("corio: delay is NaN");
    // The largest double below 2^63, and its negative, convert exactly.
    constexpr double kLimit = 9223372036854774784.0;
    if (ns >= kLimit) return Duration::max();
    if (ns <= -kLimit) return Duration::min();
    return Duration(static_cast<std::int64_t>(ns));
  } else {
    // In 128 bits, exact for any count of 64 bits or fewer, signed or not
    // (an unsigned count above INT64_MAX must saturate too); truncated
    // toward zero, as duration_cast does.
    static_assert(sizeof(Rep) <= 8, "corio: a delay's count must fit in 64 bits");
    using R = std::ratio_divide<Period, std::nano>;
    const __int128 count = static_cast<__int128>(delay.count());
    __int128 ns;
    if (__builtin_mul_overflow(count, static_cast<__int128>(R::num), &ns)) {
      return count > 0 ? Duration::max() : Duration::min();
    }
    ns /= R::den;
    if (ns > std::numeric_limits<std::int64_t>::max()) return Duration::max();
    if (ns < std::numeric_limits<std::int64_t>::min()) return Duration::min();
    return Duration(static_cast<std::int64_t>(ns));
  }
}

}  // namespace internal

// Delay: how the timeouts and waits (timeout, wait_for, wait, AsCompleted)
// take a length of time. Any std::chrono duration converts to it, integral
// or floating-point, saturating at Duration::max()/min() instead of
// wrapping around, so that a thousand years means "never", as in sleep().
// Errors: std::invalid_argument for a floating-point NaN.
class Delay {
 public:
  template <class Rep, class Period>
  Delay(std::chrono::duration<Rep, Period> d) : d_(internal::to_duration(d)) {}  // implicit on purpose
  operator Duration() const noexcept { return d_; }
  Duration duration() const noexcept { return d_; }

 private:
  Duration d_;
};

}  // namespace corio

#endif  // CORIO_LOOP_DELAY_H_
