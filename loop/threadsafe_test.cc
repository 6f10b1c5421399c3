// Tests for the loop's cross-thread entry points: call_soon_threadsafe and
// stop_threadsafe, and waking a loop blocked in epoll. Meant to be run under
// --config=tsan as well.
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

// Starts `fn` on a new thread once `loop` is running (the first callback
// releases it), so that the thread's calls reach a loop that is live.
class ThreadAfterStart {
 public:
  template <class F>
  ThreadAfterStart(EventLoop& loop, F fn) {
    loop.call_soon([this] { started_.store(true, std::memory_order_release); });
    thread_ = std::thread([this, fn = std::move(fn)]() mutable {
      while (!started_.load(std::memory_order_acquire)) std::this_thread::yield();
      fn();
    });
  }
  ~ThreadAfterStart() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> started_{false};
  std::thread thread_;
};

TEST(CallSoonThreadsafe, ManyThreadsEveryCallbackRunsOnceInPerThreadOrder) {
  EventLoop loop;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  // Only touched on the loop thread: tsan checks that the loop really runs
  // every callback there.
  std::vector<int> next(kThreads, 0);
  int total = 0;
  bool in_order = true;
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        loop.call_soon_threadsafe([&, t, i] {
          if (next[t] != i) in_order = false;
          next[t] = i + 1;
          if (++total == kThreads * kPerThread) loop.stop();
        });
      }
    });
  }
  loop.call_soon([&] { go.store(true, std::memory_order_release); });
  loop.run_forever();
  for (auto& th : threads) th.join();
  EXPECT_EQ(total, kThreads * kPerThread);
  EXPECT_TRUE(in_order);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kPerThread);
}

TEST(CallSoonThreadsafe, RunsOnTheLoopThread) {
  EventLoop loop;
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::thread::id ran_on;
  ThreadAfterStart poster(loop, [&] {
    loop.call_soon_threadsafe([&] {
      ran_on = std::this_thread::get_id();
      loop.stop();
    });
  });
  loop.run_forever();
  poster.join();
  EXPECT_EQ(ran_on, loop_thread);
}

TEST(CallSoonThreadsafe, WakesALoopBlockedWithNothingToDo) {
  // No timers, no fds, no ready callbacks: the loop sleeps in epoll_wait
  // with no timeout until the eventfd is written.
  EventLoop loop;
  bool ran = false;
  ThreadAfterStart poster(loop, [&] {
    loop.call_soon_threadsafe([&] {
      ran = true;
      loop.stop();
    });
  });
  loop.run_forever();
  EXPECT_TRUE(ran);
}

TEST(CallSoonThreadsafe, WakesALoopWaitingForAFarTimer) {
  EventLoop loop;
  loop.call_later(1h, [] { ADD_FAILURE() << "the far timer fired"; });
  const auto start = std::chrono::steady_clock::now();
  ThreadAfterStart poster(loop, [&] { loop.call_soon_threadsafe([&] { loop.stop(); }); });
  loop.run_forever();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10min);
}

TEST(CallSoonThreadsafe, IsDrainedWhileTheLoopNeverIdles) {
  // A task that yields forever keeps the ready queue non-empty, so the loop
  // never blocks; cross-thread callbacks must still get in.
  EventLoop loop;
  bool stop_spinning = false;
  auto spinner = create_task(loop, [](bool& stop) -> Task<> {
    while (!stop) co_await yield_now();
  }(stop_spinning));
  int got = 0;
  ThreadAfterStart poster(loop, [&] {
    for (int i = 0; i < 100; ++i) {
      loop.call_soon_threadsafe([&] {
        if (++got == 100) {
          stop_spinning = true;
          loop.stop();
        }
      });
    }
  });
  loop.run_forever();
  poster.join();
  EXPECT_EQ(got, 100);
  loop.call_soon([&] { loop.stop(); });
  loop.run_forever();  // let the spinner see the flag
  EXPECT_TRUE(spinner.done());
}

TEST(CallSoonThreadsafe, FromTheLoopThreadItself) {
  EventLoop loop;
  std::vector<int> order;
  loop.call_soon([&] {
    order.push_back(1);
    loop.call_soon_threadsafe([&] {
      order.push_back(2);
      loop.stop();
    });
  });
  loop.run_forever();
  EXPECT_THAT(order, ::testing::ElementsAre(1, 2));
}

TEST(CallSoonThreadsafe, PostedBeforeTheLoopRunsAreRunInOrder) {
  EventLoop loop;
  std::vector<int> order;
  std::thread poster([&] {
    for (int i = 0; i < 10; ++i) loop.call_soon_threadsafe([&order, i] { order.push_back(i); });
    loop.call_soon_threadsafe([&] { loop.stop(); });
  });
  poster.join();
  loop.run_forever();
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
}

// Regression: when the loop was destroyed with cross-thread callbacks not yet
// run, the destructor wrapped them in call_soon closures holding raw
// pointers and then dropped the closures, leaking each callback and all it
// had captured.
TEST(CallSoonThreadsafe, CallbacksThatNeverRanAreReleasedWithTheLoop) {
  auto token = std::make_shared<int>(0);
  {
    EventLoop loop;
    std::thread poster([&loop, token] { loop.call_soon_threadsafe([token] {}); });
    poster.join();
    EXPECT_EQ(token.use_count(), 2);
  }
  EXPECT_EQ(token.use_count(), 1);
}

TEST(StopThreadsafe, StopsARunningLoopFromAnotherThread) {
  EventLoop loop;
  ThreadAfterStart stopper(loop, [&] { loop.stop_threadsafe(); });
  loop.run_forever();
  EXPECT_FALSE(loop.is_running());
}

TEST(StopThreadsafe, StopsALoopBusyWithATask) {
  EventLoop loop;
  auto spinner = create_task(loop, []() -> Task<> {
    for (;;) co_await yield_now();
  }());
  ThreadAfterStart stopper(loop, [&] { loop.stop_threadsafe(); });
  loop.run_forever();
  EXPECT_FALSE(spinner.done());
}

TEST(StopThreadsafe, RequestedBeforeRunForeverStopsTheNextRun) {
  EventLoop loop;
  std::thread stopper([&] { loop.stop_threadsafe(); });
  stopper.join();
  int ran = 0;
  loop.call_soon([&] { ++ran; });
  loop.run_forever();  // returns: the stop request was waiting for it
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace corio
