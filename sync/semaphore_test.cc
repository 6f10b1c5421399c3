#include "corio/sync/semaphore.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/sync/errors.h"
#include "corio/sync/testing/sync_testing.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::cancel_after;
using testing::settle;

Task<> worker(Semaphore& sem, std::vector<int>& order, int id) {
  auto permit = co_await sem.scoped();
  order.push_back(id);
  co_await yield_now();
}

CO_TEST(Semaphore, NegativeInitialValueThrowsValueError) {
  EXPECT_THROW(Semaphore(-1), ValueError);
  EXPECT_THROW(BoundedSemaphore(-1), ValueError);
  co_return;
}

CO_TEST(Semaphore, DefaultHoldsOnePermit) {
  Semaphore sem;
  EXPECT_EQ(sem.value(), 1);
  co_await sem.acquire();
  EXPECT_TRUE(sem.locked());
  sem.release();
  EXPECT_FALSE(sem.locked());
}

CO_TEST(Semaphore, AcquireAndReleaseCountPermits) {
  Semaphore sem(3);
  co_await sem.acquire();
  co_await sem.acquire();
  EXPECT_EQ(sem.value(), 1);
  EXPECT_FALSE(sem.locked());
  co_await sem.acquire();
  EXPECT_TRUE(sem.locked());
  sem.release();
  sem.release();
  sem.release();
  EXPECT_EQ(sem.value(), 3);
}

CO_TEST(Semaphore, ZeroPermitsMeansEveryAcquireWaits) {
  Semaphore sem(0);
  std::vector<int> order;
  auto t = create_task(worker(sem, order, 1));
  co_await settle();
  EXPECT_EQ(sem.waiters(), 1u);
  sem.release();
  co_await t;
  EXPECT_EQ(order, (std::vector<int>{1}));
  EXPECT_EQ(sem.value(), 1);  // the guard gave it back
}

Task<> limited(Semaphore& sem, int& running, int& peak) {
  auto permit = co_await sem.scoped();
  ++running;
  peak = std::max(peak, running);
  co_await sleep(1ms);
  --running;
}

CO_TEST(Semaphore, LimitsConcurrency) {
  Semaphore sem(2);
  int running = 0, peak = 0;
  std::vector<TaskHandle<>> tasks;
  const auto t0 = current_loop().time();
  for (int i = 0; i < 7; ++i) tasks.push_back(create_task(limited(sem, running, peak)));
  for (auto& t : tasks) co_await t;
  EXPECT_EQ(peak, 2);
  EXPECT_EQ(current_loop().time() - t0, 4ms);  // ceil(7 / 2) rounds
  EXPECT_EQ(sem.value(), 2);
}

CO_TEST(Semaphore, WaitersServedInFifoOrder) {
  Semaphore sem(0);
  std::vector<int> order;
  std::vector<TaskHandle<>> tasks;
  for (int i = 1; i <= 4; ++i) tasks.push_back(create_task(worker(sem, order, i)));
  co_await settle();
  sem.release();
  for (auto& t : tasks) co_await t;
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
}

CO_TEST(Semaphore, ReleaseHandsPermitToWaiterSoReacquireQueues) {
  Semaphore sem(1);
  std::vector<int> order;
  co_await sem.acquire();
  auto t = create_task(worker(sem, order, 1));
  co_await settle();
  sem.release();
  EXPECT_EQ(sem.value(), 0);  // handed over, never visible as free
  co_await sem.acquire();     // must queue behind the waiter
  order.push_back(0);
  sem.release();
  co_await t;
  EXPECT_EQ(order, (std::vector<int>{1, 0}));
}

CO_TEST(Semaphore, BoundedSemaphoreRejectsOverRelease) {
  BoundedSemaphore sem(2);
  EXPECT_THROW(sem.release(), ValueError);
  co_await sem.acquire();
  sem.release();
  EXPECT_THROW(sem.release(), ValueError);
  EXPECT_EQ(sem.value(), 2);
}

CO_TEST(Semaphore, BoundedSemaphoreReleaseToWaiterIsFine) {
  BoundedSemaphore sem(1);
  std::vector<int> order;
  co_await sem.acquire();
  auto t = create_task(worker(sem, order, 1));
  co_await settle();
  sem.release();
  co_await t;
  EXPECT_EQ(sem.value(), 1);
  EXPECT_THROW(sem.release(), ValueError);
}

// Regression: with a bound of 0, release() to a waiter handed out a permit
// that never existed; the waiter's guard then threw ValueError from its
// destructor (std::terminate). asyncio raises ValueError here.
CO_TEST(Semaphore, ZeroBoundedSemaphoreRejectsReleaseEvenWithAWaiter) {
  BoundedSemaphore sem(0);
  std::vector<int> order;
  auto t = create_task(worker(sem, order, 1));
  co_await settle();
  EXPECT_THROW(sem.release(), ValueError);
  co_await settle();
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(sem.waiters(), 1u);
  t.cancel();
  EXPECT_THROW(co_await t, CancelledError);
}

CO_TEST(Semaphore, PlainSemaphoreMayBeReleasedAboveInitialValue) {
  Semaphore sem(1);
  sem.release();
  EXPECT_EQ(sem.value(), 2);
  co_return;
}

CO_TEST(Semaphore, CancelWhileWaitingKeepsCountAndOrder) {
  Semaphore sem(0);
  std::vector<int> order;
  auto a = create_task(worker(sem, order, 1));
  auto b = create_task(worker(sem, order, 2));
  co_await settle();
  a.cancel();
  EXPECT_THROW(co_await a, CancelledError);
  EXPECT_EQ(sem.value(), 0);
  EXPECT_EQ(sem.waiters(), 1u);
  sem.release();
  co_await b;
  EXPECT_EQ(order, (std::vector<int>{2}));
  EXPECT_EQ(sem.value(), 1);
}

Task<> acquire_then_yield(Semaphore& sem, std::vector<std::string>& log) {
  auto permit = co_await sem.scoped();
  log.push_back("acquired");
  try {
    co_await yield_now();
  } catch (const CancelledError&) {
    log.push_back("cancelled at next suspension");
    throw;
  }
}

CO_TEST(Semaphore, CancelAfterHandOffKeepsPermitUntilUnwound) {
  BoundedSemaphore sem(1);
  std::vector<std::string> log;
  std::vector<int> order;
  co_await sem.acquire();
  auto a = create_task(acquire_then_yield(sem, log));
  auto b = create_task(worker(sem, order, 2));
  co_await settle();
  sem.release();  // a is handed the permit...
  a.cancel();     // ...and cancelled before it runs
  EXPECT_EQ(sem.value(), 0);
  EXPECT_EQ(sem.waiters(), 1u);
  EXPECT_THROW(co_await a, CancelledError);
  EXPECT_EQ(log, (std::vector<std::string>{"acquired", "cancelled at next suspension"}));
  co_await b;  // got the permit when a's guard returned it
  EXPECT_EQ(order, (std::vector<int>{2}));
  EXPECT_EQ(sem.value(), 1);  // nothing lost, nothing doubled
}

CO_TEST(Semaphore, TimeoutWhileWaiting) {
  Semaphore sem(0);
  std::vector<int> order;
  auto t = create_task(worker(sem, order, 1));
  auto timer = cancel_after(t, 5ms);
  EXPECT_THROW(co_await t, CancelledError);
  co_await timer;
  EXPECT_EQ(sem.waiters(), 0u);
  sem.release();
  EXPECT_EQ(sem.value(), 1);
}

Task<> cancel_self_then_acquire(Semaphore& sem, bool& acquired) {
  current_task().cancel();
  co_await sem.acquire();
  acquired = true;
}

CO_TEST(Semaphore, PendingCancelIsDeliveredWhenAcquireMustWait) {
  Semaphore sem(0);
  bool acquired = false;
  auto t = create_task(cancel_self_then_acquire(sem, acquired));
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_FALSE(acquired);
  EXPECT_EQ(sem.waiters(), 0u);
  EXPECT_EQ(sem.value(), 0);
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

Task<> hold_with_waiter(Semaphore& sem, std::vector<int>& order, std::vector<TaskHandle<>>& keep) {
  co_await sem.acquire();
  keep.push_back(create_task(worker(sem, order, 2)));
  co_await yield_now();  // the worker waits for a permit
}

TEST(SemaphoreTeardown, DestroyedLoopReturnsAPermitHandedToAFrameThatNeverRan) {
  BoundedSemaphore sem(1);
  std::vector<int> order;
  {
    EventLoop loop;
    std::vector<TaskHandle<>> keep;
    run_until_complete(loop, hold_with_waiter(sem, order, keep));
    sem.release();  // hands the permit to the waiting worker, which never runs
    EXPECT_EQ(sem.value(), 0);
    keep.clear();
  }  // ~EventLoop destroys the worker's frame with the permit handed to it
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(sem.value(), 1);
}

// The largest count a Semaphore holds: one more release is a ValueError
// that names the plain Semaphore (it used to speak of a BoundedSemaphore).
CO_TEST(Semaphore, ReleaseAtTheLargestValueThrowsValueErrorNamingSemaphore) {
  Semaphore sem(std::numeric_limits<std::int64_t>::max());
  std::string what;
  try {
    sem.release();
  } catch (const ValueError& e) {
    what = e.what();
  }
  EXPECT_EQ(what, "corio: Semaphore (or BoundedSemaphore of INT64_MAX) released past INT64_MAX");
  EXPECT_EQ(sem.value(), std::numeric_limits<std::int64_t>::max());
  co_return;
}

// A BoundedSemaphore whose bound is that same largest value: the message
// fits it too (it used to name only the plain Semaphore).
CO_TEST(Semaphore, BoundedAtTheLargestValueThrowsValueErrorNamingBoth) {
  BoundedSemaphore sem(std::numeric_limits<std::int64_t>::max());
  std::string what;
  try {
    sem.release();
  } catch (const ValueError& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("BoundedSemaphore"), std::string::npos) << what;
  EXPECT_EQ(sem.value(), std::numeric_limits<std::int64_t>::max());
  co_return;
}

}  // namespace
}  // namespace corio
