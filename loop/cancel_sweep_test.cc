// Cancellation at every suspension point of a task that uses every
// combinator: the task is run once to count its loop iterations, then once
// more per iteration, cancelled just before that iteration. Each run must
// end cleanly: the task raises CancelledError (or returns its value when
// the cancel comes after its end), no task is left behind once the loop has
// drained, no object a coroutine frame held is leaked, nothing is reported
// to the exception handler, and every ready-queue slot is given back.
//
// The virtual clock makes each run deterministic and instant.
#include "corio/loop/testing/cancel_sweep.h"

#include <chrono>
#include <cstddef>
#include <tuple>
#include <utility>
#include <vector>

#include "corio/loop/loop.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

using testing::LiveCounter;

Task<int> leaf(Duration d, int v) {
  LiveCounter t;
  co_await sleep(d);
  co_return v;
}

Task<int> from_future(Duration d, int v) {
  LiveCounter t;
  Future<int> f;
  current_loop().call_later(d, [f, v]() mutable {
    if (!f.done()) f.set_result(v);
  });
  co_return co_await f;
}

Task<int> group_of_two() {
  co_return co_await task_group([](TaskGroup& tg) -> Task<int> {
    LiveCounter t;
    TaskHandle<int> x = tg.create_task(leaf(1ms, 3));
    TaskHandle<int> y = tg.create_task(leaf(3ms, 4));
    co_return co_await x + co_await y;
  });
}

// Every combinator in turn; 66 when nothing is cancelled.
Task<int> scenario() {
  LiveCounter t;
  int total = 0;
  auto [a, b] = co_await gather(leaf(1ms, 1), from_future(2ms, 2));
  total += a + b;
  total += co_await group_of_two();
  try {
    total += co_await wait_for(leaf(1h, 100), 2ms);
  } catch (const TimeoutError&) {
    total += 5;
  }
  total += co_await timeout(5ms, leaf(1ms, 6));
  total += co_await shield(leaf(2ms, 7));
  std::vector<TaskHandle<int>> waited{create_task(leaf(1ms, 8))};
  WaitResult<TaskHandle<int>> r = co_await wait(std::move(waited));
  for (TaskHandle<int>& h : r.done) total += h.result();
  total += co_await to_thread([] { return 9; });
  std::vector<TaskHandle<int>> racing{create_task(leaf(2ms, 10)), create_task(leaf(1ms, 11))};
  AsCompleted<int> ac(std::move(racing));
  while (!ac.empty()) {
    TaskHandle<int> h = co_await ac.next();
    total += co_await h;
  }
  co_await yield_now();
  co_return total;
}
constexpr int kScenarioValue = 66;

// A run on a fresh loop, cancelled just before iteration `cancel_at`
// (never if negative), checked for what it left behind (cancel_sweep.h).
// Shielded and waited-on tasks may outlive the cancelled one; they finish
// on their own before the checks.
testing::SweepRun run_cancelling_at(int cancel_at) {
  return testing::run_cancelling_at(cancel_at, [](EventLoop& loop) { return create_task(loop, scenario()); });
}

TEST(CancelSweep, UncancelledScenarioReturnsItsValue) {
  testing::SweepRun r = run_cancelling_at(-1);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.value, kScenarioValue);
  EXPECT_GT(r.iterations, 10);  // it does suspend, many times
}

TEST(CancelSweep, CancelAtEveryIterationEndsCleanly) {
  const int n = run_cancelling_at(-1).iterations;
  testing::for_each_step(n, "cancelled", [n](int k) {
    testing::SweepRun r = run_cancelling_at(k);
    if (k < n) {
      EXPECT_TRUE(r.cancelled);
      // At once: every combinator cancels what it waits for, and nothing
      // here takes time to unwind (shield and to_thread stop waiting).
      EXPECT_EQ(r.cancel_to_end, Duration(0));
    } else {  // after its end: a no-op
      EXPECT_FALSE(r.cancelled);
      EXPECT_EQ(r.value, kScenarioValue);
    }
  });
}

// The loop destroyed before each iteration in turn, with the scenario's
// tasks, timers and executor job still pending: every frame goes, nothing
// leaks, nothing is reported, nothing crashes.
TEST(TeardownSweep, DestroyingTheLoopAtEveryIterationLeavesNothing) {
  testing::for_each_step(run_cancelling_at(-1).iterations, "loop destroyed", [](int k) {
    testing::run_destroying_at(k, [](EventLoop& loop) { return create_task(loop, scenario()); });
  });
}

}  // namespace
}  // namespace corio
