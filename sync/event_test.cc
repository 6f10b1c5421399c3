#include "corio/sync/event.h"

#include <chrono>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/sync/testing/sync_testing.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::cancel_after;
using testing::settle;

Task<> waiter(Event& ev, std::vector<int>& order, int id) {
  co_await ev.wait();
  order.push_back(id);
}

CO_TEST(Event, StartsClear) {
  Event ev;
  EXPECT_FALSE(ev.is_set());
  co_return;
}

CO_TEST(Event, SetWakesEveryWaiterInOrder) {
  Event ev;
  std::vector<int> order;
  std::vector<TaskHandle<>> tasks;
  for (int i = 1; i <= 5; ++i) tasks.push_back(create_task(waiter(ev, order, i)));
  co_await settle();
  EXPECT_EQ(ev.waiters(), 5u);
  EXPECT_TRUE(order.empty());
  ev.set();
  EXPECT_TRUE(ev.is_set());
  EXPECT_EQ(ev.waiters(), 0u);
  for (auto& t : tasks) co_await t;
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5}));
}

CO_TEST(Event, WaitOnSetEventReturnsWithoutSuspending) {
  Event ev;
  ev.set();
  std::vector<int> order;
  auto other = create_task(waiter(ev, order, 2));  // queued, not yet run
  co_await ev.wait();
  order.push_back(1);  // we did not yield, so `other` has not run
  co_await other;
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

CO_TEST(Event, ClearMakesWaitSuspendAgain) {
  Event ev;
  ev.set();
  ev.clear();
  EXPECT_FALSE(ev.is_set());
  std::vector<int> order;
  auto t = create_task(waiter(ev, order, 1));
  co_await settle();
  EXPECT_TRUE(order.empty());
  ev.set();
  co_await t;
  EXPECT_EQ(order, (std::vector<int>{1}));
}

CO_TEST(Event, ClearAfterSetStillReleasesWokenWaiters) {
  Event ev;
  std::vector<int> order;
  auto t = create_task(waiter(ev, order, 1));
  co_await settle();
  ev.set();
  ev.clear();
  co_await t;
  EXPECT_EQ(order, (std::vector<int>{1}));
}

CO_TEST(Event, SetTwiceIsHarmless) {
  Event ev;
  ev.set();
  ev.set();
  EXPECT_TRUE(ev.is_set());
  co_await ev.wait();
}

CO_TEST(Event, CancelWhileWaitingRemovesOnlyThatWaiter) {
  Event ev;
  std::vector<int> order;
  auto a = create_task(waiter(ev, order, 1));
  auto b = create_task(waiter(ev, order, 2));
  co_await settle();
  a.cancel();
  EXPECT_EQ(ev.waiters(), 1u);
  EXPECT_THROW(co_await a, CancelledError);
  ev.set();
  co_await b;
  EXPECT_EQ(order, (std::vector<int>{2}));
}

CO_TEST(Event, CancelAfterSetBeforeRunningRaisesAtOnce) {
  // The wake carries nothing, so a late cancel is delivered by wait().
  Event ev;
  std::vector<int> order;
  auto a = create_task(waiter(ev, order, 1));
  auto b = create_task(waiter(ev, order, 2));
  co_await settle();
  ev.set();
  a.cancel();
  EXPECT_THROW(co_await a, CancelledError);
  co_await b;
  EXPECT_EQ(order, (std::vector<int>{2}));
}

CO_TEST(Event, TimeoutWhileWaiting) {
  Event ev;
  std::vector<int> order;
  auto t = create_task(waiter(ev, order, 1));
  auto timer = cancel_after(t, 10ms);
  const auto t0 = current_loop().time();
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(current_loop().time() - t0, 10ms);
  EXPECT_EQ(ev.waiters(), 0u);
  co_await timer;
}

Task<> wait_twice(Event& ev, std::vector<std::string>& log) {
  co_await ev.wait();
  log.push_back("first");
  co_await ev.wait();
  log.push_back("second");
}

CO_TEST(Event, WaitAfterWakeSeesCurrentFlag) {
  Event ev;
  std::vector<std::string> log;
  auto t = create_task(wait_twice(ev, log));
  co_await settle();
  ev.set();
  ev.clear();
  co_await settle();
  EXPECT_EQ(log, (std::vector<std::string>{"first"}));
  ev.set();
  co_await t;
  EXPECT_EQ(log, (std::vector<std::string>{"first", "second"}));
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

Task<> cancel_self_then_wait(Event& ev, std::vector<std::string>& log) {
  current_task().cancel();
  co_await ev.wait();
  log.push_back("passed");
  co_await yield_now();
  log.push_back("not reached");
}

CO_TEST(Event, PendingCancelIsDeliveredWhenWaitMustSuspend) {
  Event ev;
  std::vector<std::string> log;
  auto t = create_task(cancel_self_then_wait(ev, log));
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(ev.waiters(), 0u);
}

CO_TEST(Event, PendingCancelWaitsForASuspensionWhenSet) {
  Event ev;
  ev.set();
  std::vector<std::string> log;
  auto t = create_task(cancel_self_then_wait(ev, log));
  EXPECT_THROW(co_await t, CancelledError);
  EXPECT_EQ(log, (std::vector<std::string>{"passed"}));
}

}  // namespace
}  // namespace corio
