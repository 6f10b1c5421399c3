// sleep / sleep_until / yield_now: suspend the current task for a while.
//
// Errors: RuntimeError outside a task.
// Cancellation: the timer is removed at once; CancelledError is raised.
// Example: co_await corio::sleep(std::chrono::milliseconds(10));
#ifndef CORIO_LOOP_SLEEP_H_
#define CORIO_LOOP_SLEEP_H_

#include <coroutine>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/internal/timer_heap.h"

namespace corio {

namespace internal {

class [[nodiscard]] SleepAwaiter final : Suspension, TimerNode {
 public:
  // `yield_only`: no timer; the task goes to the back of the ready queue.
  SleepAwaiter(TimePoint when, bool yield_only) noexcept : Suspension(&SleepAwaiter::detach), yield_(yield_only) {
    deadline = when.time_since_epoch().count();
    fire = &SleepAwaiter::on_fire;
  }
  ~SleepAwaiter() { abandon(); }
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    if (!suspend(h)) return false;
    TaskBase* t = task();
    loop_ = t->loop();
    if (yield_ || deadline <= loop_->time().time_since_epoch().count()) {
      // Already due: run again after what is ready now (asyncio.sleep(0)).
      // A cancel meanwhile is delivered at resume.
      t->cancel_target_ = nullptr;
      t->schedule();
    } else {
      loop_->add_timer(this);
    }
    return true;
  }
  void await_resume() const { check_cancelled_or_pending(); }

 private:
  static void detach(Suspension* s) noexcept {
    auto* self = static_cast<SleepAwaiter*>(s);
    self->loop_->remove_timer(self);
  }
  static void on_fire(TimerNode* n) noexcept { static_cast<SleepAwaiter*>(n)->wake(); }
  EventLoop* loop_ = nullptr;
  bool yield_;
};

}  // namespace internal

// Suspends the current task for `delay` on the loop's clock. A zero or
// negative delay yields once, like asyncio.sleep(0); one too long for
// Duration (such as Duration::max()) waits until cancelled.
// Errors: std::invalid_argument for a NaN delay.
inline internal::SleepAwaiter sleep(Duration delay) {
  EventLoop* l = EventLoop::current();
  TimePoint now = l ? l->time() : TimePoint();
  return internal::SleepAwaiter(internal::deadline_after(now, delay), delay <= Duration::zero());
}
template <class Rep, class Period>
internal::SleepAwaiter sleep(std::chrono::duration<Rep, Period> delay) {
  return sleep(internal::to_duration(delay));
}

// Suspends the current task until `when` on the loop's clock.
inline internal::SleepAwaiter sleep_until(TimePoint when) { return internal::SleepAwaiter(when, false); }

// Lets every other ready task run once, then continues (asyncio.sleep(0)).
inline internal::SleepAwaiter yield_now() { return internal::SleepAwaiter(TimePoint(), true); }

}  // namespace corio

#endif  // CORIO_LOOP_SLEEP_H_
