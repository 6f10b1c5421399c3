#include "corio/streams/async_generator.h"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/streams/errors.h"
#include "corio/streams/testing/streams_testing.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::settle;

// Appends `what` to `log` when destroyed: a generator's RAII cleanup.
struct Cleanup {
  std::vector<std::string>* log;
  std::string what;
  ~Cleanup() { log->push_back(what); }
};

AsyncGenerator<int> counting(int n, std::vector<std::string>& log) {
  Cleanup c{&log, "destroyed"};
  for (int i = 0; i < n; ++i) {
    log.push_back("yield " + std::to_string(i));
    co_yield i;
  }
  log.push_back("end");
}

CO_TEST(AsyncGenerator, RunsLazilyOneValueAtATime) {
  std::vector<std::string> log;
  auto gen = counting(2, log);
  EXPECT_TRUE(log.empty());  // nothing before the first next()
  std::optional<int> v = co_await gen.next();
  log.push_back("got " + std::to_string(*v));
  v = co_await gen.next();
  log.push_back("got " + std::to_string(*v));
  v = co_await gen.next();
  EXPECT_FALSE(v.has_value());
  EXPECT_TRUE(gen.done());
  EXPECT_FALSE((co_await gen.next()).has_value());  // stays ended
  EXPECT_EQ(log, (std::vector<std::string>{"yield 0", "got 0", "yield 1", "got 1", "end", "destroyed"}));
}

AsyncGenerator<std::string> ticking(int n) {
  for (int i = 0; i < n; ++i) {
    co_await sleep(1ms);
    co_yield "tick " + std::to_string(i) + " at " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(current_loop().time().time_since_epoch()).count() %
            1000);
  }
}

CO_TEST(AsyncGenerator, AwaitsBetweenYieldsInTheConsumersTask) {
  auto gen = ticking(3);
  std::vector<std::string> got;
  const TimePoint start = current_loop().time();
  while (std::optional<std::string> v = co_await gen.next()) got.push_back(v->substr(0, 6));
  EXPECT_EQ(got, (std::vector<std::string>{"tick 0", "tick 1", "tick 2"}));
  EXPECT_EQ(current_loop().time() - start, Duration(3ms));
}

AsyncGenerator<int> failing_after(int n) {
  for (int i = 0; i < n; ++i) co_yield i;
  co_await yield_now();
  throw std::runtime_error("source failed");
}

CO_TEST(AsyncGenerator, AnExceptionReachesTheConsumerAfterTheValuesBeforeIt) {
  auto gen = failing_after(2);
  EXPECT_EQ(*co_await gen.next(), 0);
  EXPECT_EQ(*co_await gen.next(), 1);
  try {
    co_await gen.next();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "source failed");
  }
  EXPECT_TRUE(gen.done());
  EXPECT_FALSE((co_await gen.next()).has_value());
}

AsyncGenerator<int> slow_with_cleanup(std::vector<std::string>& log) {
  Cleanup c{&log, "destructor"};
  try {
    co_yield 1;
    co_await sleep(1h);
    co_yield 2;
  } catch (const CancelledError&) {
    log.push_back("catch CancelledError");
    throw;
  }
}

CO_TEST(AsyncGenerator, CleanupRunsWhenTheConsumerIsCancelled) {
  std::vector<std::string> log;
  auto consumer = create_task(co_invoke([&]() -> Task<> {
    auto gen = slow_with_cleanup(log);
    log.push_back("got " + std::to_string(*co_await gen.next()));
    try {
      co_await gen.next();
    } catch (const CancelledError&) {
      log.push_back("consumer sees CancelledError");
      throw;
    }
  }));
  co_await sleep(1ms);
  consumer.cancel();
  CO_ASSERT_THROW(co_await consumer, CancelledError);
  EXPECT_EQ(log,
            (std::vector<std::string>{"got 1", "catch CancelledError", "destructor", "consumer sees CancelledError"}));
}

CO_TEST(AsyncGenerator, CleanupRunsWhenTheConsumerStopsEarly) {
  std::vector<std::string> log;
  {
    auto gen = counting(10, log);
    co_await gen.next();
    co_await gen.next();
    log.push_back("consumer stops");
  }
  EXPECT_EQ(log, (std::vector<std::string>{"yield 0", "yield 1", "consumer stops", "destroyed"}));
}

AsyncGenerator<int> with_async_cleanup(std::vector<std::string>& log) {
  bool exiting = false;
  try {
    co_yield 1;
    co_yield 2;
  } catch (const GeneratorExit&) {
    log.push_back("catch GeneratorExit");
    exiting = true;
  }
  if (exiting) {
    co_await sleep(5ms);  // asynchronous cleanup on the way out
    log.push_back("async cleanup done");
  }
}

CO_TEST(AsyncGenerator, AcloseRunsCatchBlocksAndAsynchronousCleanup) {
  std::vector<std::string> log;
  auto gen = with_async_cleanup(log);
  EXPECT_EQ(*co_await gen.next(), 1);
  const TimePoint start = current_loop().time();
  co_await gen.aclose();
  EXPECT_EQ(current_loop().time() - start, Duration(5ms));
  EXPECT_EQ(log, (std::vector<std::string>{"catch GeneratorExit", "async cleanup done"}));
  EXPECT_TRUE(gen.done());
  EXPECT_FALSE((co_await gen.next()).has_value());
  co_await gen.aclose();  // again: a no-op
}

CO_TEST(AsyncGenerator, AcloseOfAGeneratorThatNeverStartedRunsNothing) {
  std::vector<std::string> log;
  auto gen = counting(3, log);
  co_await gen.aclose();
  EXPECT_TRUE(gen.done());
  EXPECT_TRUE(log.empty());
  EXPECT_FALSE((co_await gen.next()).has_value());
}

AsyncGenerator<int> stubborn() {
  for (;;) {
    try {
      co_yield 1;
    } catch (const GeneratorExit&) {
      // ignored: yields again
    }
  }
}

CO_TEST(AsyncGenerator, AGeneratorThatYieldsAfterGeneratorExitMakesAcloseRaise) {
  auto gen = stubborn();
  co_await gen.next();
  CO_ASSERT_THROW(co_await gen.aclose(), RuntimeError);
  EXPECT_TRUE(gen.done());
}

CO_TEST(AsyncGenerator, NextWhileAnotherNextIsRunningRaises) {
  auto gen = ticking(2);
  auto first = create_task(co_invoke([&]() -> Task<> { co_await gen.next(); }));
  co_await yield_now();
  CO_ASSERT_THROW(co_await gen.next(), RuntimeError);
  co_await first;
}

Task<int> doubled(int v) {
  co_await sleep(1ms);
  co_return 2 * v;
}

AsyncGenerator<int> awaiting_tasks(int n) {
  for (int i = 0; i < n; ++i) co_yield co_await doubled(i);
}

CO_TEST(AsyncGenerator, AwaitsTasksThatSuspend) {
  auto gen = awaiting_tasks(3);
  std::vector<int> got;
  while (auto v = co_await gen.next()) got.push_back(*v);
  EXPECT_EQ(got, (std::vector<int>{0, 2, 4}));
}

// Each level forwards the one below: a long chain of nested generators
// that all yield without suspending must not grow the stack per level.
AsyncGenerator<int> nested(int depth) {
  if (depth == 0) {
    co_yield 7;
    co_return;
  }
  auto inner = nested(depth - 1);
  while (auto v = co_await inner.next()) co_yield *v;
}

CO_TEST(AsyncGenerator, ADeepChainOfReadyGeneratorsDoesNotOverflowTheStack) {
  auto gen = nested(20000);
  EXPECT_EQ(*co_await gen.next(), 7);
  EXPECT_FALSE((co_await gen.next()).has_value());
}

CO_TEST(AsyncGenerator, WaitForOnNextCancelsTheGeneratorOnExpiry) {
  std::vector<std::string> log;
  auto gen = slow_with_cleanup(log);
  co_await gen.next();
  CO_ASSERT_THROW(co_await wait_for(gen.next(), 10ms), TimeoutError);
  EXPECT_TRUE(gen.done());
  EXPECT_EQ(log, (std::vector<std::string>{"catch CancelledError", "destructor"}));
}

CO_TEST(AsyncGenerator, YieldsMoveOnlyValues) {
  auto gen = []() -> AsyncGenerator<std::unique_ptr<int>> { co_yield std::make_unique<int>(5); }();
  std::optional<std::unique_ptr<int>> v = co_await gen.next();
  CO_ASSERT_TRUE(v.has_value());
  EXPECT_EQ(**v, 5);
}

CO_TEST(AsyncGenerator, AnEmptyGeneratorRaisesOnNext) {
  AsyncGenerator<int> gen;
  EXPECT_FALSE(gen);
  EXPECT_TRUE(gen.done());
  CO_ASSERT_THROW(co_await gen.next(), RuntimeError);
  co_await gen.aclose();  // a no-op
}

}  // namespace
}  // namespace corio
