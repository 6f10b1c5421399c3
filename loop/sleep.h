// sleep / sleep_until / yield_now: suspend the current task for a while.
//
// Errors: RuntimeError outside a task.
// Thread safety: awaited by a task, on its loop's thread.
// Cancellation: the timer is removed at once; CancelledError is raised.
// Example: co_await corio::sleep(std::chrono::milliseconds(10));
#ifndef CORIO_LOOP_SLEEP_H_
#define CORIO_LOOP_SLEEP_H_

#include <coroutine>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/loop_access.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/internal/timer_heap.h"

namespace corio {

namespace internal {

class [[nodiscard]] SleepAwaiter final : Suspension, TimerNode {
 public:
  enum class Kind : unsigned char {
    kUntil,  // until an absolute deadline
    kFor,    // for a delay counted from the await
    kYield,  // no timer: to the back of the ready queue
  };
  SleepAwaiter(Kind kind, TimePoint when, Duration delay) noexcept
      : Suspension(&SleepAwaiter::detach), delay_(delay), kind_(kind) {
    deadline = when.time_since_epoch().count();
    fire = &SleepAwaiter::on_fire;
  }
  // Movable until it is awaited, so that a sleep can be handed to
  // wait_for or timeout; the copy is a fresh, unawaited sleep.
  SleepAwaiter(SleepAwaiter&& o) noexcept : SleepAwaiter(o.kind_, TimePoint(Duration(o.deadline)), o.delay_) {}
  SleepAwaiter& operator=(SleepAwaiter&&) = delete;
  [[gnu::always_inline]] ~SleepAwaiter() { abandon(); }
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    if (!suspend(h)) return false;
    loop_ = task()->loop();
    // Reads the clock only for a timer that may be needed.
    bool due = kind_ == Kind::kYield || (kind_ == Kind::kFor && delay_ <= Duration::zero());
    if (!due) {
      const TimePoint now = loop_->time();
      if (kind_ == Kind::kFor) deadline = deadline_after(now, delay_).time_since_epoch().count();
      due = deadline <= now.time_since_epoch().count();
    }
    if (due) {
      // Already due: run again after what is ready now (asyncio.sleep(0)).
      // A cancel meanwhile is delivered at resume.
      wake();
    } else {
      LoopAccess::add_timer(*loop_, this);
    }
    return true;
  }
  void await_resume() const { check_cancelled_or_pending(); }

 private:
  static void detach(Suspension* s) noexcept {
    auto* self = static_cast<SleepAwaiter*>(s);
    LoopAccess::remove_timer(*self->loop_, self);
  }
  static void on_fire(TimerNode* n) noexcept { static_cast<SleepAwaiter*>(n)->wake(); }
  EventLoop* loop_ = nullptr;
  Duration delay_;
  Kind kind_;
};

}  // namespace internal

// Suspends the current task for `delay` on the loop's clock, counted from
// when the result is awaited (as asyncio.sleep, a coroutine, starts its
// clock when awaited). A zero or negative delay yields once, like
// asyncio.sleep(0); one too long for Duration (such as Duration::max())
// waits until cancelled.
// Errors: std::invalid_argument for a NaN delay.
inline internal::SleepAwaiter sleep(Duration delay) {
  return internal::SleepAwaiter(internal::SleepAwaiter::Kind::kFor, TimePoint(), delay);
}
template <class Rep, class Period>
internal::SleepAwaiter sleep(std::chrono::duration<Rep, Period> delay) {
  return sleep(internal::to_duration(delay));
}

// Suspends the current task until `when` on the loop's clock.
inline internal::SleepAwaiter sleep_until(TimePoint when) {
  return internal::SleepAwaiter(internal::SleepAwaiter::Kind::kUntil, when, Duration::zero());
}

// Lets every other ready task run once, then continues (asyncio.sleep(0)).
inline internal::SleepAwaiter yield_now() {
  return internal::SleepAwaiter(internal::SleepAwaiter::Kind::kYield, TimePoint(), Duration::zero());
}

}  // namespace corio

#endif  // CORIO_LOOP_SLEEP_H_
