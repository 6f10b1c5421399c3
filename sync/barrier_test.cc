#include "corio/sync/barrier.h"

#include <chrono>
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

Task<std::size_t> arrive(Barrier& b) { co_return co_await b.wait(); }

// Arrives; logs "<name>:<index>" or "<name>:broken".
Task<> party(Barrier& b, std::vector<std::string>& log, std::string name) {
  try {
    std::size_t i = co_await b.wait();
    log.push_back(name + ":" + std::to_string(i));
  } catch (const BrokenBarrierError&) {
    log.push_back(name + ":broken");
  }
}

CO_TEST(Barrier, ZeroPartiesThrowsValueError) {
  EXPECT_THROW(Barrier(0), ValueError);
  co_return;
}

CO_TEST(Barrier, OnePartyNeverWaits) {
  Barrier b(1);
  EXPECT_EQ(co_await b.wait(), 0u);
  EXPECT_EQ(co_await b.wait(), 0u);
}

CO_TEST(Barrier, ReleasesAllWithArrivalIndices) {
  Barrier b(3);
  std::vector<std::string> log;
  auto x = create_task(party(b, log, "x"));
  auto y = create_task(party(b, log, "y"));
  co_await settle();
  EXPECT_EQ(b.n_waiting(), 2u);
  EXPECT_TRUE(log.empty());
  // The last to arrive passes without suspending and gets parties - 1.
  EXPECT_EQ(co_await b.wait(), 2u);
  EXPECT_EQ(b.n_waiting(), 0u);
  co_await x;
  co_await y;
  EXPECT_EQ(log, (std::vector<std::string>{"x:0", "y:1"}));
}

CO_TEST(Barrier, IsCyclic) {
  Barrier b(2);
  for (int round = 0; round < 3; ++round) {
    auto t = create_task(arrive(b));
    co_await settle();
    EXPECT_EQ(co_await b.wait(), 1u);
    EXPECT_EQ(co_await t, 0u);
  }
}

CO_TEST(Barrier, AbortBreaksWaitersAndLaterArrivals) {
  Barrier b(3);
  std::vector<std::string> log;
  auto x = create_task(party(b, log, "x"));
  co_await settle();
  b.abort();
  EXPECT_TRUE(b.broken());
  co_await x;
  EXPECT_EQ(log, (std::vector<std::string>{"x:broken"}));
  EXPECT_THROW(co_await b.wait(), BrokenBarrierError);
  b.reset();
  EXPECT_FALSE(b.broken());
  auto y = create_task(arrive(b));
  auto z = create_task(arrive(b));
  co_await settle();
  EXPECT_EQ(co_await b.wait(), 2u);
  EXPECT_EQ(co_await y, 0u);
  EXPECT_EQ(co_await z, 1u);
}

CO_TEST(Barrier, ResetReleasesWaitersBrokenAndStartsAfresh) {
  Barrier b(3);
  std::vector<std::string> log;
  auto x = create_task(party(b, log, "x"));
  auto y = create_task(party(b, log, "y"));
  co_await settle();
  b.reset();
  EXPECT_FALSE(b.broken());
  EXPECT_EQ(b.n_waiting(), 0u);
  co_await x;
  co_await y;
  EXPECT_EQ(log, (std::vector<std::string>{"x:broken", "y:broken"}));
  // Usable again, from empty.
  auto p = create_task(arrive(b));
  auto q = create_task(arrive(b));
  co_await settle();
  EXPECT_EQ(co_await b.wait(), 2u);
  EXPECT_EQ(co_await p, 0u);
  EXPECT_EQ(co_await q, 1u);
}

CO_TEST(Barrier, CancelledWaiterLeavesAndIndicesStayUnique) {
  Barrier b(3);
  std::vector<std::string> log;
  auto x = create_task(party(b, log, "x"));
  auto y = create_task(party(b, log, "y"));
  co_await settle();
  x.cancel();
  EXPECT_THROW(co_await x, CancelledError);
  EXPECT_EQ(b.n_waiting(), 1u);  // x no longer counts
  auto z = create_task(party(b, log, "z"));
  co_await settle();
  EXPECT_EQ(b.n_waiting(), 2u);
  EXPECT_EQ(co_await b.wait(), 2u);
  co_await y;
  co_await z;
  EXPECT_EQ(log, (std::vector<std::string>{"y:0", "z:1"}));
  EXPECT_FALSE(b.broken());
}

Task<> pass_then_yield(Barrier& b, std::vector<std::string>& log) {
  std::size_t i = co_await b.wait();
  log.push_back("passed:" + std::to_string(i));
  try {
    co_await yield_now();
  } catch (const CancelledError&) {
    log.push_back("cancelled at next suspension");
    throw;
  }
}

CO_TEST(Barrier, CancelAfterReleaseKeepsTheIndex) {
  Barrier b(2);
  std::vector<std::string> log;
  auto t = create_task(pass_then_yield(b, log));
  co_await settle();
  EXPECT_EQ(co_await b.wait(), 1u);  // releases t...
  t.cancel();                        // ...which is cancelled before it runs
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (std::vector<std::string>{"passed:0", "cancelled at next suspension"}));
}

CO_TEST(Barrier, TimeoutWhileWaiting) {
  Barrier b(2);
  auto t = create_task(arrive(b));
  auto timer = cancel_after(t, 10ms);
  EXPECT_THROW(co_await t, CancelledError);
  co_await timer;
  EXPECT_EQ(b.n_waiting(), 0u);
  EXPECT_FALSE(b.broken());
}

CO_TEST(Barrier, ReportsParties) {
  Barrier b(5);
  EXPECT_EQ(b.parties(), 5u);
  EXPECT_EQ(b.n_waiting(), 0u);
  EXPECT_FALSE(b.broken());
  co_return;
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

Task<> cancel_self_then_arrive(Barrier& b, bool& passed) {
  current_task().cancel();
  (void)co_await b.wait();
  passed = true;
}

CO_TEST(Barrier, PendingCancelIsDeliveredWhenWaitMustSuspend) {
  Barrier b(2);
  bool passed = false;
  auto t = create_task(cancel_self_then_arrive(b, passed));
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_FALSE(passed);
  EXPECT_EQ(b.n_waiting(), 0u);  // it never counted as arrived
}

CO_TEST(Barrier, CancelOneOfManyWaitersKeepsTheRestInOrder) {
  Barrier b(4);
  std::vector<std::string> log;
  std::vector<TaskHandle<>> parties;
  for (const char* n : {"a", "b", "c"}) parties.push_back(create_task(party(b, log, n)));
  co_await settle();
  parties[1].cancel();
  EXPECT_THROW(co_await parties[1], CancelledError);
  auto d = create_task(party(b, log, "d"));
  co_await settle();
  EXPECT_EQ(co_await b.wait(), 3u);
  co_await parties[0];
  co_await parties[2];
  co_await d;
  EXPECT_EQ(log, (std::vector<std::string>{"a:0", "c:1", "d:2"}));
}

// wait() kept in a variable and awaited again: each await is a fresh wait
// (a reused awaiter kept "broken" from an abort and raised it after a
// normal trip).
Task<> barrier_wait_twice_by_name(Barrier& b, std::vector<std::string>& log) {
  auto w = b.wait();
  for (int i = 0; i < 2; ++i) {
    try {
      std::size_t idx = co_await w;
      log.push_back("ok" + std::to_string(idx));
    } catch (const BrokenBarrierError&) {
      log.push_back("broken");
    }
  }
}

CO_TEST(BarrierReuse, WaitAwaitedAgainByNameAfterAnAbortTripsNormally) {
  Barrier b(2);
  std::vector<std::string> log;
  auto t = create_task(barrier_wait_twice_by_name(b, log));
  co_await settle();
  b.abort();  // wakes t with BrokenBarrierError
  b.reset();  // usable again before t runs
  co_await settle();
  EXPECT_EQ(b.n_waiting(), 1u);
  std::size_t mine = co_await b.wait();  // the second party trips it
  co_await t;
  EXPECT_EQ(mine, 1u);
  EXPECT_EQ(log, (std::vector<std::string>{"broken", "ok0"}));
}

// ---- asyncio's states: filling, draining, resetting, broken ----
// A cycle fills as parties arrive; the last one releases it, and it drains
// until every released party has resumed. A party that arrives meanwhile
// (typically one released first, back for the next round) waits at the
// entrance and joins the next cycle once the draining has ended, in
// arrival order. reset() and abort() break the parties waiting and those
// released but not yet resumed. corio used to start the next cycle at once,
// so that a reset() by the last party out broke a party that asyncio
// counts as not yet arrived.

using Log = std::vector<std::string>;

// Arrives `rounds` times; logs "<name>:<index>" or "<name>:broken" each time.
Task<> rounds(Barrier& b, Log& log, std::string name, int n) {
  for (int i = 0; i < n; ++i) {
    try {
      std::size_t index = co_await b.wait();
      log.push_back(name + ":" + std::to_string(index));
    } catch (const BrokenBarrierError&) {
      log.push_back(name + ":broken");
    }
  }
}

// Awaits `tasks` for at most an hour of loop time (a hang would otherwise
// hang the test); true if they all finished.
Task<bool> all_finish(std::vector<TaskHandle<>> tasks) {
  WaitResult<TaskHandle<>> result = co_await wait(tasks, ReturnWhen::kAllCompleted, 1h);
  for (TaskHandle<>& t : result.pending) t.cancel();
  co_return result.pending.empty();
}

// The program, in asyncio terms:
//   async def a(b):                   async def b_(b):
//       log(await b.wait())               log(await b.wait())
//       await b.reset()                   log(await b.wait())
//       log(await b.wait())
// `b_` releases the first cycle and comes back before `a` has resumed;
// `a` is then the last party out and resets the barrier. Under asyncio
// it finishes; corio's reset() broke b_'s second wait and left `a`
// waiting forever.
CO_TEST(BarrierStates, AResetByTheLastPartyOutLeavesNoPartyWaitingForever) {
  Barrier b(2);
  Log log;
  auto a = create_task([](Barrier& b, Log& l) -> Task<> {
    l.push_back("a:" + std::to_string(co_await b.wait()));
    b.reset();
    l.push_back("a:" + std::to_string(co_await b.wait()));
  }(b, log));
  co_await settle();  // a waits
  auto b2 = create_task(rounds(b, log, "b", 2));
  std::vector<TaskHandle<>> both{a, b2};
  EXPECT_TRUE(co_await all_finish(std::move(both)));
  // asyncio gives b:1 a:0 b:1 a:0: there `a` comes back before b's second
  // wait has run again and takes the first place of the new cycle. corio
  // admits the parties waiting at the entrance first come, first served,
  // so b, which came back first, is index 0.
  EXPECT_EQ(log, (Log{"b:1", "a:0", "b:0", "a:1"}));
  EXPECT_FALSE(b.broken());
}

CO_TEST(BarrierStates, APartyArrivingWhileTheCycleDrainsWaitsAtTheEntrance) {
  Barrier b(2);
  Log log;
  auto x = create_task(rounds(b, log, "x", 1));
  co_await settle();  // x waits
  // y releases x and comes straight back; z arrives in the same iteration.
  // Both wait at the entrance until x has resumed; corio used to let y
  // start the next cycle at once and z complete it without waiting.
  auto y = create_task(rounds(b, log, "y", 2));
  auto z = create_task(rounds(b, log, "z", 1));
  co_await yield_now();  // y and z have run, x not yet
  EXPECT_EQ(log, (Log{"y:1"}));
  EXPECT_EQ(b.n_waiting(), 0u);  // those at the entrance do not count
  std::vector<TaskHandle<>> all{x, y, z};
  EXPECT_TRUE(co_await all_finish(std::move(all)));
  EXPECT_EQ(log, (Log{"y:1", "x:0", "y:0", "z:1"}));
}

CO_TEST(BarrierStates, ResetBreaksAPartyReleasedButNotYetResumed) {
  Barrier b(2);
  Log log;
  auto x = create_task(rounds(b, log, "x", 1));
  co_await settle();
  EXPECT_EQ(co_await b.wait(), 1u);  // releases x, which has not run yet
  b.reset();
  co_await x;
  EXPECT_EQ(log, (Log{"x:broken"}));
  EXPECT_FALSE(b.broken());
  // Usable again once x has left.
  auto p = create_task(rounds(b, log, "p", 1));
  co_await settle();
  EXPECT_EQ(co_await b.wait(), 1u);
  co_await p;
  EXPECT_EQ(log, (Log{"x:broken", "p:0"}));
}

CO_TEST(BarrierStates, AbortBreaksAPartyReleasedButNotYetResumed) {
  Barrier b(2);
  Log log;
  auto x = create_task(rounds(b, log, "x", 1));
  co_await settle();
  EXPECT_EQ(co_await b.wait(), 1u);
  b.abort();
  co_await x;
  EXPECT_EQ(log, (Log{"x:broken"}));
  EXPECT_TRUE(b.broken());
}

CO_TEST(BarrierStates, ResetLeavesThePartiesAtTheEntranceForTheNextCycle) {
  Barrier b(2);
  Log log;
  auto x = create_task(rounds(b, log, "x", 1));
  co_await settle();
  auto y = create_task(rounds(b, log, "y", 2));
  co_await yield_now();  // y released x and waits at the entrance; x has not run
  b.reset();             // breaks x, not y
  std::size_t mine = co_await wait_for(b.wait(), 1h);
  co_await x;
  co_await y;
  EXPECT_EQ(mine, 1u);
  EXPECT_EQ(log, (Log{"y:1", "x:broken", "y:0"}));
  EXPECT_FALSE(b.broken());
}

CO_TEST(BarrierStates, AbortBreaksThePartiesAtTheEntranceAndLaterArrivals) {
  Barrier b(2);
  Log log;
  auto x = create_task(rounds(b, log, "x", 1));
  co_await settle();
  auto y = create_task(rounds(b, log, "y", 2));
  co_await yield_now();  // y released x and waits at the entrance; x has not run
  b.abort();
  co_await x;
  co_await y;
  EXPECT_EQ(log, (Log{"y:1", "x:broken", "y:broken"}));
  EXPECT_THROW(co_await b.wait(), BrokenBarrierError);
}

CO_TEST(BarrierStates, APartyCancelledAtTheEntranceLeavesNoTrace) {
  Barrier b(2);
  Log log;
  auto x = create_task(rounds(b, log, "x", 1));
  co_await settle();
  auto y = create_task(rounds(b, log, "y", 2));
  co_await yield_now();  // y waits at the entrance
  y.cancel();
  EXPECT_THROW(co_await y, CancelledError);
  co_await x;
  EXPECT_EQ(log, (Log{"y:1", "x:0"}));
  // The next cycle starts empty.
  auto p = create_task(rounds(b, log, "p", 1));
  co_await settle();
  EXPECT_EQ(b.n_waiting(), 1u);
  EXPECT_EQ(co_await b.wait(), 1u);
  co_await p;
  EXPECT_EQ(log, (Log{"y:1", "x:0", "p:0"}));
}

// The loop destroys a frame that the barrier released before it could
// resume: the draining still ends, so a barrier that outlives the loop is
// usable on the next one.
Task<> release_one_and_leave(Barrier& b, std::vector<TaskRef>& keep) {
  keep.push_back(create_task(arrive(b)));
  co_await settle();
  (void)co_await b.wait();  // releases the other party, which never runs
}

Task<> two_parties(Barrier& b, std::vector<std::size_t>& indices) {
  auto other = create_task(arrive(b));
  co_await settle();
  indices.push_back(co_await b.wait());
  indices.push_back(co_await wait_for(std::move(other), 1h));
}

TEST(BarrierTeardown, ALoopDestroyedWhileAPartyWasReleasedLeavesTheBarrierUsable) {
  Barrier b(2);
  {
    EventLoop loop;
    std::vector<TaskRef> keep;
    run_until_complete(loop, release_one_and_leave(b, keep));
    keep.clear();
  }  // destroys the released party's frame before it resumed
  EXPECT_FALSE(b.broken());
  std::vector<std::size_t> indices;
  {
    EventLoop loop;
    run_until_complete(loop, two_parties(b, indices));
  }
  EXPECT_EQ(indices, (std::vector<std::size_t>{1, 0}));
}

}  // namespace
}  // namespace corio
