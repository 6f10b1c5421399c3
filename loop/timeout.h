// Timeouts: a deadline over a piece of work in the current task
// (asyncio.timeout / timeout_at / wait_for).
//
//   int v = co_await corio::timeout(100ms, fetch());          // Task<T> body
//   co_await corio::timeout(1s, [&](corio::Timeout& t) -> corio::Task<> {
//     ...; t.reschedule(corio::current_loop().time() + 1s); ...
//   });
//   int w = co_await corio::wait_for(handle, 100ms);           // a TaskHandle
//   int x = co_await corio::wait_for(future, 100ms);           // a Future
//   Job j = co_await corio::wait_for(jobs.get(), 100ms);       // a sync wait
//   co_await corio::timeout(2s, [&]() -> corio::Task<> { ... });  // no Timeout&
//
// How it works: the body runs inline in the current task. When the deadline
// passes, the scope cancels the task; as the CancelledError leaves the body
// the scope withdraws its own request (uncancel) and, if no other cancel()
// is pending on the task, raises TimeoutError instead. So nested timeouts
// each report their own expiry, and an outer cancel() or an outer timeout
// that fired at the same time still propagates as CancelledError.
//
// Errors: TimeoutError on expiry; whatever the body throws otherwise;
//   RuntimeError when the returned Task is awaited outside a task.
// Thread safety: awaited by a task, on its loop's thread.
// Cancellation: a cancel() from elsewhere propagates as CancelledError.
// A body awaiting a TaskHandle cancels that task on expiry and waits for it
// to finish (asyncio.wait_for): nothing keeps running behind the timeout.
// A cancel() of the awaiting task, or one already pending when the wait
// starts, is passed on to that task in the same way (task_handle.h), and
// comes out as CancelledError once the task has ended.
#ifndef CORIO_LOOP_TIMEOUT_H_
#define CORIO_LOOP_TIMEOUT_H_

#include <concepts>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/future.h"
#include "corio/loop/internal/awaitable_traits.h"
#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/internal/loop_access.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/internal/timer_heap.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"

namespace corio {

// Timeout: the scope object a timeout body may use to move its deadline.
// Thread safety: loop thread only.
class Timeout {
 public:
  enum class State { kCreated, kEntered, kExpiring, kExpired, kExited };

  explicit Timeout(std::optional<TimePoint> when) noexcept : when_(when) {}
  // A deadline `delay` after the scope is entered.
  explicit Timeout(Delay delay) noexcept : delay_(delay.duration()) {}
  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;
  ~Timeout() { cancel_timer(); }

  // The deadline, or nullopt for none.
  std::optional<TimePoint> when() const noexcept { return when_; }
  // Moves the deadline (nullopt: no deadline). A deadline already past
  // expires on the next loop iteration.
  // Errors: RuntimeError unless the scope is active and has not expired.
  void reschedule(std::optional<TimePoint> when) {
    if (state_ != State::kEntered) throw RuntimeError("corio::Timeout: reschedule outside an active, unexpired scope");
    cancel_timer();
    when_ = when;
    arm();
  }
  // True once the deadline has passed and the scope cancelled the task.
  bool expired() const noexcept { return state_ == State::kExpiring || state_ == State::kExpired; }

  // ---- Internal: used by timeout()/timeout_at(); not for applications. ----
  void enter() {
    task_ = internal::current_task_base();
    if (task_ == nullptr) throw RuntimeError("corio::timeout used outside a task");
    loop_ = task_->loop();
    if (delay_) when_ = internal::deadline_after(loop_->time(), *delay_);
    cancelling_at_entry_ = task_->cancelling();
    state_ = State::kEntered;
    arm();
  }
  // Ends the scope after the body finished with `error` (null if it
  // returned): rethrows it, or TimeoutError in its place (see above).
  void exit(std::exception_ptr error) {
    cancel_timer();
    if (state_ == State::kExpiring) {
      state_ = State::kExpired;
      if (task_->uncancel() <= cancelling_at_entry_ && error && is_cancelled_error(error)) {
        throw TimeoutError();
      }
    } else {
      state_ = State::kExited;
    }
    if (error) std::rethrow_exception(error);
  }

 private:
  struct Timer : internal::TimerNode {
    Timeout* owner;
  };
  void arm() {
    if (!when_) return;
    timer_.owner = this;
    timer_.deadline = when_->time_since_epoch().count();
    timer_.fire = &Timeout::on_timer;
    internal::LoopAccess::add_timer(*loop_, &timer_);
  }
  void cancel_timer() noexcept {
    if (loop_ != nullptr) internal::LoopAccess::remove_timer(*loop_, &timer_);
  }
  static void on_timer(internal::TimerNode* n) noexcept {
    Timeout* self = static_cast<Timer*>(n)->owner;
    self->state_ = State::kExpiring;
    self->task_->cancel();
  }

  std::optional<TimePoint> when_;
  std::optional<Duration> delay_;  // relative deadline, resolved on entry
  internal::TaskBase* task_ = nullptr;
  EventLoop* loop_ = nullptr;
  Timer timer_;
  std::uint32_t cancelling_at_entry_ = 0;
  State state_ = State::kCreated;
};

namespace internal {

// `Deadline` is an optional<TimePoint> (absolute) or a Duration (relative
// to the moment the returned Task is first awaited, as asyncio.wait_for).
template <class T, class Deadline, class Body>
Task<T> run_timeout_scope(Deadline deadline, Body body) {
  Timeout scope(deadline);
  scope.enter();
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<T>, std::monostate, T>> value;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await body(scope);
      value.emplace();
    } else {
      value.emplace(co_await body(scope));
    }
  } catch (...) {
    error = std::current_exception();
  }
  scope.exit(error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*value);
}

// ---- The one normalising step: whatever timeout()/timeout_at() are
// given becomes a scope body, a callable taking Timeout& and returning
// Task<T>. ----

// A body that uses the scope (to reschedule it).
template <class W>
concept ScopeBody = std::is_invocable_v<W&, Timeout&>;
// A body that does not use the scope may take no parameter.
template <class W>
concept NullaryBody = std::is_invocable_v<W&> && !std::is_invocable_v<W&, Timeout&>;
// Everything timeout()/timeout_at() take: a body (either kind), a Task, a
// TaskHandle, a Future, or any other awaitable that can be moved.
template <class W>
concept TimeoutWork = ScopeBody<W> || NullaryBody<W> || kTaskLike<W> || OtherAwaitable<W>;

// `work` as a scope body. An awaitable becomes a Task first (to_task,
// awaitable_traits.h): a TaskHandle or Future is awaited for its result (a
// copyable one copied, a move-only one moved out), anything else as it is.
template <TimeoutWork W>
auto scope_body(W work) {
  if constexpr (ScopeBody<W>) {
    return work;
  } else if constexpr (NullaryBody<W>) {
    return [f = std::move(work)](Timeout&) mutable { return f(); };
  } else {
    return [t = to_task(std::move(work))](Timeout&) mutable { return std::move(t); };
  }
}

// The T of the Task<T> a timeout over `W` returns.
template <class W>
using TimeoutResult = typename std::invoke_result_t<decltype(scope_body(std::declval<W>()))&, Timeout&>::value_type;

// ---- wait_for with a delay <= 0: the time is up before the wait starts
// (asyncio 3.12+ wait_for, which never starts a coroutine then). ----

inline bool time_is_up(const Delay& delay) noexcept { return delay.duration() <= Duration::zero(); }

inline void check_wait_for_in_task() {
  if (current_task_base() == nullptr) throw RuntimeError("corio::wait_for used outside a task");
}

// Raises TimeoutError where it is awaited, without suspending.
template <class T>
struct TimeUp : LoopAwaiter {
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  [[noreturn]] T await_resume() const { throw TimeoutError(); }
};

// Work not started yet (a Task, a sync wait, another library's awaitable):
// it is destroyed unstarted, then TimeoutError.
template <class T, class Work>
Task<T> time_up_unstarted(Work work) {
  if constexpr (kTaskLike<Work>) {  // a Task, here
    if (!work) throw RuntimeError("corio: co_await on an empty Task (moved from, or already awaited)");
  }
  { [[maybe_unused]] Work unstarted = std::move(work); }
  check_wait_for_in_task();
  co_return co_await TimeUp<T>{};
}

// A scheduled task: its result if done; otherwise it is cancelled and
// waited for, and TimeoutError raised if it ended cancelled (asyncio's
// _cancel_and_wait, then fut.result()). A cancel of the awaiting task
// itself, pending at the start or arriving meanwhile, goes on to the task
// as in any await of it and comes out as CancelledError.
template <class T>
Task<T> time_up_handle(TaskHandle<T> h) {
  check_wait_for_in_task();
  TaskBase* self = current_task_base();
  if (h && h.base() == self) throw RuntimeError("corio: a task cannot await itself");
  const bool own_cancel_pending = self->cancel_pending();
  const std::uint32_t own_cancels = self->cancelling();
  const bool cancelled_here = !h.done() && h.cancel();
  try {
    if constexpr (std::is_void_v<T> || std::is_copy_constructible_v<T>) {
      co_return co_await h;
    } else {
      co_return co_await std::move(h);
    }
  } catch (const CancelledError&) {
    if (!cancelled_here || own_cancel_pending || self->cancelling() > own_cancels) throw;
  }
  co_return co_await TimeUp<T>{};
}

// A Future: its outcome if done; otherwise it is cancelled, then
// TimeoutError.
template <class T>
Task<T> time_up_future(Future<T> f) {
  check_wait_for_in_task();
  if (!f.done()) {
    f.cancel();
    co_return co_await TimeUp<T>{};
  }
  if constexpr (std::is_void_v<T> || std::is_copy_constructible_v<T>) {
    co_return co_await f;
  } else {
    co_return co_await std::move(f);
  }
}

// What wait_for does when the time is up before the wait starts.
template <class W>
Task<AwaitedOf<W>> time_up(W work) {
  if constexpr (std::is_same_v<W, TaskHandle<AwaitedOf<W>>>) {
    return time_up_handle(std::move(work));
  } else if constexpr (std::is_same_v<W, Future<AwaitedOf<W>>>) {
    return time_up_future(std::move(work));
  } else {
    return time_up_unstarted<AwaitedOf<W>>(std::move(work));
  }
}

}  // namespace internal

// timeout_at(when, work): runs `work` with an absolute deadline on the
// loop's clock; nullopt means none (the scope can still be rescheduled). A
// deadline already past expires on the next loop iteration (a body that
// finishes without suspending is not interrupted), as in asyncio.
//
// `work` is any of:
//  * a Task<T>;
//  * a callable taking Timeout& (to reschedule the scope) and returning a
//    Task<T>, or one taking nothing;
//  * a TaskHandle<T>: on expiry the task is cancelled and waited for (as
//    wait_for);
//  * a Future<T>: on expiry it is cancelled (see wait_for);
//  * any other awaitable that can be moved, such as a sync wait:
//      Job j = co_await corio::timeout(1s, jobs.get());
//    On expiry its wait is cancelled (a sync wait then takes nothing). One
//    of another library cannot be interrupted: it runs to its end and its
//    result is returned even past the deadline, as asyncio.timeout returns
//    what a body gives back despite the cancel (corio never drops a
//    finished result); the scope withdraws its cancel, so none is left
//    pending.
// A TaskHandle's or Future's copyable result is copied; a move-only one is
// moved out, as shield() does.
template <internal::TimeoutWork W>
Task<internal::TimeoutResult<W>> timeout_at(std::optional<TimePoint> when, W work) {
  return internal::run_timeout_scope<internal::TimeoutResult<W>>(when, internal::scope_body(std::move(work)));
}

// timeout(delay, work): a deadline `delay` after the returned Task starts
// (is awaited), as asyncio.timeout; nullopt: no deadline. `delay` is any
// std::chrono duration (see Delay: one too long for the clock is "never");
// `work` is anything timeout_at takes.
template <internal::TimeoutWork W>
Task<internal::TimeoutResult<W>> timeout(std::optional<Delay> delay, W work) {
  using T = internal::TimeoutResult<W>;
  auto body = internal::scope_body(std::move(work));
  if (!delay) return internal::run_timeout_scope<T>(std::optional<TimePoint>(), std::move(body));
  return internal::run_timeout_scope<T>(delay->duration(), std::move(body));
}

// wait_for(aw, delay): awaits a Task<T>, a TaskHandle<T>, a Future<T> or
// any other awaitable that can be moved for at most `delay` (any
// std::chrono duration, see Delay). On expiry the work is cancelled,
// waited for, and TimeoutError is raised (asyncio.wait_for). A move-only
// result of a TaskHandle is moved out of the task.
//
//   Job j = co_await corio::wait_for(jobs.get(), 100ms);   // asyncio's wait_for(q.get(), 0.1)
//
// A Future: its result (a copy; moved out if it cannot be copied), its
// exception, or TimeoutError once `delay` has passed. On expiry the future
// is cancelled, as asyncio.wait_for does (the cancel of the awaiting task
// cancels the future it awaits: future.h), so its other awaiters get
// CancelledError; wait_for(shield(future), delay) leaves it pending
// instead.
//
// A delay <= 0 means the time is already up when the wait starts (asyncio
// 3.12+), unlike timeout(0, ...), which lets the body run to its first
// suspension point:
//  * a Task, or any other awaitable but the two below, is never started:
//    it is destroyed unstarted and TimeoutError is raised (a queue get
//    takes nothing);
//  * a TaskHandle whose task is done gives its outcome; otherwise the task
//    is cancelled and waited for, and TimeoutError is raised if it ended
//    cancelled (its value or error if it ended otherwise);
//  * a Future that is done gives its outcome; otherwise it is cancelled and
//    TimeoutError is raised.
// None of these suspends except the wait for a cancelled task, so a cancel
// pending in the awaiting task stays pending for its next suspension point
// (for a TaskHandle it goes on to the task, and CancelledError comes out).
template <class W>
requires(internal::kTaskLike<W> || internal::OtherAwaitable<W>) Task<internal::AwaitedOf<W>> wait_for(W aw,
                                                                                                      Delay delay) {
  if (internal::time_is_up(delay)) return internal::time_up(std::move(aw));
  return timeout(delay, std::move(aw));
}

}  // namespace corio

#endif  // CORIO_LOOP_TIMEOUT_H_
