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

template <class F>
using ScopeResult = typename std::invoke_result_t<F&, Timeout&>::value_type;

template <class A>
inline constexpr bool kTaskLike = false;
template <class T>
inline constexpr bool kTaskLike<Task<T>> = true;
template <class T>
inline constexpr bool kTaskLike<TaskHandle<T>> = true;
template <class T>
inline constexpr bool kTaskLike<Future<T>> = true;

// What `co_await a` gives for an rvalue A.
template <class A>
using AwaitResultOf = std::remove_cvref_t<decltype(std::declval<AwaiterOf<A>&>().await_resume())>;

// An awaitable other than a Task, TaskHandle or Future that can be passed
// by value: a sync wait (q.get(), lock.acquire(), ev.wait()), or an
// awaitable of another library.
template <class A>
concept OtherAwaitable = !kTaskLike<A> && std::move_constructible<A> && requires {
  typename AwaitResultOf<A>;
};

// A Task that awaits `aw`.
template <class R, class A>
Task<R> await_moved(A aw) {
  co_return co_await std::move(aw);
}

// A scope body awaiting `shared` (a TaskHandle<T> or Future<T>): copies a
// copyable result, moves a move-only one out.
template <class T, class Shared>
auto await_result_of(Shared shared) {
  return [shared = std::move(shared)](Timeout&) mutable -> Task<T> {
    if constexpr (std::is_void_v<T> || std::is_copy_constructible_v<T>) {
      co_return co_await shared;
    } else {
      co_return co_await std::move(shared);
    }
  };
}

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

// A body that takes no Timeout&, for the scopes that expect one.
template <class F>
concept NullaryBody = std::is_invocable_v<F&> && !std::is_invocable_v<F&, Timeout&>;
template <class F>
auto with_scope_parameter(F f) {
  return [f = std::move(f)](Timeout&) mutable { return f(); };
}

}  // namespace internal

// timeout_at(when, body): runs `body` (a Task<T>, or a callable taking
// Timeout& and returning Task<T>) with an absolute deadline on the loop's
// clock; nullopt means none (the scope can still be rescheduled). A
// deadline already past expires on the next loop iteration (a body that
// finishes without suspending is not interrupted), as in asyncio.
template <class T>
Task<T> timeout_at(std::optional<TimePoint> when, Task<T> body) {
  return internal::run_timeout_scope<T>(when, [b = std::move(body)](Timeout&) mutable { return std::move(b); });
}
template <class F>
requires std::is_invocable_v<F&, Timeout&> Task<internal::ScopeResult<F>> timeout_at(std::optional<TimePoint> when,
                                                                                     F body) {
  return internal::run_timeout_scope<internal::ScopeResult<F>>(when, std::move(body));
}
// A body that does not use the scope may take no parameter.
template <internal::NullaryBody F>
auto timeout_at(std::optional<TimePoint> when, F body) {
  return timeout_at(when, internal::with_scope_parameter(std::move(body)));
}

// A TaskHandle, a Future or any other movable awaitable, as for timeout()
// below.
template <class T>
Task<T> timeout_at(std::optional<TimePoint> when, TaskHandle<T> h) {
  return timeout_at(when, internal::await_result_of<T>(std::move(h)));
}
template <class T>
Task<T> timeout_at(std::optional<TimePoint> when, Future<T> f) {
  return timeout_at(when, internal::await_result_of<T>(std::move(f)));
}
template <internal::OtherAwaitable A>
Task<internal::AwaitResultOf<A>> timeout_at(std::optional<TimePoint> when, A aw) {
  return timeout_at(when, internal::await_moved<internal::AwaitResultOf<A>>(std::move(aw)));
}

// timeout(delay, body): a deadline `delay` after the returned Task starts
// (is awaited), as asyncio.timeout; nullopt: no deadline. `delay` is any
// std::chrono duration (see Delay: one too long for the clock is "never").
template <class T>
Task<T> timeout(std::optional<Delay> delay, Task<T> body) {
  auto run = [b = std::move(body)](Timeout&) mutable { return std::move(b); };
  if (!delay) return internal::run_timeout_scope<T>(std::optional<TimePoint>(), std::move(run));
  return internal::run_timeout_scope<T>(delay->duration(), std::move(run));
}
template <class F>
requires std::is_invocable_v<F&, Timeout&> Task<internal::ScopeResult<F>> timeout(std::optional<Delay> delay, F body) {
  if (!delay) return internal::run_timeout_scope<internal::ScopeResult<F>>(std::optional<TimePoint>(), std::move(body));
  return internal::run_timeout_scope<internal::ScopeResult<F>>(delay->duration(), std::move(body));
}
// A body that does not use the scope may take no parameter.
template <internal::NullaryBody F>
auto timeout(std::optional<Delay> delay, F body) {
  return timeout(delay, internal::with_scope_parameter(std::move(body)));
}
// A TaskHandle: on expiry the task is cancelled and waited for (as
// wait_for). A Future: on expiry it is cancelled (see wait_for). A
// copyable result is copied; a move-only one is moved out, as shield() does.
template <class T>
Task<T> timeout(std::optional<Delay> delay, TaskHandle<T> h) {
  return timeout(delay, internal::await_result_of<T>(std::move(h)));
}
template <class T>
Task<T> timeout(std::optional<Delay> delay, Future<T> f) {
  return timeout(delay, internal::await_result_of<T>(std::move(f)));
}
// Any other awaitable that can be moved, such as a sync wait:
//   Job j = co_await corio::timeout(1s, jobs.get());
// On expiry its wait is cancelled (a sync wait then takes nothing). One of
// another library cannot be interrupted: it runs to its end and its result
// is returned even past the deadline, as asyncio.timeout returns what a
// body gives back despite the cancel (corio never drops a finished result);
// the scope withdraws its cancel, so none is left pending.
template <internal::OtherAwaitable A>
Task<internal::AwaitResultOf<A>> timeout(std::optional<Delay> delay, A aw) {
  return timeout(delay, internal::await_moved<internal::AwaitResultOf<A>>(std::move(aw)));
}

// wait_for(aw, delay): awaits a Task<T> or TaskHandle<T> for at most
// `delay` (any std::chrono duration, see Delay). On expiry the work is
// cancelled, waited for, and TimeoutError is raised (asyncio.wait_for).
// A move-only result of a TaskHandle is moved out of the task.
//
// A delay <= 0 means the time is already up when the wait starts (asyncio
// 3.12+), unlike timeout(0, ...), which lets the body run to its first
// suspension point:
//  * a Task, or any other awaitable below, is never started: it is
//    destroyed unstarted and TimeoutError is raised;
//  * a TaskHandle whose task is done gives its outcome; otherwise the task
//    is cancelled and waited for, and TimeoutError is raised if it ended
//    cancelled (its value or error if it ended otherwise);
//  * a Future that is done gives its outcome; otherwise it is cancelled and
//    TimeoutError is raised.
// None of these suspends except the wait for a cancelled task, so a cancel
// pending in the awaiting task stays pending for its next suspension point
// (for a TaskHandle it goes on to the task, and CancelledError comes out).
template <class T>
Task<T> wait_for(Task<T> aw, Delay delay) {
  if (internal::time_is_up(delay)) return internal::time_up_unstarted<T>(std::move(aw));
  return timeout(delay, std::move(aw));
}
template <class T>
Task<T> wait_for(TaskHandle<T> aw, Delay delay) {
  if (internal::time_is_up(delay)) return internal::time_up_handle(std::move(aw));
  return timeout(delay, std::move(aw));
}
// wait_for(future, delay): the future's result (a copy; moved out if it
// cannot be copied), its exception, or TimeoutError once `delay` has
// passed. On expiry the future is cancelled, as asyncio.wait_for does (the
// cancel of the awaiting task cancels the future it awaits: future.h), so
// its other awaiters get CancelledError; wait_for(shield(future), delay)
// leaves it pending instead.
template <class T>
Task<T> wait_for(Future<T> aw, Delay delay) {
  if (internal::time_is_up(delay)) return internal::time_up_future(std::move(aw));
  return timeout(delay, std::move(aw));
}
// wait_for(aw, delay) over any other awaitable that can be moved, as
// timeout(delay, aw): asyncio's `await wait_for(q.get(), 0.1)` is
//   Job j = co_await corio::wait_for(jobs.get(), 100ms);
// With a delay <= 0 it is never awaited (a queue get takes nothing).
template <internal::OtherAwaitable A>
Task<internal::AwaitResultOf<A>> wait_for(A aw, Delay delay) {
  if (internal::time_is_up(delay)) return internal::time_up_unstarted<internal::AwaitResultOf<A>>(std::move(aw));
  return timeout(delay, std::move(aw));
}

}  // namespace corio

#endif  // CORIO_LOOP_TIMEOUT_H_
