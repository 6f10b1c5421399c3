#include "corio/streams/combinators.h"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/streams/async_generator.h"
#include "corio/streams/errors.h"
#include "corio/streams/testing/streams_testing.h"
#include "corio/sync/channel.h"
#include "corio/sync/queue.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::settle;

AsyncGenerator<int> range(int n) {
  for (int i = 0; i < n; ++i) co_yield i;
}

// Yields each value after its delay (from the previous one).
AsyncGenerator<int> timed(std::vector<std::pair<Duration, int>> plan) {
  for (auto [delay, v] : plan) {
    co_await sleep(delay);
    co_yield v;
  }
}

// Yields forever; notes in `log` how it ended.
AsyncGenerator<int> endless(std::string name, Duration every, std::vector<std::string>& log) {
  try {
    for (int i = 0;; ++i) {
      co_await sleep(every);
      co_yield i;
    }
  } catch (const CancelledError&) {
    log.push_back(name + " cancelled");
    throw;
  } catch (const GeneratorExit&) {
    log.push_back(name + " closed");
    throw;
  }
}

CO_TEST(Combinators, MapAppliesTheFunction) {
  auto squares = map(range(4), [](int v) { return v * v; });
  auto got = co_await collect(std::move(squares));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 4, 9}));
}

CO_TEST(Combinators, MapAwaitsAFunctionReturningATask) {
  auto gen = map(range(3), [](int v) -> Task<std::string> {
    co_await sleep(1ms);
    co_return std::to_string(v);
  });
  auto got = co_await collect(std::move(gen));
  EXPECT_EQ(got, (std::vector<std::string>{"0", "1", "2"}));
}

CO_TEST(Combinators, FilterKeepsTheValuesThePredicateAccepts) {
  auto even = filter(range(7), [](const int& v) { return v % 2 == 0; });
  auto got = co_await collect(std::move(even));
  EXPECT_EQ(got, (std::vector<int>{0, 2, 4, 6}));
}

CO_TEST(Combinators, TakeStopsAfterNAndClosesTheSource) {
  std::vector<std::string> log;
  auto first = take(endless("src", 1ms, log), 3);
  auto got = co_await collect(std::move(first));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(log, std::vector<std::string>{"src closed"});
}

CO_TEST(Combinators, AcloseGoesThroughMapToTheSource) {
  std::vector<std::string> log;
  auto mapped = map(endless("src", 1ms, log), [](int v) { return v + 1; });
  EXPECT_EQ(*co_await mapped.next(), 1);
  co_await mapped.aclose();
  EXPECT_EQ(log, std::vector<std::string>{"src closed"});
}

CO_TEST(Combinators, BatchEmitsAChunkOnceItHasN) {
  auto chunks = batch(range(7), 3, 1h);
  auto got = co_await collect(std::move(chunks));
  EXPECT_EQ(got, (std::vector<std::vector<int>>{{0, 1, 2}, {3, 4, 5}, {6}}));
}

CO_TEST(Combinators, BatchEmitsAPartialChunkOnceMaxWaitHasPassed) {
  // Values at 1, 2 and 3 ms, then at 50 and 51 ms; chunks of up to 10
  // waiting at most 10 ms from their first value.
  auto chunks = batch(timed({{1ms, 1}, {1ms, 2}, {1ms, 3}, {47ms, 4}, {1ms, 5}}), 10, 10ms);
  const TimePoint start = current_loop().time();
  std::vector<std::string> got;
  while (auto c = co_await chunks.next()) {
    std::string s = std::to_string((current_loop().time() - start) / 1ms) + "ms:";
    for (int v : *c) s += " " + std::to_string(v);
    got.push_back(s);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"11ms: 1 2 3", "51ms: 4 5"}));
}

CO_TEST(Combinators, BatchPassesAnErrorOnAfterThePartialChunk) {
  auto chunks = batch(
      []() -> AsyncGenerator<int> {
        co_yield 1;
        co_yield 2;
        throw std::runtime_error("broken source");
      }(),
      5, 1h);
  std::optional<std::vector<int>> first = co_await chunks.next();
  EXPECT_EQ(first, (std::vector<int>{1, 2}));
  CO_ASSERT_THROW(co_await chunks.next(), std::runtime_error);
}

CO_TEST(Combinators, BatchRejectsAChunkSizeOfZero) {
  EXPECT_THROW(static_cast<void>(batch(range(1), 0, 1s)), ValueError);
  co_return;
}

CO_TEST(Combinators, MergeInterleavesByArrival) {
  auto a = timed({{1ms, 10}, {2ms, 11}, {2ms, 12}});  // at 1, 3, 5 ms
  auto b = timed({{2ms, 20}, {2ms, 21}});             // at 2, 4 ms
  auto got = co_await collect(merge(std::move(a), std::move(b)));
  EXPECT_EQ(got, (std::vector<int>{10, 20, 11, 21, 12}));
}

CO_TEST(Combinators, MergeRaisesTheFirstErrorAndCancelsTheOtherSources) {
  std::vector<std::string> log;
  auto failing = []() -> AsyncGenerator<int> {
    co_await sleep(5ms);
    throw std::runtime_error("first source failed");
    co_yield 0;
  }();
  auto merged = merge(std::move(failing), endless("other", 1ms, log));
  int values = 0;
  try {
    while (co_await merged.next()) ++values;
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first source failed");
  }
  EXPECT_EQ(values, 4);  // the other's values at 1..4 ms
  EXPECT_EQ(log, std::vector<std::string>{"other cancelled"});
}

CO_TEST(Combinators, CancellingTheConsumerOfAMergeCleansUpEverySource) {
  std::vector<std::string> log;
  auto consumer = create_task(co_invoke([&]() -> Task<> {
    auto merged = merge(endless("a", 3ms, log), endless("b", 5ms, log));
    while (co_await merged.next()) {
    }
  }));
  co_await sleep(10ms);
  consumer.cancel();
  CO_ASSERT_THROW(co_await consumer, CancelledError);
  // Both sources have unwound before the consumer's CancelledError came out.
  EXPECT_EQ(log, (std::vector<std::string>{"a cancelled", "b cancelled"}));
}

CO_TEST(Combinators, CancellingTheConsumerOfABatchCleansUpTheSource) {
  std::vector<std::string> log;
  auto consumer = create_task(co_invoke([&]() -> Task<> {
    auto chunks = batch(endless("src", 1ms, log), 100, 1h);
    co_await chunks.next();
  }));
  co_await sleep(10ms);
  consumer.cancel();
  CO_ASSERT_THROW(co_await consumer, CancelledError);
  EXPECT_EQ(log, std::vector<std::string>{"src cancelled"});
}

CO_TEST(Combinators, FromQueueYieldsItemsUntilShutdown) {
  Queue<int> q;
  auto gen = from_queue(q);
  auto producer = create_task(co_invoke([&]() -> Task<> {
    for (int i = 0; i < 3; ++i) {
      co_await sleep(1ms);
      co_await q.put(i);
    }
    q.shutdown();
  }));
  auto got = co_await collect(std::move(gen));
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
  co_await producer;
}

CO_TEST(Combinators, FromQueueLosesNoItemWhenItsConsumerIsCancelled) {
  Queue<int> q;
  auto consumer = create_task(co_invoke([&]() -> Task<> {
    auto gen = from_queue(q);
    while (co_await gen.next()) {
    }
  }));
  co_await settle();
  consumer.cancel();
  q.put_nowait(1);  // after the cancel: the waiting get() took nothing
  CO_ASSERT_THROW(co_await consumer, CancelledError);
  EXPECT_EQ(q.qsize(), 1u);
}

CO_TEST(Combinators, FromChannelYieldsWhatOtherThreadsSend) {
  Channel<int> ch(current_loop());
  std::thread sender([&] {
    for (int i = 0; i < 3; ++i) ch.send(i);
    ch.close();
  });
  auto got = co_await collect(from_queue(ch));
  sender.join();
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
}

}  // namespace
}  // namespace corio
