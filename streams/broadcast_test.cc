#include "corio/streams/broadcast.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/streams/errors.h"
#include "corio/streams/testing/streams_testing.h"
#include "corio/sync/errors.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::settle;

CO_TEST(Broadcast, EverySubscriberReceivesEveryItemInOrder) {
  Broadcast<int> b(8);
  auto s1 = b.subscribe();
  auto s2 = b.subscribe();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.publish(i), 2u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(co_await s1.recv(), i);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(co_await s2.recv(), i);
}

CO_TEST(Broadcast, ASubscriberSeesOnlyWhatIsPublishedAfterItSubscribed) {
  Broadcast<int> b(8);
  auto early = b.subscribe();
  b.publish(1);
  auto late = b.subscribe();
  b.publish(2);
  EXPECT_EQ(co_await early.recv(), 1);
  EXPECT_EQ(co_await early.recv(), 2);
  EXPECT_EQ(co_await late.recv(), 2);
  EXPECT_EQ(late.try_recv(), std::nullopt);
}

CO_TEST(Broadcast, WithNoSubscriberAnItemIsDropped) {
  Broadcast<int> b(4);
  EXPECT_EQ(b.publish(1), 0u);
  EXPECT_EQ(b.retained(), 0u);
  co_return;
}

CO_TEST(Broadcast, RecvWaitsForThePublisher) {
  Broadcast<std::string> b(4);
  auto s = b.subscribe();
  std::vector<std::string> log;
  auto waiter = create_task(co_invoke([&]() -> Task<> { log.push_back("got " + co_await s.recv()); }));
  co_await settle();
  log.push_back("publishing");
  b.publish("news");
  co_await waiter;
  EXPECT_EQ(log, (std::vector<std::string>{"publishing", "got news"}));
}

CO_TEST(Broadcast, ALaggingSubscriberIsToldExactlyHowManyItMissedThenGoesOnWithTheOldestKept) {
  Broadcast<int> b(4);
  auto slow = b.subscribe();
  auto fast = b.subscribe();
  for (int i = 0; i < 10; ++i) {
    b.publish(i);
    EXPECT_EQ(co_await fast.recv(), i);
  }
  // Items 0..5 were overwritten before `slow` received them; 6..9 are kept.
  try {
    co_await slow.recv();
    ADD_FAILURE() << "no LaggedError";
  } catch (const LaggedError& e) {
    EXPECT_EQ(e.missed(), 6u);
  }
  std::vector<int> rest;
  for (int i = 0; i < 4; ++i) rest.push_back(co_await slow.recv());
  EXPECT_EQ(rest, (std::vector<int>{6, 7, 8, 9}));
  EXPECT_EQ(slow.try_recv(), std::nullopt);
}

CO_TEST(Broadcast, ThePublisherNeverWaitsAndMemoryStaysAtCapacity) {
  Broadcast<std::string> b(3);
  auto idle = b.subscribe();  // never receives
  for (int i = 0; i < 1000; ++i) b.publish(std::string(100, 'x'));
  EXPECT_EQ(b.retained(), 3u);
  EXPECT_EQ(idle.pending(), 1000u);
  CO_ASSERT_THROW(idle.try_recv(), LaggedError);
  EXPECT_EQ(idle.pending(), 3u);
}

CO_TEST(Broadcast, AnItemIsFreedOnceEverySubscriberReceivedIt) {
  Broadcast<std::shared_ptr<int>> b(4);
  auto s1 = b.subscribe();
  auto s2 = b.subscribe();
  auto item = std::make_shared<int>(1);
  std::weak_ptr<int> watch = item;
  b.publish(std::move(item));
  auto got1 = co_await s1.recv();
  EXPECT_EQ(b.retained(), 1u);
  auto got2 = co_await s2.recv();  // the last one: moved out
  EXPECT_EQ(b.retained(), 0u);
  got1.reset();
  got2.reset();
  EXPECT_TRUE(watch.expired());
}

CO_TEST(Broadcast, ASubscriberThatLeavesReleasesWhatItHadNotReceived) {
  Broadcast<int> b(4);
  auto stays = b.subscribe();
  {
    auto leaves = b.subscribe();
    b.publish(1);
    b.publish(2);
    EXPECT_EQ(b.subscriber_count(), 2u);
  }
  EXPECT_EQ(b.subscriber_count(), 1u);
  EXPECT_EQ(co_await stays.recv(), 1);
  EXPECT_EQ(co_await stays.recv(), 2);
  EXPECT_EQ(b.retained(), 0u);
}

CO_TEST(Broadcast, CloseLetsSubscribersDrainThenRaisesQueueShutDown) {
  auto b = std::make_unique<Broadcast<int>>(4);
  auto s = b->subscribe();
  auto waiting = b->subscribe();
  auto waiter = create_task(co_invoke([&]() -> Task<> {
    EXPECT_EQ(co_await waiting.recv(), 1);
    co_await waiting.recv();
  }));
  co_await settle();
  b->publish(1);
  b.reset();  // closes
  EXPECT_EQ(co_await s.recv(), 1);
  CO_ASSERT_THROW(co_await s.recv(), QueueShutDown);
  CO_ASSERT_THROW(co_await waiter, QueueShutDown);
}

CO_TEST(Broadcast, PublishAfterCloseRaises) {
  Broadcast<int> b(1);
  b.close();
  EXPECT_TRUE(b.is_closed());
  EXPECT_THROW(b.publish(1), QueueShutDown);
  co_return;
}

CO_TEST(Broadcast, ACancelledRecvTakesNothing) {
  Broadcast<int> b(4);
  auto s = b.subscribe();
  auto waiter = create_task(s.recv());
  co_await settle();
  b.publish(5);     // wakes it ...
  waiter.cancel();  // ... and it is cancelled before it runs
  CO_ASSERT_THROW(co_await waiter, CancelledError);
  EXPECT_EQ(co_await s.recv(), 5);
}

CO_TEST(Broadcast, ZeroCapacityIsRejected) {
  EXPECT_THROW(Broadcast<int>(0), ValueError);
  co_return;
}

}  // namespace
}  // namespace corio
