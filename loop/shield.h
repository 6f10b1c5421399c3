// shield: await a task or a future without letting a cancellation of the
// awaiting task reach it (asyncio.shield).
//
//   int v = co_await corio::shield(handle);   // or shield(some_task())
//   int w = co_await corio::shield(future);   // a Future shared with others
//
// shield(future): cancelling a task that awaits a Future cancels the
// future (future.h), as asyncio does; through shield(future) the awaiting
// task gets CancelledError at once and the future stays pending for the
// others (a cancel pending when the wait starts, likewise). On a future
// cancelled directly the awaiter gets its CancelledError. It can be handed
// to wait_for/timeout, which then leave the future pending on expiry.
//
// If the awaiting task is cancelled, it gets CancelledError at once and the
// shielded task keeps running (keep its handle to collect the result later;
// an exception it raises unobserved is reported as never retrieved).
// A copyable result is copied; a move-only one is moved out of the task, so
// a handle kept to collect it later sees a moved-from value.
// Errors: whatever the shielded task raises (CancelledError if it was itself
//   cancelled directly); shield(Task) throws RuntimeError with no loop
//   running on this thread, shield(TaskHandle) for an empty handle (and
//   co_await then RuntimeError for a moved-from shield).
// Thread safety: on the loop's thread, awaited by a task of that loop.
#ifndef CORIO_LOOP_SHIELD_H_
#define CORIO_LOOP_SHIELD_H_

#include <coroutine>
#include <type_traits>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/future.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"

namespace corio {

template <class T>
class [[nodiscard]] ShieldAwaiter final : internal::Suspension, internal::DoneWaiter {
 public:
  // Errors: RuntimeError for an empty handle.
  explicit ShieldAwaiter(TaskHandle<T> inner) : Suspension(&ShieldAwaiter::detach), inner_(std::move(inner)) {
    if (!inner_) throw RuntimeError("corio::shield of an empty task handle (default-constructed or moved from)");
    on_done = &ShieldAwaiter::on_done_impl;
  }
  // Movable until it is awaited (so that wait_for(shield(h), d) works).
  ShieldAwaiter(ShieldAwaiter&& o) noexcept : Suspension(&ShieldAwaiter::detach), inner_(std::move(o.inner_)) {
    on_done = &ShieldAwaiter::on_done_impl;
  }
  ShieldAwaiter& operator=(ShieldAwaiter&&) = delete;
  [[gnu::always_inline]] ~ShieldAwaiter() { abandon(); }
  bool await_ready() const { return inner_.done(); }
  bool await_suspend(std::coroutine_handle<> h) {
    if (!suspend(h)) return false;
    inner_.base()->add_waiter(this);
    return true;
  }
  T await_resume() {
    check_cancelled();
    if constexpr (std::is_void_v<T>) {
      inner_.result();
    } else if constexpr (std::is_copy_constructible_v<T>) {
      return inner_.result();
    } else {
      return inner_.take_result();
    }
  }

 private:
  static void detach(Suspension* s) noexcept {
    auto* self = static_cast<ShieldAwaiter*>(s);
    self->inner_.base()->remove_waiter(self);
  }
  static void on_done_impl(internal::DoneWaiter* w) noexcept { static_cast<ShieldAwaiter*>(w)->wake(); }
  TaskHandle<T> inner_;
};

// What shield(future) returns: an awaitable (movable, so that
// wait_for(shield(f), d) works) that copies a copyable result and moves a
// move-only one out of the future.
template <class T>
class [[nodiscard]] ShieldedFuture {
 public:
  explicit ShieldedFuture(Future<T> f) noexcept : f_(std::move(f)) {}
  auto operator co_await() const noexcept { return f_.template shielded_awaiter<kMove>(); }

 private:
  static constexpr bool kMove = !std::is_void_v<T> && !std::is_copy_constructible_v<T>;
  Future<T> f_;
};

template <class T>
ShieldAwaiter<T> shield(TaskHandle<T> inner) {
  return ShieldAwaiter<T>(std::move(inner));
}
// Schedules `coro` as a task (on the running loop) and shields it.
template <class T>
ShieldAwaiter<T> shield(Task<T> coro) {
  return ShieldAwaiter<T>(create_task(std::move(coro)));
}
// Awaits `f` without cancelling it when the awaiting task is cancelled.
template <class T>
ShieldedFuture<T> shield(Future<T> f) noexcept {
  return ShieldedFuture<T>(std::move(f));
}

}  // namespace corio

#endif  // CORIO_LOOP_SHIELD_H_
