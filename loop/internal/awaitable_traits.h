// What corio's combinators (timeout, wait_for, gather) need to know about
// the things they are handed, in one place, and the one wrapper that turns
// any of them into a Task.
//
//  * AwaiterOf<A>, get_awaiter, kLoopAwaitable (foreign_awaiter.h): what
//    `co_await a` awaits, and whether it follows the loop's protocol.
//  * AwaitResultOf<A>: what `co_await a` gives for an rvalue A.
//  * kTaskLike<A>, TaskLikeValue<A>: Task<T>, TaskHandle<T> and Future<T>,
//    and their T. kSharedResult<A>: the last two, whose result others may
//    read too.
//  * OtherAwaitable<A>: anything else that can be moved and awaited (a
//    sync wait, a sleep, another library's awaitable).
//  * as_task<R>(a): a lazy Task<R> that owns `a` and awaits it.
#ifndef CORIO_LOOP_INTERNAL_AWAITABLE_TRAITS_H_
#define CORIO_LOOP_INTERNAL_AWAITABLE_TRAITS_H_

#include <concepts>
#include <type_traits>
#include <utility>

#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/task.h"

namespace corio {

template <class T>
class TaskHandle;
template <class T>
class Future;

namespace internal {

// What `co_await a` gives for an rvalue A.
template <class A>
using AwaitResultOf = std::remove_cvref_t<decltype(std::declval<AwaiterOf<A>&>().await_resume())>;

template <class A>
struct TaskLikeTraits {
  static constexpr bool kTaskLike = false;
  static constexpr bool kShared = false;
};
template <class T>
struct TaskLikeTraits<Task<T>> {
  static constexpr bool kTaskLike = true;
  static constexpr bool kShared = false;
  using value_type = T;
};
template <class T>
struct TaskLikeTraits<TaskHandle<T>> {
  static constexpr bool kTaskLike = true;
  static constexpr bool kShared = true;
  using value_type = T;
};
template <class T>
struct TaskLikeTraits<Future<T>> {
  static constexpr bool kTaskLike = true;
  static constexpr bool kShared = true;
  using value_type = T;
};

// A Task<T>, TaskHandle<T> or Future<T> (any reference or const to one).
template <class A>
inline constexpr bool kTaskLike = TaskLikeTraits<std::remove_cvref_t<A>>::kTaskLike;
// A TaskHandle<T> or Future<T>: others may hold it and read its result too.
template <class A>
inline constexpr bool kSharedResult = TaskLikeTraits<std::remove_cvref_t<A>>::kShared;
// The T of a task-like A.
template <class A>
using TaskLikeValue = typename TaskLikeTraits<std::remove_cvref_t<A>>::value_type;

// An awaitable other than a Task, TaskHandle or Future that can be passed
// by value: a sync wait (q.get(), lock.acquire(), ev.wait()), a sleep, or
// an awaitable of another library.
template <class A>
concept OtherAwaitable = !kTaskLike<A> && std::move_constructible<A> && requires {
  typename AwaitResultOf<A>;
};

// What awaiting `a` gives, for anything as_task takes.
template <class A>
struct AwaitedTraits {
  using type = AwaitResultOf<A>;
};
template <class A>
requires kTaskLike<A>
struct AwaitedTraits<A> {
  using type = TaskLikeValue<A>;
};
template <class A>
using AwaitedOf = typename AwaitedTraits<std::remove_cvref_t<A>>::type;

// The one wrapper from an awaitable to a Task: a lazy Task<R> that owns
// `aw` (moved into its frame) and awaits it when it is awaited. A
// TaskHandle or Future is awaited as an lvalue, which copies its result
// and leaves it for its other holders, unless the result cannot be copied:
// then it is moved out (co_await std::move), as shield() does. Anything
// else is awaited as an rvalue.
template <class R, class A>
Task<R> as_task(A aw) {
  if constexpr (kSharedResult<A> && (std::is_void_v<R> || std::is_copy_constructible_v<R>)) {
    co_return co_await aw;
  } else {
    co_return co_await std::move(aw);
  }
}

// `work` as a Task: itself if it is one, else as_task.
template <class A>
Task<AwaitedOf<A>> to_task(A work) {
  if constexpr (std::is_same_v<A, Task<AwaitedOf<A>>>) {
    return work;
  } else {
    return as_task<AwaitedOf<A>>(std::move(work));
  }
}

}  // namespace internal
}  // namespace corio

#endif  // CORIO_LOOP_INTERNAL_AWAITABLE_TRAITS_H_
