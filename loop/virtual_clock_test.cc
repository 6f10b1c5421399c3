// Tests for the virtual clock (LoopOptions::virtual_clock, Trio's MockClock
// with autojump): time stands still while anything can run and jumps to the
// next timer when nothing can; pending executor jobs and fd waiters hold the
// jump back.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/executor.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

// Generous bound for "took no real time to speak of".
constexpr auto kRealBound = std::chrono::minutes(1);

void busy_wait(std::chrono::nanoseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

CO_TEST(VirtualClock, CoTestRunsOnTheVirtualClock) {
  EXPECT_TRUE(current_loop().virtual_clock());
  co_return;
}

CO_TEST_REAL_CLOCK(VirtualClock, CoTestRealClockDoesNot) {
  EXPECT_FALSE(current_loop().virtual_clock());
  co_return;
}

CO_TEST(VirtualClock, SleepOfAnHourCompletesAtOnceAndAdvancesExactlyAnHour) {
  EventLoop& loop = current_loop();
  const auto real_start = std::chrono::steady_clock::now();
  const TimePoint start = loop.time();
  co_await sleep(1h);
  EXPECT_EQ(loop.time() - start, 1h);
  EXPECT_LT(std::chrono::steady_clock::now() - real_start, kRealBound);
}

CO_TEST(VirtualClock, TimeStandsStillWhileTheTaskRuns) {
  EventLoop& loop = current_loop();
  const TimePoint start = loop.time();
  busy_wait(2ms);
  EXPECT_EQ(loop.time(), start);
  for (int i = 0; i < 100; ++i) co_await yield_now();
  EXPECT_EQ(loop.time(), start);
}

CO_TEST(VirtualClock, ConsecutiveSleepsAddUpExactly) {
  EventLoop& loop = current_loop();
  const TimePoint start = loop.time();
  co_await sleep(250ms);
  co_await sleep(1500us);
  co_await sleep(3s);
  EXPECT_EQ(loop.time() - start, 250ms + 1500us + 3s);
}

Task<> sleep_and_log(Duration d, std::vector<std::string>& log, std::string tag) {
  co_await sleep(d);
  log.push_back(tag);
}

CO_TEST(VirtualClock, TheClockDoesNotJumpWhileAnotherTaskIsRunnable) {
  // On the real clock the timer could fire while the spinner spins; on the
  // virtual one time only moves when nothing is runnable.
  std::vector<std::string> log;
  auto timer = create_task(sleep_and_log(1ms, log, "timer"));
  auto spinner = create_task([](std::vector<std::string>& l) -> Task<> {
    for (int i = 0; i < 1000; ++i) co_await yield_now();
    l.push_back("spinner-done");
  }(log));
  co_await timer;
  co_await spinner;
  EXPECT_THAT(log, ElementsAre("spinner-done", "timer"));
}

CO_TEST(VirtualClock, PendingExecutorJobHoldsTheJumpBack) {
  EventLoop& loop = current_loop();
  const TimePoint start = loop.time();
  std::vector<std::string> log;
  auto sleeper = create_task(sleep_and_log(1h, log, "timer"));
  // The job takes real time; without the hold-back the clock would jump to
  // the sleeper's deadline first.
  const int v = co_await to_thread([] {
    busy_wait(5ms);
    return 42;
  });
  log.push_back("job");
  EXPECT_EQ(v, 42);
  EXPECT_LT(loop.time() - start, kRealBound);
  co_await sleeper;
  EXPECT_THAT(log, ElementsAre("job", "timer"));
  // Once the job was in, the clock jumped straight to the deadline.
  EXPECT_EQ(loop.time() - start, 1h);
}

CO_TEST(VirtualClock, PendingFdWaiterHoldsTheJumpBack) {
  EventLoop& loop = current_loop();
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  const TimePoint start = loop.time();
  std::vector<std::string> log;
  auto sleeper = create_task(sleep_and_log(1h, log, "timer"));
  co_await yield_now();            // the sleeper's timer is set
  co_await wait_writable(fds[1]);  // an empty pipe: ready at the next poll
  log.push_back("writable");
  EXPECT_LT(loop.time() - start, kRealBound);
  co_await sleeper;
  EXPECT_THAT(log, ElementsAre("writable", "timer"));
  EXPECT_EQ(loop.time() - start, 1h);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(VirtualClock, CallLaterFiresWithTheClockAtItsDeadline) {
  LoopOptions options;
  options.virtual_clock = true;
  EventLoop loop(options);
  std::vector<std::pair<TimePoint, TimePoint>> seen;  // (when, time)
  std::vector<TimerHandle> handles;
  for (auto d : {5s, 1s, 3s}) {
    const std::size_t i = handles.size();
    handles.push_back(loop.call_later(d, [&, i] { seen.emplace_back(handles[i].when(), loop.time()); }));
  }
  loop.call_later(10s, [&] { loop.stop(); });
  loop.run_forever();
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& [when, now] : seen) EXPECT_EQ(now, when);
  EXPECT_LT(seen[0].first, seen[1].first);
  EXPECT_LT(seen[1].first, seen[2].first);
}

// Runs `schedule` (offset in microseconds per timer) on a loop and returns
// the ids in firing order.
std::vector<int> firing_order(bool virtual_clock, const std::vector<int>& schedule) {
  LoopOptions options;
  options.virtual_clock = virtual_clock;
  EventLoop loop(options);
  std::vector<int> order;
  const TimePoint base = loop.time();
  for (std::size_t id = 0; id < schedule.size(); ++id) {
    loop.call_at(base + std::chrono::microseconds(schedule[id]),
                 [&order, id] { order.push_back(static_cast<int>(id)); });
  }
  loop.call_at(base + 5ms, [&] { loop.stop(); });
  loop.run_forever();
  return order;
}

TEST(VirtualClock, ManyTimersFireInTheSameOrderAsOnTheRealClock) {
  std::mt19937 rng(2024);
  std::vector<int> schedule;
  for (int i = 0; i < 2000; ++i) schedule.push_back(static_cast<int>(rng() % 3000));  // within 3ms, many ties
  const std::vector<int> real = firing_order(false, schedule);
  const std::vector<int> simulated = firing_order(true, schedule);
  ASSERT_EQ(real.size(), schedule.size());
  EXPECT_EQ(simulated, real);
}

CO_TEST(VirtualClock, SleepingTasksWakeInTheSameOrderAsTheirDeadlines) {
  EventLoop& loop = current_loop();
  const TimePoint start = loop.time();
  std::vector<std::string> log;
  auto c = create_task(sleep_and_log(30min, log, "c"));
  auto a = create_task(sleep_and_log(10min, log, "a"));
  auto b = create_task(sleep_and_log(20min, log, "b"));
  co_await c;
  co_await a;
  co_await b;
  EXPECT_THAT(log, ElementsAre("a", "b", "c"));
  EXPECT_EQ(loop.time() - start, 30min);
}

}  // namespace
}  // namespace corio
