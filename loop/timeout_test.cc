// Tests for timeout, timeout_at and wait_for: expiry, rescheduling, nesting,
// interaction with cancel(), and the cancellation counts they leave behind.
#include "corio/loop/timeout.h"

#include <chrono>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/future.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using Log = std::vector<std::string>;

Task<int> sleep_then(Duration d, int v) {
  co_await sleep(d);
  co_return v;
}

Task<int> sleep_logging(Log& log, std::string name, Duration d, int v) {
  try {
    co_await sleep(d);
  } catch (const CancelledError&) {
    log.push_back(name + " cancelled");
    throw;
  }
  co_return v;
}

TimePoint now() { return current_loop().time(); }

CO_TEST(TimeoutTest, FiresWithTimeoutErrorAtTheDeadline) {
  TimePoint t0 = now();
  EXPECT_THROW(co_await timeout(10ms, sleep_then(1h, 1)), TimeoutError);
  EXPECT_EQ(now() - t0, 10ms);
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(TimeoutTest, TheBodySeesCancelledError) {
  Log log;
  EXPECT_THROW(co_await timeout(10ms, sleep_logging(log, "body", 1h, 1)), TimeoutError);
  EXPECT_EQ(log, (Log{"body cancelled"}));
}

CO_TEST(TimeoutTest, DoesNotFireWhenTheBodyIsQuicker) {
  TimePoint t0 = now();
  EXPECT_EQ(co_await timeout(10ms, sleep_then(5ms, 7)), 7);
  EXPECT_EQ(now() - t0, 5ms);
  // The scope's timer is gone: nothing cancels the task later.
  co_await sleep(20ms);
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(TimeoutTest, VoidBody) {
  co_await timeout(10ms, []() -> Task<void> { co_await sleep(1ms); }());
  EXPECT_THROW(co_await timeout(10ms, []() -> Task<void> { co_await sleep(1h); }()), TimeoutError);
}

CO_TEST(TimeoutTest, BodyErrorsPassThrough) {
  auto failing = []() -> Task<int> {
    co_await sleep(1ms);
    throw std::logic_error("body failed");
  };
  EXPECT_THROW(co_await timeout(10ms, failing()), std::logic_error);
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(TimeoutTest, NoDeadlineNeverFires) {
  TimePoint t0 = now();
  EXPECT_EQ(co_await timeout(std::nullopt, sleep_then(10h, 3)), 3);
  EXPECT_EQ(now() - t0, 10h);
}

CO_TEST(TimeoutTest, TimeoutAtAnAbsoluteDeadline) {
  TimePoint t0 = now();
  EXPECT_THROW(co_await timeout_at(t0 + 25ms, sleep_then(1h, 1)), TimeoutError);
  EXPECT_EQ(now(), t0 + 25ms);
  EXPECT_EQ(co_await timeout_at(now() + 25ms, sleep_then(1ms, 2)), 2);
}

CO_TEST(TimeoutTest, DeadlineAlreadyPastFiresAtTheFirstSuspension) {
  TimePoint t0 = now();
  EXPECT_THROW(co_await timeout_at(t0 - 1s, sleep_then(1h, 1)), TimeoutError);
  EXPECT_EQ(now(), t0);
}

CO_TEST(TimeoutTest, DeadlineAlreadyPastDoesNotInterruptABodyThatNeverSuspends) {
  EXPECT_EQ(co_await timeout_at(now() - 1s, []() -> Task<int> { co_return 4; }()), 4);
  co_await yield_now();  // the stale timer was removed with the scope
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(TimeoutTest, RescheduleLaterExtendsTheDeadline) {
  TimePoint t0 = now();
  int v = co_await timeout(10ms, [&](Timeout& t) -> Task<int> {
    EXPECT_EQ(t.when(), t0 + 10ms);
    co_await sleep(5ms);
    t.reschedule(now() + 20ms);
    EXPECT_EQ(t.when(), t0 + 25ms);
    co_await sleep(15ms);  // past the original deadline
    co_return 1;
  });
  EXPECT_EQ(v, 1);
  EXPECT_EQ(now() - t0, 20ms);
}

CO_TEST(TimeoutTest, RescheduleEarlierFiresEarlier) {
  TimePoint t0 = now();
  EXPECT_THROW(co_await timeout(1h,
                                [&](Timeout& t) -> Task<void> {
                                  t.reschedule(t0 + 3ms);
                                  co_await sleep(1h);
                                }),
               TimeoutError);
  EXPECT_EQ(now() - t0, 3ms);
}

CO_TEST(TimeoutTest, RescheduleToNoneDisablesIt) {
  TimePoint t0 = now();
  int v = co_await timeout(1ms, [](Timeout& t) -> Task<int> {
    t.reschedule(std::nullopt);
    EXPECT_EQ(t.when(), std::nullopt);
    co_await sleep(1h);
    co_return 2;
  });
  EXPECT_EQ(v, 2);
  EXPECT_EQ(now() - t0, 1h);
}

CO_TEST(TimeoutTest, ExpiredIsTrueOnceTheDeadlinePassed) {
  Log log;
  EXPECT_THROW(co_await timeout(5ms,
                                [&](Timeout& t) -> Task<void> {
                                  EXPECT_FALSE(t.expired());
                                  try {
                                    co_await sleep(1h);
                                  } catch (const CancelledError&) {
                                    log.push_back(t.expired() ? "expired" : "not expired");
                                    throw;
                                  }
                                }),
               TimeoutError);
  EXPECT_EQ(log, (Log{"expired"}));
}

CO_TEST(TimeoutTest, RescheduleAfterExpiryThrowsRuntimeError) {
  Log log;
  EXPECT_THROW(co_await timeout(5ms,
                                [&](Timeout& t) -> Task<void> {
                                  try {
                                    co_await sleep(1h);
                                  } catch (const CancelledError&) {
                                    try {
                                      t.reschedule(now() + 1h);
                                    } catch (const RuntimeError&) {
                                      log.push_back("refused");
                                    }
                                    throw;
                                  }
                                }),
               TimeoutError);
  EXPECT_EQ(log, (Log{"refused"}));
}

CO_TEST(TimeoutTest, BodyThatSwallowsTheCancellationReturnsItsValue) {
  Log log;
  int v = co_await timeout(5ms, [&](Timeout& t) -> Task<int> {
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      log.push_back("swallowed");
    }
    EXPECT_TRUE(t.expired());
    co_return 8;
  });
  EXPECT_EQ(v, 8);
  EXPECT_EQ(log, (Log{"swallowed"}));
  EXPECT_EQ(current_task().cancelling(), 0u);
  co_await sleep(1ms);  // and no cancellation is left pending
}

CO_TEST(TimeoutTest, NestedInnerExpiryIsCaughtInsideTheOuterScope) {
  Log log;
  TimePoint t0 = now();
  int v = co_await timeout(100ms, [&](Timeout&) -> Task<int> {
    try {
      co_await timeout(10ms, sleep_then(1h, 0));
    } catch (const TimeoutError&) {
      log.push_back("inner timed out");
    }
    EXPECT_EQ(current_task().cancelling(), 0u);
    co_return co_await sleep_then(20ms, 5);
  });
  EXPECT_EQ(v, 5);
  EXPECT_EQ(log, (Log{"inner timed out"}));
  EXPECT_EQ(now() - t0, 30ms);
}

CO_TEST(TimeoutTest, NestedOuterExpiryIsTheOutersTimeoutError) {
  Log log;
  TimePoint t0 = now();
  try {
    co_await timeout(10ms, [&](Timeout&) -> Task<void> {
      try {
        co_await timeout(1h, sleep_then(2h, 0));
      } catch (const TimeoutError&) {
        log.push_back("inner saw TimeoutError");
        throw;
      } catch (const CancelledError&) {
        log.push_back("inner saw CancelledError");
        throw;
      }
    });
    ADD_FAILURE() << "no exception";
  } catch (const TimeoutError&) {
    log.push_back("outer TimeoutError");
  }
  EXPECT_EQ(log, (Log{"inner saw CancelledError", "outer TimeoutError"}));
  EXPECT_EQ(now() - t0, 10ms);
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(TimeoutTest, NestedScopesExpiringTogetherReportTheOuterOnly) {
  // Same deadline: both timers fire in one iteration. The inner scope must
  // not claim the expiry as its own, or the outer body would continue.
  Log log;
  TimePoint t0 = now();
  try {
    co_await timeout(10ms, [&](Timeout&) -> Task<void> {
      try {
        co_await timeout(10ms, sleep_then(1h, 0));
      } catch (const TimeoutError&) {
        log.push_back("inner TimeoutError");
        throw;
      } catch (const CancelledError&) {
        log.push_back("inner CancelledError");
        throw;
      }
    });
  } catch (const TimeoutError&) {
    log.push_back("outer TimeoutError");
  }
  EXPECT_EQ(log, (Log{"inner CancelledError", "outer TimeoutError"}));
  EXPECT_EQ(now() - t0, 10ms);
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(TimeoutTest, OuterCancelDuringATimeoutIsCancelledError) {
  TaskHandle<int> t = create_task(timeout(1h, sleep_then(2h, 1)));
  co_await sleep(1ms);
  t.cancel();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_TRUE(t.cancelled());
}

CO_TEST(TimeoutTest, OuterCancelInTheSameIterationAsTheExpiryIsCancelledError) {
  // main's timer is older than the task's deadline timer: both fire in one
  // iteration, main runs first and cancels the task.
  TaskHandle<int> t = create_task(timeout(10ms, sleep_then(1h, 1)));
  co_await sleep(10ms);
  EXPECT_FALSE(t.done());
  t.cancel();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_TRUE(t.cancelled());
}

CO_TEST(TimeoutTest, CancellingIsRestoredAfterEachExpiry) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_THROW(co_await timeout(1ms, sleep_then(1h, 0)), TimeoutError);
    EXPECT_EQ(current_task().cancelling(), 0u);
  }
  co_await sleep(1ms);  // no stray cancellation
}

CO_TEST(TimeoutTest, TimeoutErrorIsAnOrdinaryError) {
  try {
    co_await timeout(1ms, sleep_then(1h, 0));
  } catch (const std::exception& e) {
    EXPECT_NE(dynamic_cast<const Error*>(&e), nullptr);
  }
}

CO_TEST(WaitForTest, TaskWithinTheDeadline) {
  EXPECT_EQ(co_await wait_for(sleep_then(5ms, 6), 10ms), 6);
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(WaitForTest, TaskPastTheDeadline) {
  Log log;
  TimePoint t0 = now();
  EXPECT_THROW(co_await wait_for(sleep_logging(log, "work", 1h, 6), 10ms), TimeoutError);
  EXPECT_EQ(log, (Log{"work cancelled"}));
  EXPECT_EQ(now() - t0, 10ms);
}

CO_TEST(WaitForTest, HandleWithinTheDeadline) {
  TaskHandle<int> h = create_task(sleep_then(5ms, 9));
  EXPECT_EQ(co_await wait_for(h, 10ms), 9);
  EXPECT_FALSE(h.cancelled());
}

CO_TEST(WaitForTest, HandlePastTheDeadlineIsCancelledAndAwaitedFirst) {
  Log log;
  TaskHandle<int> h = create_task(sleep_logging(log, "handle", 1h, 9));
  TimePoint t0 = now();
  try {
    co_await wait_for(h, 10ms);
    ADD_FAILURE() << "no exception";
  } catch (const TimeoutError&) {
    log.push_back("TimeoutError");
    // Nothing keeps running behind the timeout.
    EXPECT_TRUE(h.done());
    EXPECT_TRUE(h.cancelled());
  }
  EXPECT_EQ(log, (Log{"handle cancelled", "TimeoutError"}));
  EXPECT_EQ(now() - t0, 10ms);
  EXPECT_EQ(current_loop().pending_task_count(), 1u);  // only main
}

CO_TEST(WaitForTest, HandleThatNeedsTimeToUnwindIsAwaitedToTheEnd) {
  Log log;
  TaskHandle<int> h = create_task([](Log& l) -> Task<int> {
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      l.push_back("cleanup started");
    }
    co_await sleep(5ms);  // slow cleanup, then give up
    l.push_back("cleanup done");
    throw CancelledError();
  }(log));
  TimePoint t0 = now();
  EXPECT_THROW(co_await wait_for(h, 10ms), TimeoutError);
  EXPECT_EQ(log, (Log{"cleanup started", "cleanup done"}));
  EXPECT_EQ(now() - t0, 15ms);
  EXPECT_TRUE(h.done());
}

CO_TEST(WaitForTest, HandleThatIgnoresTheCancellationReturnsItsValue) {
  TaskHandle<int> h = create_task([]() -> Task<int> {
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
    }
    co_return 3;
  }());
  EXPECT_EQ(co_await wait_for(h, 10ms), 3);
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(WaitForTest, HandleFailureIsRaised) {
  TaskHandle<int> h = create_task([]() -> Task<int> {
    co_await sleep(1ms);
    throw std::runtime_error("handle failed");
  }());
  EXPECT_THROW(co_await wait_for(h, 10ms), std::runtime_error);
}

CO_TEST(WaitForTest, FutureSetWithinTheDeadline) {
  Future<int> f;
  current_loop().call_later(5ms, [f]() mutable { f.set_result(8); });
  TimePoint t0 = now();
  EXPECT_EQ(co_await wait_for(f, 10ms), 8);
  EXPECT_EQ(now() - t0, 5ms);
}

CO_TEST(WaitForTest, FutureOfVoid) {
  Future<void> f;
  current_loop().call_later(5ms, [f]() mutable { f.set_result(); });
  co_await wait_for(f, 10ms);
  EXPECT_TRUE(f.done());
  EXPECT_THROW(co_await wait_for(Future<void>(), 10ms), TimeoutError);
}

CO_TEST(WaitForTest, FutureExceptionIsRaised) {
  Future<int> f;
  current_loop().call_later(5ms, [f]() mutable { f.set_exception(std::make_exception_ptr(std::out_of_range("f"))); });
  EXPECT_THROW(co_await wait_for(f, 10ms), std::out_of_range);
}

// Was FuturePastTheDeadlineStaysPendingAndCanStillBeSet, against asyncio:
// wait_for cancels the future on expiry (shield(f) keeps it pending).
CO_TEST(WaitForTest, FuturePastTheDeadlineIsCancelled) {
  Future<int> f;
  TimePoint t0 = now();
  EXPECT_THROW(co_await wait_for(f, 10ms), TimeoutError);
  EXPECT_EQ(now() - t0, 10ms);
  EXPECT_TRUE(f.cancelled());
  EXPECT_THROW(f.set_result(2), InvalidStateError);
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(WaitForTest, DeadlineStartsWhenAwaitedNotWhenCreated) {
  // asyncio.wait_for times from when it runs: a wait_for made now and
  // awaited after 2s still gives its body the full second.
  Task<int> bounded = wait_for(sleep_then(500ms, 3), 1s);
  co_await sleep(2s);
  EXPECT_EQ(co_await std::move(bounded), 3);
}

CO_TEST(TimeoutTest, RelativeDeadlineIsMeasuredFromEntry) {
  Task<int> bounded = timeout(100ms, sleep_then(1h, 1));
  co_await sleep(1s);
  const TimePoint start = current_loop().time();
  EXPECT_THROW(co_await std::move(bounded), TimeoutError);
  EXPECT_EQ(current_loop().time() - start, 100ms);
}

// wait_for on a handle to a move-only result: it used to copy the result and
// so did not compile.
Task<std::unique_ptr<int>> boxed_after(Duration d, int v) {
  co_await sleep(d);
  co_return std::make_unique<int>(v);
}

CO_TEST(WaitFor, AHandleToAMoveOnlyResultGivesTheResult) {
  auto h = create_task(boxed_after(5ms, 4));
  std::unique_ptr<int> p = co_await wait_for(std::move(h), 10ms);
  EXPECT_EQ(*p, 4);
}

// timeout and wait_for over an awaitable that is not a Task, TaskHandle or
// Future (here one of "another library", which corio relays), and timeout
// over a body that takes no Timeout&.
struct ReadyFive {
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  int await_resume() const noexcept { return 5; }
};

CO_TEST(WaitFor, AnyOtherAwaitableGivesItsResult) { EXPECT_EQ(co_await wait_for(ReadyFive{}, 10ms), 5); }

CO_TEST(Timeout, AnyOtherAwaitableGivesItsResult) { EXPECT_EQ(co_await timeout(10ms, ReadyFive{}), 5); }

CO_TEST(Timeout, ABodyWithoutATimeoutParameterGivesItsValue) {
  int v = co_await timeout(10ms, []() -> Task<int> { co_return 3; });
  EXPECT_EQ(v, 3);
}

CO_TEST(Timeout, ABodyWithoutATimeoutParameterTimesOut) {
  const TimePoint start = current_loop().time();
  EXPECT_THROW(co_await timeout(10ms, []() -> Task<int> { co_return co_await sleep_then(1h, 3); }), TimeoutError);
  EXPECT_EQ(current_loop().time() - start, 10ms);
}

CO_TEST(TimeoutAt, ABodyWithoutATimeoutParameterTimesOut) {
  const TimePoint deadline = current_loop().time() + 10ms;
  EXPECT_THROW(co_await timeout_at(deadline, []() -> Task<int> { co_return co_await sleep_then(1h, 3); }),
               TimeoutError);
  EXPECT_EQ(current_loop().time(), deadline);
}

// timeout over a TaskHandle or a Future, and wait_for over a Future of a
// move-only result (which used to be copied, and so did not compile).
CO_TEST(Timeout, AHandleThatFinishesInTimeGivesItsValue) {
  auto h = create_task(sleep_then(5ms, 8));
  EXPECT_EQ(co_await timeout(10ms, h), 8);
}

CO_TEST(Timeout, AHandleThatTakesTooLongIsCancelled) {
  auto h = create_task(sleep_then(1h, 8));
  EXPECT_THROW(co_await timeout(10ms, h), TimeoutError);
  EXPECT_TRUE(h.cancelled());
}

CO_TEST(Timeout, AFutureNeverSetTimesOutAndIsCancelled) {
  Future<int> f;
  EXPECT_THROW(co_await timeout(10ms, f), TimeoutError);
  EXPECT_TRUE(f.cancelled());
}

CO_TEST(WaitFor, AFutureOfAMoveOnlyResultGivesTheResult) {
  Future<std::unique_ptr<int>> f;
  f.set_result(std::make_unique<int>(6));
  std::unique_ptr<int> p = co_await wait_for(f, 10ms);
  EXPECT_EQ(*p, 6);
}

// timeout_at over a TaskHandle, a Future and any other awaitable, as
// timeout() takes them.
CO_TEST(TimeoutAt, AHandleThatTakesTooLongIsCancelled) {
  auto h = create_task(sleep_then(1h, 8));
  const TimePoint deadline = now() + 10ms;
  EXPECT_THROW(co_await timeout_at(deadline, h), TimeoutError);
  EXPECT_EQ(now(), deadline);
  EXPECT_TRUE(h.cancelled());
}

CO_TEST(TimeoutAt, AHandleThatFinishesInTimeGivesItsValue) {
  auto h = create_task(sleep_then(5ms, 8));
  EXPECT_EQ(co_await timeout_at(now() + 10ms, h), 8);
}

CO_TEST(TimeoutAt, AFutureNeverSetTimesOutAndIsCancelled) {
  Future<int> f;
  EXPECT_THROW(co_await timeout_at(now() + 10ms, f), TimeoutError);
  EXPECT_TRUE(f.cancelled());
}

CO_TEST(TimeoutAt, AnyOtherAwaitableGivesItsResult) { EXPECT_EQ(co_await timeout_at(now() + 10ms, ReadyFive{}), 5); }

// A sleep can be handed over by value (it used to be immovable, so this did
// not compile); its delay counts from when wait_for awaits it.
CO_TEST(WaitFor, ASleepLongerThanTheDeadlineTimesOut) {
  const TimePoint start = now();
  EXPECT_THROW(co_await wait_for(sleep(1h), 10ms), TimeoutError);
  EXPECT_EQ(now() - start, 10ms);
}

CO_TEST(WaitFor, ASleepShorterThanTheDeadlineEndsNormally) {
  const TimePoint start = now();
  co_await wait_for(sleep(5ms), 10ms);
  EXPECT_EQ(now() - start, 5ms);
}

CO_TEST(TimeoutAt, ASleepUntilPastTheDeadlineTimesOut) {
  const TimePoint deadline = now() + 10ms;
  EXPECT_THROW(co_await timeout_at(deadline, sleep_until(deadline + 1h)), TimeoutError);
  EXPECT_EQ(now(), deadline);
}

// An awaitable of another library cannot be interrupted: past the deadline
// its result still comes back, and the scope's cancel is withdrawn. (The
// header used to promise a TimeoutError here, which never came.)
struct ResumedLater {
  Duration after;
  int v;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    current_loop().call_later(after, [h] { h.resume(); });
  }
  int await_resume() const noexcept { return v; }
};

CO_TEST(Timeout, AForeignAwaitablePastTheDeadlineGivesItsResultWhenItEnds) {
  const TimePoint start = now();
  EXPECT_EQ(co_await timeout(10ms, ResumedLater{60ms, 5}), 5);
  EXPECT_GE(now() - start, 60ms);
}

CO_TEST(Timeout, AForeignAwaitablePastTheDeadlineLeavesNoCancelPending) {
  EXPECT_EQ(co_await wait_for(ResumedLater{60ms, 5}, 10ms), 5);
  EXPECT_EQ(current_task().cancelling(), 0u);
  co_await yield_now();  // would raise a cancel left pending
}

// A timeout's cancel does not carry the message of an earlier cancel that
// was caught and withdrawn (uncancel() down to zero clears it).
CO_TEST(Timeout, ExpiryDoesNotCarryTheMessageOfAnEarlierWithdrawnCancel) {
  current_task().cancel("old reason");
  try {
    co_await yield_now();
  } catch (const CancelledError&) {
    current_task().uncancel();
  }
  std::string seen = "none";
  try {
    co_await timeout(10ms, [&]() -> Task<> {
      try {
        co_await sleep(1h);
      } catch (const CancelledError& e) {
        seen = e.message();
        throw;
      }
    });
  } catch (const TimeoutError&) {
  }
  EXPECT_EQ(seen, "");
}

// wait_for(handle, d) from a task with a cancel pending passes the cancel on
// to the handle's task, as asyncio's wait_for does, and raises
// CancelledError (not TimeoutError) once that task has ended. It used to
// raise at once and leave the task running.
CO_TEST(WaitForTest, HandleAwaitedWithACancelPendingIsCancelledAndAwaited) {
  Log log;
  const TimePoint t0 = now();
  TaskHandle<int> child = create_task(sleep_logging(log, "child", 1h, 1));
  TaskHandle<void> parent = create_task([](TaskHandle<int> c, Log& l) -> Task<void> {
    current_task().cancel();
    try {
      (void)co_await wait_for(c, 10ms);
      l.push_back("parent got a value");
    } catch (const TimeoutError&) {
      l.push_back("parent timed out");
    } catch (const CancelledError&) {
      l.push_back("parent cancelled");
      throw;
    }
  }(child, log));
  EXPECT_THROW(co_await parent, CancelledError);
  EXPECT_TRUE(child.cancelled());
  EXPECT_EQ(now(), t0);
  EXPECT_EQ(log, (Log{"child cancelled", "parent cancelled"}));
  // (Without the pass-on the child would still sleep here: end it while
  // `log` exists.)
  child.cancel();
  try {
    co_await child;
  } catch (const CancelledError&) {
  }
}

// ---- wait_for with a delay <= 0 (asyncio 3.12+) ----
// The time is up before the wait starts: work that has not started never
// starts, a done handle or future gives its outcome, and a running task or
// a pending future is cancelled. corio used to run the work until its first
// suspension point (to its end if it never suspended) and return its value.

CO_TEST(WaitForTest, ZeroDelayRaisesTimeoutErrorWithoutStartingATask) {
  bool ran = false;
  Task<int> work = [](bool& r) -> Task<int> {
    r = true;
    co_return 1;
  }(ran);
  EXPECT_THROW(co_await wait_for(std::move(work), 0ms), TimeoutError);
  EXPECT_FALSE(ran);
}

CO_TEST(WaitForTest, NegativeDelayDestroysTheTaskUnstarted) {
  Log log;
  auto token = std::make_shared<int>(7);
  Task<int> work = [](std::shared_ptr<int> t, Log& l) -> Task<int> {
    l.push_back("started");
    co_await sleep(1ms);
    co_return *t;
  }(token, log);
  EXPECT_EQ(token.use_count(), 2);
  const TimePoint t0 = now();
  EXPECT_THROW(co_await wait_for(std::move(work), -5ms), TimeoutError);
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(token.use_count(), 1);  // the frame went, with its parameter
  EXPECT_EQ(now(), t0);
}

// Counts the awaits it sees begin.
struct CountedFive {
  int* awaits;
  bool await_ready() const noexcept {
    ++*awaits;
    return true;
  }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  int await_resume() const noexcept { return 5; }
};

CO_TEST(WaitForTest, ZeroDelayRaisesTimeoutErrorWithoutAwaitingAnotherAwaitable) {
  int awaits = 0;
  EXPECT_THROW(co_await wait_for(CountedFive{&awaits}, 0ms), TimeoutError);
  EXPECT_EQ(awaits, 0);
}

CO_TEST(WaitForTest, ZeroDelayGivesTheResultOfAHandleAlreadyDone) {
  TaskHandle<int> h = create_task(sleep_then(1ms, 4));
  co_await h;
  EXPECT_EQ(co_await wait_for(h, 0ms), 4);
}

// A task that needs 5ms to unwind once cancelled, logging as it goes.
Task<int> slow_to_unwind(Log& log) {
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    log.push_back("cleanup started");
  }
  co_await sleep(5ms);
  log.push_back("cleanup done");
  throw CancelledError();
}

CO_TEST(WaitForTest, ZeroDelayCancelsARunningHandleAndRaisesTimeoutErrorOnceItEnded) {
  Log log;
  TaskHandle<int> h = create_task(slow_to_unwind(log));
  co_await yield_now();  // h sleeps
  const TimePoint t0 = now();
  try {
    co_await wait_for(h, 0ms);
    ADD_FAILURE() << "no exception";
  } catch (const TimeoutError&) {
    log.push_back("TimeoutError");
  }
  EXPECT_EQ(log, (Log{"cleanup started", "cleanup done", "TimeoutError"}));
  EXPECT_EQ(now() - t0, 5ms);
  EXPECT_TRUE(h.cancelled());
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(WaitForTest, ZeroDelayOnARunningHandleThatReturnsAnywayGivesItsValue) {
  TaskHandle<int> h = create_task([]() -> Task<int> {
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
    }
    co_return 3;
  }());
  co_await yield_now();
  EXPECT_EQ(co_await wait_for(h, 0ms), 3);
}

// The awaiting task's own cancel, while the cancelled handle unwinds, is
// CancelledError, not TimeoutError. It goes on to the handle too (which
// here ends its cleanup early), and the handle is still waited for.
CO_TEST(WaitForTest, ZeroDelayOnARunningHandleCancelledMeanwhileRaisesCancelledError) {
  Log log;
  TaskHandle<int> h = create_task(slow_to_unwind(log));
  co_await yield_now();
  TaskHandle<void> waiter = create_task([](TaskHandle<int> h, Log& l) -> Task<void> {
    try {
      co_await wait_for(h, 0ms);
    } catch (const TimeoutError&) {
      l.push_back("TimeoutError");
    } catch (const CancelledError&) {
      l.push_back(h.done() ? "CancelledError after the handle ended" : "CancelledError too early");
      throw;
    }
  }(h, log));
  co_await sleep(1ms);  // h is unwinding
  const TimePoint t0 = now();
  waiter.cancel();
  EXPECT_THROW(co_await waiter, CancelledError);
  EXPECT_EQ(log, (Log{"cleanup started", "CancelledError after the handle ended"}));
  EXPECT_EQ(now(), t0);
  EXPECT_TRUE(h.cancelled());
}

// So is a cancel already pending when wait_for(handle, 0) starts (the
// pending cancel goes on to the handle, as in any await of it).
CO_TEST(WaitForTest, ZeroDelayOnARunningHandleWithACancelPendingRaisesCancelledError) {
  Log log;
  TaskHandle<int> h = create_task(slow_to_unwind(log));
  co_await yield_now();
  TaskHandle<void> waiter = create_task([](TaskHandle<int> h, Log& l) -> Task<void> {
    current_task().cancel();
    try {
      co_await wait_for(h, 0ms);
    } catch (const TimeoutError&) {
      l.push_back("TimeoutError");
    } catch (const CancelledError&) {
      l.push_back(h.done() ? "CancelledError after the handle ended" : "CancelledError too early");
      throw;
    }
  }(h, log));
  EXPECT_THROW(co_await waiter, CancelledError);
  EXPECT_EQ(log, (Log{"cleanup started", "cleanup done", "CancelledError after the handle ended"}));
  EXPECT_TRUE(h.cancelled());
}

// As awaiting its own handle: RuntimeError, and the task is not cancelled.
CO_TEST(WaitForTest, ZeroDelayOnTheAwaitingTasksOwnHandleThrowsRuntimeError) {
  auto slot = std::make_shared<TaskHandle<int>>();
  *slot = create_task([](std::shared_ptr<TaskHandle<int>> me) -> Task<int> {
    co_await yield_now();
    try {
      co_await wait_for(*me, 0ms);
    } catch (const RuntimeError&) {
      co_return static_cast<int>(current_task().cancelling());
    }
    co_return -1;
  }(slot));
  EXPECT_EQ(co_await *slot, 0);
}

CO_TEST(WaitForTest, ZeroDelayGivesTheResultOfAFutureAlreadyDone) {
  Future<int> f;
  f.set_result(6);
  EXPECT_EQ(co_await wait_for(f, 0ms), 6);
}

CO_TEST(WaitForTest, ZeroDelayCancelsAPendingFutureAndRaisesTimeoutError) {
  Future<int> f;
  const TimePoint t0 = now();
  EXPECT_THROW(co_await wait_for(f, 0ms), TimeoutError);
  EXPECT_TRUE(f.cancelled());
  EXPECT_EQ(now(), t0);
}

}  // namespace
}  // namespace corio
