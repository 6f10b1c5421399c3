// Compile-time bounds of sync's public types (Tokio's "bounds" tests):
// which types are copyable or movable, what each awaitable gives, which
// errors derive from which. A change here is an API change.
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/task.h"
#include "corio/sync/sync.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

template <class T>
constexpr bool kPinned = !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> &&
                         !std::is_move_constructible_v<T> && !std::is_move_assignable_v<T>;

template <class T>
constexpr bool kMoveOnly = !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> &&
                           std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>;

// An awaiter (not copyable: it holds the intrusive list node) whose
// co_await gives R.
template <class A, class R>
concept AwaiterOf = !std::is_copy_constructible_v<A> && requires(internal::AwaiterOf<A> a, std::coroutine_handle<> h) {
  { a.await_ready() } -> std::convertible_to<bool>;
  a.await_suspend(h);
  { a.await_resume() } -> std::same_as<R>;
};

// Primitives are pinned: waiters point at them.
static_assert(kPinned<Lock>);
static_assert(kPinned<Event>);
static_assert(kPinned<Condition>);
static_assert(kPinned<Semaphore>);
static_assert(kPinned<BoundedSemaphore>);
static_assert(kPinned<Barrier>);
static_assert(kPinned<Queue<int>>);
static_assert(kPinned<LifoQueue<int>>);
static_assert(kPinned<PriorityQueue<int>>);
static_assert(kPinned<Channel<int>>);

// Constructors: explicit where a number is given.
static_assert(std::is_default_constructible_v<Lock>);
static_assert(std::is_nothrow_default_constructible_v<Lock>);
static_assert(std::is_nothrow_default_constructible_v<Event>);
static_assert(!std::is_convertible_v<int, Semaphore>);
static_assert(!std::is_convertible_v<std::size_t, Barrier>);
static_assert(!std::is_default_constructible_v<Barrier>);
static_assert(!std::is_convertible_v<std::size_t, Queue<int>>);
static_assert(!std::is_default_constructible_v<Channel<int>>);
static_assert(std::is_base_of_v<Semaphore, BoundedSemaphore>);

// Guards are move-only, with noexcept moves.
static_assert(kMoveOnly<LockGuard>);
static_assert(kMoveOnly<SemaphoreGuard>);
static_assert(std::is_nothrow_default_constructible_v<LockGuard>);
static_assert(std::is_same_v<LockGuard, Guard<Lock>>);

// What each awaitable gives.
static_assert(AwaiterOf<decltype(std::declval<Lock&>().acquire()), void>);
static_assert(AwaiterOf<decltype(std::declval<Lock&>().scoped()), LockGuard>);
static_assert(AwaiterOf<decltype(std::declval<Event&>().wait()), void>);
static_assert(AwaiterOf<decltype(std::declval<Condition&>().wait()), void>);
static_assert(AwaiterOf<decltype(std::declval<Condition&>().acquire()), void>);
static_assert(AwaiterOf<decltype(std::declval<Condition&>().scoped()), LockGuard>);
static_assert(AwaiterOf<decltype(std::declval<Semaphore&>().acquire()), void>);
static_assert(AwaiterOf<decltype(std::declval<Semaphore&>().scoped()), SemaphoreGuard>);
static_assert(AwaiterOf<decltype(std::declval<BoundedSemaphore&>().scoped()), SemaphoreGuard>);
static_assert(AwaiterOf<decltype(std::declval<Barrier&>().wait()), std::size_t>);
static_assert(AwaiterOf<decltype(std::declval<Queue<int>&>().get()), int>);
static_assert(AwaiterOf<decltype(std::declval<Queue<int>&>().put(1)), void>);
static_assert(AwaiterOf<decltype(std::declval<Queue<int>&>().join()), void>);
static_assert(AwaiterOf<decltype(std::declval<PriorityQueue<std::string>&>().get()), std::string>);
static_assert(AwaiterOf<decltype(std::declval<LifoQueue<std::string>&>().get()), std::string>);
static_assert(AwaiterOf<decltype(std::declval<Channel<int>&>().receive()), int>);
static_assert(std::is_same_v<decltype(std::declval<Condition&>().wait_for([] { return true; })), Task<bool>>);
static_assert(std::is_same_v<decltype(std::declval<Condition&>().wait_for([] { return 1; })), Task<int>>);

// Move-only items work end to end.
using UP = std::unique_ptr<int>;
static_assert(AwaiterOf<decltype(std::declval<Queue<UP>&>().get()), UP>);
static_assert(AwaiterOf<decltype(std::declval<Queue<UP>&>().put(UP())), void>);
static_assert(AwaiterOf<decltype(std::declval<LifoQueue<UP>&>().get()), UP>);
static_assert(AwaiterOf<decltype(std::declval<PriorityQueue<UP>&>().get()), UP>);
static_assert(AwaiterOf<decltype(std::declval<Channel<UP>&>().receive()), UP>);
static_assert(std::is_same_v<decltype(std::declval<Queue<UP>&>().get_nowait()), UP>);
static_assert(std::is_same_v<decltype(std::declval<Channel<UP>&>().receive_nowait()), UP>);
static_assert(requires(Queue<UP> & q, UP p) { q.put_nowait(std::move(p)); });
static_assert(requires(Channel<UP> & c, UP p) {
  c.send(std::move(p));
  c.send_nowait(std::move(p));
});

// Errors: ordinary errors under corio::Error (and std::exception);
// CancelledError stays apart.
static_assert(std::is_base_of_v<RuntimeError, LockError>);
static_assert(std::is_base_of_v<RuntimeError, BrokenBarrierError>);
static_assert(std::is_base_of_v<Error, ValueError>);
static_assert(std::is_base_of_v<Error, QueueEmpty>);
static_assert(std::is_base_of_v<Error, QueueFull>);
static_assert(std::is_base_of_v<Error, QueueShutDown>);
static_assert(std::is_base_of_v<std::exception, QueueShutDown>);
static_assert(!std::is_base_of_v<QueueEmpty, QueueShutDown>);
static_assert(!std::is_base_of_v<std::exception, CancelledError>);
static_assert(std::is_default_constructible_v<QueueEmpty> && std::is_default_constructible_v<QueueFull> &&
              std::is_default_constructible_v<QueueShutDown> && std::is_default_constructible_v<BrokenBarrierError>);

TEST(Bounds, ErrorsCarryAMessage) {
  EXPECT_STREQ(QueueEmpty().what(), "queue is empty");
  EXPECT_STREQ(QueueFull().what(), "queue is full");
  EXPECT_STREQ(QueueShutDown().what(), "queue is shut down");
  EXPECT_STREQ(BrokenBarrierError().what(), "barrier is broken");
  EXPECT_STREQ(LockError("x").what(), "x");
}

}  // namespace
}  // namespace corio
