// Cancellation at every suspension point of a task that uses every
// combinator: the task is run once to count its loop iterations, then once
// more per iteration, cancelled just before that iteration. Each run must
// end cleanly: the task raises CancelledError (or returns its value when
// the cancel comes after its end), no task is left behind once the loop has
// drained, no object a coroutine frame held is leaked, nothing is reported
// to the exception handler, and every ready-queue slot is given back.
//
// The virtual clock makes each run deterministic and instant.
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

// Counts live instances: a frame that is never destroyed leaves one behind.
struct Tracked {
  static inline int live = 0;
  Tracked() noexcept { ++live; }
  Tracked(const Tracked&) noexcept { ++live; }
  Tracked& operator=(const Tracked&) = default;
  ~Tracked() { --live; }
};

Task<int> leaf(Duration d, int v) {
  Tracked t;
  co_await sleep(d);
  co_return v;
}

Task<int> from_future(Duration d, int v) {
  Tracked t;
  Future<int> f;
  current_loop().call_later(d, [f, v]() mutable {
    if (!f.done()) f.set_result(v);
  });
  co_return co_await f;
}

Task<int> group_of_two() {
  co_return co_await task_group([](TaskGroup& tg) -> Task<int> {
    Tracked t;
    TaskHandle<int> x = tg.create_task(leaf(1ms, 3));
    TaskHandle<int> y = tg.create_task(leaf(3ms, 4));
    co_return co_await x + co_await y;
  });
}

// Every combinator in turn; 66 when nothing is cancelled.
Task<int> scenario() {
  Tracked t;
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

// Generous: the scenario takes a few dozen iterations.
constexpr int kMaxIterations = 10000;

struct RunResult {
  bool cancelled = false;
  int value = 0;
  int iterations = 0;         // until the task was done
  Duration cancel_to_end{0};  // loop time from the cancel to the task's end
};

// Runs scenario() on a fresh loop, cancelling it just before iteration
// `cancel_at` (never if negative), then drains the loop and checks that
// nothing was left behind.
RunResult run_cancelling_at(int cancel_at) {
  RunResult out;
  {
    LoopOptions options;
    options.virtual_clock = true;
    EventLoop loop(options);
    int reports = 0;
    loop.set_exception_handler([&reports](EventLoop&, const ErrorContext&) { ++reports; });
    TaskHandle<int> main = create_task(loop, scenario());
    TimePoint cancelled_at{};
    while (!main.done() && out.iterations < kMaxIterations) {
      if (out.iterations == cancel_at) {
        main.cancel();
        cancelled_at = loop.time();
      }
      loop.run_once();
      ++out.iterations;
    }
    EXPECT_TRUE(main.done());
    if (cancel_at >= 0) out.cancel_to_end = loop.time() - cancelled_at;
    if (main.cancelled()) {
      out.cancelled = true;
    } else {
      out.value = main.result();
    }
    // Shielded and waited-on tasks may outlive the cancelled task; they
    // finish on their own.
    for (int spins = 0; loop.pending_task_count() > 0 && spins < kMaxIterations; ++spins) loop.run_once();
    EXPECT_EQ(loop.pending_task_count(), 0u);
    loop.run_once(false);
    EXPECT_EQ(loop.ready_slots_promised(), 0u);
    EXPECT_EQ(reports, 0);
  }
  EXPECT_EQ(Tracked::live, 0);
  return out;
}

TEST(CancelSweep, UncancelledScenarioReturnsItsValue) {
  RunResult r = run_cancelling_at(-1);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.value, kScenarioValue);
  EXPECT_GT(r.iterations, 10);  // it does suspend, many times
}

TEST(CancelSweep, CancelAtEveryIterationEndsCleanly) {
  const int n = run_cancelling_at(-1).iterations;
  for (int k = 0; k <= n; ++k) {
    SCOPED_TRACE(testing::Message() << "cancelled before iteration " << k << " of " << n);
    RunResult r = run_cancelling_at(k);
    if (k < n) {
      EXPECT_TRUE(r.cancelled);
      // At once: every combinator cancels what it waits for, and nothing
      // here takes time to unwind (shield and to_thread stop waiting).
      EXPECT_EQ(r.cancel_to_end, Duration(0));
    } else {  // after its end: a no-op
      EXPECT_FALSE(r.cancelled);
      EXPECT_EQ(r.value, kScenarioValue);
    }
    if (testing::Test::HasFailure()) break;  // one report, not one per step
  }
}

}  // namespace
}  // namespace corio
