// Tests for LoopHandle (posting to a loop from other threads, safely after
// the loop is gone) and ExternalWork (the token that keeps the virtual clock
// from jumping while another thread owes the loop a result). Meant to be
// run under --config=tsan as well.
#include "corio/loop/loop_handle.h"

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/testing/threads.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

// A callable that records whether it ran and, once, the thread that
// destroyed it (moved-from copies do not count).
struct Probe {
  struct Record {
    std::atomic<int> destroyed{0};
    std::atomic<bool> ran{false};
    std::thread::id destroyed_on;
  };
  std::shared_ptr<Record> record;
  explicit Probe(std::shared_ptr<Record> r) : record(std::move(r)) {}
  Probe(Probe&& o) noexcept : record(std::move(o.record)) {}
  Probe& operator=(Probe&&) = delete;
  ~Probe() {
    if (record) {
      record->destroyed_on = std::this_thread::get_id();
      record->destroyed.fetch_add(1);
    }
  }
  void operator()() const { record->ran = true; }
};

// ---- LoopHandle ----

CO_TEST(LoopHandle, CallSoonThreadsafeRunsTheCallableOnTheLoopThread) {
  const LoopHandle h = LoopHandle::current();
  Future<std::thread::id> ran_on(current_loop());
  std::atomic<bool> posted{false};
  std::jthread poster([h, ran_on, &posted] {
    posted = h.call_soon_threadsafe([ran_on]() mutable { ran_on.set_result(std::this_thread::get_id()); });
  });
  const std::thread::id poster_id = poster.get_id();
  const std::thread::id got = co_await ran_on;
  poster.join();
  EXPECT_TRUE(posted);
  EXPECT_EQ(got, std::this_thread::get_id());
  EXPECT_NE(got, poster_id);
}

CO_TEST(LoopHandle, CallablesPostedFromOneThreadRunInTheOrderPosted) {
  const LoopHandle h = LoopHandle::current();
  std::vector<int> order;  // loop thread only
  Future<void> all_ran(current_loop());
  constexpr int kPosts = 100;
  std::jthread poster([h, all_ran, &order] {
    for (int i = 0; i < kPosts; ++i) {
      h.call_soon_threadsafe([i, all_ran, &order]() mutable {
        order.push_back(i);
        if (i == kPosts - 1) all_ran.set_result();
      });
    }
  });
  co_await all_ran;
  poster.join();
  std::vector<int> expected;
  for (int i = 0; i < kPosts; ++i) expected.push_back(i);
  EXPECT_EQ(order, expected);
}

TEST(LoopHandle, AfterTheLoopIsDestroyedAPostReturnsFalseAndDestroysTheCallable) {
  LoopHandle h;
  {
    EventLoop loop;
    h = LoopHandle(loop);
  }
  auto record = std::make_shared<Probe::Record>();
  EXPECT_FALSE(h.call_soon_threadsafe(Probe(record)));
  EXPECT_EQ(record->destroyed.load(), 1);
  EXPECT_FALSE(record->ran.load());
}

TEST(LoopHandle, APostFromAnotherThreadToADestroyedLoopDestroysTheCallableOnThatThread) {
  LoopHandle h;
  {
    EventLoop loop;
    h = LoopHandle(loop);
  }
  auto record = std::make_shared<Probe::Record>();
  bool posted = true;
  std::jthread poster([&] { posted = h.call_soon_threadsafe(Probe(record)); });
  const std::thread::id poster_id = poster.get_id();
  poster.join();
  EXPECT_FALSE(posted);
  EXPECT_EQ(record->destroyed.load(), 1);
  EXPECT_EQ(record->destroyed_on, poster_id);
  EXPECT_FALSE(record->ran.load());
}

TEST(LoopHandle, CallablesQueuedButNeverRunAreDestroyedWithTheLoop) {
  auto record = std::make_shared<Probe::Record>();
  {
    EventLoop loop;
    const LoopHandle h(loop);
    EXPECT_TRUE(h.call_soon_threadsafe(Probe(record)));
    EXPECT_EQ(record->destroyed.load(), 0);
  }
  EXPECT_EQ(record->destroyed.load(), 1);
  EXPECT_FALSE(record->ran.load());
}

TEST(LoopHandle, AliveWhileTheLoopExists) {
  LoopHandle h;
  EXPECT_FALSE(h.alive());
  {
    EventLoop loop;
    h = LoopHandle(loop);
    EXPECT_TRUE(h.alive());
  }
  EXPECT_FALSE(h.alive());
}

TEST(LoopHandle, CopiesCompareEqual) {
  EventLoop loop;
  EventLoop other;
  const LoopHandle h(loop);
  const LoopHandle copy = h;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_TRUE(copy == h);
  EXPECT_TRUE(LoopHandle(loop) == h);  // every handle of a loop shares its link
  EXPECT_FALSE(LoopHandle(other) == h);
  EXPECT_TRUE(LoopHandle() == LoopHandle());
  EXPECT_FALSE(LoopHandle() == h);
}

TEST(LoopHandle, CurrentIsTheRunningLoopsHandle) {
  EventLoop loop;
  const LoopHandle expected(loop);
  LoopHandle got;
  loop.call_soon([&] {
    got = LoopHandle::current();
    loop.stop();
  });
  loop.run_forever();
  EXPECT_TRUE(got == expected);
}

TEST(LoopHandle, CurrentOutsideARunningLoopRaisesRuntimeError) { EXPECT_THROW(LoopHandle::current(), RuntimeError); }

TEST(LoopHandle, AnEmptyHandleRefusesEverything) {
  const LoopHandle h;
  auto record = std::make_shared<Probe::Record>();
  EXPECT_FALSE(h.call_soon_threadsafe(Probe(record)));
  EXPECT_EQ(record->destroyed.load(), 1);
  EXPECT_FALSE(record->ran.load());
  EXPECT_FALSE(h.stop());
  EXPECT_FALSE(h.begin_external_work());
}

TEST(LoopHandle, StopFromAnotherThreadStopsRunForever) {
  EventLoop loop;
  const LoopHandle h(loop);
  const pid_t loop_tid = testing::current_tid();
  bool stopped = false;
  std::jthread stopper([&] {
    // Once the loop sleeps in epoll with nothing to do.
    EXPECT_TRUE(testing::wait_until_blocked_in(loop_tid, testing::kEpollWaits));
    stopped = h.stop();
  });
  loop.run_forever();
  stopper.join();
  EXPECT_TRUE(stopped);
  EXPECT_FALSE(loop.is_running());
}

TEST(LoopHandle, StopOfADestroyedLoopReturnsFalse) {
  LoopHandle h;
  {
    EventLoop loop;
    h = LoopHandle(loop);
  }
  EXPECT_FALSE(h.stop());
}

// ---- ExternalWork ----

// The race of the two ExternalWork tests below: a task awaiting `answer`
// against a task sleeping 10 s on the virtual clock. Returns the name of
// the one that finished first; the other is cancelled.
Task<std::string> answer_first(Future<int> answer) {
  co_await answer;
  co_return "future";
}
Task<std::string> sleep_first(Duration d) {
  co_await sleep(d);
  co_return "sleep";
}
Task<std::string> race(Future<int> answer, Duration d) {
  std::vector<TaskHandle<std::string>> racers{create_task(answer_first(answer)), create_task(sleep_first(d))};
  WaitResult<TaskHandle<std::string>> r = co_await wait(std::move(racers), ReturnWhen::kFirstCompleted);
  for (TaskHandle<std::string>& loser : r.pending) {
    loser.cancel();
    try {
      co_await loser;
    } catch (const CancelledError&) {
    }
  }
  EXPECT_EQ(r.done.size(), 1u);
  co_return r.done.front().result();
}

// Far longer than the thread's 50 ms, so that a slow machine cannot turn
// the result around; the loop only ever waits that long for real if the
// token is broken.
constexpr Duration kSleep = 10s;

CO_TEST(ExternalWork, HeldByTheThreadUntilItPostsTheFutureBeatsAVirtualSleep) {
  EventLoop& loop = current_loop();
  const TimePoint start = loop.time();
  Future<int> answer(loop);
  std::jthread worker([answer, work = LoopHandle::current().begin_external_work()]() mutable {
    std::this_thread::sleep_for(50ms);
    answer.set_result_threadsafe(42);
    work.reset();  // only once the result is on its way
  });
  EXPECT_EQ(co_await race(answer, kSleep), "future");
  EXPECT_LT(loop.time() - start, kSleep);
  EXPECT_EQ(answer.result(), 42);
}

// Without a token nothing tells the loop that a result is owed: with no
// task runnable it jumps straight to the sleep's deadline. (The thread also
// waits until the race is decided before it posts, so that a stalled loop
// thread cannot let it win: the point is that the loop never waited.)
CO_TEST(ExternalWork, WithoutATokenTheVirtualClockJumpsAndTheSleepWins) {
  EventLoop& loop = current_loop();
  const TimePoint start = loop.time();
  Future<int> answer(loop);
  std::latch decided(1);
  std::jthread worker([answer, &decided] {
    std::this_thread::sleep_for(50ms);
    decided.wait();
    answer.set_result_threadsafe(42);
  });
  EXPECT_EQ(co_await race(answer, kSleep), "sleep");
  EXPECT_EQ(loop.time() - start, kSleep);
  // The race cancelled the task awaiting the Future, which (as in asyncio)
  // cancels the Future: the thread's late result is dropped.
  EXPECT_TRUE(answer.cancelled());
  decided.count_down();
}

CO_TEST(ExternalWork, ReleasedFromAnotherThreadWakesALoopBlockedOnAVirtualTimer) {
  EventLoop& loop = current_loop();
  const TimePoint start = loop.time();
  const pid_t loop_tid = testing::current_tid();
  const LoopHandle h = LoopHandle::current();
  std::atomic<bool> slept{false};
  std::jthread worker([h, loop_tid, &slept, work = h.begin_external_work()]() mutable {
    // The token holds the clock, so the loop waits for real for the hour:
    // release it once the loop sleeps in epoll.
    EXPECT_TRUE(testing::wait_until_blocked_in(loop_tid, testing::kEpollWaits));
    work.reset();
    // A loop that missed the release would sleep an hour: turn that into
    // a failure instead of a hang.
    for (int i = 0; i < 30000 && !slept.load(); ++i) std::this_thread::sleep_for(1ms);
    if (!slept.load()) {
      ADD_FAILURE() << "releasing the token did not wake the loop";
      h.call_soon_threadsafe([] {});
    }
  });
  co_await sleep(1h);
  slept = true;
  worker.join();
  EXPECT_EQ(loop.time() - start, 1h);  // it jumped, to the deadline exactly
}

TEST(ExternalWork, MovingATokenMovesTheWorkAndResetEndsIt) {
  EventLoop loop;
  const LoopHandle h(loop);
  ExternalWork a = h.begin_external_work();
  EXPECT_TRUE(a);
  EXPECT_EQ(loop.external_work(), 1u);

  ExternalWork b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(b);
  EXPECT_EQ(loop.external_work(), 1u);

  ExternalWork c = h.begin_external_work();
  EXPECT_EQ(loop.external_work(), 2u);
  c = std::move(b);  // c's own work ends, b's moves in
  EXPECT_FALSE(b);   // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(c);
  EXPECT_EQ(loop.external_work(), 1u);

  c.reset();
  EXPECT_FALSE(c);
  EXPECT_EQ(loop.external_work(), 0u);
  c.reset();  // idempotent
  EXPECT_EQ(loop.external_work(), 0u);
  {
    ExternalWork d = h.begin_external_work();
    EXPECT_EQ(loop.external_work(), 1u);
  }  // destroyed: ended
  EXPECT_EQ(loop.external_work(), 0u);
}

TEST(ExternalWork, ReleasedOnAnotherThreadEndsTheWork) {
  EventLoop loop;
  const LoopHandle h(loop);
  ExternalWork work = h.begin_external_work();
  EXPECT_EQ(loop.external_work(), 1u);
  std::jthread([work = std::move(work)]() mutable { work.reset(); }).join();
  EXPECT_EQ(loop.external_work(), 0u);
}

TEST(ExternalWork, ATokenOfADestroyedLoopIsHarmless) {
  LoopHandle h;
  ExternalWork work;
  ExternalWork other_thread_work;
  {
    EventLoop loop;
    h = LoopHandle(loop);
    work = h.begin_external_work();
    other_thread_work = h.begin_external_work();
  }
  EXPECT_TRUE(work);  // it still says so; releasing it does nothing
  work.reset();
  EXPECT_FALSE(work);
  std::jthread([w = std::move(other_thread_work)]() mutable { w.reset(); }).join();
  EXPECT_FALSE(h.begin_external_work());  // a gone loop gives empty tokens
}

}  // namespace
}  // namespace corio
