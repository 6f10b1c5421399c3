// How a Task coroutine awaits an awaitable that is not built on the loop's
// protocol: a hand-written awaiter around a callback API that calls
// `h.resume()` itself, or one from another library. Without this, such an
// awaitable would resume the task's coroutine outside the task's step (in
// a callback, or on another thread), where the loop no longer knows which
// task is running: later awaits would fail or hang. Task's promise wraps it
// (await_transform) in a ForeignAwaiter, which hands the awaitable a relay
// handle (ForeignWake in task_base.h), so the coroutine resumes in its own
// task's next step, on the loop thread, whichever thread called resume().
//
// Awaiters of corio itself (CancelTargets and LoopAwaiters) are passed
// through untouched: the check is made at compile time and costs nothing.
#ifndef CORIO_LOOP_INTERNAL_FOREIGN_AWAITER_H_
#define CORIO_LOOP_INTERNAL_FOREIGN_AWAITER_H_

#include <coroutine>
#include <tuple>
#include <type_traits>
#include <utility>

#include "corio/loop/internal/task_base.h"

namespace corio::internal {

template <class A>
concept HasMemberCoAwait = requires(A&& a) {
  std::forward<A>(a).operator co_await();
};
template <class A>
concept HasFreeCoAwait = requires(A&& a) {
  operator co_await(std::forward<A>(a));
};
template <class A>
concept HasCoAwaitOperator = HasMemberCoAwait<A> || HasFreeCoAwait<A>;

// What `co_await a` awaits: the result of a's operator co_await if it has
// one, else `a` itself.
template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (HasMemberCoAwait<A>) {
    return std::forward<A>(a).operator co_await();
  } else if constexpr (HasFreeCoAwait<A>) {
    return operator co_await(std::forward<A>(a));
  } else {
    return std::forward<A>(a);
  }
}

template <class A>
using AwaiterOf = decltype(get_awaiter(std::declval<A>()));

// True when awaiting an A needs no relay.
template <class A>
inline constexpr bool kLoopAwaitable = kLoopAwaiter<std::remove_cvref_t<AwaiterOf<A>>>;

// Stands for an awaiter that is the operand of co_await (and so outlives
// the await), forwarding every call to it.
// Forced inline, so that the awaiter's own inlining is what it would be
// without this.
template <class Aw>
struct AwaiterRef {
  Aw& aw;
  [[gnu::always_inline]] decltype(auto) await_ready() noexcept(noexcept(aw.await_ready())) { return aw.await_ready(); }
  template <class H>
  [[gnu::always_inline]] decltype(auto) await_suspend(H h) noexcept(noexcept(aw.await_suspend(h))) {
    return aw.await_suspend(h);
  }
  [[gnu::always_inline]] decltype(auto) await_resume() noexcept(noexcept(aw.await_resume())) {
    return aw.await_resume();
  }
};

// What a call like Lock::acquire() returns: it makes its awaiter only when
// awaited, as a prvalue, so that Task's await_transform can pass it on as
// it is. (An awaiter passed on by reference needs an AwaiterRef, whose
// indirection costs a hot ready path a few nanoseconds.)
template <class Aw, class... Args>
class [[nodiscard]] LazyAwaiter {
 public:
  explicit LazyAwaiter(Args... args) noexcept(std::is_nothrow_move_constructible_v<std::tuple<Args...>>)
      : args_(std::move(args)...) {}
  // Not copyable, like the awaiter it stands for.
  LazyAwaiter(const LazyAwaiter&) = delete;
  LazyAwaiter(LazyAwaiter&&) = default;
  LazyAwaiter& operator=(const LazyAwaiter&) = delete;

  [[gnu::always_inline]] Aw operator co_await() && noexcept(std::is_nothrow_constructible_v<Aw, Args&&...>) {
    return std::apply([](Args&... a) { return Aw(std::move(a)...); }, args_);
  }
  // Kept in a variable and awaited by name: each await makes a fresh
  // awaiter from copies of the arguments (a Queue put puts a copy).
  Aw operator co_await() & {
    return std::apply([](Args&... a) { return Aw(Args(a)...); }, args_);
  }

 private:
  std::tuple<Args...> args_;
};

template <class A>
class [[nodiscard]] ForeignAwaiter {
 public:
  // `a` outlives this awaiter: it is the operand of the co_await
  // expression, a temporary of that full expression or an lvalue.
  explicit ForeignAwaiter(A&& a) : inner_(inner_of(std::forward<A>(a))) {}
  ForeignAwaiter(const ForeignAwaiter&) = delete;
  ForeignAwaiter& operator=(const ForeignAwaiter&) = delete;

  bool await_ready() { return inner_.await_ready(); }

  std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) {
    const std::coroutine_handle<> target = wake_.arm(h);
    if (!target) return h;  // a cancel is pending: resume at once and raise it
    using R = decltype(inner_.await_suspend(target));
    try {
      if constexpr (std::is_void_v<R>) {
        inner_.await_suspend(target);
        return std::noop_coroutine();
      } else if constexpr (std::is_same_v<R, bool>) {
        if (inner_.await_suspend(target)) return std::noop_coroutine();
        wake_.disarm();
        return h;
      } else {
        return inner_.await_suspend(target);
      }
    } catch (...) {
      wake_.disarm();
      throw;
    }
  }

  decltype(auto) await_resume() {
    wake_.check_cancelled();
    return inner_.await_resume();
  }

 private:
  // An awaiter returned by value is kept here; an awaitable that is its
  // own awaiter is referred to.
  using Stored = AwaiterOf<A>;
  static decltype(auto) inner_of(A&& a) {
    if constexpr (std::is_reference_v<Stored>) {
      auto&& aw = get_awaiter(std::forward<A>(a));
      return static_cast<std::remove_reference_t<Stored>&>(aw);
    } else {
      return get_awaiter(std::forward<A>(a));
    }
  }
  std::conditional_t<std::is_reference_v<Stored>, std::remove_reference_t<Stored>&, Stored> inner_;
  ForeignWake wake_;
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_FOREIGN_AWAITER_H_
