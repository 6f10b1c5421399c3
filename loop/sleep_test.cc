// Tests for sleep, sleep_until and yield_now: ordering, and exact times on
// the virtual clock of CO_TEST.
#include "corio/loop/sleep.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/run.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using Log = std::vector<std::string>;

Task<void> sleep_and_log(Log& log, Duration d, std::string name) {
  co_await sleep(d);
  log.push_back(name);
}

CO_TEST(SleepTest, AdvancesTheVirtualClockExactly) {
  TimePoint t0 = current_loop().time();
  co_await sleep(10ms);
  EXPECT_EQ(current_loop().time() - t0, 10ms);
  co_await sleep(2h);
  EXPECT_EQ(current_loop().time() - t0, 2h + 10ms);
  co_await sleep(1ns);
  EXPECT_EQ(current_loop().time() - t0, 2h + 10ms + 1ns);
}

CO_TEST(SleepTest, AcceptsAnyDurationType) {
  TimePoint t0 = current_loop().time();
  co_await sleep(std::chrono::duration<double>(0.25));
  EXPECT_EQ(current_loop().time() - t0, 250ms);
  co_await sleep(3us);
  EXPECT_EQ(current_loop().time() - t0, 250ms + 3us);
}

CO_TEST(SleepTest, ShorterSleepsWakeFirst) {
  Log log;
  TaskHandle<void> a = create_task(sleep_and_log(log, 30ms, "30"));
  TaskHandle<void> b = create_task(sleep_and_log(log, 10ms, "10"));
  TaskHandle<void> c = create_task(sleep_and_log(log, 20ms, "20"));
  TimePoint t0 = current_loop().time();
  co_await a;
  co_await b;
  co_await c;
  EXPECT_EQ(log, (Log{"10", "20", "30"}));
  EXPECT_EQ(current_loop().time() - t0, 30ms);
}

CO_TEST(SleepTest, EqualDeadlinesWakeInTheOrderTheyWereScheduled) {
  Log log;
  std::vector<TaskHandle<void>> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(create_task(sleep_and_log(log, 5ms, std::to_string(i))));
  for (auto& t : tasks) co_await t;
  EXPECT_EQ(log, (Log{"0", "1", "2", "3", "4"}));
}

CO_TEST(SleepTest, SleepZeroLetsOthersRunOnce) {
  Log log;
  TaskHandle<void> other = create_task([](Log& l) -> Task<void> {
    l.push_back("other 1");
    co_await yield_now();
    l.push_back("other 2");
  }(log));
  log.push_back("main 1");
  co_await sleep(0ms);  // other runs its first step
  log.push_back("main 2");
  co_await sleep(0ms);  // and its second
  log.push_back("main 3");
  co_await other;
  EXPECT_EQ(log, (Log{"main 1", "other 1", "main 2", "other 2", "main 3"}));
}

CO_TEST(SleepTest, SleepZeroDoesNotAdvanceTheClock) {
  TimePoint t0 = current_loop().time();
  co_await sleep(0ms);
  co_await sleep(-5ms);  // negative: also just a yield
  EXPECT_EQ(current_loop().time(), t0);
}

CO_TEST(SleepTest, YieldNowRoundRobins) {
  Log log;
  auto worker = [](Log& l, std::string name) -> Task<void> {
    for (int i = 0; i < 3; ++i) {
      l.push_back(name + std::to_string(i));
      co_await yield_now();
    }
  };
  TaskHandle<void> a = create_task(worker(log, "a"));
  TaskHandle<void> b = create_task(worker(log, "b"));
  co_await a;
  co_await b;
  EXPECT_EQ(log, (Log{"a0", "b0", "a1", "b1", "a2", "b2"}));
}

CO_TEST(SleepTest, ZeroDelayTimerRunsAfterWhatWasAlreadyQueued) {
  // A zero-delay call_later fires on the next iteration and queues its
  // callback behind the callbacks and task steps already ready.
  Log log;
  current_loop().call_later(0ms, [&log] { log.push_back("timer"); });
  current_loop().call_soon([&log] { log.push_back("soon"); });
  co_await yield_now();
  log.push_back("main");
  co_await yield_now();
  EXPECT_EQ(log, (Log{"soon", "main", "timer"}));
}

CO_TEST(SleepTest, SleepUntilAnAbsoluteDeadline) {
  TimePoint t0 = current_loop().time();
  co_await sleep_until(t0 + 42ms);
  EXPECT_EQ(current_loop().time(), t0 + 42ms);
}

CO_TEST(SleepTest, SleepUntilThePastOnlyYields) {
  TimePoint t0 = current_loop().time();
  Log log;
  TaskHandle<void> other = create_task([](Log& l) -> Task<void> {
    l.push_back("other");
    co_return;
  }(log));
  co_await sleep_until(t0 - 1s);
  log.push_back("main");
  EXPECT_EQ(current_loop().time(), t0);
  EXPECT_EQ(log, (Log{"other", "main"}));
  co_await other;
}

CO_TEST(SleepTest, ManySleepersInterleaveByDeadline) {
  Log log;
  std::vector<TaskHandle<void>> tasks;
  // 0..9 with deadlines 10-i ms: they wake in reverse order of creation.
  for (int i = 0; i < 10; ++i) {
    tasks.push_back(create_task(sleep_and_log(log, std::chrono::milliseconds(10 - i), std::to_string(i))));
  }
  for (auto& t : tasks) co_await t;
  EXPECT_EQ(log, (Log{"9", "8", "7", "6", "5", "4", "3", "2", "1", "0"}));
}

CO_TEST(SleepTest, TimeStandsStillWhileTasksRun) {
  TimePoint t0 = current_loop().time();
  for (int i = 0; i < 100; ++i) co_await yield_now();
  EXPECT_EQ(current_loop().time(), t0);
}

TEST(SleepTest, OutsideATaskThrowsRuntimeError) {
  EventLoop loop;
  bool threw = false;
  // A plain callback has no current task to suspend.
  loop.call_soon([&] {
    try {
      auto s = sleep(1ms);
      s.await_suspend(std::noop_coroutine());
    } catch (const RuntimeError&) {
      threw = true;
    }
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(threw);
}

TEST(SleepTest, RealClockSleepTakesAtLeastTheDelay) {
  LoopOptions options;  // real clock
  TimePoint before = Clock::now();
  corio::run([]() -> Task<void> { co_await sleep(5ms); }(), options);
  EXPECT_GE(Clock::now() - before, 5ms);
}

// The delay counts from the await, as asyncio.sleep's does: it used to count
// from the call to sleep(), so a sleep made early and awaited later ended
// too soon (or at once; before any loop ran, it counted from the epoch).
CO_TEST(Sleep, TheDelayCountsFromTheAwaitNotTheCall) {
  auto s = sleep(50ms);
  co_await sleep(100ms);
  const TimePoint start = current_loop().time();
  co_await s;
  EXPECT_EQ(current_loop().time() - start, 50ms);
}

}  // namespace
}  // namespace corio
