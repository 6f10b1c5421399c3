// Tests for cancellation: TaskHandle::cancel() raises CancelledError at the
// task's current suspension point, whatever kind it is, and the protocol of
// internal/task_base.h (late cancels, counts, messages).
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using Log = std::vector<std::string>;

// Logs its destruction: shows that the cancelled frame unwound.
struct Guard {
  Log* log;
  std::string name;
  ~Guard() { log->push_back(name + " destroyed"); }
};

// Runs `body` with a guard and a catch block that logs and rethrows.
template <class T>
Task<T> logged(Log& log, std::string name, Task<T> body) {
  Guard g{&log, name};
  try {
    co_return co_await std::move(body);
  } catch (const CancelledError& e) {
    log.push_back(name + " caught CancelledError");
    throw;
  }
}

Task<int> sleep_then(Duration d, int v) {
  co_await sleep(d);
  co_return v;
}

CO_TEST(CancellationTest, DuringSleep) {
  Log log;
  TaskHandle<int> t = create_task(logged(log, "sleeper", sleep_then(1h, 1)));
  co_await yield_now();
  TimePoint t0 = current_loop().time();
  EXPECT_TRUE(t.cancel());
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(current_loop().time(), t0);  // the timer did not have to fire
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(log, (Log{"sleeper caught CancelledError", "sleeper destroyed"}));
}

CO_TEST(CancellationTest, DuringYieldNow) {
  Log log;
  TaskHandle<void> t = create_task(logged(log, "yielder", []() -> Task<void> {
    for (;;) co_await yield_now();
  }()));
  co_await yield_now();
  co_await yield_now();
  t.cancel();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"yielder caught CancelledError", "yielder destroyed"}));
}

CO_TEST(CancellationTest, WhileAwaitingAFuture) {
  Log log;
  Future<int> fut;
  TaskHandle<int> t = create_task(logged(log, "waiter", [](Future<int> f) -> Task<int> { co_return co_await f; }(fut)));
  co_await yield_now();
  t.cancel();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"waiter caught CancelledError", "waiter destroyed"}));
  EXPECT_TRUE(fut.cancelled());  // as in asyncio, the future is cancelled with it
}

CO_TEST(CancellationTest, WhileAwaitingAnotherTaskCancelsThatTaskToo) {
  Log log;
  TaskHandle<int> child = create_task(logged(log, "child", sleep_then(1h, 1)));
  TaskHandle<int> parent =
      create_task(logged(log, "parent", [](TaskHandle<int> c) -> Task<int> { co_return co_await c; }(child)));
  co_await yield_now();
  parent.cancel("stop both");
  try {
    co_await parent;
    ADD_FAILURE() << "no exception";
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "stop both");
  }
  EXPECT_TRUE(child.cancelled());
  EXPECT_TRUE(parent.cancelled());
  // The child unwinds first; the parent sees how it ended.
  EXPECT_EQ(
      log, (Log{"child caught CancelledError", "child destroyed", "parent caught CancelledError", "parent destroyed"}));
}

// ---- two awaits in one expression ----
// g++ 12 evaluates `co_await a + co_await b` as a's suspend, b's ready and
// suspend, then a's resume and b's: a cancel that ends the wait on `a` must
// not wait for `b` (which here never completes).

Task<int> sum_of(Future<int> a, Future<int> b) { co_return co_await a + co_await b; }

Task<int> sum_after(Future<int> first, Future<int> a, Future<int> b) {
  co_await first;
  co_return co_await a + co_await b;
}

Task<int> sum_of_task_and(TaskHandle<int> h, Future<int> b) { co_return co_await h + co_await b; }

// Awaits `t` for at most an hour of loop time; true if it ended in
// CancelledError without the loop's clock moving.
Task<bool> ends_cancelled_at_once(TaskHandle<int> t) {
  const TimePoint t0 = current_loop().time();
  std::vector<TaskHandle<int>> tasks;  // (a braced temporary here trips g++ 12)
  tasks.push_back(t);
  co_await wait(std::move(tasks), ReturnWhen::kAllCompleted, 1h);
  co_return t.done() && t.cancelled() && current_loop().time() == t0;
}

CO_TEST(CancellationTest, OfTheFirstOfTwoAwaitsInOneExpressionIsRaisedAtOnce) {
  Future<int> a, b;
  TaskHandle<int> t = create_task(sum_of(a, b));
  co_await yield_now();  // t waits on a
  t.cancel();
  EXPECT_TRUE(co_await ends_cancelled_at_once(t));
}

CO_TEST(CancellationTest, PendingWhenTwoAwaitsInOneExpressionStartIsRaisedAtOnce) {
  Future<int> first, a, b;
  TaskHandle<int> t = create_task(sum_after(first, a, b));
  co_await yield_now();  // t waits on first
  first.set_result(0);   // t is woken, and has not run yet:
  t.cancel();            // the cancel is pending when t reaches a + b
  EXPECT_TRUE(co_await ends_cancelled_at_once(t));
}

CO_TEST(CancellationTest, ForwardedToATaskAwaitedFirstInAnExpressionIsRaisedAtOnce) {
  Future<int> b;
  TaskHandle<int> child = create_task(sleep_then(1h, 1));
  TaskHandle<int> t = create_task(sum_of_task_and(child, b));
  co_await yield_now();  // t waits on child, which sleeps
  t.cancel();
  EXPECT_TRUE(co_await ends_cancelled_at_once(t));
  EXPECT_TRUE(child.cancelled());
}

CO_TEST(CancellationTest, AfterACancelFromAnExpressionIsRaisedTheNextAwaitWaits) {
  Future<int> a, b;
  TaskHandle<int> t = create_task([](Future<int> a, Future<int> b) -> Task<int> {
    try {
      co_return co_await a + co_await b;
    } catch (const CancelledError&) {
      current_task().uncancel();
    }
    co_await sleep(5ms);  // waits: nothing is left of the cancel
    co_return 7;
  }(a, b));
  co_await yield_now();
  const TimePoint t0 = current_loop().time();
  t.cancel();
  EXPECT_EQ(co_await t, 7);
  EXPECT_EQ(current_loop().time(), t0 + 5ms);
}

CO_TEST(CancellationTest, WhileAwaitingAChainTheInnermostLeafGetsIt) {
  Log log;
  TaskHandle<int> t = create_task(logged(log, "outer", logged(log, "middle", logged(log, "leaf", sleep_then(1h, 1)))));
  co_await yield_now();
  t.cancel();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"leaf caught CancelledError", "leaf destroyed", "middle caught CancelledError",
                      "middle destroyed", "outer caught CancelledError", "outer destroyed"}));
}

CO_TEST(CancellationTest, WhileWaitingForAFileDescriptor) {
  std::array<int, 2> fds{-1, -1};
  EXPECT_EQ(::pipe2(fds.data(), O_NONBLOCK | O_CLOEXEC), 0);
  Log log;
  TaskHandle<void> t =
      create_task(logged(log, "reader", [](int fd) -> Task<void> { co_await wait_readable(fd); }(fds[0])));
  co_await yield_now();
  t.cancel();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"reader caught CancelledError", "reader destroyed"}));
  // The waiter was removed: another task may wait on the same fd now.
  TaskHandle<void> again = create_task([](int fd) -> Task<void> { co_await wait_readable(fd); }(fds[0]));
  co_await yield_now();
  EXPECT_EQ(::write(fds[1], "x", 1), 1);
  co_await again;
  ::close(fds[0]);
  ::close(fds[1]);
}

CO_TEST(CancellationTest, WhileAwaitingTheExecutor) {
  std::promise<void> gate;
  std::shared_future<void> gate_open = gate.get_future().share();
  Future<void> job_finished;
  Log log;
  TaskHandle<int> t =
      create_task(logged(log, "offloader", [](std::shared_future<void> g, Future<void> fin) -> Task<int> {
        auto job = [g, fin] {
          g.wait();
          fin.set_result_threadsafe();
          return 1;
        };
        Future<int> result = to_thread(std::move(job));
        co_return co_await result;
      }(gate_open, job_finished)));
  co_await yield_now();
  t.cancel();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"offloader caught CancelledError", "offloader destroyed"}));
  // The job itself cannot be interrupted; it runs to its end.
  gate.set_value();
  co_await job_finished;
}

Task<void> gather_two(Log& log, TaskHandle<int> a, TaskHandle<int> b) {
  try {
    co_await gather(a, b);
  } catch (const CancelledError&) {
    log.push_back("gatherer caught CancelledError");
    throw;
  }
}

CO_TEST(CancellationTest, WhileInGatherCancelsAndAwaitsTheChildren) {
  Log log;
  TaskHandle<int> a = create_task(logged(log, "a", sleep_then(1h, 1)));
  TaskHandle<int> b = create_task(logged(log, "b", sleep_then(1h, 2)));
  TaskHandle<void> g = create_task(gather_two(log, a, b));
  co_await yield_now();
  g.cancel();
  EXPECT_THROW(co_await g, CancelledError);
  EXPECT_TRUE(a.cancelled());
  EXPECT_TRUE(b.cancelled());
  EXPECT_EQ(log, (Log{"a caught CancelledError", "a destroyed", "b caught CancelledError", "b destroyed",
                      "gatherer caught CancelledError"}));
}

CO_TEST(CancellationTest, WhileInWaitStopsWaitingOnly) {
  TaskHandle<int> a = create_task(sleep_then(10ms, 1));
  TaskHandle<void> w = create_task([](TaskHandle<int> x) -> Task<void> {
    std::vector<TaskHandle<int>> set;
    set.push_back(x);
    co_await wait(std::move(set));
  }(a));
  co_await yield_now();
  w.cancel();
  EXPECT_THROW(co_await w, CancelledError);
  EXPECT_FALSE(a.done());
  EXPECT_EQ(co_await a, 1);
}

CO_TEST(CancellationTest, WhileATaskGroupWaitsForItsChildren) {
  Log log;
  TaskHandle<void> g = create_task(logged(log, "group", task_group([&log](TaskGroup& tg) -> Task<void> {
                                            tg.create_task(logged(log, "c1", sleep_then(1h, 1)));
                                            tg.create_task(logged(log, "c2", sleep_then(1h, 2)));
                                            co_return;  // the group now waits for c1 and c2
                                          })));
  co_await yield_now();
  g.cancel();
  EXPECT_THROW(co_await g, CancelledError);
  EXPECT_EQ(log, (Log{"c1 caught CancelledError", "c1 destroyed", "c2 caught CancelledError", "c2 destroyed",
                      "group caught CancelledError", "group destroyed"}));
}

CO_TEST(CancellationTest, InsideATimeoutScopeIsCancelledErrorNotTimeoutError) {
  Log log;
  TaskHandle<int> t = create_task(logged(log, "scoped", timeout(1h, sleep_then(2h, 1))));
  co_await sleep(1ms);
  t.cancel();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"scoped caught CancelledError", "scoped destroyed"}));
}

CO_TEST(CancellationTest, WhileShieldedOnlyTheOuterTaskIsCancelled) {
  TaskHandle<int> inner = create_task(sleep_then(10ms, 5));
  Log log;
  TaskHandle<int> outer =
      create_task(logged(log, "outer", [](TaskHandle<int> i) -> Task<int> { co_return co_await shield(i); }(inner)));
  co_await yield_now();
  outer.cancel();
  EXPECT_THROW(co_await outer, CancelledError);
  EXPECT_FALSE(inner.done());
  EXPECT_EQ(co_await inner, 5);
}

CO_TEST(CancellationTest, CancellingAFinishedTaskIsANoOp) {
  TaskHandle<int> t = create_task(sleep_then(1ms, 3));
  co_await t;
  EXPECT_FALSE(t.cancel());
  EXPECT_FALSE(t.cancelled());
  EXPECT_EQ(t.cancelling(), 0u);
  EXPECT_EQ(t.result(), 3);
}

CO_TEST(CancellationTest, CancelledBeforeItStartsTheBodyNeverRuns) {
  bool ran = false;
  TaskHandle<void> t = create_task([](bool& r) -> Task<void> {
    r = true;
    co_return;
  }(ran));
  EXPECT_TRUE(t.cancel("early"));
  try {
    co_await t;
    ADD_FAILURE() << "no exception";
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "early");
  }
  EXPECT_FALSE(ran);
  EXPECT_TRUE(t.cancelled());
}

CO_TEST(CancellationTest, LateCancelAfterAFutureWakeKeepsTheValue) {
  Future<int> fut;
  Log log;
  TaskHandle<void> t = create_task([](Future<int> f, Log& l) -> Task<void> {
    int v = co_await f;
    l.push_back("got " + std::to_string(v));
    try {
      co_await yield_now();
      l.push_back("not cancelled");
    } catch (const CancelledError&) {
      l.push_back("cancelled at the next suspension");
      throw;
    }
  }(fut, log));
  co_await yield_now();
  fut.set_result(42);       // wakes t: it is queued, not yet resumed
  EXPECT_TRUE(t.cancel());  // arrives before t runs again
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"got 42", "cancelled at the next suspension"}));
}

CO_TEST(CancellationTest, LateCancelAfterAJoinWakeKeepsTheValue) {
  Log log;
  TaskHandle<int> child = create_task(sleep_then(1ms, 7));
  TaskHandle<void> t = create_task([](TaskHandle<int> c, Log& l) -> Task<void> {
    int v = co_await c;
    l.push_back("got " + std::to_string(v));
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      l.push_back("cancelled at the next suspension");
      throw;
    }
  }(child, log));
  // Main awaits the child before t starts, so when the child finishes main
  // is woken first and runs before t, which has been woken but not resumed.
  co_await child;
  EXPECT_TRUE(t.cancel());  // ...and t has not run yet
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"got 7", "cancelled at the next suspension"}));
  EXPECT_FALSE(child.cancelled());
}

// The parent's cancel, forwarded to the child it awaits, arrives after the
// child was woken: the child keeps its value and returns without reaching
// another suspension point, so the request lapses there. It used to be
// lost for good: cancel() returned true and the parent was never
// cancelled. It is the parent's cancel, so it stays pending there.
CO_TEST(CancellationTest, AForwardedCancelThatLapsedInTheChildIsDeliveredToTheParent) {
  Future<int> fut;
  Log log;
  TaskHandle<int> child = create_task([](Future<int> f) -> Task<int> { co_return co_await f; }(fut));
  TaskHandle<void> parent = create_task([](TaskHandle<int> c, Log& l) -> Task<void> {
    int v = co_await c;
    l.push_back("got " + std::to_string(v));
    try {
      co_await sleep(1h);
      l.push_back("not cancelled");
    } catch (const CancelledError&) {
      l.push_back("cancelled at the next suspension");
      throw;
    }
  }(child, log));
  co_await yield_now();          // child waits on fut, parent on child
  fut.set_result(5);             // wakes the child: queued, not yet resumed
  EXPECT_TRUE(parent.cancel());  // forwarded to the child
  EXPECT_THROW(co_await parent, CancelledError);
  EXPECT_EQ(log, (Log{"got 5", "cancelled at the next suspension"}));
  EXPECT_FALSE(child.cancelled());
  EXPECT_EQ(co_await child, 5);
}

// The control: a child that receives the forwarded cancel and returns a
// value anyway has used it up, as in asyncio; the parent goes on.
CO_TEST(CancellationTest, AForwardedCancelTheChildSwallowedIsNotRaisedAgainInTheParent) {
  Log log;
  TaskHandle<int> child = create_task([]() -> Task<int> {
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      co_return 1;
    }
    co_return 0;
  }());
  TaskHandle<void> parent = create_task([](TaskHandle<int> c, Log& l) -> Task<void> {
    int v = co_await c;
    l.push_back("got " + std::to_string(v));
    co_await sleep(1h);
    l.push_back("not cancelled");
  }(child, log));
  co_await yield_now();
  EXPECT_TRUE(parent.cancel());
  co_await parent;
  EXPECT_EQ(log, (Log{"got 1", "not cancelled"}));
  EXPECT_FALSE(parent.cancelled());
}

CO_TEST(CancellationTest, LateCancelAfterASleepWakeIsDeliveredAtOnce) {
  Log log;
  TaskHandle<void> t = create_task([](Log& l) -> Task<void> {
    try {
      co_await sleep(1ms);
      l.push_back("woke normally");
    } catch (const CancelledError&) {
      l.push_back("cancelled at the sleep");
      throw;
    }
  }(log));
  co_await sleep(1ms);  // t's timer was scheduled first: t is woken first
  EXPECT_TRUE(t.cancel());
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"cancelled at the sleep"}));
}

CO_TEST(CancellationTest, CatchingCancelledErrorAndContinuing) {
  TaskHandle<int> t = create_task([]() -> Task<int> {
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      EXPECT_EQ(current_task().cancelling(), 1u);
      EXPECT_EQ(current_task().uncancel(), 0u);
    }
    co_await sleep(1ms);  // no further cancellation pending
    co_return 9;
  }());
  co_await yield_now();
  t.cancel();
  EXPECT_EQ(co_await t, 9);
  EXPECT_FALSE(t.cancelled());
  EXPECT_EQ(t.cancelling(), 0u);
}

CO_TEST(CancellationTest, SwallowedCancelWithoutUncancelKeepsTheCount) {
  TaskHandle<int> t = create_task([]() -> Task<int> {
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
    }
    co_await sleep(1ms);
    co_return 1;
  }());
  co_await yield_now();
  t.cancel();
  EXPECT_EQ(co_await t, 1);
  EXPECT_EQ(t.cancelling(), 1u);
}

CO_TEST(CancellationTest, CancellingAndUncancelCount) {
  TaskHandle<int> t = create_task(sleep_then(1h, 0));
  co_await yield_now();
  EXPECT_EQ(t.cancelling(), 0u);
  t.cancel();
  t.cancel();
  EXPECT_EQ(t.cancelling(), 2u);
  EXPECT_EQ(t.uncancel(), 1u);
  EXPECT_EQ(t.cancelling(), 1u);
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(t.uncancel(), 0u);
  EXPECT_EQ(t.uncancel(), 0u);  // never below zero
}

CO_TEST(CancellationTest, UncancelToZeroDropsAPendingRequest) {
  Log log;
  TaskHandle<void> t = create_task([](Log& l) -> Task<void> {
    // Cancel and withdraw while running: nothing is delivered.
    current_task().cancel();
    EXPECT_EQ(current_task().uncancel(), 0u);
    co_await sleep(1ms);
    l.push_back("not cancelled");
  }(log));
  co_await t;
  EXPECT_EQ(log, (Log{"not cancelled"}));
}

CO_TEST(CancellationTest, SelfCancelIsDeliveredAtTheNextSuspension) {
  Log log;
  TaskHandle<void> t = create_task([](Log& l) -> Task<void> {
    EXPECT_TRUE(current_task().cancel("self"));
    l.push_back("still running");
    try {
      co_await sleep(1ms);
    } catch (const CancelledError& e) {
      l.push_back("cancelled: " + e.message());
      throw;
    }
  }(log));
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"still running", "cancelled: self"}));
}

CO_TEST(CancellationTest, MessagePropagates) {
  TaskHandle<int> t = create_task(sleep_then(1h, 0));
  co_await yield_now();
  t.cancel("shutting down");
  try {
    co_await t;
    ADD_FAILURE() << "no exception";
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "shutting down");
    EXPECT_STREQ(e.what(), "shutting down");
  }
  try {
    t.result();
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "shutting down");
  }
}

CO_TEST(CancellationTest, MessagePropagatesThroughGather) {
  TaskHandle<int> a = create_task(sleep_then(1h, 0));
  TaskHandle<void> g = create_task([](TaskHandle<int> x) -> Task<void> { co_await gather(x); }(a));
  co_await yield_now();
  g.cancel("gather stop");
  try {
    co_await g;
    ADD_FAILURE() << "no exception";
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "gather stop");
  }
  try {
    co_await a;
    ADD_FAILURE() << "no exception";
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "gather stop");
  }
}

CO_TEST(CancellationTest, CancelledErrorIsNotAStdException) {
  TaskHandle<int> t = create_task(sleep_then(1h, 0));
  co_await yield_now();
  t.cancel();
  bool std_caught = false;
  bool cancel_caught = false;
  try {
    try {
      co_await t;
    } catch (const std::exception&) {
      std_caught = true;
    }
  } catch (const CancelledError&) {
    cancel_caught = true;
  }
  EXPECT_FALSE(std_caught);
  EXPECT_TRUE(cancel_caught);
}

CO_TEST(CancellationTest, TwoCancelsBeforeTheTaskRunsDeliverOneCancelledError) {
  // asyncio delivers one CancelledError however often cancel() is called
  // before the task runs again; the cleanup's own await must not get a
  // second one.
  Log log;
  auto t = create_task([](Log& log) -> Task<int> {
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      log.push_back("cancelled");
    }
    co_await sleep(1ms);  // cleanup that needs to await
    log.push_back("cleanup done");
    co_return 7;
  }(log));
  co_await yield_now();
  EXPECT_TRUE(t.cancel());
  EXPECT_TRUE(t.cancel());
  EXPECT_EQ(t.cancelling(), 2u);
  EXPECT_EQ(co_await t, 7);
  EXPECT_EQ(log, (Log{"cancelled", "cleanup done"}));
}

}  // namespace
}  // namespace corio
