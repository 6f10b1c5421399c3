// Tests for wait (kFirstCompleted, kFirstException, kAllCompleted, timeout)
// and AsCompleted.
#include "corio/loop/wait.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/gather.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/timeout.h"
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

TimePoint now() { return current_loop().time(); }

std::vector<int> results_of(const std::vector<TaskHandle<int>>& hs) {
  std::vector<int> out;
  for (const auto& h : hs) out.push_back(h.result());
  return out;
}

std::vector<TaskHandle<int>> three(Duration a, Duration b, Duration c) {
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(a, 1)));
  hs.push_back(create_task(after(b, 2)));
  hs.push_back(create_task(after(c, 3)));
  return hs;
}

CO_TEST(WaitTest, AllCompletedIsTheDefault) {
  std::vector<TaskHandle<int>> hs = three(30ms, 10ms, 20ms);
  TimePoint t0 = now();
  WaitResult<TaskHandle<int>> r = co_await wait(hs);
  EXPECT_EQ(now() - t0, 30ms);
  EXPECT_EQ(results_of(r.done), (std::vector<int>{1, 2, 3}));  // in the given order
  EXPECT_TRUE(r.pending.empty());
}

CO_TEST(WaitTest, FirstCompleted) {
  std::vector<TaskHandle<int>> hs = three(30ms, 10ms, 20ms);
  TimePoint t0 = now();
  auto r = co_await wait(hs, ReturnWhen::kFirstCompleted);
  EXPECT_EQ(now() - t0, 10ms);
  EXPECT_EQ(results_of(r.done), (std::vector<int>{2}));
  EXPECT_EQ(r.pending.size(), 2u);
  EXPECT_TRUE(r.pending[0] == hs[0]);
  EXPECT_TRUE(r.pending[1] == hs[2]);
  // wait never cancels: the pending ones finish.
  EXPECT_EQ(co_await r.pending[0], 1);
  EXPECT_EQ(co_await r.pending[1], 3);
}

CO_TEST(WaitTest, FirstCompletedCountsFailuresAsCompletion) {
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(20ms, 1)));
  hs.push_back(create_task(fail_after(10ms, "x")));
  auto r = co_await wait(hs, ReturnWhen::kFirstCompleted);
  EXPECT_EQ(r.done.size(), 1u);
  EXPECT_TRUE(r.done[0] == hs[1]);
  EXPECT_THROW(r.done[0].result(), std::runtime_error);  // wait does not raise
  co_await hs[0];
}

CO_TEST(WaitTest, FirstExceptionReturnsAtTheFirstFailure) {
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(5ms, 1)));
  hs.push_back(create_task(fail_after(10ms, "x")));
  hs.push_back(create_task(after(30ms, 3)));
  TimePoint t0 = now();
  auto r = co_await wait(hs, ReturnWhen::kFirstException);
  EXPECT_EQ(now() - t0, 10ms);
  EXPECT_EQ(r.done.size(), 2u);
  EXPECT_EQ(r.pending.size(), 1u);
  EXPECT_THROW(hs[1].result(), std::runtime_error);
  co_await hs[2];
}

CO_TEST(WaitTest, FirstExceptionWithoutFailuresWaitsForAll) {
  std::vector<TaskHandle<int>> hs = three(30ms, 10ms, 20ms);
  TimePoint t0 = now();
  auto r = co_await wait(hs, ReturnWhen::kFirstException);
  EXPECT_EQ(now() - t0, 30ms);
  EXPECT_EQ(r.done.size(), 3u);
}

CO_TEST(WaitTest, FirstExceptionIgnoresCancellation) {
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(1h, 1)));
  hs.push_back(create_task(after(20ms, 2)));
  hs[0].cancel();
  TimePoint t0 = now();
  auto r = co_await wait(hs, ReturnWhen::kFirstException);
  EXPECT_EQ(now() - t0, 20ms);  // a cancelled task is not an exception here
  EXPECT_EQ(r.done.size(), 2u);
  EXPECT_TRUE(hs[0].cancelled());
}

CO_TEST(WaitTest, TimeoutReturnsWithPendingAndCancelsNothing) {
  std::vector<TaskHandle<int>> hs = three(30ms, 10ms, 20ms);
  TimePoint t0 = now();
  auto r = co_await wait(hs, ReturnWhen::kAllCompleted, 15ms);
  EXPECT_EQ(now() - t0, 15ms);
  EXPECT_EQ(results_of(r.done), (std::vector<int>{2}));
  EXPECT_EQ(r.pending.size(), 2u);
  for (auto& p : r.pending) EXPECT_FALSE(p.cancelled());
  EXPECT_EQ(co_await hs[0], 1);
  EXPECT_EQ(co_await hs[2], 3);
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(WaitTest, TimeoutNotReachedLeavesNoTimerBehind) {
  std::vector<TaskHandle<int>> hs = three(3ms, 1ms, 2ms);
  TimePoint t0 = now();
  auto r = co_await wait(hs, ReturnWhen::kAllCompleted, 1h);
  EXPECT_EQ(now() - t0, 3ms);
  EXPECT_EQ(r.done.size(), 3u);
  // Sleep past the unused deadline: a timer left behind would fire into
  // the destroyed wait state (and be caught by the sanitizers).
  co_await sleep(2h);
  EXPECT_EQ(now() - t0, 2h + 3ms);
}

CO_TEST(WaitTest, AlreadyDoneTasksReturnAtOnce) {
  std::vector<TaskHandle<int>> hs = three(1ms, 1ms, 1ms);
  co_await sleep(2ms);
  TimePoint t0 = now();
  auto r = co_await wait(hs, ReturnWhen::kFirstCompleted);
  EXPECT_EQ(now(), t0);
  EXPECT_EQ(r.done.size(), 3u);
}

CO_TEST(WaitTest, EmptySetThrowsInvalidArgument) {
  EXPECT_THROW(co_await wait(std::vector<TaskHandle<int>>{}), std::invalid_argument);
}

CO_TEST(WaitTest, OfTaskRefs) {
  std::vector<TaskRef> refs;
  TaskHandle<int> a = create_task(after(5ms, 1));
  TaskHandle<void> b = create_task([]() -> Task<void> { co_await sleep(10ms); }());
  refs.emplace_back(a);
  refs.emplace_back(b);
  auto r = co_await wait(refs, ReturnWhen::kFirstCompleted);
  EXPECT_EQ(r.done.size(), 1u);
  EXPECT_TRUE(r.done[0] == a);
  co_await b;
}

CO_TEST(AsCompletedTest, YieldsInCompletionOrder) {
  std::vector<TaskHandle<int>> hs = three(30ms, 10ms, 20ms);
  AsCompleted<int> ac(hs);
  std::vector<int> got;
  std::vector<Duration> at;
  TimePoint t0 = now();
  while (!ac.empty()) {
    TaskHandle<int> h = co_await ac.next();
    got.push_back(co_await h);
    at.push_back(now() - t0);
  }
  EXPECT_EQ(got, (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(at, (std::vector<Duration>{10ms, 20ms, 30ms}));
}

CO_TEST(AsCompletedTest, AlreadyDoneComeFirstInTheGivenOrder) {
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(1h, 0)));
  hs.push_back(create_task(after(2ms, 1)));
  hs.push_back(create_task(after(1ms, 2)));
  co_await sleep(3ms);
  AsCompleted<int> ac(hs);
  EXPECT_EQ(ac.remaining(), 3u);
  EXPECT_EQ((co_await ac.next()).result(), 1);
  EXPECT_EQ((co_await ac.next()).result(), 2);
  EXPECT_EQ(ac.remaining(), 1u);
  hs[0].cancel();
}

CO_TEST(AsCompletedTest, FailedTasksAreYieldedToo) {
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(20ms, 1)));
  hs.push_back(create_task(fail_after(10ms, "x")));
  AsCompleted<int> ac(hs);
  TaskHandle<int> first = co_await ac.next();
  EXPECT_THROW(co_await first, std::runtime_error);
  EXPECT_EQ(co_await co_await ac.next(), 1);
}

CO_TEST(AsCompletedTest, TimeoutRaisesTimeoutError) {
  std::vector<TaskHandle<int>> hs = three(30ms, 10ms, 20ms);
  AsCompleted<int> ac(hs, 15ms);
  TimePoint t0 = now();
  EXPECT_EQ(co_await co_await ac.next(), 2);
  EXPECT_THROW(co_await ac.next(), TimeoutError);
  EXPECT_EQ(now() - t0, 15ms);
  EXPECT_THROW(co_await ac.next(), TimeoutError);  // and stays expired
  EXPECT_EQ(now() - t0, 15ms);
  EXPECT_EQ(ac.remaining(), 2u);
  EXPECT_FALSE(hs[0].cancelled());  // nothing is cancelled
  co_await hs[0];
  co_await hs[2];
}

CO_TEST(AsCompletedTest, TasksFinishedBeforeTheDeadlineAreStillYieldedAfterIt) {
  std::vector<TaskHandle<int>> hs = three(5ms, 1h, 1h);
  AsCompleted<int> ac(hs, 10ms);
  co_await sleep(20ms);  // past the deadline, but one task is ready
  EXPECT_EQ(co_await co_await ac.next(), 1);
  EXPECT_THROW(co_await ac.next(), TimeoutError);
  hs[1].cancel();
  hs[2].cancel();
}

CO_TEST(AsCompletedTest, NextWhenNoneLeftThrowsInvalidState) {
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(1ms, 1)));
  AsCompleted<int> ac(hs);
  co_await ac.next();
  EXPECT_TRUE(ac.empty());
  EXPECT_THROW(co_await ac.next(), InvalidStateError);
}

CO_TEST(AsCompletedTest, CancellingNextDoesNotLoseATask) {
  std::vector<TaskHandle<int>> hs = three(30ms, 10ms, 20ms);
  AsCompleted<int> ac(hs);
  TaskHandle<int> waiter = create_task([](AsCompleted<int>& a) -> Task<int> {
    TaskHandle<int> h = co_await a.next();
    co_return h.result();
  }(ac));
  co_await sleep(5ms);
  waiter.cancel();
  EXPECT_THROW(co_await waiter, CancelledError);
  std::vector<int> got;
  while (!ac.empty()) got.push_back((co_await ac.next()).result());
  EXPECT_EQ(got, (std::vector<int>{2, 3, 1}));
}

CO_TEST(AsCompletedTest, CancelAfterTheWakeKeepsTheTask) {
  // The task the waiter was woken for is handed to it even though a cancel
  // arrived before it resumed; the cancel comes at its next suspension.
  std::vector<TaskHandle<int>> hs = three(10ms, 1h, 1h);
  AsCompleted<int> ac(hs);
  std::vector<int> got;
  TaskHandle<void> waiter = create_task([](AsCompleted<int>& a, std::vector<int>& g) -> Task<void> {
    g.push_back((co_await a.next()).result());
    co_await a.next();
  }(ac, got));
  co_await hs[0];  // main was registered first: it runs before the waiter
  waiter.cancel();
  EXPECT_THROW(co_await waiter, CancelledError);
  EXPECT_EQ(got, (std::vector<int>{1}));
  EXPECT_EQ(ac.remaining(), 2u);
  hs[1].cancel();
  hs[2].cancel();
}

// Cancels whatever is still running of `tasks` and waits until all are done,
// so that no next() outlives the AsCompleted it waits on.
Task<void> cancel_and_drain(std::vector<TaskRef> tasks) {
  for (TaskRef& t : tasks) t.cancel();
  co_await wait(std::move(tasks));
}

// The task a next() run as a task returned, by the value it holds.
int value_of(const TaskHandle<TaskHandle<int>>& n) { return n.result().result(); }

CO_TEST(AsCompletedTest, ConcurrentNextCallsBothCompleteInCompletionOrder) {
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(20ms, 1)));
  hs.push_back(create_task(after(10ms, 2)));
  AsCompleted<int> ac(hs);
  TaskHandle<TaskHandle<int>> n1 = create_task(ac.next());
  TaskHandle<TaskHandle<int>> n2 = create_task(ac.next());
  TimePoint t0 = now();
  std::vector<TaskRef> refs{TaskRef(n1), TaskRef(n2)};
  auto r = co_await wait(refs, ReturnWhen::kAllCompleted, 1s);
  EXPECT_EQ(r.pending.size(), 0u);
  EXPECT_EQ(now() - t0, 20ms);
  if (r.pending.empty()) {
    EXPECT_EQ(value_of(n1), 2);  // the first to finish, to the first waiter
    EXPECT_EQ(value_of(n2), 1);
  }
  EXPECT_TRUE(ac.empty());
  co_await cancel_and_drain(std::move(refs));
}

CO_TEST(AsCompletedTest, GatherOverNextCalls) {
  // The asyncio idiom gather(*as_completed(fs)).
  std::vector<TaskHandle<int>> hs = three(30ms, 10ms, 20ms);
  AsCompleted<int> ac(hs);
  std::vector<int> got;
  try {
    auto [a, b, c] = co_await wait_for(gather(ac.next(), ac.next(), ac.next()), 1s);
    got = {a.result(), b.result(), c.result()};
  } catch (const TimeoutError&) {
  }
  EXPECT_EQ(got, (std::vector<int>{2, 3, 1}));
}

CO_TEST(AsCompletedTest, WaitingNextCallsAreServedFirstComeFirstServed) {
  std::vector<TaskHandle<int>> hs = three(10ms, 20ms, 30ms);
  AsCompleted<int> ac(hs);
  TaskHandle<TaskHandle<int>> n1 = create_task(ac.next());
  co_await yield_now();
  TaskHandle<TaskHandle<int>> n2 = create_task(ac.next());
  co_await sleep(5ms);
  TaskHandle<TaskHandle<int>> n3 = create_task(ac.next());  // arrives last
  std::vector<TaskRef> refs{TaskRef(n1), TaskRef(n2), TaskRef(n3)};
  auto r = co_await wait(refs, ReturnWhen::kAllCompleted, 1s);
  EXPECT_EQ(r.pending.size(), 0u);
  if (r.pending.empty()) {
    EXPECT_EQ(value_of(n1), 1);
    EXPECT_EQ(value_of(n2), 2);
    EXPECT_EQ(value_of(n3), 3);
  }
  co_await cancel_and_drain(std::move(refs));
}

CO_TEST(AsCompletedTest, WaitingNextCallsClaimTheirTasks) {
  // empty() counts a waiting next(): another one would have nothing to wait
  // for, and raises instead of waiting for ever.
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(10ms, 1)));
  hs.push_back(create_task(after(20ms, 2)));
  AsCompleted<int> ac(hs);
  TaskHandle<TaskHandle<int>> n1 = create_task(ac.next());
  co_await yield_now();
  EXPECT_EQ(ac.remaining(), 1u);
  TaskHandle<TaskHandle<int>> n2 = create_task(ac.next());
  co_await yield_now();
  EXPECT_TRUE(ac.empty());
  TaskHandle<TaskHandle<int>> n3 = create_task(ac.next());
  std::vector<TaskRef> refs{TaskRef(n1), TaskRef(n2), TaskRef(n3)};
  co_await wait(refs, ReturnWhen::kAllCompleted, 1s);
  EXPECT_TRUE(n3.done() && !n3.cancelled());
  if (n3.done()) {
    EXPECT_THROW(n3.result(), InvalidStateError);
  }
  EXPECT_TRUE(n1.done() && n2.done());
  co_await cancel_and_drain(std::move(refs));
}

CO_TEST(AsCompletedTest, CancelledWaitingNextDoesNotStrandTheOthers) {
  std::vector<TaskHandle<int>> hs = three(10ms, 20ms, 1h);
  AsCompleted<int> ac(hs);
  TaskHandle<TaskHandle<int>> n1 = create_task(ac.next());
  co_await yield_now();
  TaskHandle<TaskHandle<int>> n2 = create_task(ac.next());
  co_await yield_now();
  TaskHandle<TaskHandle<int>> n3 = create_task(ac.next());
  co_await yield_now();
  EXPECT_TRUE(n2.cancel());  // the middle one leaves; n1 and n3 keep their turn
  std::vector<TaskRef> refs{TaskRef(n1), TaskRef(n2), TaskRef(n3)};
  auto r = co_await wait(refs, ReturnWhen::kAllCompleted, 1s);
  EXPECT_EQ(r.pending.size(), 0u);
  EXPECT_TRUE(n2.cancelled());
  if (r.pending.empty()) {
    EXPECT_EQ(value_of(n1), 1);
    EXPECT_EQ(value_of(n3), 2);
  }
  EXPECT_EQ(ac.remaining(), 1u);  // what n2 had claimed
  co_await cancel_and_drain(std::move(refs));
  hs[2].cancel();
}

CO_TEST(AsCompletedTest, CancellingAWaitingNextLosesNoTask) {
  // n1 is cancelled once hs[0] was handed to it (it returns hs[0]: see
  // CancelAfterTheWakeKeepsTheTask); n2, cancelled before any hand-off,
  // takes nothing; n3 gets the next one, and a later next() the last one.
  std::vector<TaskHandle<int>> hs = three(10ms, 20ms, 30ms);
  TaskHandle<TaskHandle<int>> n1;
  TaskHandle<TaskHandle<int>> n2;
  // Registered on hs[0] before the AsCompleted: it runs right after hs[0]
  // ends, after the hand-off to n1 and before n1 runs.
  TaskHandle<void> canceller = create_task(
      [](TaskHandle<int> first, TaskHandle<TaskHandle<int>>& a, TaskHandle<TaskHandle<int>>& b) -> Task<void> {
        co_await first;
        a.cancel();
        b.cancel();
      }(hs[0], n1, n2));
  co_await yield_now();
  AsCompleted<int> ac(hs);
  n1 = create_task(ac.next());
  co_await yield_now();
  n2 = create_task(ac.next());
  co_await yield_now();
  TaskHandle<TaskHandle<int>> n3 = create_task(ac.next());
  std::vector<TaskRef> refs{TaskRef(n1), TaskRef(n2), TaskRef(n3), TaskRef(canceller)};
  auto r = co_await wait(refs, ReturnWhen::kAllCompleted, 1s);
  EXPECT_EQ(r.pending.size(), 0u);
  EXPECT_FALSE(n1.cancelled());
  EXPECT_TRUE(n2.cancelled());
  if (r.pending.empty()) {
    EXPECT_EQ(value_of(n1), 1);
    EXPECT_EQ(value_of(n3), 2);
  }
  EXPECT_EQ(ac.remaining(), 1u);
  if (ac.remaining() == 1u) {
    EXPECT_EQ((co_await ac.next()).result(), 3);
  }
  co_await cancel_and_drain(std::move(refs));
}

CO_TEST(AsCompletedTest, TimeoutWakesEveryWaitingNext) {
  std::vector<TaskHandle<int>> hs = three(10ms, 1h, 1h);
  AsCompleted<int> ac(hs, 15ms);
  TaskHandle<TaskHandle<int>> n1 = create_task(ac.next());
  TaskHandle<TaskHandle<int>> n2 = create_task(ac.next());
  TaskHandle<TaskHandle<int>> n3 = create_task(ac.next());
  TimePoint t0 = now();
  std::vector<TaskRef> refs{TaskRef(n1), TaskRef(n2), TaskRef(n3)};
  auto r = co_await wait(refs, ReturnWhen::kAllCompleted, 1s);
  EXPECT_EQ(r.pending.size(), 0u);
  EXPECT_EQ(now() - t0, 15ms);
  if (r.pending.empty()) {
    EXPECT_EQ(value_of(n1), 1);
    EXPECT_THROW(n2.result(), TimeoutError);
    EXPECT_THROW(n3.result(), TimeoutError);
  }
  co_await cancel_and_drain(std::move(refs));
  hs[1].cancel();
  hs[2].cancel();
}

// An empty handle in wait's set is a RuntimeError, checked before any task
// is watched (this used to dereference null).
CO_TEST(WaitTest, AnEmptyHandleThrowsRuntimeError) {
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(5ms, 1)));
  hs.emplace_back();
  auto first = hs[0];
  EXPECT_THROW(co_await wait(std::move(hs)), RuntimeError);
  EXPECT_EQ(co_await first, 1);
}

// An empty handle after a live one: the constructor throws before it
// watches any task, so none is left with a dangling waiter (ASan checks
// this: the live task finishes after the AsCompleted is gone).
CO_TEST(AsCompletedTest, AnEmptyHandleThrowsRuntimeErrorAndLeavesTheOthersUnwatched) {
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(5ms, 1)));
  hs.emplace_back();
  auto first = hs[0];
  EXPECT_THROW(AsCompleted<int>(std::move(hs)), RuntimeError);
  EXPECT_EQ(co_await first, 1);
}

}  // namespace
}  // namespace corio
