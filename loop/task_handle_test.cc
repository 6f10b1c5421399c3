// Tests for create_task and TaskHandle: spawning, joining, state queries,
// done callbacks, names, current_task, and the report of exceptions that
// nobody retrieved.
#include "corio/loop/task_handle.h"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/future.h"
#include "corio/loop/run.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/testing/co_test.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

Task<int> after(Duration d, int v) {
  co_await sleep(d);
  co_return v;
}

Task<int> fail_after(Duration d, std::string what) {
  co_await sleep(d);
  throw std::runtime_error(what);
}

// Collects what the loop's exception handler is told. Install it with
// `install()`; it must outlive the loop's use of it, so tests reset the
// handler before returning.
struct Reports {
  std::vector<ErrorContext> seen;
  void install() {
    current_loop().set_exception_handler([this](EventLoop&, const ErrorContext& c) { seen.push_back(c); });
  }
  static void uninstall() { current_loop().set_exception_handler(nullptr); }
};

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "?";
  }
}

CO_TEST(TaskHandleTest, SpawnAndJoin) {
  TaskHandle<int> h = create_task(after(10ms, 5));
  EXPECT_FALSE(h.done());
  EXPECT_EQ(co_await h, 5);
  EXPECT_TRUE(h.done());
  EXPECT_FALSE(h.cancelled());
}

CO_TEST(TaskHandleTest, SpawnedTaskStartsOnTheNextIterationNotInline) {
  std::vector<std::string> log;
  TaskHandle<void> h = create_task([](std::vector<std::string>& l) -> Task<void> {
    l.push_back("child");
    co_return;
  }(log));
  log.push_back("parent after create_task");
  co_await h;
  EXPECT_EQ(log, (std::vector<std::string>{"parent after create_task", "child"}));
}

CO_TEST(TaskHandleTest, AwaitRethrows) {
  TaskHandle<int> h = create_task(fail_after(1ms, "child failed"));
  try {
    co_await h;
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "child failed");
  }
  EXPECT_TRUE(h.done());
  EXPECT_FALSE(h.cancelled());
}

CO_TEST(TaskHandleTest, AwaitingADoneHandleDoesNotSuspend) {
  TaskHandle<int> h = create_task(after(0ms, 3));
  co_await sleep(1ms);
  EXPECT_TRUE(h.done());
  EXPECT_EQ(co_await h, 3);
  EXPECT_EQ(co_await h, 3);  // an lvalue handle may be awaited again
}

CO_TEST(TaskHandleTest, ResultAndExceptionOnSuccess) {
  TaskHandle<int> h = create_task(after(1ms, 8));
  co_await h;
  EXPECT_EQ(h.result(), 8);
  EXPECT_EQ(h.exception(), nullptr);
}

CO_TEST(TaskHandleTest, ResultAndExceptionOnFailure) {
  TaskHandle<int> h = create_task(fail_after(1ms, "bad"));
  co_await sleep(2ms);
  EXPECT_TRUE(h.done());
  EXPECT_THROW(h.result(), std::runtime_error);
  std::exception_ptr e = h.exception();
  EXPECT_EQ(what_of(e), "bad");
}

CO_TEST(TaskHandleTest, ResultAndExceptionWhenPendingThrowInvalidState) {
  TaskHandle<int> h = create_task(after(1h, 1));
  EXPECT_THROW(h.result(), InvalidStateError);
  EXPECT_THROW(h.exception(), InvalidStateError);
  h.cancel();
  EXPECT_THROW(co_await h, CancelledError);
}

CO_TEST(TaskHandleTest, ResultAndExceptionOfCancelledTaskRaiseCancelledError) {
  TaskHandle<int> h = create_task(after(1h, 1));
  co_await yield_now();
  h.cancel("stop");
  co_await yield_now();
  EXPECT_TRUE(h.done());
  EXPECT_TRUE(h.cancelled());
  EXPECT_THROW(h.result(), CancelledError);
  try {
    h.exception();
    ADD_FAILURE() << "no exception";
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "stop");
  }
}

CO_TEST(TaskHandleTest, VoidHandle) {
  int runs = 0;
  TaskHandle<void> h = create_task([](int& r) -> Task<void> {
    co_await sleep(1ms);
    ++r;
  }(runs));
  co_await h;
  EXPECT_EQ(runs, 1);
  h.result();
  EXPECT_EQ(h.exception(), nullptr);
}

CO_TEST(TaskHandleTest, MoveOnlyResultByRvalueAwaitAndTakeResult) {
  auto make = [](int v) -> Task<std::unique_ptr<int>> {
    co_await yield_now();
    co_return std::make_unique<int>(v);
  };
  std::unique_ptr<int> a = co_await create_task(make(1));
  EXPECT_TRUE(a && *a == 1);
  TaskHandle<std::unique_ptr<int>> h = create_task(make(2));
  co_await sleep(1ms);
  std::unique_ptr<int> b = h.take_result();
  EXPECT_TRUE(b && *b == 2);
}

CO_TEST(TaskHandleTest, DoneCallbackIsScheduledWithCallSoonAndGetsTheHandle) {
  std::vector<std::string> log;
  TaskHandle<int> h = create_task([](std::vector<std::string>& l) -> Task<int> {
    co_await sleep(1ms);
    // Queued before the task finishes: a callback scheduled with call_soon
    // at the finish runs after it; one run synchronously would run before.
    current_loop().call_soon([&l] { l.push_back("queued by the child"); });
    l.push_back("child returns");
    co_return 4;
  }(log));
  TaskRef seen;
  bool done_in_callback = false;
  h.add_done_callback([&](const TaskRef& r) {
    log.push_back("callback");
    seen = r;
    done_in_callback = r.done();
  });
  co_await sleep(2ms);
  EXPECT_EQ(log, (std::vector<std::string>{"child returns", "queued by the child", "callback"}));
  EXPECT_TRUE(seen == h);
  EXPECT_TRUE(done_in_callback);
  EXPECT_EQ(h.result(), 4);
}

CO_TEST(TaskHandleTest, DoneCallbackAddedAfterDoneStillRunsOnTheNextIteration) {
  TaskHandle<int> h = create_task(after(1ms, 4));
  co_await h;
  int calls = 0;
  h.add_done_callback([&](const TaskRef& r) {
    ++calls;
    EXPECT_TRUE(r.done());
  });
  EXPECT_EQ(calls, 0);
  co_await yield_now();
  EXPECT_EQ(calls, 1);
}

CO_TEST(TaskHandleTest, DoneCallbacksRunInRegistrationOrder) {
  std::vector<int> order;
  TaskHandle<int> h = create_task(after(1ms, 0));
  for (int i = 0; i < 3; ++i) h.add_done_callback([&order, i](const TaskRef&) { order.push_back(i); });
  co_await sleep(2ms);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

CO_TEST(TaskHandleTest, DoneCallbackErrorGoesToTheExceptionHandler) {
  Reports reports;
  reports.install();
  TaskHandle<int> h = create_task(after(1ms, 0));
  h.add_done_callback([](const TaskRef&) { throw std::runtime_error("in callback"); });
  co_await sleep(2ms);
  Reports::uninstall();
  EXPECT_EQ(reports.seen.size(), 1u);
  if (!reports.seen.empty()) {
    EXPECT_EQ(what_of(reports.seen[0].exception), "in callback");
  }
}

CO_TEST(TaskHandleTest, GivenName) {
  TaskHandle<int> h = create_task(after(1ms, 0), "worker");
  EXPECT_EQ(h.get_name(), "worker");
  h.set_name("renamed");
  EXPECT_EQ(h.get_name(), "renamed");
  co_await h;
}

CO_TEST(TaskHandleTest, AnEmptyNameKeepsTheDefault) {
  TaskHandle<int> h = create_task(after(1ms, 0), "");
  EXPECT_EQ(h.get_name(), "Task-" + std::to_string(h.base()->id()));
  co_await h;
}

CO_TEST(TaskHandleTest, SettingAnEmptyNameRestoresTheDefault) {
  TaskHandle<int> h = create_task(after(1ms, 0), "worker");
  h.set_name("");
  EXPECT_EQ(h.get_name(), "Task-" + std::to_string(h.base()->id()));
  co_await h;
}

struct FixedNameSource final : internal::TaskNameSource {
  mutable int asked = 0;
  std::string task_name() const override {
    ++asked;
    return "worked-out";
  }
};

CO_TEST(TaskHandleTest, ANameSourceIsAskedOnlyWhenTheNameIsWanted) {
  FixedNameSource source;
  TaskHandle<int> h = create_task(after(1ms, 0));
  h.base()->set_name_source(&source);
  EXPECT_EQ(source.asked, 0);
  EXPECT_EQ(h.get_name(), "worked-out");
  EXPECT_EQ(source.asked, 1);
  h.base()->set_name_source(nullptr);
  EXPECT_EQ(h.get_name(), "Task-" + std::to_string(h.base()->id()));
  co_await h;
}

CO_TEST(TaskHandleTest, AGivenNameWinsOverANameSource) {
  FixedNameSource source;
  TaskHandle<int> h = create_task(after(1ms, 0), "given");
  h.base()->set_name_source(&source);
  EXPECT_EQ(h.get_name(), "given");
  EXPECT_EQ(source.asked, 0);
  h.base()->set_name_source(nullptr);
  co_await h;
}

CO_TEST(TaskHandleTest, DefaultNameIsTaskDashN) {
  TaskHandle<int> a = create_task(after(1ms, 0));
  TaskHandle<int> b = create_task(after(1ms, 0));
  std::string na = a.get_name();
  std::string nb = b.get_name();
  EXPECT_EQ(na.rfind("Task-", 0), 0u) << na;
  EXPECT_EQ(nb.rfind("Task-", 0), 0u) << nb;
  EXPECT_EQ(std::stoul(nb.substr(5)), std::stoul(na.substr(5)) + 1);
  co_await a;
  co_await b;
}

CO_TEST(TaskHandleTest, MainTaskOfRunIsNamedMain) {
  EXPECT_EQ(current_task().get_name(), "main");
  co_return;
}

Task<int> await_plus(TaskHandle<int> h, int i) {
  int v = co_await h;
  co_return v + i;
}

CO_TEST(TaskHandleTest, ManyAwaitersOfOneTask) {
  TaskHandle<int> shared = create_task(after(10ms, 7));
  std::vector<TaskHandle<int>> waiters;
  for (int i = 0; i < 5; ++i) {
    waiters.push_back(create_task(await_plus(shared, i)));
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(co_await waiters[i], 7 + i);
  EXPECT_EQ(co_await shared, 7);
}

CO_TEST(TaskHandleTest, ManyAwaitersOfAFailingTaskAllSeeTheError) {
  TaskHandle<int> shared = create_task(fail_after(10ms, "shared failure"));
  std::vector<TaskHandle<std::string>> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.push_back(create_task([](TaskHandle<int> h) -> Task<std::string> {
      try {
        co_await h;
      } catch (const std::runtime_error& e) {
        co_return e.what();
      }
      co_return "none";
    }(shared)));
  }
  for (auto& w : waiters) EXPECT_EQ(co_await w, "shared failure");
}

CO_TEST(TaskHandleTest, FireAndForgetKeepsRunningWhenTheHandleIsDropped) {
  auto flag = std::make_shared<int>(0);
  create_task([](std::shared_ptr<int> f) -> Task<void> {
    co_await sleep(5ms);
    *f = 1;
    co_await sleep(5ms);
    *f = 2;
  }(flag));
  EXPECT_EQ(current_loop().pending_task_count(), 2u);  // main and the child
  co_await sleep(20ms);
  EXPECT_EQ(*flag, 2);
  EXPECT_EQ(current_loop().pending_task_count(), 1u);
}

CO_TEST(TaskHandleTest, CurrentTaskInsideAChildIsThatChild) {
  TaskRef main_ref = current_task();
  EXPECT_TRUE(main_ref);
  TaskHandle<int> h = create_task(after(0ms, 0), "child");
  TaskHandle<std::string> probe = create_task(
      []() -> Task<std::string> {
        co_await yield_now();  // still itself after a suspension
        co_return current_task().get_name();
      }(),
      "probe");
  EXPECT_EQ(co_await probe, "probe");
  EXPECT_TRUE(current_task() == main_ref);
  co_await h;
}

TEST(TaskHandleTest, CurrentTaskOutsideAnyTaskIsEmpty) {
  EXPECT_FALSE(current_task());
  EventLoop loop;
  bool in_callback_has_task = true;
  loop.call_soon([&] {
    in_callback_has_task = static_cast<bool>(current_task());
    loop.stop();
  });
  loop.run_forever();
  EXPECT_FALSE(in_callback_has_task);
}

TEST(TaskHandleTest, CreateTaskWithoutARunningLoopThrows) { EXPECT_THROW(create_task(after(1ms, 1)), RuntimeError); }

TEST(TaskHandleTest, CreateTaskOfAnEmptyTaskThrows) {
  EventLoop loop;
  EXPECT_THROW(create_task(loop, Task<int>()), RuntimeError);
}

// An empty handle (default-constructed or moved from) raises RuntimeError
// rather than dereferencing the missing task.
TEST(TaskHandleEmpty, QueriesThrowRuntimeError) {
  TaskHandle<int> h;
  EXPECT_THROW(h.done(), RuntimeError);
  EXPECT_THROW(h.cancelled(), RuntimeError);
  EXPECT_THROW(h.cancelling(), RuntimeError);
  EXPECT_THROW(h.get_name(), RuntimeError);
}

TEST(TaskHandleEmpty, ChangesThrowRuntimeError) {
  TaskHandle<int> h;
  EXPECT_THROW(h.cancel(), RuntimeError);
  EXPECT_THROW(h.uncancel(), RuntimeError);
  EXPECT_THROW(h.set_name("x"), RuntimeError);
  EXPECT_THROW(h.add_done_callback([](const TaskRef&) {}), RuntimeError);
}

TEST(TaskHandleEmpty, ResultsThrowRuntimeError) {
  TaskHandle<int> h;
  EXPECT_THROW(h.result(), RuntimeError);
  EXPECT_THROW(h.take_result(), RuntimeError);
  EXPECT_THROW(h.exception(), RuntimeError);
}

CO_TEST(TaskHandleEmpty, AwaitingAMovedFromHandleThrowsRuntimeError) {
  auto h = create_task(after(1ms, 1));
  auto moved = std::move(h);
  EXPECT_THROW(co_await h, RuntimeError);
  EXPECT_THROW(co_await std::move(h), RuntimeError);
  EXPECT_EQ(co_await moved, 1);
}

CO_TEST(TaskHandleTest, AwaitingItselfThrowsRuntimeError) {
  auto slot = std::make_shared<TaskHandle<std::string>>();
  *slot = create_task([](std::shared_ptr<TaskHandle<std::string>> self) -> Task<std::string> {
    co_await yield_now();
    try {
      co_await *self;
    } catch (const RuntimeError&) {
      co_return "refused";
    }
    co_return "awaited";
  }(slot));
  TaskHandle<std::string> h = *slot;
  EXPECT_EQ(co_await h, "refused");
  slot->~TaskHandle();  // break the cycle: the task's frame holds `slot`
  new (slot.get()) TaskHandle<std::string>();
}

// ---- Exceptions nobody retrieved. ----

CO_TEST(UnretrievedTest, ReportedOnceWithTheExceptionAndTheName) {
  Reports reports;
  reports.install();
  {
    TaskHandle<int> h = create_task(fail_after(1ms, "lost"), "loser");
    co_await sleep(2ms);
    EXPECT_TRUE(h.done());
    EXPECT_TRUE(reports.seen.empty());  // the handle could still retrieve it
  }
  co_await sleep(1ms);
  Reports::uninstall();
  EXPECT_EQ(reports.seen.size(), 1u);
  if (!reports.seen.empty()) {
    EXPECT_EQ(reports.seen[0].message, "Task exception was never retrieved");
    EXPECT_EQ(what_of(reports.seen[0].exception), "lost");
    EXPECT_EQ(reports.seen[0].task_name, "loser");
  }
}

CO_TEST(UnretrievedTest, ReportedWhenTheHandleWasDroppedBeforeTheFailure) {
  Reports reports;
  reports.install();
  create_task(fail_after(1ms, "dropped early"), "fire-and-forget");
  co_await sleep(5ms);
  Reports::uninstall();
  EXPECT_EQ(reports.seen.size(), 1u);
  if (!reports.seen.empty()) {
    EXPECT_EQ(what_of(reports.seen[0].exception), "dropped early");
    EXPECT_EQ(reports.seen[0].task_name, "fire-and-forget");
  }
}

CO_TEST(UnretrievedTest, ReportCarriesTheDefaultName) {
  Reports reports;
  reports.install();
  std::string name;
  {
    TaskHandle<int> h = create_task(fail_after(1ms, "anonymous"));
    name = h.get_name();
    co_await sleep(2ms);
  }
  Reports::uninstall();
  EXPECT_EQ(reports.seen.size(), 1u);
  if (!reports.seen.empty()) {
    EXPECT_EQ(reports.seen[0].task_name, name);
  }
}

CO_TEST(UnretrievedTest, AwaitedIsNotReported) {
  Reports reports;
  reports.install();
  {
    TaskHandle<int> h = create_task(fail_after(1ms, "x"));
    EXPECT_THROW(co_await h, std::runtime_error);
  }
  co_await sleep(1ms);
  Reports::uninstall();
  EXPECT_TRUE(reports.seen.empty());
}

CO_TEST(UnretrievedTest, ResultIsRetrieval) {
  Reports reports;
  reports.install();
  {
    TaskHandle<int> h = create_task(fail_after(1ms, "x"));
    co_await sleep(2ms);
    EXPECT_THROW(h.result(), std::runtime_error);
  }
  co_await sleep(1ms);
  Reports::uninstall();
  EXPECT_TRUE(reports.seen.empty());
}

CO_TEST(UnretrievedTest, ExceptionIsRetrieval) {
  Reports reports;
  reports.install();
  {
    TaskHandle<int> h = create_task(fail_after(1ms, "x"));
    co_await sleep(2ms);
    EXPECT_NE(h.exception(), nullptr);
  }
  co_await sleep(1ms);
  Reports::uninstall();
  EXPECT_TRUE(reports.seen.empty());
}

CO_TEST(UnretrievedTest, CancelledIsNotReported) {
  Reports reports;
  reports.install();
  {
    TaskHandle<int> h = create_task(after(1h, 0));
    co_await yield_now();
    h.cancel();
    co_await yield_now();
    EXPECT_TRUE(h.cancelled());
  }
  co_await sleep(1ms);
  Reports::uninstall();
  EXPECT_TRUE(reports.seen.empty());
}

CO_TEST(UnretrievedTest, SuccessIsNotReported) {
  Reports reports;
  reports.install();
  create_task(after(1ms, 0));
  co_await sleep(2ms);
  Reports::uninstall();
  EXPECT_TRUE(reports.seen.empty());
}

TEST(UnretrievedTest, ReportedWhenTheLoopIsDrivenByHand) {
  // Neither terminate nor a lost error: the handler hears about it.
  EventLoop loop;
  std::vector<ErrorContext> seen;
  loop.set_exception_handler([&](EventLoop&, const ErrorContext& c) { seen.push_back(c); });
  {
    TaskHandle<void> h = create_task(
        loop,
        []() -> Task<void> {
          throw std::runtime_error("hand-driven");
          co_return;
        }(),
        "by-hand");
  }
  loop.run_once(false);
  EXPECT_EQ(seen.size(), 1u);
  if (!seen.empty()) {
    EXPECT_EQ(seen[0].message, "Task exception was never retrieved");
    EXPECT_EQ(seen[0].task_name, "by-hand");
  }
}

// A task awaiting a handle that is dropped while it waits (asyncio's "keep
// background tasks in a set, discard them when done") still reads the
// result: the awaiter holds its own reference to the task. It used to read
// the freed task (ASan: heap-use-after-free).
Task<std::string> long_string_after(Duration d) {
  co_await sleep(d);
  co_return std::string(100, 'x');
}

CO_TEST(TaskHandleJoin, AHandleDroppedByItsDoneCallbackWhileAwaitedStillGivesTheResult) {
  auto kept = std::make_shared<std::vector<TaskHandle<std::string>>>();
  kept->push_back(create_task(long_string_after(5ms)));
  (*kept)[0].add_done_callback([kept](const TaskRef&) { kept->clear(); });
  std::string v = co_await (*kept)[0];
  EXPECT_EQ(v, std::string(100, 'x'));
  EXPECT_TRUE(kept->empty());
}

CO_TEST(TaskHandleJoin, AHandleReassignedWhileAwaitedStillGivesTheResult) {
  auto h = create_task(long_string_after(5ms));
  auto reassign = create_task([](TaskHandle<std::string>& slot) -> Task<void> {
    slot = TaskHandle<std::string>();
    co_return;
  }(h));
  std::string v = co_await h;  // `reassign` runs while this waits
  EXPECT_EQ(v, std::string(100, 'x'));
  co_await reassign;
}

// ---- a cancel pending when a task awaits another (asyncio's _must_cancel) ----
// A task cancelled while it runs has the request pending; when it then
// awaits another task, asyncio passes the cancel on to that task and the
// awaiter sees how it ends. It used to be raised in the awaiter at once,
// leaving the awaited task running with nobody waiting for it.

using Log = std::vector<std::string>;

Task<int> sleep_logging(Log& log, std::string name, Duration d, int v) {
  try {
    co_await sleep(d);
  } catch (const CancelledError& e) {
    log.push_back(name + " cancelled: " + e.message());
    throw;
  }
  co_return v;
}

CO_TEST(TaskHandleJoin, ACancelPendingWhenAwaitingIsPassedOnToTheAwaitedTask) {
  Log log;
  const TimePoint t0 = current_loop().time();
  TaskHandle<int> child = create_task(sleep_logging(log, "child", 1h, 1));
  TaskHandle<void> parent = create_task([](TaskHandle<int> c, Log& l) -> Task<void> {
    current_task().cancel("stop");  // this task is running: the cancel is pending
    l.push_back("parent awaits");
    try {
      int v = co_await c;
      l.push_back("parent got " + std::to_string(v));
    } catch (const CancelledError& e) {
      l.push_back("parent cancelled: " + e.message());
      throw;
    }
  }(child, log));
  EXPECT_THROW(co_await parent, CancelledError);
  EXPECT_TRUE(parent.cancelled());
  EXPECT_TRUE(child.cancelled());
  EXPECT_EQ(current_loop().time(), t0);  // the child's sleep did not run out
  EXPECT_EQ(log, (Log{"parent awaits", "child cancelled: stop", "parent cancelled: stop"}));
  // (Without the pass-on the child would still sleep here: end it while
  // `log` exists.)
  child.cancel();
  try {
    co_await child;
  } catch (const CancelledError&) {
  }
}

// The rule of internal/task_base.h holds for a passed-on pending cancel as
// for one forwarded while waiting: the awaited task was already woken with
// its value and returns before suspending again, so the request lapses
// there and stays owed to the awaiter, raised at its next suspension point.
CO_TEST(TaskHandleJoin, APendingCancelPassedOnThatLapsesInTheAwaitedTaskStaysOwedToTheAwaiter) {
  Log log;
  Future<int> fut;
  TaskHandle<int> child = create_task([](Future<int> f) -> Task<int> { co_return co_await f; }(fut));
  co_await yield_now();  // the child waits on fut
  TaskHandle<void> parent = create_task([](TaskHandle<int> c, Log& l) -> Task<void> {
    current_task().cancel();
    int v = co_await c;
    l.push_back("parent got " + std::to_string(v));
    try {
      co_await sleep(1h);
      l.push_back("not cancelled");
    } catch (const CancelledError&) {
      l.push_back("cancelled at the next suspension");
      throw;
    }
  }(child, log));
  fut.set_result(5);  // the child is queued behind the parent's first step
  EXPECT_THROW(co_await parent, CancelledError);
  EXPECT_FALSE(child.cancelled());
  EXPECT_EQ(child.result(), 5);
  EXPECT_EQ(log, (Log{"parent got 5", "cancelled at the next suspension"}));
}

}  // namespace
}  // namespace corio
