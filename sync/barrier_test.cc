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

}  // namespace
}  // namespace corio
