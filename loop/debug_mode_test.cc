// Tests for the loop's debug mode: task steps and callbacks slower than
// slow_callback_duration are reported through the exception handler.
//
// Slowness is real time by nature, so the slow steps busy-wait on the
// steady clock for 20ms against a 1ms threshold, and the "fast" cases use a
// threshold of minutes: no bound here depends on the machine's speed.
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "corio/loop/event_loop.h"
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

}  // namespace
}  // namespace corio
