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
