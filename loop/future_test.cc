// Tests for Future<T>: completing it (on the loop and from other threads),
// awaiting it from many tasks, its error cases, and done callbacks.
#include "corio/loop/future.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/run.h"
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

template <class T>
Task<> await_and_log(Future<T> f, std::vector<std::string>& log, std::string tag) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await f;
      log.push_back(tag + ":done");
    } else {
      log.push_back(tag + ":" + std::to_string(co_await f));
    }
  } catch (const CancelledError&) {
    log.push_back(tag + ":cancelled");
    throw;
  } catch (const std::exception& e) {
    log.push_back(tag + ":error " + e.what());
  }
}

// ---- completing and awaiting ----

CO_TEST(Future, SetResultWakesTheAwaitingTask) {
  Future<int> f;
  std::vector<std::string> log;
  auto t = create_task(await_and_log(f, log, "a"));
  co_await yield_now();  // `a` is suspended on the future
  EXPECT_FALSE(f.done());
  log.push_back("set");
  f.set_result(5);
  EXPECT_TRUE(f.done());
  log.push_back("after-set");  // awaiters run later, not inside set_result
  co_await t;
  EXPECT_THAT(log, ElementsAre("set", "after-set", "a:5"));
}

CO_TEST(Future, AwaitingADoneFutureDoesNotSuspend) {
  Future<std::string> f;
  f.set_result("ready");
  EXPECT_EQ(co_await f, "ready");
  EXPECT_EQ(co_await f, "ready");  // lvalue awaits copy; the value stays
}

CO_TEST(Future, VoidFuture) {
  Future<> f;
  std::vector<std::string> log;
  auto t = create_task(await_and_log(f, log, "a"));
  co_await yield_now();
  f.set_result();
  co_await t;
  EXPECT_THAT(log, ElementsAre("a:done"));
  f.result();  // no throw
}

CO_TEST(Future, ManyAwaitersAllGetTheValueInTheOrderTheyStartedWaiting) {
  Future<int> f;
  std::vector<std::string> log;
  std::vector<TaskHandle<>> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(create_task(await_and_log(f, log, std::to_string(i))));
  co_await yield_now();
  f.set_result(7);
  for (auto& t : tasks) co_await t;
  EXPECT_THAT(log, ElementsAre("0:7", "1:7", "2:7", "3:7", "4:7"));
}

CO_TEST(Future, SetExceptionIsRethrownWithItsType) {
  Future<int> f;
  auto t = create_task([](Future<int> fut) -> Task<int> { co_return co_await fut; }(f));
  co_await yield_now();
  f.set_exception(std::make_exception_ptr(std::out_of_range("nope")));
  EXPECT_THROW(co_await t, std::out_of_range);
  EXPECT_THROW(co_await f, std::out_of_range);  // and to later awaiters
}

CO_TEST(Future, CancelRaisesCancelledErrorInItsAwaiters) {
  Future<int> f;
  std::vector<std::string> log;
  auto a = create_task(await_and_log(f, log, "a"));
  auto b = create_task(await_and_log(f, log, "b"));
  co_await yield_now();
  EXPECT_TRUE(f.cancel("stop"));
  EXPECT_TRUE(f.cancelled());
  EXPECT_TRUE(f.done());
  EXPECT_THROW(co_await a, CancelledError);
  EXPECT_THROW(co_await b, CancelledError);
  EXPECT_THAT(log, ElementsAre("a:cancelled", "b:cancelled"));
  try {
    co_await f;
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "stop");
  }
}

CO_TEST(Future, MoveOnlyValueIsMovedOutByAwaitingAnRvalue) {
  Future<std::unique_ptr<int>> f;
  auto t = create_task([](Future<std::unique_ptr<int>> fut) -> Task<int> {
    std::unique_ptr<int> p = co_await std::move(fut);
    co_return *p;
  }(f));
  co_await yield_now();
  f.set_result(std::make_unique<int>(11));
  EXPECT_EQ(co_await t, 11);
  EXPECT_EQ(f.result(), nullptr);  // it was moved out
}

// ---- cancelling a task that awaits a future (asyncio) ----
// Cancelling a task while it awaits a Future cancels the Future, with the
// task's cancel message, so that whoever was to complete it learns that
// the wait was abandoned, and every other awaiter sees CancelledError too.
// shield(fut) (shield.h) awaits a shared future without that. corio used to
// leave the future pending.

CO_TEST(Future, CancellingATaskThatAwaitsItCancelsTheFuture) {
  Future<int> f;
  std::vector<std::string> log;
  auto t = create_task(await_and_log(f, log, "t"));
  co_await yield_now();
  EXPECT_TRUE(t.cancel("abandoned"));
  EXPECT_TRUE(f.cancelled());  // at once, inside cancel()
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_THAT(log, ElementsAre("t:cancelled"));
  EXPECT_THROW(f.set_result(1), InvalidStateError);
  try {
    (void)f.result();
    ADD_FAILURE() << "no exception";
  } catch (const CancelledError& e) {
    EXPECT_EQ(e.message(), "abandoned");
  }
}

// Was CancellingAnAwaitingTaskLeavesTheFuturePendingForOthers, the
// opposite of asyncio: the future is cancelled, so all its awaiters are
// woken with CancelledError, in the order they began waiting.
CO_TEST(Future, CancellingOneAwaitingTaskRaisesCancelledErrorInEveryAwaiter) {
  Future<int> f;
  std::vector<std::string> log;
  auto a = create_task(await_and_log(f, log, "a"));
  auto b = create_task(await_and_log(f, log, "b"));
  auto c = create_task(await_and_log(f, log, "c"));
  co_await yield_now();
  EXPECT_TRUE(b.cancel());
  EXPECT_THROW(co_await b, CancelledError);
  EXPECT_THROW(co_await a, CancelledError);
  EXPECT_THROW(co_await c, CancelledError);
  EXPECT_TRUE(f.cancelled());
  EXPECT_THAT(log, ElementsAre("a:cancelled", "b:cancelled", "c:cancelled"));
}

CO_TEST(Future, ItsDoneCallbacksRunWhenAnAwaitingTaskIsCancelled) {
  Future<int> f;
  std::vector<std::string> log;
  f.add_done_callback([&log](Future<int> fut) { log.push_back(fut.cancelled() ? "callback: cancelled" : "callback"); });
  auto t = create_task(await_and_log(f, log, "t"));
  co_await yield_now();
  t.cancel();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_THAT(log, ElementsAre("callback: cancelled", "t:cancelled"));
}

// A cancel requested while the task ran, still pending when it awaits a
// future, is passed on to the future as asyncio's Task.__step does; the
// task raises it without suspending.
CO_TEST(Future, ACancelPendingWhenAwaitingIsPassedOnToTheFuture) {
  Future<int> f;
  std::vector<std::string> log;
  auto other = create_task(await_and_log(f, log, "other"));
  co_await yield_now();  // `other` waits on f
  auto t = create_task([](Future<int> fut, std::vector<std::string>& l) -> Task<> {
    current_task().cancel("stop");
    try {
      (void)co_await fut;
      l.push_back("t got a value");
    } catch (const CancelledError& e) {
      l.push_back("t:cancelled " + e.message());
      throw;
    }
  }(f, log));
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_TRUE(f.cancelled());
  EXPECT_THROW(co_await other, CancelledError);
  EXPECT_THAT(log, ElementsAre("t:cancelled stop", "other:cancelled"));
}

CO_TEST(Future, CancelledAfterTheWakeTheTaskStillGetsTheValue) {
  // The value was handed over before the cancel; the cancel then waits for
  // the task's next suspension point.
  Future<int> f;
  std::vector<std::string> log;
  auto t = create_task([](Future<int> fut, std::vector<std::string>& l) -> Task<> {
    l.push_back("got " + std::to_string(co_await fut));
    try {
      co_await yield_now();
    } catch (const CancelledError&) {
      l.push_back("cancelled at the next await");
      throw;
    }
  }(f, log));
  co_await yield_now();
  f.set_result(9);  // `t` is scheduled to resume with 9
  t.cancel();       // before it has run
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_THAT(log, ElementsAre("got 9", "cancelled at the next await"));
}

TEST(Future, DefaultConstructorOutsideARunningLoopThrows) { EXPECT_THROW(Future<int>(), RuntimeError); }

TEST(Future, BoundToTheLoopItWasMadeFor) {
  EventLoop loop;
  Future<int> f(loop);
  EXPECT_EQ(&f.loop(), &loop);
  Future<int> copy = f;
  EXPECT_EQ(&copy.loop(), &loop);
}

// ---- InvalidStateError and result()/exception() ----

TEST(Future, ResultAndExceptionOfAPendingFutureThrowInvalidState) {
  EventLoop loop;
  Future<int> f(loop);
  EXPECT_THROW(f.result(), InvalidStateError);
  EXPECT_THROW(f.exception(), InvalidStateError);
}

TEST(Future, SettingADoneFutureThrowsInvalidState) {
  EventLoop loop;
  Future<int> f(loop);
  f.set_result(1);
  EXPECT_THROW(f.set_result(2), InvalidStateError);
  EXPECT_THROW(f.set_exception(std::make_exception_ptr(std::runtime_error("x"))), InvalidStateError);
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(), 1);  // unchanged
}

TEST(Future, SettingACancelledFutureThrowsInvalidState) {
  EventLoop loop;
  Future<int> f(loop);
  EXPECT_TRUE(f.cancel());
  EXPECT_FALSE(f.cancel());
  EXPECT_THROW(f.set_result(2), InvalidStateError);
}

TEST(Future, SetExceptionWithANullPointerThrowsInvalidState) {
  EventLoop loop;
  Future<int> f(loop);
  EXPECT_THROW(f.set_exception(nullptr), InvalidStateError);
  EXPECT_FALSE(f.done());
}

TEST(Future, ResultAndExceptionOfACompletedFuture) {
  EventLoop loop;
  Future<int> f(loop);
  f.set_result(4);
  EXPECT_EQ(f.result(), 4);
  EXPECT_EQ(f.exception(), nullptr);
}

TEST(Future, ResultRethrowsAndExceptionReturnsTheError) {
  EventLoop loop;
  Future<int> f(loop);
  f.set_exception(std::make_exception_ptr(std::length_error("long")));
  EXPECT_THROW(f.result(), std::length_error);
  std::exception_ptr e = f.exception();
  EXPECT_THROW(std::rethrow_exception(e), std::length_error);
}

TEST(Future, ResultAndExceptionOfACancelledFutureRaiseCancelledError) {
  EventLoop loop;
  Future<int> f(loop);
  f.cancel();
  EXPECT_THROW(f.result(), CancelledError);
  EXPECT_THROW(f.exception(), CancelledError);
}

// ---- done callbacks ----

CO_TEST(FutureDoneCallback, RunsLaterThroughCallSoonNotInsideSetResult) {
  Future<int> f;
  std::vector<std::string> log;
  f.add_done_callback([&log](const Future<int>& done) { log.push_back("callback " + std::to_string(done.result())); });
  log.push_back("before-set");
  f.set_result(8);
  log.push_back("after-set");
  co_await yield_now();
  EXPECT_THAT(log, ElementsAre("before-set", "after-set", "callback 8"));
}

CO_TEST(FutureDoneCallback, CallbacksRunInRegistrationOrder) {
  Future<> f;
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) f.add_done_callback([&order, i](const Future<>&) { order.push_back(i); });
  f.set_result();
  co_await yield_now();
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3, 4));
}

CO_TEST(FutureDoneCallback, OnADoneFutureItIsStillDeferred) {
  Future<int> f;
  f.set_result(1);
  std::vector<std::string> log;
  f.add_done_callback([&log](const Future<int>&) { log.push_back("callback"); });
  log.push_back("registered");
  co_await yield_now();
  EXPECT_THAT(log, ElementsAre("registered", "callback"));
}

CO_TEST(FutureDoneCallback, RunsOnCancelAndOnException) {
  Future<int> cancelled;
  Future<int> failed;
  std::vector<std::string> log;
  cancelled.add_done_callback([&log](const Future<int>& f) { log.push_back(f.cancelled() ? "cancelled" : "?"); });
  failed.add_done_callback([&log](const Future<int>& f) { log.push_back(f.exception() ? "failed" : "?"); });
  cancelled.cancel();
  failed.set_exception(std::make_exception_ptr(std::runtime_error("x")));
  co_await yield_now();
  EXPECT_THAT(log, ElementsAre("cancelled", "failed"));
}

CO_TEST(FutureDoneCallback, ThrowingCallbackGoesToTheExceptionHandler) {
  EventLoop& loop = current_loop();
  std::vector<std::string> reports;
  loop.set_exception_handler([&](EventLoop&, const ErrorContext& ctx) {
    try {
      std::rethrow_exception(ctx.exception);
    } catch (const std::exception& e) {
      reports.push_back(e.what());
    }
  });
  Future<int> f;
  f.add_done_callback([](const Future<int>&) { throw std::runtime_error("callback failed"); });
  f.set_result(1);
  co_await yield_now();
  EXPECT_THAT(reports, ElementsAre("callback failed"));
}

// Regression: a done callback held a Future, i.e. a reference to the very
// state whose list held the callback. A future dropped while still pending
// therefore kept itself and its callbacks alive forever.
TEST(FutureDoneCallback, PendingCallbacksAreReleasedWithTheLastFuture) {
  EventLoop loop;
  auto token = std::make_shared<int>(0);
  {
    Future<int> f(loop);
    f.add_done_callback([token](const Future<int>&) {});
    EXPECT_EQ(token.use_count(), 2);
  }
  EXPECT_EQ(token.use_count(), 1);
}

TEST(FutureDoneCallback, CallbackKeepsTheFutureAliveUntilItRuns) {
  EventLoop loop;
  int seen = 0;
  {
    Future<int> f(loop);
    f.add_done_callback([&seen](const Future<int>& done) { seen = done.result(); });
    f.set_result(12);
  }  // the last user-held Future is gone; the queued callback holds one
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();
  EXPECT_EQ(seen, 12);
}

// ---- from other threads ----

CO_TEST(FutureThreadsafe, SetResultFromAnotherThread) {
  Future<int> f;
  std::thread producer([f] { f.set_result_threadsafe(21); });
  const int v = co_await f;
  producer.join();
  EXPECT_EQ(v, 21);
}

CO_TEST(FutureThreadsafe, SetExceptionFromAnotherThread) {
  Future<int> f;
  std::thread producer([f] { f.set_exception_threadsafe(std::make_exception_ptr(std::out_of_range("far"))); });
  EXPECT_THROW(co_await f, std::out_of_range);
  producer.join();
}

CO_TEST(FutureThreadsafe, ManyProducersEachCompleteTheirOwnFuture) {
  constexpr int kThreads = 8;
  std::vector<Future<int>> futures;
  for (int i = 0; i < kThreads; ++i) futures.emplace_back(current_loop());
  std::vector<std::thread> producers;
  for (int i = 0; i < kThreads; ++i) {
    producers.emplace_back([f = futures[i], i] { f.set_result_threadsafe(i * i); });
  }
  int sum = 0;
  for (auto& f : futures) sum += co_await f;
  for (auto& p : producers) p.join();
  EXPECT_EQ(sum, 0 + 1 + 4 + 9 + 16 + 25 + 36 + 49);
}

CO_TEST(FutureThreadsafe, MoveOnlyValueFromAnotherThread) {
  Future<std::unique_ptr<std::string>> f;
  std::thread producer([f] { f.set_result_threadsafe(std::make_unique<std::string>("moved")); });
  std::unique_ptr<std::string> s = co_await std::move(f);
  producer.join();
  EXPECT_EQ(*s, "moved");
}

CO_TEST(FutureThreadsafe, ValueArrivingAfterCancelIsDropped) {
  Future<int> f;
  f.cancel();
  std::thread producer([f] { f.set_result_threadsafe(5); });  // no InvalidStateError anywhere
  producer.join();
  co_await sleep(1ms);  // the posted completion has run
  EXPECT_TRUE(f.cancelled());
  EXPECT_THROW(f.result(), CancelledError);
}

TEST(FutureThreadsafe, CopiesMayBeDroppedOnAnyThread) {
  EventLoop loop;
  Future<int> f(loop);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([f] {
      Future<int> local = f;  // copies and drops race with each other
      (void)local;
    });
  }
  for (auto& t : threads) t.join();
  f.set_result(1);
  EXPECT_EQ(f.result(), 1);
}

// A value set from another thread whose post never runs (the loop is
// destroyed first) is released with the loop's queue: the posted closure
// used to hold a raw counted pointer that only running it released.
struct Counted {
  explicit Counted(std::atomic<int>& live) : live(&live) { ++live; }
  Counted(const Counted& o) : live(o.live) { ++*live; }
  Counted(Counted&& o) noexcept : live(o.live) { ++*live; }
  ~Counted() { --*live; }
  std::atomic<int>* live;
};

TEST(FutureThreadsafe, ASetResultPostedToALoopDestroyedUnrunLeaksNothing) {
  std::atomic<int> live{0};
  {
    EventLoop loop;
    Future<Counted> f(loop);
    f.add_done_callback([c = Counted(live)](const Future<Counted>&) {});  // owned by the state
    f.set_result_threadsafe(Counted(live));                               // posted; the loop never runs
  }
  EXPECT_EQ(live.load(), 0);
}

TEST(FutureThreadsafe, ASetExceptionPostedToALoopDestroyedUnrunLeaksNothing) {
  std::atomic<int> live{0};
  {
    EventLoop loop;
    Future<Counted> f(loop);
    f.set_exception_threadsafe(std::make_exception_ptr(std::runtime_error("x")));
    f.set_result(Counted(live));  // the state owns one now
  }
  EXPECT_EQ(live.load(), 0);
}

CO_TEST(FutureThreadsafe, SetExceptionThreadsafeWithNullThrowsInvalidStateError) {
  Future<int> f;
  EXPECT_THROW(f.set_exception_threadsafe(nullptr), InvalidStateError);
  co_await sleep(0ms);
  EXPECT_FALSE(f.done());
}

}  // namespace
}  // namespace corio
