// co_invoke: calls a callable that returns a Task, keeping the callable (a
// lambda's captures) and the arguments alive until the coroutine is done.
//
// A lambda coroutine's captures live in the lambda object, not in the
// coroutine frame: the frame holds only a pointer to the lambda. So
//
//   corio::create_task([name]() -> corio::Task<> { co_await ...; use(name); }());
//
// destroys the temporary lambda, and `name` with it, as soon as the full
// expression ends, before the task first runs (a C++ rule, not corio's).
// co_invoke moves the callable and the arguments into the frame of a
// coroutine of its own, which calls the callable and awaits what it
// returns, so they live as long as that coroutine:
//
//   corio::create_task(corio::co_invoke([name]() -> corio::Task<> { co_await ...; use(name); }));
//
// (folly's co_invoke has the same shape.)
#ifndef CORIO_LOOP_CO_INVOKE_H_
#define CORIO_LOOP_CO_INVOKE_H_

#include <functional>
#include <type_traits>
#include <utility>

#include "corio/loop/task.h"

namespace corio {

namespace internal {

template <class R>
struct TaskValue {
  static constexpr bool kIsTask = false;
};
template <class T>
struct TaskValue<Task<T>> {
  static constexpr bool kIsTask = true;
  using type = T;
};

// The coroutine that owns them: `f` and `args` are parameters, so they are
// moved into its frame and destroyed with it, after the awaited coroutine
// has finished (or its frame been destroyed).
template <class T, class F, class... Args>
Task<T> invoke_in_frame(F f, Args... args) {
  co_return co_await std::invoke(std::move(f), std::move(args)...);
}

}  // namespace internal

// co_invoke(f, args...)
//
// A Task<T> that calls `f(args...)`, which must return a Task<T>, and gives
// its value. `f` and each argument are decay-copied (moved from an rvalue)
// into the returned Task's frame and passed on as rvalues, as std::thread
// does: a parameter that is a reference (const std::string&) refers to the
// frame's copy, alive until the coroutine ends; pass std::ref(x) to share
// the caller's `x` instead. Like any Task it is lazy: `f` is called when the
// Task is first awaited or, given to create_task, first runs; a Task
// dropped unawaited destroys `f` and the arguments without calling `f`.
// Use it wherever a lambda with captures is a coroutine that outlives the
// expression that calls it: handed to create_task, gather, wait, timeout,
// or kept in a variable and awaited later.
//
// Errors: co_await rethrows what `f` throws, or what the Task it returned
//   throws; copying `f` or the arguments may throw (then no Task is made).
// Thread safety: as for Task: it runs on the loop thread that awaits it.
// Cancellation: the returned Task shares the cancellation of its task, as
//   any Task does; the callable and the arguments are destroyed as its
//   frame unwinds, after the coroutine `f` returned.
//
// Example:
//   auto conn = std::make_unique<Conn>(...);
//   corio::create_task(corio::co_invoke([c = std::move(conn)]() -> corio::Task<> {
//     co_await c->serve();   // c lives as long as the task
//   }));
//
// g++ 12 (README, "Known compiler issues"): a lambda whose captures have
// destructors, written as a temporary inside a co_await expression, is
// destroyed twice, whatever it is passed to. co_invoke cannot prevent that
// (the temporary is the caller's): with g++, name the lambda or the Task
// first, `auto t = corio::co_invoke([s] ...); co_await std::move(t);`.
// Outside a co_await, as in the create_task example above, it is safe.
template <class F, class... Args>
auto co_invoke(F&& f, Args&&... args) {
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                "corio::co_invoke: the callable cannot be called with the arguments as rvalues (pass std::ref(x) "
                "for a parameter that is a non-const reference)");
  using Returned = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
  static_assert(internal::TaskValue<Returned>::kIsTask, "corio::co_invoke: the callable must return a corio::Task<T>");
  using T = typename internal::TaskValue<Returned>::type;
  return internal::invoke_in_frame<T, std::decay_t<F>, std::decay_t<Args>...>(std::forward<F>(f),
                                                                              std::forward<Args>(args)...);
}

}  // namespace corio

#endif  // CORIO_LOOP_CO_INVOKE_H_
