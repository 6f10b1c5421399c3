// Tests for Task<T>: laziness, value and exception propagation through
// co_await, long chains and deep recursion without stack growth, misuse.
#include "corio/loop/task.h"

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

Task<int> value_of(int v) { co_return v; }

Task<int> record(std::vector<std::string>& log, std::string name, int v) {
  log.push_back(name);
  co_return v;
}

CO_TEST(TaskTest, LazyUntilAwaited) {
  std::vector<std::string> log;
  Task<int> t = record(log, "body", 7);
  log.push_back("created");
  co_await yield_now();
  log.push_back("yielded");
  int v = co_await std::move(t);
  EXPECT_EQ(v, 7);
  EXPECT_EQ(log, (std::vector<std::string>{"created", "yielded", "body"}));
}

CO_TEST(TaskTest, DroppedTaskNeverRuns) {
  std::vector<std::string> log;
  { Task<int> t = record(log, "body", 1); }
  co_await yield_now();
  EXPECT_TRUE(log.empty());
}

CO_TEST(TaskTest, ValuePropagates) { EXPECT_EQ(co_await value_of(42), 42); }

Task<void> void_body(std::vector<std::string>& log) {
  log.push_back("void");
  co_return;
}

CO_TEST(TaskTest, VoidTaskRuns) {
  std::vector<std::string> log;
  co_await void_body(log);
  EXPECT_EQ(log, (std::vector<std::string>{"void"}));
}

Task<int> throws_runtime() {
  throw std::runtime_error("boom");
  co_return 0;
}

CO_TEST(TaskTest, ExceptionPropagates) {
  try {
    co_await throws_runtime();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
}

Task<void> throws_void() {
  co_await yield_now();
  throw std::logic_error("void boom");
}

CO_TEST(TaskTest, ExceptionPropagatesAfterSuspension) { EXPECT_THROW(co_await throws_void(), std::logic_error); }

Task<int> add_one(Task<int> inner) { co_return (co_await std::move(inner)) + 1; }

CO_TEST(TaskTest, ChainsCompose) {
  int v = co_await add_one(add_one(add_one(value_of(1))));
  EXPECT_EQ(v, 4);
}

Task<int> rethrow_through(Task<int> inner, std::vector<std::string>& log) {
  try {
    co_return co_await std::move(inner);
  } catch (...) {
    log.push_back("middle saw it");
    throw;
  }
}

CO_TEST(TaskTest, ExceptionCrossesAChain) {
  std::vector<std::string> log;
  EXPECT_THROW(co_await rethrow_through(rethrow_through(throws_runtime(), log), log), std::runtime_error);
  EXPECT_EQ(log, (std::vector<std::string>{"middle saw it", "middle saw it"}));
}

Task<int> twice(int x) { co_return x * 2; }

CO_TEST(TaskTest, MillionSequentialReadyAwaitsDoNotGrowTheStack) {
  long long sum = 0;
  for (int i = 0; i < 1000000; ++i) sum += co_await twice(i);
  EXPECT_EQ(sum, 999999000000LL);
}

CO_TEST(TaskTest, MillionSequentialSuspendingAwaits) {
  // Every 1000th child suspends once, the rest complete inline.
  long long sum = 0;
  for (int i = 0; i < 1000000; ++i) {
    sum += co_await [](int x) -> Task<int> {
      if (x % 1000 == 0) co_await yield_now();
      co_return x;
    }(i);
  }
  EXPECT_EQ(sum, 499999500000LL);
}

Task<int> depth(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await depth(n - 1);
}

CO_TEST(TaskTest, DeepRecursionDoesNotOverflow) { EXPECT_EQ(co_await depth(10000), 10000); }

Task<int> depth_suspending(int n) {
  if (n == 0) {
    co_await yield_now();
    co_return 0;
  }
  co_return 1 + co_await depth_suspending(n - 1);
}

CO_TEST(TaskTest, DeepRecursionResumedFromTheLoopDoesNotOverflow) {
  // The leaf suspends: the 10,000 frames are resumed one after another by
  // symmetric transfer when it finishes.
  EXPECT_EQ(co_await depth_suspending(10000), 10000);
}

// The current position on the machine stack (coroutine locals live in
// their heap frames, so a plain function is asked instead).
[[gnu::noinline]] std::intptr_t stack_position() { return reinterpret_cast<std::intptr_t>(__builtin_frame_address(0)); }

constexpr std::intptr_t kStackBudget = 256 * 1024;

Task<std::intptr_t> stack_position_at_depth(int n) {
  if (n == 0) co_return stack_position();
  co_return co_await stack_position_at_depth(n - 1);
}

CO_TEST(TaskTest, NestedAwaitsDoNotGrowTheStackWithDepth) {
  // 2,000 levels nested inline would take about 0.5-1.5 MB of stack
  // (more under the sanitizers); the depth must not show in the stack.
  std::intptr_t top = stack_position();
  std::intptr_t deepest = co_await stack_position_at_depth(2000);
  EXPECT_LT(top - deepest, kStackBudget);
}

CO_TEST(TaskTest, ResumingADeepChainDoesNotGrowTheStackWithDepth) {
  // The leaf suspends; when it finishes, its 2,000 awaiters complete one
  // after another and this body is resumed at the end of that chain.
  std::intptr_t before = stack_position();
  EXPECT_EQ(co_await depth_suspending(2000), 2000);
  std::intptr_t after = stack_position();
  EXPECT_LT(before - after, kStackBudget);
}

CO_TEST(TaskTest, AwaitingEmptyTaskThrowsRuntimeError) {
  Task<int> empty;
  EXPECT_FALSE(empty);
  EXPECT_THROW(co_await std::move(empty), RuntimeError);
}

CO_TEST(TaskTest, AwaitingMovedFromTaskThrowsRuntimeError) {
  Task<int> a = value_of(3);
  Task<int> b = std::move(a);
  EXPECT_FALSE(a);  // moved-from on purpose
  EXPECT_THROW(co_await std::move(a), RuntimeError);
  EXPECT_EQ(co_await std::move(b), 3);
}

CO_TEST(TaskTest, AwaitingATaskTwiceThrowsRuntimeError) {
  Task<int> t = value_of(5);
  EXPECT_EQ(co_await t, 5);
  EXPECT_THROW(co_await t, RuntimeError);
}

Task<std::unique_ptr<int>> make_unique_value(int v) { co_return std::make_unique<int>(v); }

CO_TEST(TaskTest, MoveOnlyResult) {
  std::unique_ptr<int> p = co_await make_unique_value(9);
  EXPECT_TRUE(p != nullptr && *p == 9);
}

Task<std::unique_ptr<int>> pass_through(Task<std::unique_ptr<int>> inner) {
  std::unique_ptr<int> p = co_await std::move(inner);
  *p += 1;
  co_return p;
}

CO_TEST(TaskTest, MoveOnlyResultThroughAChain) {
  std::unique_ptr<int> p = co_await pass_through(pass_through(make_unique_value(1)));
  EXPECT_EQ(*p, 3);
}

CO_TEST(TaskTest, MoveAssignmentDestroysThePreviousFrame) {
  std::vector<std::string> log;
  Task<int> a = record(log, "a", 1);
  a = record(log, "b", 2);
  EXPECT_EQ(co_await std::move(a), 2);
  EXPECT_EQ(log, (std::vector<std::string>{"b"}));
}

struct Guard {
  std::vector<std::string>* log;
  ~Guard() { log->push_back("frame destroyed"); }
};

Task<int> guarded(std::vector<std::string>& log) {
  Guard g{&log};
  co_return 1;
}

CO_TEST(TaskTest, FrameLocalsAreDestroyed) {
  std::vector<std::string> log;
  {
    Task<int> t = guarded(log);
    EXPECT_EQ(co_await t, 1);
    log.push_back("after await");
  }
  EXPECT_EQ(log, (std::vector<std::string>{"frame destroyed", "after await"}));
}

// Logs when the copy a coroutine frame holds is destroyed (moved-from
// copies log nothing).
struct ParamProbe {
  explicit ParamProbe(std::vector<std::string>* l) : log(l) {}
  ParamProbe(ParamProbe&& o) noexcept : log(std::exchange(o.log, nullptr)) {}
  ~ParamProbe() {
    if (log != nullptr) log->push_back("frame released");
  }
  std::vector<std::string>* log;
};

Task<int> probed(ParamProbe probe, bool suspend) {
  if (suspend) co_await yield_now();
  co_return probe.log != nullptr ? 5 : 0;
}

CO_TEST(TaskTest, FrameIsReleasedWhenAReadyChildReturns) {
  std::vector<std::string> log;
  Task<int> t = probed(ParamProbe(&log), false);
  EXPECT_EQ(co_await t, 5);
  log.push_back("after await");  // `t` is still in scope: its frame is not
  EXPECT_EQ(log, (std::vector<std::string>{"frame released", "after await"}));
}

CO_TEST(TaskTest, FrameIsReleasedWhenASuspendedChildReturns) {
  std::vector<std::string> log;
  Task<int> t = probed(ParamProbe(&log), true);
  EXPECT_EQ(co_await t, 5);
  log.push_back("after await");
  EXPECT_EQ(log, (std::vector<std::string>{"frame released", "after await"}));
}

Task<int> parked(ParamProbe probe) {
  co_await sleep(std::chrono::hours(1));
  co_return probe.log != nullptr ? 1 : 0;
}

Task<void> awaits_parked(std::vector<std::string>& log) {
  co_await parked(ParamProbe(&log));
  log.push_back("unreachable");
}

TEST(TaskTest, ChildSuspendedWhenTheLoopGoesAwayIsReleased) {
  std::vector<std::string> log;
  {
    EventLoop loop;
    create_task(loop, awaits_parked(log));
    loop.run_once(false);
    EXPECT_TRUE(log.empty());
  }
  EXPECT_EQ(log, (std::vector<std::string>{"frame released"}));
}

// Another kind of coroutine awaiting a Task, with no corio task running:
// an eager fire-and-forget coroutine, and a gate that parks whoever awaits
// it until the test opens it.
struct Eager {
  struct promise_type {
    Eager get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

struct Gate {
  std::coroutine_handle<> waiter;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter = h; }
  void await_resume() const noexcept {}
};

Task<int> behind_gate(Gate& gate, ParamProbe probe, bool fail) {
  co_await gate;
  if (fail) throw std::logic_error("after the gate");
  co_return probe.log != nullptr ? 5 : 0;
}

Eager foreign_parent(Gate& gate, std::vector<std::string>& log, bool fail) {
  try {
    int v = co_await behind_gate(gate, ParamProbe(&log), fail);
    log.push_back("got " + std::to_string(v));
  } catch (const std::logic_error& e) {
    log.push_back(std::string("caught ") + e.what());
  }
}

TEST(TaskTest, AnotherKindOfCoroutineGetsTheValueAfterTheTaskSuspended) {
  Gate gate;
  std::vector<std::string> log;
  foreign_parent(gate, log, false);
  EXPECT_TRUE(log.empty());
  gate.waiter.resume();
  EXPECT_EQ(log, (std::vector<std::string>{"frame released", "got 5"}));
}

TEST(TaskTest, AnotherKindOfCoroutineGetsTheExceptionAfterTheTaskSuspended) {
  Gate gate;
  std::vector<std::string> log;
  foreign_parent(gate, log, true);
  gate.waiter.resume();
  EXPECT_EQ(log, (std::vector<std::string>{"frame released", "caught after the gate"}));
}

TEST(TaskTest, AwaitingOutsideATaskIsNotPossibleButRunWorks) { EXPECT_EQ(corio::run(value_of(11)), 11); }

}  // namespace
}  // namespace corio
