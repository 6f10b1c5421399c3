// Tests for awaiting, inside a Task, an awaitable that knows nothing of
// corio: one that resumes the coroutine handle itself, from a callback, from
// another thread or at once. The coroutine must go on inside its own task's
// step on the loop thread (internal/foreign_awaiter.h).
#include <chrono>
#include <coroutine>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/future.h"
#include "corio/loop/shield.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_group.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

// corio's own awaitables are awaited directly, as cancellable suspension
// points; anything else goes through the relay.
static_assert(internal::kLoopAwaitable<Task<int>>);
static_assert(internal::kLoopAwaitable<Task<int>&>);
static_assert(internal::kLoopAwaitable<TaskHandle<int>>);
static_assert(internal::kLoopAwaitable<TaskHandle<int>&>);
static_assert(internal::kLoopAwaitable<Future<int>>);
static_assert(internal::kLoopAwaitable<Future<int>&>);
static_assert(internal::kLoopAwaitable<internal::SleepAwaiter>);
static_assert(internal::kLoopAwaitable<FdReady>);
static_assert(internal::kLoopAwaitable<ShieldAwaiter<int>>);
static_assert(internal::kLoopAwaitable<TaskGroup::ExitAwaiter>);
static_assert(!internal::kLoopAwaitable<std::suspend_always>);

// The usual hand-written bridge of a callback API: the callback stores the
// value and resumes the handle directly.
struct ResumedBy {
  std::function<void(std::function<void()>)> schedule;  // runs its argument later
  int value = 0;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    schedule([this, h] {
      value = 42;
      h.resume();
    });
  }
  int await_resume() const noexcept { return value; }
};

ResumedBy by_call_soon(EventLoop& loop) {
  return ResumedBy{[&loop](std::function<void()> f) { loop.call_soon(std::move(f)); }};
}

// Runs the loop a bounded number of iterations until `t` is done, so a
// task that never finishes fails the test instead of hanging it.
template <class T>
bool run_until_done(EventLoop& loop, const TaskHandle<T>& t) {
  for (int i = 0; i < 100 && !t.done(); ++i) loop.run_once(false);
  return t.done();
}

TEST(ForeignAwaitableTest, ResumedFromACallbackContinuesInItsOwnTask) {
  EventLoop loop;
  TaskRef self;
  std::vector<bool> in_own_task;
  auto body = [&]() -> Task<int> {
    int v = co_await by_call_soon(loop);
    in_own_task.push_back(current_task() == self);
    co_await yield_now();  // a corio await after it works as before
    in_own_task.push_back(current_task() == self);
    co_return v + 1;
  };
  TaskHandle<int> t = create_task(loop, body());
  self = TaskRef(t);
  ASSERT_TRUE(run_until_done(loop, t));
  EXPECT_EQ(t.result(), 43);
  EXPECT_EQ(in_own_task, (std::vector<bool>{true, true}));
}

TEST(ForeignAwaitableTest, ResumedFromAChildTaskAwaitedInline) {
  EventLoop loop;
  auto child = [&]() -> Task<int> { co_return co_await by_call_soon(loop); };
  auto parent = [&]() -> Task<int> {
    int v = co_await child();
    co_await yield_now();
    co_return v * 2;
  };
  TaskHandle<int> t = create_task(loop, parent());
  ASSERT_TRUE(run_until_done(loop, t));
  EXPECT_EQ(t.result(), 84);
}

TEST(ForeignAwaitableTest, ResumedFromAnotherThreadContinuesOnTheLoopThread) {
  EventLoop loop;
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::thread worker;
  auto body = [&]() -> Task<std::thread::id> {
    ResumedBy aw{[&worker](std::function<void()> f) { worker = std::thread(std::move(f)); }};
    int v = co_await aw;
    EXPECT_EQ(v, 42);
    co_return std::this_thread::get_id();
  };
  TaskHandle<std::thread::id> t = create_task(loop, body());
  const std::thread::id resumed_on = run_until_complete(loop, t);
  worker.join();
  EXPECT_EQ(resumed_on, loop_thread);
}

// Resumes the handle before await_suspend returns.
struct ResumesAtOnce {
  std::vector<std::string>* log;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    log->push_back("suspend");
    h.resume();
    log->push_back("suspend returns");
  }
  int await_resume() const noexcept {
    log->push_back("resume");
    return 5;
  }
};

CO_TEST(ForeignAwaitableTest, ResumedInsideAwaitSuspendResumesAfterItReturns) {
  std::vector<std::string> log;
  int v = co_await ResumesAtOnce{&log};
  EXPECT_EQ(v, 5);
  EXPECT_EQ(log, (std::vector<std::string>{"suspend", "suspend returns", "resume"}));
}

// await_suspend returning bool or a handle.
struct Declines {
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<>) const noexcept { return false; }
  int await_resume() const noexcept { return 6; }
};
struct TransfersToTheHandle {
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) const noexcept { return h; }
  int await_resume() const noexcept { return 7; }
};

CO_TEST(ForeignAwaitableTest, AwaitSuspendReturningFalseDoesNotSuspend) {
  int v = co_await Declines{};
  EXPECT_EQ(v, 6);
}

CO_TEST(ForeignAwaitableTest, AwaitSuspendReturningTheHandleResumes) {
  int v = co_await TransfersToTheHandle{};
  EXPECT_EQ(v, 7);
}

CO_TEST(ForeignAwaitableTest, ReadyAwaitableDoesNotSuspend) {
  bool callback_ran = false;
  current_loop().call_soon([&] { callback_ran = true; });
  co_await std::suspend_never{};
  EXPECT_FALSE(callback_ran);  // still the same step
  co_await yield_now();
  EXPECT_TRUE(callback_ran);
}

struct Throws {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) const { throw std::runtime_error("no"); }
  void await_resume() const noexcept {}
};

CO_TEST(ForeignAwaitableTest, AwaitSuspendThrowingRaisesAtTheAwait) {
  std::string caught;
  try {
    co_await Throws{};
  } catch (const std::runtime_error& e) {
    caught = e.what();
  }
  EXPECT_EQ(caught, "no");
  co_await yield_now();  // the task goes on normally
}

// An awaitable resumed only when the test says so, from the loop thread.
struct Manual {
  std::coroutine_handle<>* slot;
  int* value;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const noexcept { *slot = h; }
  int await_resume() const noexcept { return *value; }
};

TEST(ForeignAwaitableTest, CancelWhileWaitingKeepsTheValueAndRaisesAtTheNextAwait) {
  EventLoop loop;
  std::coroutine_handle<> pending;
  int value = 0;
  std::vector<std::string> log;
  auto body = [&]() -> Task<void> {
    int v = co_await Manual{&pending, &value};
    log.push_back("got " + std::to_string(v));
    try {
      co_await yield_now();
      log.push_back("not cancelled");
    } catch (const CancelledError&) {
      log.push_back("cancelled");
      throw;
    }
  };
  TaskHandle<void> t = create_task(loop, body());
  loop.run_once(false);
  ASSERT_TRUE(pending);
  EXPECT_TRUE(t.cancel());
  loop.run_once(false);
  EXPECT_FALSE(t.done());  // not interrupted
  value = 9;
  loop.call_soon([&] { pending.resume(); });
  ASSERT_TRUE(run_until_done(loop, t));
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(log, (std::vector<std::string>{"got 9", "cancelled"}));
}

struct CountsSuspends {
  int* suspends;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    ++*suspends;
    h.resume();
  }
  void await_resume() const noexcept {}
};

TEST(ForeignAwaitableTest, PendingCancelIsRaisedWithoutStartingTheAwait) {
  EventLoop loop;
  int suspends = 0;
  auto body = [&]() -> Task<void> {
    co_await CountsSuspends{&suspends};  // runs before the cancel
    loop.call_soon([] {});
    current_task().cancel();
    co_await CountsSuspends{&suspends};  // must not start
  };
  TaskHandle<void> t = create_task(loop, body());
  ASSERT_TRUE(run_until_done(loop, t));
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(suspends, 1);
}

TEST(ForeignAwaitableTest, LoopDestroyedWhileWaitingDestroysTheFrame) {
  std::coroutine_handle<> pending;
  int value = 0;
  bool frame_gone = false;
  struct SetOnExit {
    bool* flag;
    ~SetOnExit() { *flag = true; }
  };
  {
    EventLoop loop;
    auto body = [&]() -> Task<void> {
      SetOnExit guard{&frame_gone};
      co_await Manual{&pending, &value};
    };
    TaskHandle<void> t = create_task(loop, body());
    loop.run_once(false);
    ASSERT_TRUE(pending);
  }
  EXPECT_TRUE(frame_gone);  // and, under ASan, the relay did not leak
}

TEST(ForeignAwaitableTest, VirtualClockDoesNotJumpOverAWaitOnAnotherThread) {
  LoopOptions options;
  options.virtual_clock = true;
  EventLoop loop(options);
  std::thread worker;
  const TimePoint start = loop.time();
  auto sleeper = [&]() -> Task<void> { co_await sleep(1h); };
  auto waiter = [&]() -> Task<Duration> {
    ResumedBy aw{[&worker](std::function<void()> f) {
      worker = std::thread([f = std::move(f)] {
        // Only so that a loop that wrongly jumps does so before the wake;
        // the expectation below holds however long this takes.
        std::this_thread::sleep_for(20ms);
        f();
      });
    }};
    co_await aw;
    co_return loop.time() - start;
  };
  TaskHandle<void> s = create_task(loop, sleeper());
  TaskHandle<Duration> w = create_task(loop, waiter());
  const Duration waited = run_until_complete(loop, w);
  worker.join();
  EXPECT_LT(waited, 1h);
  s.cancel();
}

}  // namespace
}  // namespace corio
