// Cancellation sweeps, for tests: run a task once to count its loop
// iterations, then again with cancel() just before each iteration in turn,
// and check that every run ends cleanly. Teardown sweeps do the same with
// the loop destroyed instead.
//
//   for (int k = 0; k <= n; ++k) {
//     SweepRun r = run_cancelling_at(k, [&](EventLoop& l) { return create_task(l, scenario()); });
//     ...
//   }
#ifndef CORIO_LOOP_TESTING_CANCEL_SWEEP_H_
#define CORIO_LOOP_TESTING_CANCEL_SWEEP_H_

#include "corio/loop/loop.h"
#include "gtest/gtest.h"

namespace corio::testing {

// Counts live instances. Put one in each coroutine frame of a scenario: a
// frame that is never destroyed leaves one behind.
struct LiveCounter {
  static inline int live = 0;
  LiveCounter() noexcept { ++live; }
  LiveCounter(const LiveCounter&) noexcept { ++live; }
  LiveCounter& operator=(const LiveCounter&) = default;
  ~LiveCounter() { --live; }
};

struct SweepRun {
  bool cancelled = false;     // the task ended in CancelledError
  int value = 0;              // otherwise, its value
  int iterations = 0;         // loop iterations until the task was done
  Duration cancel_to_end{0};  // loop time from the cancel to the task's end
};

// Bound on a run's iterations (and on the drain after it).
inline constexpr int kSweepMaxIterations = 10000;

// Starts a task with `start(loop)` (returning TaskHandle<int>) on a fresh
// loop with the virtual clock and runs it, cancelling it just before
// iteration `cancel_at` (never if negative). Then runs the loop until the
// tasks left behind (shielded, waited on) are done too, and checks that
// the task ended, no task is left, every ready-queue slot was given back,
// nothing was reported to the exception handler, and, once the loop is
// gone, no LiveCounter is left.
template <class Start>
SweepRun run_cancelling_at(int cancel_at, Start start) {
  SweepRun out;
  {
    LoopOptions options;
    options.virtual_clock = true;
    EventLoop loop(options);
    int reports = 0;
    loop.set_exception_handler([&reports](EventLoop&, const ErrorContext&) { ++reports; });
    TaskHandle<int> main = start(loop);
    TimePoint cancelled_at{};
    while (!main.done() && out.iterations < kSweepMaxIterations) {
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
    for (int spins = 0; loop.pending_task_count() > 0 && spins < kSweepMaxIterations; ++spins) loop.run_once();
    EXPECT_EQ(loop.pending_task_count(), 0u);
    loop.run_once(false);
    EXPECT_EQ(loop.ready_slots_promised(), 0u);
    EXPECT_EQ(reports, 0);
  }
  EXPECT_EQ(LiveCounter::live, 0);
  return out;
}

// Runs `step(k)` for k = 0..n, each under a trace saying "<what> before
// iteration k of n", and stops at the first step with a failure (one
// report, not one per step).
template <class Step>
void for_each_step(int n, const char* what, Step step) {
  for (int k = 0; k <= n; ++k) {
    SCOPED_TRACE(::testing::Message() << what << " before iteration " << k << " of " << n);
    step(k);
    if (::testing::Test::HasFailure()) break;
  }
}

// Starts a task as run_cancelling_at does, runs the loop for `destroy_at`
// iterations (fewer if the task is done first), then destroys the loop
// with whatever is still pending, as a program that returns from main()
// might. Checks that nothing was reported and, once the loop is gone, that
// no LiveCounter is left (every frame was destroyed and nothing leaked).
// Returns the iterations run.
template <class Start>
int run_destroying_at(int destroy_at, Start start) {
  int iterations = 0;
  int reports = 0;
  {
    LoopOptions options;
    options.virtual_clock = true;
    EventLoop loop(options);
    loop.set_exception_handler([&reports](EventLoop&, const ErrorContext&) { ++reports; });
    TaskHandle<int> main = start(loop);
    while (!main.done() && iterations < destroy_at) {
      loop.run_once();
      ++iterations;
    }
  }
  EXPECT_EQ(reports, 0);
  EXPECT_EQ(LiveCounter::live, 0);
  return iterations;
}

}  // namespace corio::testing

#endif  // CORIO_LOOP_TESTING_CANCEL_SWEEP_H_
