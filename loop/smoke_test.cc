#include <vector>
#include <chrono>
#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
using namespace std::chrono_literals;
corio::Task<int> leaf(int x) { co_return x * 2; }
CO_TEST(Smoke, AwaitChain) {
  long sum = 0;
  for (int i = 0; i < 1000000; ++i) sum += co_await leaf(i);
  EXPECT_EQ(sum, 999999000000L);
}
CO_TEST(Smoke, SpawnJoinSleep) {
  std::vector<int> order;
  auto t1 = corio::create_task([](std::vector<int>& o) -> corio::Task<int> { co_await corio::sleep(20ms); o.push_back(2); co_return 2; }(order));
  auto t2 = corio::create_task([](std::vector<int>& o) -> corio::Task<int> { co_await corio::sleep(10ms); o.push_back(1); co_return 1; }(order));
  auto t0 = corio::current_loop().time();
  EXPECT_EQ(co_await t1, 2);
  EXPECT_EQ(co_await t2, 1);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(corio::current_loop().time() - t0, 20ms);
}
CO_TEST(Smoke, CancelSleeping) {
  auto t = corio::create_task([]() -> corio::Task<int> { co_await corio::sleep(1h); co_return 1; }());
  co_await corio::yield_now();
  EXPECT_TRUE(t.cancel());
  EXPECT_THROW(co_await t, corio::CancelledError);
  EXPECT_TRUE(t.cancelled());
}
CO_TEST(Smoke, Executor) {
  int v = co_await corio::to_thread([] { return 41 + 1; });
  EXPECT_EQ(v, 42);
  EXPECT_THROW(co_await corio::to_thread([]() -> int { throw std::runtime_error("x"); }), std::runtime_error);
}
corio::Task<int> after(std::chrono::milliseconds d, int v) { co_await corio::sleep(d); co_return v; }
corio::Task<int> fail_after(std::chrono::milliseconds d) { co_await corio::sleep(d); throw std::runtime_error("boom"); }
CO_TEST(Smoke, GatherTuple) {
  auto [a, b] = co_await corio::gather(after(20ms, 1), after(10ms, 2));
  EXPECT_EQ(a, 1); EXPECT_EQ(b, 2);
}
CO_TEST(Smoke, GatherVectorAndError) {
  std::vector<corio::Task<int>> v; for (int i = 0; i < 5; ++i) v.push_back(after(std::chrono::milliseconds(5 - i), i));
  auto r = co_await corio::gather(std::move(v));
  EXPECT_EQ(r, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_THROW(co_await corio::gather(after(10ms, 1), fail_after(5ms)), std::runtime_error);
  auto [o1, o2] = co_await corio::gather(corio::return_exceptions, after(10ms, 1), fail_after(5ms));
  EXPECT_TRUE(o1.has_value()); EXPECT_FALSE(o2.has_value());
}
CO_TEST(Smoke, TimeoutFires) {
  auto t0 = corio::current_loop().time();
  EXPECT_THROW(co_await corio::timeout(10ms, after(1h, 1)), corio::TimeoutError);
  EXPECT_EQ(corio::current_loop().time() - t0, 10ms);
  EXPECT_EQ(co_await corio::timeout(1h, after(10ms, 7)), 7);
  EXPECT_EQ(corio::current_task().cancelling(), 0u);
}
CO_TEST(Smoke, WaitForTaskHandleCancelsIt) {
  auto h = corio::create_task(after(1h, 1));
  EXPECT_THROW(co_await corio::wait_for(h, 10ms), corio::TimeoutError);
  EXPECT_TRUE(h.cancelled());
}
CO_TEST(Smoke, TaskGroupFailureCancelsSiblings) {
  corio::TaskHandle<int> slow;
  try {
    co_await corio::task_group([&](corio::TaskGroup& tg) -> corio::Task<> {
      slow = tg.create_task(after(1h, 1));
      tg.create_task(fail_after(5ms));
      co_await corio::sleep(1h);
    });
    ADD_FAILURE() << "no exception";
  } catch (const corio::ExceptionGroup& g) {
    EXPECT_EQ(g.exceptions().size(), 1u);
  }
  EXPECT_TRUE(slow.cancelled());
  EXPECT_EQ(corio::current_task().cancelling(), 0u);
}
CO_TEST(Smoke, ShieldKeepsInnerRunning) {
  auto inner = corio::create_task(after(20ms, 5));
  auto outer = corio::create_task([](corio::TaskHandle<int> h) -> corio::Task<int> { co_return co_await corio::shield(h); }(inner));
  co_await corio::sleep(5ms);
  outer.cancel();
  EXPECT_THROW(co_await outer, corio::CancelledError);
  EXPECT_FALSE(inner.done());
  EXPECT_EQ(co_await inner, 5);
}
CO_TEST(Smoke, WaitAndAsCompleted) {
  std::vector<corio::TaskHandle<int>> hs{corio::create_task(after(30ms, 3)), corio::create_task(after(10ms, 1)), corio::create_task(after(20ms, 2))};
  auto r = co_await corio::wait(hs, corio::ReturnWhen::kFirstCompleted);
  EXPECT_EQ(r.done.size(), 1u); EXPECT_EQ(r.pending.size(), 2u);
  corio::AsCompleted<int> ac(hs);
  std::vector<int> got;
  while (!ac.empty()) got.push_back(co_await co_await ac.next());
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
}
