// Tests for shield: the awaiting task can be cancelled, the shielded one
// keeps running.
#include "corio/loop/shield.h"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/future.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/timeout.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using Log = std::vector<std::string>;

Task<int> after(Duration d, int v) {
  co_await sleep(d);
  co_return v;
}

Task<int> shielded(TaskHandle<int> inner) { co_return co_await shield(inner); }

TimePoint now() { return current_loop().time(); }

CO_TEST(ShieldTest, PassesTheValueThrough) {
  EXPECT_EQ(co_await shield(after(5ms, 3)), 3);
  TaskHandle<int> h = create_task(after(5ms, 4));
  EXPECT_EQ(co_await shield(h), 4);
}

CO_TEST(ShieldTest, OfAnAlreadyDoneTask) {
  TaskHandle<int> h = create_task(after(0ms, 4));
  co_await sleep(1ms);
  EXPECT_EQ(co_await shield(h), 4);
}

CO_TEST(ShieldTest, VoidAndMoveOnly) {
  int runs = 0;
  co_await shield([](int& r) -> Task<void> {
    co_await sleep(1ms);
    ++r;
  }(runs));
  EXPECT_EQ(runs, 1);
  std::unique_ptr<int> p = co_await shield([]() -> Task<std::unique_ptr<int>> {
    co_await sleep(1ms);
    co_return std::make_unique<int>(5);
  }());
  EXPECT_TRUE(p && *p == 5);
}

CO_TEST(ShieldTest, OuterCancelledAtOnceInnerKeepsRunning) {
  TaskHandle<int> inner = create_task(after(20ms, 5));
  TaskHandle<int> outer = create_task(shielded(inner));
  co_await sleep(5ms);
  TimePoint t0 = now();
  EXPECT_TRUE(outer.cancel());
  EXPECT_THROW(co_await outer, CancelledError);
  EXPECT_EQ(now(), t0);  // at once, not when the inner task ends
  EXPECT_FALSE(inner.done());
  EXPECT_FALSE(inner.cancelled());
  EXPECT_EQ(co_await inner, 5);  // its result is still available
  EXPECT_EQ(now() - t0, 15ms);
}

CO_TEST(ShieldTest, TimeoutAroundAShieldLeavesTheInnerTaskRunning) {
  TaskHandle<int> inner = create_task(after(20ms, 6));
  EXPECT_THROW(co_await timeout(5ms, shielded(inner)), TimeoutError);
  EXPECT_FALSE(inner.done());
  EXPECT_EQ(co_await inner, 6);
}

CO_TEST(ShieldTest, InnerFailureReachesTheOuter) {
  TaskHandle<int> inner = create_task([]() -> Task<int> {
    co_await sleep(1ms);
    throw std::runtime_error("inner failed");
  }());
  try {
    co_await shield(inner);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "inner failed");
  }
}

CO_TEST(ShieldTest, InnerCancelledDirectlyGivesCancelledError) {
  TaskHandle<int> inner = create_task(after(1h, 0));
  TaskHandle<int> outer = create_task(shielded(inner));
  co_await sleep(1ms);
  inner.cancel();
  EXPECT_THROW(co_await outer, CancelledError);
  EXPECT_TRUE(inner.cancelled());
  EXPECT_TRUE(outer.cancelled());
}

CO_TEST(ShieldTest, ManyShieldsOfOneTask) {
  TaskHandle<int> inner = create_task(after(10ms, 7));
  TaskHandle<int> a = create_task(shielded(inner));
  TaskHandle<int> b = create_task(shielded(inner));
  co_await sleep(1ms);
  a.cancel();
  EXPECT_THROW(co_await a, CancelledError);
  EXPECT_EQ(co_await b, 7);
}

CO_TEST(ShieldTest, UnobservedFailureOfAnAbandonedInnerIsReported) {
  std::vector<ErrorContext> seen;
  current_loop().set_exception_handler([&seen](EventLoop&, const ErrorContext& c) { seen.push_back(c); });
  {
    TaskHandle<int> outer = create_task(shielded(create_task(
        []() -> Task<int> {
          co_await sleep(10ms);
          throw std::runtime_error("nobody listens");
        }(),
        "abandoned")));
    co_await sleep(1ms);
    outer.cancel();
    EXPECT_THROW(co_await outer, CancelledError);
  }
  co_await sleep(20ms);
  current_loop().set_exception_handler(nullptr);
  EXPECT_EQ(seen.size(), 1u);
  if (!seen.empty()) {
    EXPECT_EQ(seen[0].task_name, "abandoned");
  }
}

TEST(ShieldTest, LoopTornDownWhileAwaitingAShieldLeavesNothingBehind) {
  // The awaiting task's frame is destroyed while suspended on the shield:
  // its awaiter must unlink from the inner task while its own members (the
  // inner task's handle) are alive. Clean under asan.
  auto guard_destroyed = std::make_shared<bool>(false);
  {
    EventLoop loop;
    struct Guard {
      std::shared_ptr<bool> flag;
      ~Guard() { *flag = true; }
    };
    TaskHandle<int> outer = create_task(loop, [](std::shared_ptr<bool> flag) -> Task<int> {
      Guard guard{std::move(flag)};
      TaskHandle<int> inner = create_task([]() -> Task<int> {
        co_await sleep(1h);
        co_return 1;
      }());
      co_return co_await shield(inner);
    }(guard_destroyed));
    loop.run_once(false);
    loop.run_once(false);
    EXPECT_FALSE(outer.done());
    outer = TaskHandle<int>();
  }
  EXPECT_TRUE(*guard_destroyed);
}

// An empty handle is a RuntimeError, not a crash (await_ready used to call
// the handle's done() inside a noexcept function, ending the process).
CO_TEST(ShieldTest, ShieldOfAnEmptyHandleThrowsRuntimeError) {
  EXPECT_THROW((void)shield(TaskHandle<int>()), RuntimeError);
  co_return;
}

// A shield can be handed to wait_for (it used to be immovable): on expiry
// the wait ends and the shielded task runs on.
CO_TEST(ShieldTest, WaitForOverAShieldTimesOutAndTheInnerRunsOn) {
  auto inner = create_task(after(20ms, 4));
  EXPECT_THROW(co_await wait_for(shield(inner), 10ms), TimeoutError);
  EXPECT_FALSE(inner.cancelled());
  EXPECT_EQ(co_await inner, 4);
}

// ---- shield(future) ----
// Cancelling a task that awaits a Future cancels the future (asyncio);
// shield(fut) is how a shared future is awaited without that.

CO_TEST(ShieldFuture, PassesTheValueThrough) {
  Future<int> f;
  current_loop().call_later(5ms, [f]() mutable { f.set_result(3); });
  EXPECT_EQ(co_await shield(f), 3);
  Future<std::unique_ptr<int>> boxed;
  boxed.set_result(std::make_unique<int>(4));
  std::unique_ptr<int> p = co_await shield(boxed);  // a move-only result is moved out
  EXPECT_EQ(*p, 4);
}

CO_TEST(ShieldFuture, TheAwaiterIsCancelledAtOnceAndTheFutureStaysPending) {
  Future<int> f;
  Log log;
  auto t = create_task([](Future<int> fut, Log& l) -> Task<void> {
    try {
      l.push_back("got " + std::to_string(co_await shield(fut)));
    } catch (const CancelledError&) {
      l.push_back("cancelled");
      throw;
    }
  }(f, log));
  auto other = create_task([](Future<int> fut) -> Task<int> { co_return co_await fut; }(f));
  co_await yield_now();
  t.cancel();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_FALSE(f.done());
  f.set_result(5);
  EXPECT_EQ(co_await other, 5);
  EXPECT_EQ(log, (Log{"cancelled"}));
}

CO_TEST(ShieldFuture, ACancelPendingWhenAwaitingLeavesTheFuturePending) {
  Future<int> f;
  auto t = create_task([](Future<int> fut) -> Task<int> {
    current_task().cancel();
    co_return co_await shield(fut);
  }(f));
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_FALSE(f.done());
}

CO_TEST(ShieldFuture, WaitForOverAShieldedFutureTimesOutAndLeavesItPending) {
  Future<int> f;
  const TimePoint t0 = now();
  EXPECT_THROW(co_await wait_for(shield(f), 10ms), TimeoutError);
  EXPECT_EQ(now() - t0, 10ms);
  EXPECT_FALSE(f.done());
  f.set_result(2);
  EXPECT_EQ(co_await f, 2);
}

CO_TEST(ShieldFuture, OfAFutureCancelledDirectlyGivesCancelledError) {
  Future<int> f;
  auto t = create_task([](Future<int> fut) -> Task<int> { co_return co_await shield(fut); }(f));
  co_await yield_now();
  f.cancel("gone");
  try {
    co_await t;
    ADD_FAILURE() << "no exception";
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "gone");
  }
}

}  // namespace
}  // namespace corio
