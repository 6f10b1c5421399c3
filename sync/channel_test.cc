#include "corio/sync/channel.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/testing/threads.h"
#include "corio/sync/errors.h"
#include "corio/sync/testing/sync_testing.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using testing::settle;

// Tests with threads use no timers, except the virtual-clock ones at the
// end, which check that a parked receiver holds the clock back.

CO_TEST(Channel, SendOnLoopThreadIsReceivedInOrder) {
  Channel<int> ch(current_loop());
  for (int i = 0; i < 5; ++i) ch.send_nowait(i);
  EXPECT_EQ(ch.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(co_await ch.receive(), i);
}

Task<> receive_into(Channel<int>& ch, std::vector<int>& got) { got.push_back(co_await ch.receive()); }

CO_TEST(Channel, SendOnLoopThreadHandsToParkedReceiversFifo) {
  Channel<int> ch(current_loop());
  std::vector<int> got;
  auto a = create_task(receive_into(ch, got));
  auto b = create_task(receive_into(ch, got));
  co_await settle();
  ch.send_nowait(1);
  ch.send(2);  // unbounded: never blocks, allowed on the loop thread
  EXPECT_EQ(ch.size(), 0u);
  co_await a;
  co_await b;
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
}

// Regression: items sent from another thread wait for the loop to hand
// them to parked receivers; a receive() started meanwhile took the first
// one, overtaking (and, sent one at a time, starving) the parked receiver.
CO_TEST(Channel, ALaterReceiverDoesNotOvertakeAParkedOne) {
  Channel<int> ch(current_loop());
  std::vector<int> first;
  auto parked = create_task(receive_into(ch, first));
  co_await settle();
  std::thread sender([&] {
    ch.send(1);
    ch.send(2);
  });
  sender.join();  // the hand-off to `parked` is posted, not yet run
  int mine = co_await ch.receive();
  co_await parked;
  EXPECT_EQ(first, (std::vector<int>{1}));
  EXPECT_EQ(mine, 2);
}

CO_TEST(Channel, NowaitErrorsAreTyped) {
  Channel<std::unique_ptr<int>> ch(current_loop(), 1);
  EXPECT_THROW(ch.receive_nowait(), QueueEmpty);
  ch.send_nowait(std::make_unique<int>(1));
  auto item = std::make_unique<int>(2);
  EXPECT_THROW(ch.send_nowait(std::move(item)), QueueFull);
  EXPECT_TRUE(item != nullptr);  // untouched
  ch.close();
  EXPECT_THROW(ch.send_nowait(std::move(item)), QueueShutDown);
  EXPECT_TRUE(item != nullptr);
  EXPECT_EQ(*ch.receive_nowait(), 1);
  EXPECT_THROW(ch.receive_nowait(), QueueShutDown);
  co_return;
}

CO_TEST(Channel, BoundedSendOnALoopThreadThrowsRuntimeError) {
  Channel<int> ch(current_loop(), 4);
  EXPECT_THROW(ch.send(1), RuntimeError);
  EXPECT_EQ(ch.size(), 0u);
  co_return;
}

CO_TEST(Channel, CloseDrainsThenRaisesQueueShutDown) {
  Channel<int> ch(current_loop());
  ch.send_nowait(1);
  ch.close();
  EXPECT_TRUE(ch.closed());
  EXPECT_THROW(ch.send_nowait(2), QueueShutDown);
  EXPECT_EQ(co_await ch.receive(), 1);
  EXPECT_THROW(co_await ch.receive(), QueueShutDown);
}

Task<> receive_until_closed(Channel<int>& ch, std::vector<int>& got, bool& closed) {
  try {
    for (;;) got.push_back(co_await ch.receive());
  } catch (const QueueShutDown&) {
    closed = true;
  }
}

CO_TEST(Channel, CloseFromAnotherThreadWakesParkedReceivers) {
  Channel<int> ch(current_loop());
  std::vector<int> got;
  bool closed = false;
  auto r = create_task(receive_until_closed(ch, got, closed));
  co_await settle();
  std::thread t([&] {
    ch.send(1);
    ch.close();
  });
  co_await r;
  t.join();
  EXPECT_EQ(got, (std::vector<int>{1}));
  EXPECT_TRUE(closed);
}

Task<long> sum_all(Channel<int>& ch, std::vector<int>& last_per_thread, int threads) {
  long sum = 0;
  try {
    for (;;) {
      int v = co_await ch.receive();
      int thread = v / 1000000, seq = v % 1000000;
      EXPECT_GT(seq, last_per_thread[thread]);  // each thread's items in order
      last_per_thread[thread] = seq;
      sum += seq;
    }
  } catch (const QueueShutDown&) {
  }
  co_return sum;
}

CO_TEST(Channel, ManyThreadsUnboundedNothingLostOrReordered) {
  constexpr int kThreads = 4, kPerThread = 20000;
  Channel<int> ch(current_loop());
  std::vector<int> last(kThreads, 0);
  auto r = create_task(sum_all(ch, last, kThreads));
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&ch, t] {
      for (int i = 1; i <= kPerThread; ++i) ch.send(t * 1000000 + i);
    });
  }
  // Close once every sender is done, from yet another thread.
  std::thread closer([&] {
    for (auto& s : senders) s.join();
    ch.close();
  });
  long sum = co_await r;
  closer.join();
  EXPECT_EQ(sum, long{kThreads} * kPerThread * (kPerThread + 1) / 2);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(last[t], kPerThread);
}

CO_TEST(Channel, BoundedChannelBlocksSendersAndLosesNothing) {
  constexpr int kThreads = 3, kPerThread = 5000;
  Channel<int> ch(current_loop(), 8);
  std::vector<int> last(kThreads, 0);
  auto r = create_task(sum_all(ch, last, kThreads));
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&ch, t] {
      for (int i = 1; i <= kPerThread; ++i) {
        ch.send(t * 1000000 + i);
        EXPECT_LE(ch.size(), 8u);
      }
    });
  }
  std::thread closer([&] {
    for (auto& s : senders) s.join();
    ch.close();
  });
  long sum = co_await r;
  closer.join();
  EXPECT_EQ(sum, long{kThreads} * kPerThread * (kPerThread + 1) / 2);
}

CO_TEST(Channel, CloseReleasesBlockedSenderWithQueueShutDown) {
  Channel<int> ch(current_loop(), 1);
  ch.send_nowait(0);
  bool shut = false;
  std::thread t([&] {
    try {
      ch.send(1);  // blocks: full
    } catch (const QueueShutDown&) {
      shut = true;
    }
  });
  while (ch.blocked_senders() == 0) co_await yield_now();
  ch.close();
  t.join();
  EXPECT_TRUE(shut);
  EXPECT_EQ(ch.receive_nowait(), 0);
  EXPECT_THROW(ch.receive_nowait(), QueueShutDown);
}

CO_TEST(Channel, ReceiveUnblocksABlockedSender) {
  Channel<int> ch(current_loop(), 1);
  std::thread t([&] {
    ch.send(1);
    ch.send(2);  // blocks until the loop takes 1
  });
  while (ch.blocked_senders() == 0) co_await yield_now();
  EXPECT_EQ(co_await ch.receive(), 1);
  EXPECT_EQ(co_await ch.receive(), 2);
  t.join();
}

Task<> receive_then_yield(Channel<int>& ch, std::vector<std::string>& log) {
  int v = co_await ch.receive();
  log.push_back("got " + std::to_string(v));
  try {
    co_await yield_now();
  } catch (const CancelledError&) {
    log.push_back("cancelled at next suspension");
    throw;
  }
}

CO_TEST(Channel, CancelParkedReceiverLeavesItemForNext) {
  Channel<int> ch(current_loop());
  std::vector<int> got;
  auto a = create_task(receive_into(ch, got));
  auto b = create_task(receive_into(ch, got));
  co_await settle();
  a.cancel();
  EXPECT_THROW(co_await a, CancelledError);
  std::thread t([&] { ch.send(9); });
  co_await b;
  t.join();
  EXPECT_EQ(got, (std::vector<int>{9}));
}

CO_TEST(Channel, CancelAfterHandOffKeepsTheItem) {
  Channel<int> ch(current_loop());
  std::vector<std::string> log;
  auto r = create_task(receive_then_yield(ch, log));
  co_await settle();
  ch.send_nowait(4);  // on the loop thread: handed over at once
  r.cancel();
  EXPECT_THROW(co_await r, CancelledError);
  EXPECT_EQ(log, (std::vector<std::string>{"got 4", "cancelled at next suspension"}));
  EXPECT_EQ(ch.size(), 0u);
}

CO_TEST(Channel, MoveOnlyItemsFromAThread) {
  Channel<std::unique_ptr<std::string>> ch(current_loop());
  std::thread t([&] {
    ch.send(std::make_unique<std::string>("hello"));
    ch.close();
  });
  auto s = co_await ch.receive();
  t.join();
  EXPECT_EQ(*s, "hello");
  EXPECT_THROW(co_await ch.receive(), QueueShutDown);
}

Task<> receive_expect_error(Channel<int>& ch, bool& threw) {
  try {
    (void)co_await ch.receive();
  } catch (const RuntimeError&) {
    threw = true;
  }
}

CO_TEST(Channel, ReceiveFromAnotherLoopsTaskThrowsRuntimeError) {
  Channel<int> ch(current_loop());
  bool threw = false;
  std::thread t([&] { corio::run(receive_expect_error(ch, threw)); });
  t.join();
  EXPECT_TRUE(threw);
  co_return;
}

CO_TEST(Channel, ReceiveNowaitWorksFromAnyThread) {
  Channel<int> ch(current_loop());
  ch.send_nowait(3);
  int v = 0;
  std::thread t([&] { v = ch.receive_nowait(); });
  t.join();
  EXPECT_EQ(v, 3);
  co_return;
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

Task<> park_receive(Channel<std::string>& ch) { (void)co_await ch.receive(); }
Task<> spawn_parked(Channel<std::string>& ch, std::vector<TaskHandle<>>& keep) {
  keep.push_back(create_task(park_receive(ch)));
  co_await settle();
}

TEST(ChannelTeardown, DestroyedLoopUnlinksParkedReceiver) {
  auto loop = std::make_unique<EventLoop>();
  Channel<std::string> ch(*loop);
  {
    std::vector<TaskHandle<>> keep;
    run_until_complete(*loop, spawn_parked(ch, keep));
    keep.clear();
  }
  loop.reset();
  // The receiver is gone: a send is simply queued (no loop to wake).
  ch.send_nowait("after");
  EXPECT_EQ(ch.size(), 1u);
}

}  // namespace
}  // namespace corio

namespace corio {
namespace {

// g++ 12 runs `co_await a + co_await ch.receive()` as a's suspend, the
// receive's ready and suspend, then a's resume and the receive's: when a's
// resume throws, the receive's never runs. Its item goes back, first.
Task<int> fail_beside_receive(Future<int> a, Channel<int>& ch) { co_return co_await a + co_await ch.receive(); }

CO_TEST(ChannelAbandonedReceive, AnItemTakenAtOnceGoesBackToTheFront) {
  Channel<int> ch(current_loop());
  ch.send_nowait(1);
  ch.send_nowait(2);
  Future<int> a;
  TaskHandle<int> t = create_task(fail_beside_receive(a, ch));
  co_await yield_now();  // t waits on a
  a.set_exception(std::make_exception_ptr(std::runtime_error("a failed")));
  EXPECT_THROW(co_await t, std::runtime_error);
  EXPECT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch.receive_nowait(), 1);
  EXPECT_EQ(ch.receive_nowait(), 2);
}

Task<> receive_and_log(Channel<std::string>& ch, std::vector<std::string>& got) {
  got.push_back(co_await ch.receive());
}
Task<> spawn_receiver(Channel<std::string>& ch, std::vector<std::string>& got, std::vector<TaskHandle<>>& keep) {
  keep.push_back(create_task(receive_and_log(ch, got)));
  co_await settle();
}

TEST(ChannelTeardown, DestroyedLoopPutsBackAnItemHandedToAFrameThatNeverRan) {
  auto loop = std::make_unique<EventLoop>();
  Channel<std::string> ch(*loop);
  std::vector<std::string> got;
  {
    std::vector<TaskHandle<>> keep;
    run_until_complete(*loop, spawn_receiver(ch, got, keep));
    ch.send_nowait("item");  // not on the loop: posts a wake-up
    loop->run_once(false);   // the wake-up hands the item to the receiver
    EXPECT_EQ(ch.size(), 0u);
    keep.clear();
  }
  loop.reset();  // destroys the receiver's frame before it ran
  EXPECT_TRUE(got.empty());
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch.receive_nowait(), "item");
}

// receive() kept in a variable and awaited again: each await is a fresh
// receive (a reused awaiter kept the first wait's cancel and raised it
// again, though the second wait took an item at once).
Task<> receive_twice_by_name(Channel<int>& ch, std::vector<std::string>& log) {
  auto r = ch.receive();
  try {
    (void)co_await r;
    log.push_back("value");
  } catch (const CancelledError&) {
    log.push_back("cancelled");
    current_task().uncancel();
  }
  try {
    int v = co_await r;
    log.push_back("value " + std::to_string(v));
  } catch (const CancelledError&) {
    log.push_back("cancelled");
  }
}

CO_TEST(ChannelReuse, ReceiveAwaitedAgainByNameAfterACancelReceives) {
  Channel<int> ch(current_loop());
  std::vector<std::string> log;
  auto t = create_task(receive_twice_by_name(ch, log));
  co_await settle();
  t.cancel();
  ch.send_nowait(5);  // the receiver has left: queued
  co_await t;
  EXPECT_EQ(log, (std::vector<std::string>{"cancelled", "value 5"}));
  EXPECT_EQ(ch.size(), 0u);
}

// A parked receiver counts as external work: with a virtual clock the loop
// waits (in real time) for the thread's send instead of jumping 30 s to the
// timeout. Before, wait_for raised TimeoutError at once.
Task<int> receive_within(Channel<int>& ch, std::chrono::seconds d) { co_return co_await wait_for(ch.receive(), d); }

LoopOptions virtual_clock() {
  LoopOptions o;
  o.virtual_clock = true;
  return o;
}

TEST(ChannelVirtualClock, ParkedReceiverHoldsTheClockForAThreadsSend) {
  EventLoop loop(virtual_clock());
  Channel<int> ch(loop);
  // Sends once the loop is blocked waiting for it (joined even if the wait
  // throws).
  std::jthread sender([&ch, loop_tid = testing::current_tid()] {
    EXPECT_TRUE(testing::wait_until_blocked_in(loop_tid, testing::kEpollWaits));
    ch.send(7);
  });
  EXPECT_EQ(run_until_complete(loop, receive_within(ch, std::chrono::seconds(30))), 7);
  sender.join();
  EXPECT_EQ(loop.external_work(), 0u);
}

// The count ends with the wait, whichever way it ends: delivered, cancelled
// or timed out.
Task<> receive_ignored(Channel<int>& ch) { (void)co_await ch.receive(); }

Task<> cancel_parked_receive(Channel<int>& ch) {
  auto t = create_task(receive_ignored(ch));
  co_await settle();
  EXPECT_EQ(current_loop().external_work(), 1u);
  t.cancel();
  try {
    co_await t;
  } catch (const CancelledError&) {
  }
}

TEST(ChannelVirtualClock, CancelledReceiverEndsItsExternalWork) {
  EventLoop loop(virtual_clock());
  Channel<int> ch(loop);
  run_until_complete(loop, cancel_parked_receive(ch));
  EXPECT_EQ(loop.external_work(), 0u);
}

// Closing the channel releases the parked receivers (QueueShutDown) and
// with them the clock: a timer after that jumps again.
Task<std::string> receive_after_close(Channel<int>& ch) {
  std::jthread closer([&] { ch.close(); });
  std::string what;
  try {
    (void)co_await ch.receive();
  } catch (const QueueShutDown&) {
    what = "shut down";
  }
  closer.join();
  const auto before = current_loop().time();
  co_await sleep(std::chrono::hours(1));  // virtual: no real hour passes
  if (current_loop().time() - before < std::chrono::hours(1)) what += ", clock did not advance";
  co_return what;
}

TEST(ChannelVirtualClock, ClosedChannelReleasesTheClock) {
  EventLoop loop(virtual_clock());
  Channel<int> ch(loop);
  EXPECT_EQ(run_until_complete(loop, receive_after_close(ch)), "shut down");
  EXPECT_EQ(loop.external_work(), 0u);
}

}  // namespace
}  // namespace corio
