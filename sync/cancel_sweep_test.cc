// Cancellation at every suspension point of a task that waits on every
// primitive (as loop/cancel_sweep_test.cc does for the combinators): the
// task runs once to count its loop iterations, then once more per
// iteration, cancelled just before it. Each run must end in CancelledError
// at the moment of the cancel (or with the value, once the cancel comes
// after the end), with every lock and permit given back, no task left, no
// frame object leaked and nothing reported.
#include "corio/loop/testing/cancel_sweep.h"

#include <chrono>
#include <cstddef>
#include <utility>

#include "corio/loop/loop.h"
#include "corio/sync/sync.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

using testing::LiveCounter;

// Every primitive is awaited directly, as a cancellable suspension point,
// not through the relay that Task puts around awaitables it does not know
// (loop/internal/foreign_awaiter.h), which cannot be interrupted.
template <class A>
constexpr bool kDirect = internal::kLoopAwaitable<A>;
static_assert(kDirect<decltype(std::declval<Lock&>().acquire())>);
static_assert(kDirect<decltype(std::declval<Lock&>().scoped())>);
static_assert(kDirect<decltype(std::declval<Semaphore&>().acquire())>);
static_assert(kDirect<decltype(std::declval<Semaphore&>().scoped())>);
static_assert(kDirect<decltype(std::declval<Event&>().wait())>);
static_assert(kDirect<decltype(std::declval<Condition&>().wait())>);
static_assert(kDirect<decltype(std::declval<Condition&>().acquire())>);
static_assert(kDirect<decltype(std::declval<Barrier&>().wait())>);
static_assert(kDirect<decltype(std::declval<Queue<int>&>().put(1))>);
static_assert(kDirect<decltype(std::declval<Queue<int>&>().get())>);
static_assert(kDirect<decltype(std::declval<Queue<int>&>().join())>);
static_assert(kDirect<decltype(std::declval<Channel<int>&>().receive())>);

// What the scenario waits on; outlives every task of a run.
struct Primitives {
  Lock lock;
  Semaphore sem{1};
  Queue<int> queue{1};  // bounded: the producer waits for the consumer
  Event event;
  Condition cond;
  bool cond_ready = false;
  Barrier barrier{2};
};

Task<void> producer(Primitives& p) {
  LiveCounter t;
  for (int i = 1; i <= 3; ++i) co_await p.queue.put(i);
  co_await sleep(1ms);
  p.event.set();
}

Task<void> holder(Primitives& p) {
  LiveCounter t;
  auto lock = co_await p.lock.scoped();
  auto permit = co_await p.sem.scoped();
  co_await sleep(2ms);
}

Task<void> notifier(Primitives& p) {
  LiveCounter t;
  co_await sleep(3ms);
  auto guard = co_await p.cond.scoped();
  p.cond_ready = true;
  p.cond.notify_all();
}

Task<void> partner(Primitives& p) {
  LiveCounter t;
  co_await sleep(4ms);
  co_await p.barrier.wait();
}

// Every primitive in turn, its counterparts in a task group (so none
// outlives the scenario); 6 when nothing is cancelled.
Task<int> scenario(Primitives& p) {
  LiveCounter t;
  co_return co_await task_group([&p](TaskGroup& tg) -> Task<int> {
    LiveCounter body;
    tg.create_task(producer(p));
    tg.create_task(holder(p));
    tg.create_task(notifier(p));
    tg.create_task(partner(p));
    int sum = 0;
    for (int i = 0; i < 3; ++i) sum += co_await p.queue.get();
    co_await p.event.wait();
    {
      auto lock = co_await p.lock.scoped();  // after the holder's 2 ms
      auto permit = co_await p.sem.scoped();
    }
    {
      auto guard = co_await p.cond.scoped();
      co_await p.cond.wait_for([&p] { return p.cond_ready; });
    }
    co_await p.barrier.wait();
    co_return sum;
  });
}
constexpr int kScenarioValue = 6;

// A run on a fresh loop, cancelled just before iteration `cancel_at`
// (never if negative), checked for what it left behind (cancel_sweep.h)
// and for the primitives' state once the loop is gone.
testing::SweepRun run_cancelling_at(int cancel_at) {
  Primitives p;  // outlives the loop, as it must
  testing::SweepRun r =
      testing::run_cancelling_at(cancel_at, [&p](EventLoop& loop) { return create_task(loop, scenario(p)); });
  EXPECT_FALSE(p.lock.locked());
  EXPECT_EQ(p.sem.value(), 1);
  EXPECT_EQ(p.lock.waiters() + p.sem.waiters() + p.event.waiters() + p.cond.waiters(), 0u);
  EXPECT_EQ(p.barrier.n_waiting(), 0u);
  return r;
}

TEST(SyncCancelSweep, UncancelledScenarioReturnsItsValue) {
  testing::SweepRun r = run_cancelling_at(-1);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.value, kScenarioValue);
  EXPECT_GT(r.iterations, 10);  // it does suspend, many times
}

TEST(SyncCancelSweep, CancelAtEveryIterationEndsCleanly) {
  const int n = run_cancelling_at(-1).iterations;
  testing::for_each_step(n, "cancelled", [n](int k) {
    testing::SweepRun r = run_cancelling_at(k);
    if (k < n - 1) {
      EXPECT_TRUE(r.cancelled);
      EXPECT_EQ(r.cancel_to_end, Duration(0));  // nothing waits out its sleep
    } else if (k == n - 1) {
      // The last step starts with the barrier's hand-off: the wait keeps
      // what it was handed and the cancel waits for a suspension point
      // that never comes, so the task ends with its value.
      EXPECT_FALSE(r.cancelled);
      EXPECT_EQ(r.value, kScenarioValue);
      EXPECT_EQ(r.cancel_to_end, Duration(0));
    } else {  // after its end: a no-op
      EXPECT_FALSE(r.cancelled);
      EXPECT_EQ(r.value, kScenarioValue);
    }
  });
}

// The loop destroyed before each iteration in turn, with tasks parked on
// every primitive: every frame goes, nothing leaks or is reported, and the
// guards leave every lock and permit as they found them.
TEST(SyncTeardownSweep, DestroyingTheLoopAtEveryIterationLeavesThePrimitivesClean) {
  testing::for_each_step(run_cancelling_at(-1).iterations, "loop destroyed", [](int k) {
    Primitives p;
    testing::run_destroying_at(k, [&p](EventLoop& loop) { return create_task(loop, scenario(p)); });
    EXPECT_FALSE(p.lock.locked());
    EXPECT_EQ(p.sem.value(), 1);
    EXPECT_EQ(p.lock.waiters() + p.sem.waiters() + p.event.waiters() + p.cond.waiters(), 0u);
    EXPECT_EQ(p.queue.getters() + p.queue.putters(), 0u);
    EXPECT_EQ(p.barrier.n_waiting(), 0u);
  });
}

}  // namespace
}  // namespace corio
