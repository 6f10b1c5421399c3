// Tests for corio::run, run_until_complete and shutdown_tasks.
#include "corio/loop/run.h"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using Log = std::vector<std::string>;

LoopOptions virtual_clock() {
  LoopOptions o;
  o.virtual_clock = true;
  return o;
}

Task<int> value_after(Duration d, int v) {
  co_await sleep(d);
  co_return v;
}

TEST(RunTest, ReturnsTheValue) { EXPECT_EQ(corio::run(value_after(1ms, 5), virtual_clock()), 5); }

TEST(RunTest, VoidMain) {
  int runs = 0;
  corio::run(
      [](int& r) -> Task<void> {
        co_await sleep(1ms);
        ++r;
      }(runs),
      virtual_clock());
  EXPECT_EQ(runs, 1);
}

TEST(RunTest, MoveOnlyValue) {
  std::unique_ptr<int> p = corio::run([]() -> Task<std::unique_ptr<int>> {
    co_await yield_now();
    co_return std::make_unique<int>(3);
  }());
  EXPECT_TRUE(p && *p == 3);
}

TEST(RunTest, RethrowsTheError) {
  try {
    corio::run(
        []() -> Task<int> {
          co_await sleep(1ms);
          throw std::runtime_error("main failed");
        }(),
        virtual_clock());
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "main failed");
  }
}

TEST(RunTest, RethrowsCancelledErrorOfACancelledMain) {
  EXPECT_THROW(corio::run([]() -> Task<void> {
                 current_task().cancel();
                 co_await yield_now();
               }()),
               CancelledError);
}

TEST(RunTest, NoLoopIsLeftRunningAfterwards) {
  corio::run(value_after(1ms, 0), virtual_clock());
  EXPECT_EQ(EventLoop::current(), nullptr);
  EXPECT_EQ(corio::run(value_after(1ms, 2), virtual_clock()), 2);  // again
}

Task<void> leftover(Log& log, std::string name) {
  try {
    co_await sleep(1h);
    log.push_back(name + " finished");
  } catch (const CancelledError&) {
    log.push_back(name + " cancelled");
    throw;
  }
}

TEST(RunTest, LeftoverTasksAreCancelledAndDrainedBeforeRunReturns) {
  Log log;
  int v = corio::run(
      [](Log& l) -> Task<int> {
        create_task(leftover(l, "a"));
        create_task(leftover(l, "b"));
        co_await sleep(1ms);
        l.push_back("main returns");
        co_return 7;
      }(log),
      virtual_clock());
  EXPECT_EQ(v, 7);
  EXPECT_EQ(log, (Log{"main returns", "a cancelled", "b cancelled"}));
}

TEST(RunTest, LeftoverCleanupThatTakesTimeRunsToItsEnd) {
  Log log;
  corio::run(
      [](Log& l) -> Task<void> {
        create_task([](Log& lg) -> Task<void> {
          bool cancelled = false;
          try {
            co_await sleep(1h);
          } catch (const CancelledError&) {
            cancelled = true;
          }
          if (cancelled) {
            co_await sleep(10ms);
            lg.push_back("slow cleanup done");
          }
        }(l));
        co_await yield_now();
      }(log),
      virtual_clock());
  EXPECT_EQ(log, (Log{"slow cleanup done"}));
}

TEST(RunTest, LeftoverTasksAreDrainedWhenMainFails) {
  Log log;
  EXPECT_THROW(corio::run(
                   [](Log& l) -> Task<void> {
                     create_task(leftover(l, "a"));
                     co_await sleep(1ms);
                     throw std::logic_error("main failed");
                   }(log),
                   virtual_clock()),
               std::logic_error);
  EXPECT_EQ(log, (Log{"a cancelled"}));
}

TEST(RunTest, TasksCreatedDuringShutdownAreCancelledToo) {
  Log log;
  corio::run(
      [](Log& l) -> Task<void> {
        create_task([](Log& lg) -> Task<void> {
          try {
            co_await sleep(1h);
          } catch (const CancelledError&) {
            lg.push_back("first cancelled");
            create_task(leftover(lg, "spawned during shutdown"));
            throw;
          }
        }(l));
        co_await yield_now();
      }(log),
      virtual_clock());
  EXPECT_EQ(log, (Log{"first cancelled", "spawned during shutdown cancelled"}));
}

TEST(RunTest, ALeftoverCreatedInMainsLastStepStillStartsBeforeTheShutdown) {
  // Its first step was queued before main's completion stopped the loop.
  Log log;
  corio::run([](Log& l) -> Task<void> {
    create_task(leftover(l, "late"));
    co_return;
  }(log));
  EXPECT_EQ(log, (Log{"late cancelled"}));
}

TEST(RunTest, ALeftoverFailingDuringCancellationIsReportedNotLost) {
  auto seen = std::make_shared<std::vector<ErrorContext>>();
  corio::run([](std::shared_ptr<std::vector<ErrorContext>> s) -> Task<void> {
    current_loop().set_exception_handler([s](EventLoop&, const ErrorContext& c) { s->push_back(c); });
    create_task(
        []() -> Task<void> {
          try {
            co_await sleep(1h);
          } catch (const CancelledError&) {
            throw std::runtime_error("cleanup failed");
          }
        }(),
        "bad-cleanup");
    co_await yield_now();
  }(seen));
  EXPECT_EQ(seen->size(), 1u);
  if (!seen->empty()) {
    EXPECT_EQ((*seen)[0].message, "Task exception was never retrieved");
    EXPECT_EQ((*seen)[0].task_name, "bad-cleanup");
  }
}

CO_TEST(RunTest, InsideARunningLoopThrowsRuntimeError) {
  EXPECT_THROW(corio::run(value_after(1ms, 1)), RuntimeError);
  co_await yield_now();  // the outer loop is unaffected
}

TEST(RunUntilCompleteTest, ReturnsTheValueAndTheLoopCanBeReused) {
  EventLoop loop(virtual_clock());
  EXPECT_EQ(run_until_complete(loop, value_after(5ms, 1)), 1);
  EXPECT_EQ(run_until_complete(loop, value_after(5ms, 2)), 2);
  EXPECT_FALSE(loop.is_running());
}

TEST(RunUntilCompleteTest, OfAHandleCreatedBeforeTheLoopRuns) {
  EventLoop loop(virtual_clock());
  TaskHandle<int> h = create_task(loop, value_after(5ms, 3));
  EXPECT_EQ(run_until_complete(loop, h), 3);
  EXPECT_TRUE(h.done());
}

TEST(RunUntilCompleteTest, OfADoneHandleReturnsAtOnce) {
  EventLoop loop(virtual_clock());
  TaskHandle<int> h = create_task(loop, value_after(5ms, 4));
  run_until_complete(loop, value_after(10ms, 0));
  EXPECT_TRUE(h.done());
  EXPECT_EQ(run_until_complete(loop, h), 4);
}

TEST(RunUntilCompleteTest, StoppedBeforeTheTaskFinishedThrowsRuntimeError) {
  // Also a leak check under --config=asan: the done callback registered by
  // run_until_complete must be freed even though it never runs.
  EventLoop loop(virtual_clock());
  TaskHandle<void> h = create_task(loop, []() -> Task<void> {
    current_loop().stop();
    co_await sleep(1h);
  }());
  EXPECT_THROW(run_until_complete(loop, h), RuntimeError);
  EXPECT_FALSE(h.done());
  h.cancel();
  EXPECT_THROW(run_until_complete(loop, h), CancelledError);
}

TEST(RunUntilCompleteTest, StoppedAndThenAbandoned) {
  // The task never finishes: the loop's destructor unwinds it.
  auto loop = std::make_unique<EventLoop>(virtual_clock());
  TaskHandle<void> h = create_task(*loop, []() -> Task<void> {
    current_loop().stop();
    co_await sleep(1h);
  }());
  EXPECT_THROW(run_until_complete(*loop, h), RuntimeError);
  h = TaskHandle<void>();
  loop.reset();
}

TEST(ShutdownTasksTest, CancelsAndDrainsEveryPendingTask) {
  EventLoop loop(virtual_clock());
  Log log;
  create_task(loop, leftover(log, "a"));
  create_task(loop, leftover(log, "b"));
  run_until_complete(loop, value_after(1ms, 0));
  EXPECT_EQ(loop.pending_task_count(), 2u);
  shutdown_tasks(loop);
  EXPECT_EQ(loop.pending_task_count(), 0u);
  EXPECT_EQ(log, (Log{"a cancelled", "b cancelled"}));
  shutdown_tasks(loop);  // nothing left: returns at once
}

}  // namespace
}  // namespace corio
