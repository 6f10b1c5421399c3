#include "corio/sync/condition.h"

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/sync/errors.h"
#include "corio/sync/lock.h"
#include "corio/sync/testing/sync_testing.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::cancel_after;
using testing::settle;

using Log = std::vector<std::string>;

// Waits once under the lock; logs what it saw.
Task<> waiter(Condition& cond, Log& log, std::string name) {
  auto guard = co_await cond.scoped();
  try {
    co_await cond.wait();
  } catch (const CancelledError&) {
    log.push_back(name + " cancelled, locked=" + (cond.locked() ? "yes" : "no"));
    throw;
  }
  log.push_back(name + " woken, locked=" + (cond.locked() ? "yes" : "no"));
}

CO_TEST(Condition, WaitWithoutLockThrowsLockError) {
  Condition cond;
  EXPECT_THROW(co_await cond.wait(), LockError);
}

CO_TEST(Condition, NotifyWithoutLockThrowsLockError) {
  Condition cond;
  EXPECT_THROW(cond.notify(), LockError);
  EXPECT_THROW(cond.notify_all(), LockError);
  co_return;
}

CO_TEST(Condition, WaitReleasesLockAndReacquiresBeforeReturning) {
  Condition cond;
  Log log;
  auto t = create_task(waiter(cond, log, "w"));
  co_await settle();
  EXPECT_FALSE(cond.locked());  // released by wait()
  EXPECT_EQ(cond.waiters(), 1u);
  {
    auto guard = co_await cond.scoped();
    cond.notify();
    co_await settle();
    EXPECT_TRUE(log.empty());  // cannot return before it has the lock
  }
  co_await t;
  EXPECT_EQ(log, (Log{"w woken, locked=yes"}));
  EXPECT_FALSE(cond.locked());
}

CO_TEST(Condition, NotifyWithNoWaitersIsANoOp) {
  Condition cond;
  auto guard = co_await cond.scoped();
  cond.notify();
  cond.notify_all();
}

CO_TEST(Condition, NotifyNWakesLongestWaitingFirst) {
  Condition cond;
  Log log;
  std::vector<TaskHandle<>> tasks;
  for (const char* n : {"a", "b", "c"}) tasks.push_back(create_task(waiter(cond, log, n)));
  co_await settle();
  {
    auto guard = co_await cond.scoped();
    cond.notify(2);
    EXPECT_EQ(cond.waiters(), 1u);
  }
  co_await tasks[0];
  co_await tasks[1];
  EXPECT_EQ(log, (Log{"a woken, locked=yes", "b woken, locked=yes"}));
  {
    auto guard = co_await cond.scoped();
    cond.notify_all();
  }
  co_await tasks[2];
  EXPECT_EQ(log.back(), "c woken, locked=yes");
}

Task<> plain_acquirer(Lock& lock, Log& log) {
  auto guard = co_await lock.scoped();
  log.push_back("acquirer");
}

CO_TEST(Condition, NotifiedWaiterQueuesBehindLockWaiters) {
  Lock lock;
  Condition cond(lock);
  Log log;
  auto w = create_task(waiter(cond, log, "w"));
  co_await settle();
  co_await lock.acquire();
  auto p = create_task(plain_acquirer(lock, log));
  co_await settle();  // p waits for the lock
  cond.notify();      // w now waits for the lock too, behind p
  EXPECT_EQ(lock.waiters(), 2u);
  lock.release();
  co_await p;
  co_await w;
  EXPECT_EQ(log, (Log{"acquirer", "w woken, locked=yes"}));
}

CO_TEST(Condition, SharedLockIsTheConditionsLock) {
  Lock lock;
  Condition cond(lock);
  EXPECT_EQ(&cond.lock(), &lock);
  co_await lock.acquire();
  EXPECT_TRUE(cond.locked());
  cond.release();
  EXPECT_FALSE(lock.locked());
}

CO_TEST(Condition, CancelBeforeNotifyReacquiresLockThenRaises) {
  Condition cond;
  Log log;
  auto w = create_task(waiter(cond, log, "w"));
  auto other = create_task(waiter(cond, log, "other"));
  co_await settle();
  co_await cond.acquire();
  w.cancel();  // w must first get the lock back, which we hold
  EXPECT_EQ(cond.waiters(), 1u);
  EXPECT_EQ(cond.lock().waiters(), 1u);
  co_await settle();
  EXPECT_TRUE(log.empty());
  cond.notify();  // goes to `other`: w consumed no notification
  cond.release();
  EXPECT_THROW(co_await w, CancelledError);
  co_await other;
  EXPECT_EQ(log, (Log{"w cancelled, locked=yes", "other woken, locked=yes"}));
  EXPECT_FALSE(cond.locked());
}

CO_TEST(Condition, CancelBeforeNotifyWithLockFreeTakesItAtOnce) {
  Condition cond;
  Log log;
  auto w = create_task(waiter(cond, log, "w"));
  co_await settle();
  w.cancel();
  EXPECT_TRUE(cond.locked());  // taken for w as the cancel was delivered
  EXPECT_EQ(cond.waiters(), 0u);
  EXPECT_THROW(co_await w, CancelledError);
  EXPECT_EQ(log, (Log{"w cancelled, locked=yes"}));
  EXPECT_FALSE(cond.locked());
}

CO_TEST(Condition, RepeatedCancelWhileReacquiringRaisesOnce) {
  Condition cond;
  Log log;
  auto w = create_task(waiter(cond, log, "w"));
  co_await settle();
  co_await cond.acquire();
  w.cancel();
  w.cancel();
  EXPECT_EQ(w.cancelling(), 2u);
  cond.release();
  EXPECT_THROW(co_await w, CancelledError);
  EXPECT_EQ(log, (Log{"w cancelled, locked=yes"}));
  EXPECT_FALSE(cond.locked());
}

Task<> wait_then_yield(Condition& cond, Log& log, std::string name) {
  auto guard = co_await cond.scoped();
  co_await cond.wait();
  log.push_back(name + " woken, locked=" + (cond.locked() ? "yes" : "no"));
  try {
    co_await yield_now();
  } catch (const CancelledError&) {
    log.push_back(name + " cancelled at next suspension");
    throw;
  }
}

CO_TEST(Condition, CancelAfterNotifyKeepsTheNotification) {
  Condition cond;
  Log log;
  auto a = create_task(wait_then_yield(cond, log, "a"));
  auto b = create_task(waiter(cond, log, "b"));
  co_await settle();
  co_await cond.acquire();
  cond.notify();  // chooses a
  a.cancel();     // before a has the lock back
  cond.release();
  EXPECT_THROW(co_await a, CancelledError);
  EXPECT_EQ(log, (Log{"a woken, locked=yes", "a cancelled at next suspension"}));
  EXPECT_EQ(cond.waiters(), 1u);  // b was not woken in a's place
  EXPECT_FALSE(cond.locked());
  {
    auto guard = co_await cond.scoped();
    cond.notify();
  }
  co_await b;
  EXPECT_EQ(log.back(), "b woken, locked=yes");
}

CO_TEST(Condition, CancelAfterLockHandOffBeforeRunning) {
  Condition cond;
  Log log;
  auto a = create_task(wait_then_yield(cond, log, "a"));
  co_await settle();
  co_await cond.acquire();
  cond.notify();
  cond.release();  // a is handed the lock and scheduled
  a.cancel();
  EXPECT_TRUE(cond.locked());
  EXPECT_THROW(co_await a, CancelledError);
  EXPECT_EQ(log, (Log{"a woken, locked=yes", "a cancelled at next suspension"}));
  EXPECT_FALSE(cond.locked());
}

Task<> cancel_self_then_wait(Condition& cond, Log& log) {
  auto guard = co_await cond.scoped();
  current_task().cancel();
  try {
    co_await cond.wait();
  } catch (const CancelledError&) {
    log.push_back(std::string("cancelled, locked=") + (cond.locked() ? "yes" : "no") +
                  ", waiters=" + std::to_string(cond.waiters()));
    throw;
  }
}

CO_TEST(Condition, PendingCancelRaisesWithoutLettingGoOfTheLock) {
  Condition cond;
  Log log;
  auto t = create_task(cancel_self_then_wait(cond, log));
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"cancelled, locked=yes, waiters=0"}));
  EXPECT_FALSE(cond.locked());
}

CO_TEST(Condition, TimeoutWhileWaitingHoldsLockOnExit) {
  Condition cond;
  Log log;
  auto w = create_task(waiter(cond, log, "w"));
  auto timer = cancel_after(w, 10ms);
  EXPECT_THROW(co_await w, CancelledError);
  co_await timer;
  EXPECT_EQ(log, (Log{"w cancelled, locked=yes"}));
  EXPECT_FALSE(cond.locked());
}

Task<int> consume(Condition& cond, std::deque<int>& items) {
  auto guard = co_await cond.scoped();
  co_await cond.wait_for([&] { return !items.empty(); });
  int v = items.front();
  items.pop_front();
  co_return v;
}

CO_TEST(Condition, WaitForWaitsUntilPredicateHolds) {
  Condition cond;
  std::deque<int> items;
  auto c = create_task(consume(cond, items));
  co_await settle();
  {
    auto guard = co_await cond.scoped();
    cond.notify_all();  // spurious: predicate still false
  }
  co_await settle();
  EXPECT_FALSE(c.done());
  EXPECT_EQ(cond.waiters(), 1u);
  {
    auto guard = co_await cond.scoped();
    items.push_back(7);
    cond.notify();
  }
  EXPECT_EQ(co_await c, 7);
}

CO_TEST(Condition, WaitForReturnsAtOnceWhenPredicateHolds) {
  Condition cond;
  auto guard = co_await cond.scoped();
  int calls = 0;
  bool r = co_await cond.wait_for([&] {
    ++calls;
    return true;
  });
  EXPECT_TRUE(r);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(cond.waiters(), 0u);
}

CO_TEST(Condition, WaitForReturnsThePredicatesValue) {
  Condition cond;
  auto guard = co_await cond.scoped();
  int v = co_await cond.wait_for([] { return 42; });
  EXPECT_EQ(v, 42);
}

Task<> wait_for_flag(Condition& cond, bool& flag, Log& log) {
  auto guard = co_await cond.scoped();
  try {
    co_await cond.wait_for([&] { return flag; });
  } catch (const CancelledError&) {
    log.push_back(std::string("cancelled, locked=") + (cond.locked() ? "yes" : "no"));
    throw;
  }
  log.push_back("done");
}

CO_TEST(Condition, WaitForCancelledAfterNotifyRaisesOnItsNextWait) {
  Condition cond;
  bool flag = false;
  Log log;
  auto t = create_task(wait_for_flag(cond, flag, log));
  co_await settle();
  co_await cond.acquire();
  cond.notify();  // predicate still false: t will wait again
  t.cancel();
  cond.release();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (Log{"cancelled, locked=yes"}));
  EXPECT_FALSE(cond.locked());
}

CO_TEST(Condition, ManyRoundsOfProducerConsumer) {
  Condition cond;
  std::deque<int> items;
  std::vector<TaskHandle<int>> consumers;
  for (int i = 0; i < 10; ++i) consumers.push_back(create_task(consume(cond, items)));
  co_await settle();
  for (int i = 0; i < 10; ++i) {
    auto guard = co_await cond.scoped();
    items.push_back(i);
    cond.notify();
  }
  std::vector<int> got;
  for (auto& c : consumers) got.push_back(co_await c);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

Task<> park_in_wait(Condition& cond) {
  auto guard = co_await cond.scoped();
  co_await cond.wait();
}
Task<> spawn_parked(Condition& cond, std::vector<TaskHandle<>>& keep) {
  for (int i = 0; i < 3; ++i) keep.push_back(create_task(park_in_wait(cond)));
  co_await testing::settle();
  co_await cond.acquire();
  cond.notify(2);  // two now wait for the lock, which we keep; one still waits for a notify
  keep.push_back(create_task(park_in_wait(cond)));  // and one waits to acquire
  co_await testing::settle();
}

TEST(ConditionTeardown, DestroyedLoopUnlinksWaitersInBothPhases) {
  Condition cond;
  {
    EventLoop loop;
    std::vector<TaskHandle<>> keep;
    run_until_complete(loop, spawn_parked(cond, keep));
    EXPECT_EQ(cond.waiters(), 1u);
    EXPECT_EQ(cond.lock().waiters(), 3u);
    keep.clear();
  }
  EXPECT_EQ(cond.waiters(), 0u);
  EXPECT_EQ(cond.lock().waiters(), 0u);
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

// Holds the lock until `go`, then waits on `cond` (which lets the lock go).
Task<> wait_after(Condition& cond, Future<int> go) {
  auto guard = co_await cond.scoped();
  co_await go;
  co_await cond.wait();
}
Task<> acquire_and_log(Lock& lock, std::vector<int>& order) {
  auto guard = co_await lock.scoped();
  order.push_back(1);
}
Task<> spawn_waiter_and_acquirer(Condition& cond, Future<int> go, std::vector<int>& order,
                                 std::vector<TaskHandle<>>& keep) {
  keep.push_back(create_task(wait_after(cond, go)));
  co_await testing::settle();  // it holds the lock
  keep.push_back(create_task(acquire_and_log(cond.lock(), order)));
  co_await testing::settle();  // the acquirer waits for the lock
}

TEST(ConditionTeardown, DestroyedLoopReleasesALockAWaitHandedToAFrameThatNeverRan) {
  Condition cond;
  std::vector<int> order;
  {
    EventLoop loop;
    Future<int> go(loop);
    std::vector<TaskHandle<>> keep;
    run_until_complete(loop, spawn_waiter_and_acquirer(cond, go, order, keep));
    go.set_result(0);
    loop.run_once(false);  // the waiter runs: wait() hands the lock to the acquirer
    EXPECT_EQ(cond.waiters(), 1u);
    EXPECT_TRUE(cond.locked());
    keep.clear();
  }  // ~EventLoop destroys the acquirer's frame before it ran
  EXPECT_TRUE(order.empty());
  EXPECT_FALSE(cond.locked());
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

Task<> guard_and_wait(Condition& cond) {
  auto guard = co_await cond.scoped();
  co_await cond.wait();
}
Task<> spawn_guarded_waiter(Condition& cond, std::vector<TaskHandle<>>& keep) {
  keep.push_back(create_task(guard_and_wait(cond)));
  co_await testing::settle();
}

// The waiter's guard releases the lock as the frame goes: wait() must leave
// it held, or that release throws LockError from a destructor (terminate).
TEST(ConditionTeardown, DestroyedLoopLetsAWaitersGuardReleaseAFreeLock) {
  Condition cond;
  {
    EventLoop loop;
    std::vector<TaskHandle<>> keep;
    run_until_complete(loop, spawn_guarded_waiter(cond, keep));
    EXPECT_EQ(cond.waiters(), 1u);
    EXPECT_FALSE(cond.locked());
    keep.clear();
  }
  EXPECT_EQ(cond.waiters(), 0u);
  EXPECT_FALSE(cond.locked());
}

Task<> hold_forever(Lock& lock) {
  auto guard = co_await lock.scoped();
  co_await sleep(std::chrono::hours(1));
}
Task<> spawn_waiter_then_holder(Condition& cond, std::vector<TaskHandle<>>& keep) {
  keep.push_back(create_task(guard_and_wait(cond)));
  co_await testing::settle();
  keep.push_back(create_task(hold_forever(cond.lock())));
  co_await testing::settle();
}

// The waiter's frame goes first: its guard must not release the lock the
// other task holds, whose own guard then releases it.
TEST(ConditionTeardown, DestroyedLoopLetsAWaitersGuardGoWhileAnotherHoldsTheLock) {
  Condition cond;
  {
    EventLoop loop;
    std::vector<TaskHandle<>> keep;
    run_until_complete(loop, spawn_waiter_then_holder(cond, keep));
    EXPECT_EQ(cond.waiters(), 1u);
    EXPECT_TRUE(cond.locked());
    keep.clear();
  }
  EXPECT_EQ(cond.waiters(), 0u);
  EXPECT_FALSE(cond.locked());
}

// wait() kept in a variable and awaited again: each await is a fresh wait
// (it used to reuse one awaiter, whose stale phase ignored cancels and, at
// teardown, unlinked from the lock's list instead of the condition's).
Task<> wait_by_name_forever(Condition& c, int& rounds) {
  auto g = co_await c.scoped();
  auto w = c.wait();
  for (;;) {
    co_await w;
    ++rounds;
  }
}

Task<> notify_once(Condition& c) {
  auto g = co_await c.scoped();
  c.notify();
}

CO_TEST(ConditionReuse, WaitAwaitedAgainByNameCanBeCancelled) {
  Condition c;
  int rounds = 0;
  auto t = create_task(wait_by_name_forever(c, rounds));
  co_await settle();
  co_await notify_once(c);
  co_await settle();
  EXPECT_EQ(rounds, 1);
  EXPECT_EQ(c.waiters(), 1u);
  t.cancel();
  co_await settle();
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(c.waiters(), 0u);
  EXPECT_FALSE(c.locked());
}

Task<> start_waiting_by_name(Condition& c, std::vector<TaskHandle<>>& keep, int& rounds) {
  keep.push_back(create_task(wait_by_name_forever(c, rounds)));
  co_await settle();
  co_await notify_once(c);
  co_await settle();  // waiting again, on the same named awaitable
}

TEST(ConditionReuse, TeardownOfAWaitAwaitedAgainByNameLeavesBothListsEmpty) {
  Condition c;
  int rounds = 0;
  {
    EventLoop loop;
    std::vector<TaskHandle<>> keep;
    run_until_complete(loop, start_waiting_by_name(c, keep, rounds));
    EXPECT_EQ(rounds, 1);
    EXPECT_EQ(c.waiters(), 1u);
    keep.clear();
  }
  EXPECT_EQ(c.waiters(), 0u);
  EXPECT_EQ(c.lock().waiters(), 0u);
  EXPECT_FALSE(c.locked());
}

}  // namespace
}  // namespace corio
