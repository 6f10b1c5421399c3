// Compile-time bounds of the loop's public types (Tokio-style): what is
// move-only, what is copyable, which moves are noexcept, and what each
// awaitable gives when awaited.
#include <concepts>
#include <coroutine>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

// An awaiter: await_ready() -> bool, await_resume() -> R.
template <class A, class R>
concept AwaiterOf = requires(A& a) {
  { a.await_ready() } -> std::same_as<bool>;
  { a.await_resume() } -> std::same_as<R>;
};

// What `co_await std::declval<X>()` goes through, for types with a member
// operator co_await.
template <class X>
using AwaiterOfExpr = decltype(std::declval<X>().operator co_await());

// ---- Task<T>: move-only, noexcept moves, lazy, awaitable for T. ----
static_assert(!std::is_copy_constructible_v<Task<int>>);
static_assert(!std::is_copy_assignable_v<Task<int>>);
static_assert(std::is_nothrow_move_constructible_v<Task<int>>);
static_assert(std::is_nothrow_move_assignable_v<Task<int>>);
static_assert(std::is_nothrow_default_constructible_v<Task<int>>);
static_assert(!std::is_copy_constructible_v<Task<void>>);
static_assert(std::is_nothrow_move_constructible_v<Task<void>>);
static_assert(std::is_same_v<Task<>, Task<void>>);
static_assert(std::is_same_v<Task<int>::value_type, int>);
static_assert(AwaiterOf<AwaiterOfExpr<Task<int>&&>, int>);
static_assert(AwaiterOf<AwaiterOfExpr<Task<int>&>, int>);
static_assert(AwaiterOf<AwaiterOfExpr<Task<void>&&>, void>);
static_assert(AwaiterOf<AwaiterOfExpr<Task<std::unique_ptr<int>>&&>, std::unique_ptr<int>>);
static_assert(std::is_same_v<decltype(std::declval<Task<int>::promise_type&>().initial_suspend()), std::suspend_always>,
              "Task is lazy");
static_assert(!std::is_convertible_v<Task<int>, bool>, "operator bool is explicit");

// ---- TaskHandle<T> / TaskRef: cheap shared references. ----
static_assert(std::is_copy_constructible_v<TaskHandle<int>>);
static_assert(std::is_copy_assignable_v<TaskHandle<int>>);
static_assert(std::is_nothrow_move_constructible_v<TaskHandle<int>>);
static_assert(std::is_nothrow_copy_constructible_v<TaskHandle<int>>);
static_assert(std::is_copy_constructible_v<TaskRef>);
static_assert(std::is_nothrow_move_constructible_v<TaskRef>);
static_assert(std::is_convertible_v<TaskHandle<int>, TaskRef>);
static_assert(!std::is_convertible_v<TaskRef, TaskHandle<int>>);
// An lvalue handle gives a copy, an rvalue one moves the value out.
static_assert(AwaiterOf<AwaiterOfExpr<const TaskHandle<int>&>, int>);
static_assert(AwaiterOf<AwaiterOfExpr<TaskHandle<int>&&>, int>);
static_assert(AwaiterOf<AwaiterOfExpr<TaskHandle<void>&>, void>);
static_assert(AwaiterOf<AwaiterOfExpr<TaskHandle<std::unique_ptr<int>>&&>, std::unique_ptr<int>>);
static_assert(std::is_same_v<decltype(create_task(std::declval<Task<int>>())), TaskHandle<int>>);
static_assert(
    std::is_same_v<decltype(create_task(std::declval<EventLoop&>(), std::declval<Task<void>>())), TaskHandle<void>>);
static_assert(std::is_same_v<decltype(current_task()), TaskRef>);

// ---- Future<T>: a copyable handle to one shared result. ----
static_assert(std::is_copy_constructible_v<Future<int>>);
static_assert(std::is_copy_assignable_v<Future<int>>);
static_assert(std::is_nothrow_move_constructible_v<Future<int>>);
static_assert(std::is_nothrow_copy_constructible_v<Future<int>>);
static_assert(AwaiterOf<AwaiterOfExpr<const Future<int>&>, int>);
static_assert(AwaiterOf<AwaiterOfExpr<Future<int>&&>, int>);
static_assert(AwaiterOf<AwaiterOfExpr<Future<void>&>, void>);
static_assert(std::is_same_v<Future<void>::Value, std::monostate>);

// ---- Leaf awaitables. ----
static_assert(AwaiterOf<decltype(sleep(std::chrono::milliseconds(1))), void>);
static_assert(AwaiterOf<decltype(yield_now()), void>);
static_assert(AwaiterOf<decltype(sleep_until(std::declval<TimePoint>())), void>);
static_assert(AwaiterOf<FdReady, void>);
static_assert(!std::is_copy_constructible_v<decltype(yield_now())>, "awaiters are not copied around");
static_assert(AwaiterOf<ShieldAwaiter<int>, int>);
static_assert(std::is_same_v<decltype(shield(std::declval<TaskHandle<int>>())), ShieldAwaiter<int>>);
static_assert(std::is_same_v<decltype(shield(std::declval<Task<std::string>>())), ShieldAwaiter<std::string>>);
// shield(future): movable (for wait_for), copies a copyable result, moves a
// move-only one out.
static_assert(std::is_same_v<decltype(shield(std::declval<Future<int>>())), ShieldedFuture<int>>);
static_assert(std::is_nothrow_move_constructible_v<ShieldedFuture<int>>);
static_assert(AwaiterOf<AwaiterOfExpr<ShieldedFuture<int>&&>, int>);
static_assert(AwaiterOf<AwaiterOfExpr<ShieldedFuture<void>&&>, void>);
static_assert(AwaiterOf<AwaiterOfExpr<ShieldedFuture<std::unique_ptr<int>>&&>, std::unique_ptr<int>>);

// ---- Combinators return Tasks of the expected shapes. ----
static_assert(std::is_same_v<decltype(gather(std::declval<Task<int>>(), std::declval<Task<std::string>>())),
                             Task<std::tuple<int, std::string>>>);
static_assert(std::is_same_v<decltype(gather(std::declval<Task<void>>(), std::declval<TaskHandle<int>&>())),
                             Task<std::tuple<std::monostate, int>>>);
static_assert(std::is_same_v<decltype(gather(std::declval<std::vector<Task<int>>>())), Task<std::vector<int>>>);
static_assert(
    std::is_same_v<decltype(gather(std::declval<const std::vector<TaskHandle<int>>&>())), Task<std::vector<int>>>);
static_assert(
    std::is_same_v<decltype(gather(return_exceptions, std::declval<Task<int>>())), Task<std::tuple<Outcome<int>>>>);
static_assert(std::is_same_v<decltype(gather(return_exceptions, std::declval<std::vector<Task<void>>>())),
                             Task<std::vector<Outcome<void>>>>);
static_assert(
    std::is_same_v<decltype(wait(std::declval<std::vector<TaskHandle<int>>>())), Task<WaitResult<TaskHandle<int>>>>);
static_assert(std::is_same_v<decltype(std::declval<AsCompleted<int>&>().next()), Task<TaskHandle<int>>>);
static_assert(!std::is_copy_constructible_v<AsCompleted<int>>);
static_assert(std::is_same_v<decltype(timeout(std::declval<Duration>(), std::declval<Task<int>>())), Task<int>>);
static_assert(std::is_same_v<decltype(timeout_at(std::declval<TimePoint>(), std::declval<Task<void>>())), Task<void>>);
static_assert(std::is_same_v<decltype(wait_for(std::declval<TaskHandle<int>>(), std::declval<Duration>())), Task<int>>);
static_assert(std::is_same_v<decltype(task_group(std::declval<Task<int> (*)(TaskGroup&)>())), Task<int>>);
static_assert(!std::is_copy_constructible_v<TaskGroup>);
static_assert(!std::is_copy_constructible_v<Timeout>);

// ---- Errors: CancelledError is deliberately not a std::exception. ----
static_assert(!std::is_base_of_v<std::exception, CancelledError>);
static_assert(std::is_base_of_v<Error, TimeoutError>);
static_assert(std::is_base_of_v<Error, InvalidStateError>);
static_assert(std::is_base_of_v<Error, RuntimeError>);
static_assert(std::is_base_of_v<Error, ExceptionGroup>);
static_assert(std::is_base_of_v<std::runtime_error, Error>);

// The one runtime test: the awaitables above, awaited for real.
CO_TEST(BoundsTest, AwaitablesBehaveAsTheirTypesSay) {
  Task<int> t = []() -> Task<int> { co_return 1; }();
  int a = co_await std::move(t);
  TaskHandle<int> h = create_task([]() -> Task<int> { co_return 2; }());
  TaskHandle<int> copy = h;  // copyable
  int b = co_await h;
  int c = co_await copy;
  Future<int> f;
  Future<int> g = f;  // copyable, same state
  f.set_result(3);
  int d = co_await g;
  auto [e, unit] = co_await gather([]() -> Task<int> { co_return 4; }(), []() -> Task<void> { co_return; }());
  static_assert(std::is_same_v<decltype(unit), std::monostate>);
  EXPECT_EQ(a + b + c + d + e, 1 + 2 + 2 + 3 + 4);
}

}  // namespace
}  // namespace corio
