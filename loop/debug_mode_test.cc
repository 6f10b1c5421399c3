// Tests for the loop's debug mode: task steps and callbacks slower than
// slow_callback_duration are reported through the exception handler, and
// loop-thread-only calls from other threads raise RuntimeError.
//
// Slowness is real time by nature, so the slow steps busy-wait on the
// steady clock for 20ms against a 1ms threshold, and the "fast" cases use a
// threshold of minutes: no bound here depends on the machine's speed.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/future.h"
#include "corio/loop/run.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr auto kSlow = 20ms;
constexpr auto kTinyThreshold = 1ms;
constexpr auto kHugeThreshold = std::chrono::minutes(10);

void busy_wait(std::chrono::nanoseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

LoopOptions debug_options(Duration threshold) {
  LoopOptions o;
  o.debug = true;
  o.slow_callback_duration = threshold;
  return o;
}

// Collects what the exception handler is told.
struct Reports {
  explicit Reports(EventLoop& loop) {
    loop.set_exception_handler([this](EventLoop&, const ErrorContext& ctx) { all.push_back(ctx); });
  }
  std::vector<ErrorContext> about_task(const std::string& name) const {
    std::vector<ErrorContext> out;
    for (const auto& c : all) {
      if (c.task_name == name) out.push_back(c);
    }
    return out;
  }
  std::vector<ErrorContext> about_callbacks() const {
    std::vector<ErrorContext> out;
    for (const auto& c : all) {
      if (c.task_name.empty()) out.push_back(c);
    }
    return out;
  }
  std::vector<ErrorContext> all;
};

Task<> slow_step() {
  busy_wait(kSlow);
  co_return;
}

Task<> slow_then_fast_then_slow() {
  busy_wait(kSlow);
  co_await yield_now();
  co_await yield_now();  // a fast step in between
  busy_wait(kSlow);
}

Task<> fast_steps() {
  for (int i = 0; i < 10; ++i) co_await yield_now();
}

TEST(DebugMode, SlowTaskStepIsReportedWithTheTaskName) {
  EventLoop loop(debug_options(kTinyThreshold));
  Reports reports(loop);
  auto t = create_task(loop, slow_step(), "slowpoke");
  run_until_complete(loop, t);
  auto mine = reports.about_task("slowpoke");
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_THAT(mine[0].message, StartsWith("Executing slowpoke took "));
  EXPECT_THAT(mine[0].message, HasSubstr(" seconds"));
  EXPECT_FALSE(mine[0].exception);
}

TEST(DebugMode, ATaskEndedByItsSlowStepIsStillReportedByName) {
  // Nobody holds the task's handle: its last step releases it, and the
  // report, made after the step, names it all the same.
  EventLoop loop(debug_options(kTinyThreshold));
  Reports reports(loop);
  create_task(loop, slow_step(), "fire-and-forget");
  loop.run_once(false);
  EXPECT_EQ(loop.pending_task_count(), 0u);
  EXPECT_EQ(reports.about_task("fire-and-forget").size(), 1u);
}

TEST(DebugMode, ReportedDurationIsAtLeastTheTimeBlocked) {
  EventLoop loop(debug_options(kTinyThreshold));
  Reports reports(loop);
  auto t = create_task(loop, slow_step(), "slowpoke");
  run_until_complete(loop, t);
  auto mine = reports.about_task("slowpoke");
  ASSERT_EQ(mine.size(), 1u);
  const std::string& m = mine[0].message;
  const std::string prefix = "Executing slowpoke took ";
  const double seconds = std::stod(m.substr(prefix.size()));
  EXPECT_GE(seconds, 0.020);
}

TEST(DebugMode, ALongTaskNameIsReportedWholeWithTheDuration) {
  // Regression: the message was formatted into a fixed 160-byte buffer, so
  // a long name lost its end and the duration.
  EventLoop loop(debug_options(kTinyThreshold));
  Reports reports(loop);
  const std::string name = "fetch(" + std::string(300, 'x') + ")";
  auto t = create_task(loop, slow_step(), name);
  run_until_complete(loop, t);
  auto mine = reports.about_task(name);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_THAT(mine[0].message, StartsWith("Executing " + name + " took "));
  EXPECT_THAT(mine[0].message, ::testing::EndsWith(" seconds"));
}

TEST(DebugMode, EachSlowStepIsReportedSeparately) {
  EventLoop loop(debug_options(kTinyThreshold));
  Reports reports(loop);
  auto t = create_task(loop, slow_then_fast_then_slow(), "twice");
  run_until_complete(loop, t);
  // Three steps; the middle one (between the two yields) did nothing. A
  // fast step could only be reported if the machine stalled for 1ms inside
  // it, so count at least the two slow ones and at most all three.
  const auto mine = reports.about_task("twice");
  EXPECT_GE(mine.size(), 2u);
  EXPECT_LE(mine.size(), 3u);
}

TEST(DebugMode, FastStepsAreNotReported) {
  EventLoop loop(debug_options(kHugeThreshold));
  Reports reports(loop);
  auto t = create_task(loop, fast_steps(), "quick");
  run_until_complete(loop, t);
  EXPECT_TRUE(reports.all.empty());
}

TEST(DebugMode, SlowCallbackIsReportedWithoutATaskName) {
  EventLoop loop(debug_options(kTinyThreshold));
  Reports reports(loop);
  loop.call_soon([] { busy_wait(kSlow); });
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  ASSERT_GE(reports.about_callbacks().size(), 1u);
  EXPECT_THAT(reports.about_callbacks()[0].message, StartsWith("Executing <callback> took "));
}

TEST(DebugMode, SlowFdCallbackIsReportedWithItsFd) {
  EventLoop loop(debug_options(kTinyThreshold));
  Reports reports(loop);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  loop.add_reader(fds[0], [&] {
    busy_wait(kSlow);
    char c;
    const ssize_t n = ::read(fds[0], &c, 1);
    EXPECT_EQ(n, 1);
    loop.remove_reader(fds[0]);
    loop.stop();
  });
  loop.run_forever();
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_EQ(reports.about_callbacks().size(), 1u);
  EXPECT_THAT(reports.about_callbacks()[0].message,
              StartsWith("Executing <reader on fd " + std::to_string(fds[0]) + "> took "));
}

TEST(DebugMode, SlowStepIsNotReportedWhenDebugIsOff) {
  LoopOptions options;
  options.debug = false;
  options.slow_callback_duration = kTinyThreshold;
  EventLoop loop(options);
  Reports reports(loop);
  EXPECT_FALSE(loop.get_debug());
  auto t = create_task(loop, slow_step(), "slowpoke");
  run_until_complete(loop, t);
  loop.call_soon([] { busy_wait(kSlow); });
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_TRUE(reports.all.empty());
}

TEST(DebugMode, SetDebugTurnsReportingOnAndOff) {
  EventLoop loop;
  Reports reports(loop);
  loop.set_slow_callback_duration(kTinyThreshold);
  loop.set_debug(true);
  EXPECT_TRUE(loop.get_debug());
  auto t = create_task(loop, slow_step(), "on");
  run_until_complete(loop, t);
  EXPECT_EQ(reports.about_task("on").size(), 1u);

  loop.set_debug(false);
  auto u = create_task(loop, slow_step(), "off");
  run_until_complete(loop, u);
  EXPECT_TRUE(reports.about_task("off").empty());
}

TEST(DebugMode, SetSlowCallbackDurationChangesTheThreshold) {
  EventLoop loop(debug_options(kTinyThreshold));
  Reports reports(loop);
  loop.set_slow_callback_duration(kHugeThreshold);
  auto t = create_task(loop, slow_step(), "under-threshold");
  run_until_complete(loop, t);
  EXPECT_TRUE(reports.all.empty());
}

TEST(DebugMode, CorioRunReportsTheMainTaskByName) {
  std::vector<ErrorContext> seen;
  auto body = [](std::vector<ErrorContext>& out) -> Task<> {
    current_loop().set_exception_handler([&out](EventLoop&, const ErrorContext& ctx) { out.push_back(ctx); });
    busy_wait(kSlow);
    co_return;
  };
  corio::run(body(seen), debug_options(kTinyThreshold));
  bool main_reported = false;
  for (const auto& c : seen) main_reported = main_reported || c.task_name == "main";
  EXPECT_TRUE(main_reported);
}

TEST(DebugMode, DefaultTaskNameIsUsedForUnnamedTasks) {
  EventLoop loop(debug_options(kTinyThreshold));
  Reports reports(loop);
  auto t = create_task(loop, slow_step());
  const std::string name = t.get_name();
  EXPECT_THAT(name, StartsWith("Task-"));
  run_until_complete(loop, t);
  EXPECT_EQ(reports.about_task(name).size(), 1u);
}

// ---- Calls from the wrong thread. ----

// Runs `call` on another thread while `loop` runs: the loop's thread waits
// in a task for a Future that the other thread completes, with
// set_result_threadsafe, once it has made the call. Returns what the call
// raised: a RuntimeError's message, or "no error".
std::string call_from_another_thread(EventLoop& loop, std::function<void()> call) {
  std::thread other;
  auto waiter = [](Future<std::string> outcome, std::thread& other, std::function<void()> call) -> Task<std::string> {
    other = std::thread([outcome, call = std::move(call)] {
      std::string what = "no error";
      try {
        call();
      } catch (const RuntimeError& e) {
        what = e.what();
      }
      outcome.set_result_threadsafe(what);
    });
    co_return co_await outcome;
  };
  auto task = create_task(loop, waiter(Future<std::string>(loop), other, std::move(call)));
  std::string what = run_until_complete(loop, task);
  other.join();
  return what;
}

TEST(DebugModeThreads, CallSoonFromAnotherThreadRaisesAndSchedulesNothing) {
  EventLoop loop(debug_options(kHugeThreshold));
  bool ran = false;
  const std::string what = call_from_another_thread(loop, [&] { loop.call_soon([&ran] { ran = true; }); });
  EXPECT_THAT(what, StartsWith("corio: call_soon() called from a thread other than the one running the event loop"));
  EXPECT_THAT(what, HasSubstr("call_soon_threadsafe"));
  loop.run_once(false);
  EXPECT_FALSE(ran);
  EXPECT_EQ(loop.ready_slots_promised(), 0u);
}

TEST(DebugModeThreads, EachLoopThreadOnlyEntryPointChecks) {
  EventLoop loop(debug_options(kHugeThreshold));
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto sleeper = create_task(loop, []() -> Task<> { co_await sleep(std::chrono::hours(1)); }());
  Future<int> future(loop);
  const std::vector<std::pair<std::string, std::function<void()>>> calls = {
      {"call_later()/call_at()", [&] { loop.call_later(1ms, [] {}); }},
      {"call_later()/call_at()", [&] { loop.call_at(loop.time(), [] {}); }},
      {"create_task()", [&] { create_task(loop, slow_step()); }},
      {"add_reader()", [&] { loop.add_reader(fds[0], [] {}); }},
      {"add_writer()", [&] { loop.add_writer(fds[1], [] {}); }},
      {"remove_reader()", [&] { loop.remove_reader(fds[0]); }},
      {"remove_writer()", [&] { loop.remove_writer(fds[1]); }},
      {"add_signal_handler()", [&] { loop.add_signal_handler(SIGUSR2, [] {}); }},
      {"remove_signal_handler()", [&] { loop.remove_signal_handler(SIGUSR2); }},
      {"TaskHandle::cancel()", [&] { sleeper.cancel(); }},
      {"Future::set_result()", [&] { future.set_result(1); }},
      {"Future::set_exception()", [&] { future.set_exception(std::make_exception_ptr(std::runtime_error("x"))); }},
  };
  for (const auto& [name, call] : calls) {
    EXPECT_THAT(call_from_another_thread(loop, call), StartsWith("corio: " + name + " called from a thread other"))
        << name;
  }
  // None of them changed anything.
  EXPECT_EQ(loop.pending_task_count(), 1u);
  EXPECT_FALSE(sleeper.done());
  EXPECT_EQ(sleeper.cancelling(), 0u);
  EXPECT_FALSE(future.done());
  EXPECT_FALSE(loop.remove_reader(fds[0]));
  EXPECT_FALSE(loop.remove_signal_handler(SIGUSR2));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(DebugModeThreads, ThreadsafeCallsStillWorkFromAnotherThread) {
  EventLoop loop(debug_options(kHugeThreshold));
  bool ran = false;
  EXPECT_EQ(call_from_another_thread(loop, [&] { loop.call_soon_threadsafe([&ran] { ran = true; }); }), "no error");
  loop.run_once(false);
  EXPECT_TRUE(ran);
}

TEST(DebugModeThreads, TheLoopsOwnThreadIsNotRefused) {
  // Before it runs, from its callbacks and tasks, and after it stopped.
  EventLoop loop(debug_options(kHugeThreshold));
  int calls = 0;
  loop.call_soon([&] {
    ++calls;
    loop.call_soon([&] { ++calls; });
    loop.call_later(1ms, [&] { ++calls; });
  });
  auto t = create_task(loop, []() -> Task<int> {
    co_await sleep(2ms);
    current_loop().call_soon([] {});
    co_return 1;
  }());
  EXPECT_EQ(run_until_complete(loop, t), 1);
  EXPECT_EQ(calls, 3);
  loop.call_soon([] {});
}

TEST(DebugModeThreads, ALoopThatIsNotRunningMayBeUsedFromAnotherThread) {
  // As in asyncio, the check applies while the loop runs: a loop handed to
  // another thread (here run there, then used again here) is not refused.
  EventLoop loop(debug_options(kHugeThreshold));
  std::thread runner([&loop] {
    auto t = create_task(loop, []() -> Task<int> { co_return 2; }());
    EXPECT_EQ(run_until_complete(loop, t), 2);
  });
  runner.join();
  auto t = create_task(loop, []() -> Task<int> { co_return 3; }());
  EXPECT_EQ(run_until_complete(loop, t), 3);
}

TEST(DebugModeThreads, SetDebugWhileRunningStartsChecking) {
  EventLoop loop;  // debug off
  std::string what;
  std::thread other;
  auto main = [](EventLoop& loop, std::string& what, std::thread& other) -> Task<> {
    loop.set_debug(true);
    Future<> done(loop);
    other = std::thread([&loop, &what, done] {
      try {
        loop.call_soon([] {});
        what = "no error";
      } catch (const RuntimeError& e) {
        what = e.what();
      }
      done.set_result_threadsafe();
    });
    co_await done;
    loop.set_debug(false);
  };
  auto t = create_task(loop, main(loop, what, other));
  run_until_complete(loop, t);
  other.join();
  EXPECT_THAT(what, StartsWith("corio: call_soon() called from a thread other"));
}

}  // namespace
}  // namespace corio
