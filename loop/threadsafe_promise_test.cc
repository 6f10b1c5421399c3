#include "corio/loop/threadsafe_promise.h"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "corio/loop/loop.h"
#include "corio/loop/testing/threads.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using std::chrono::seconds;

LoopOptions virtual_clock() {
  LoopOptions o;
  o.virtual_clock = true;
  return o;
}

// With a virtual clock, the loop would jump the 30 s to the timeout unless
// the promise holds it.
Task<int> answer_from_thread(std::jthread& worker) {
  Future<int> answer;
  ThreadsafePromise<int> promise(answer);
  EXPECT_EQ(current_loop().external_work(), 1u);
  // The thread answers once the loop is blocked waiting for it (without
  // the promise's external work, the loop would have jumped to the timeout
  // instead of blocking).
  worker = std::jthread([p = std::move(promise), loop_tid = testing::current_tid()]() mutable {
    EXPECT_TRUE(testing::wait_until_blocked_in(loop_tid, testing::kEpollWaits));
    p.set_result(42);
  });
  co_return co_await wait_for(answer, seconds(30));
}

TEST(ThreadsafePromise, ResultFromAnotherThreadHoldsTheVirtualClock) {
  EventLoop loop(virtual_clock());
  std::jthread worker;
  EXPECT_EQ(run_until_complete(loop, answer_from_thread(worker)), 42);
  worker.join();
  EXPECT_EQ(loop.external_work(), 0u);
}

Task<std::string> exception_from_thread(std::jthread& worker) {
  Future<int> answer;
  worker = std::jthread([p = ThreadsafePromise<int>(answer)]() mutable {
    p.set_exception(std::make_exception_ptr(std::runtime_error("no answer")));
  });
  try {
    (void)co_await answer;
  } catch (const std::runtime_error& e) {
    co_return e.what();
  }
  co_return "no exception";
}

TEST(ThreadsafePromise, ExceptionFromAnotherThreadReachesTheAwaiter) {
  EventLoop loop(virtual_clock());
  std::jthread worker;
  EXPECT_EQ(run_until_complete(loop, exception_from_thread(worker)), "no answer");
}

Task<bool> void_from_thread(std::jthread& worker) {
  Future<> done;
  worker = std::jthread([p = ThreadsafePromise<>(done)]() mutable { p.set_result(); });
  co_await done;
  co_return done.done();
}

TEST(ThreadsafePromise, VoidFuture) {
  EventLoop loop(virtual_clock());
  std::jthread worker;
  EXPECT_TRUE(run_until_complete(loop, void_from_thread(worker)));
}

// A promise dropped unfulfilled (a thread that gave up) cancels its future
// and releases the clock, instead of leaving the awaiter waiting forever.
Task<std::string> dropped_on_thread(std::jthread& worker) {
  Future<int> answer;
  worker = std::jthread([p = ThreadsafePromise<int>(answer)]() mutable { ThreadsafePromise<int> gone = std::move(p); });
  try {
    (void)co_await answer;
  } catch (const CancelledError& e) {
    current_task().uncancel();
    co_return e.what();
  }
  co_return "no cancel";
}

TEST(ThreadsafePromise, DroppedUnfulfilledCancelsTheFuture) {
  EventLoop loop(virtual_clock());
  std::jthread worker;
  EXPECT_EQ(run_until_complete(loop, dropped_on_thread(worker)),
            "corio: a ThreadsafePromise was destroyed without a result");
  worker.join();
  EXPECT_EQ(loop.external_work(), 0u);
}

TEST(ThreadsafePromise, SecondSetThrowsInvalidStateError) {
  EventLoop loop;
  Future<int> answer(loop);
  ThreadsafePromise<int> p(answer);
  EXPECT_TRUE(p.set_result(1));
  EXPECT_FALSE(p.valid());
  EXPECT_THROW(p.set_result(2), InvalidStateError);
  EXPECT_THROW(p.set_exception(std::make_exception_ptr(std::runtime_error("x"))), InvalidStateError);
  run_until_complete(loop, [](Future<int> f) -> Task<> { EXPECT_EQ(co_await f, 1); }(answer));
}

TEST(ThreadsafePromise, NullExceptionThrowsAndLeavesThePromiseArmed) {
  EventLoop loop;
  Future<int> answer(loop);
  ThreadsafePromise<int> p(answer);
  EXPECT_THROW(p.set_exception(nullptr), InvalidStateError);
  EXPECT_TRUE(p.valid());
}

TEST(ThreadsafePromise, ForADoneFutureThrowsInvalidStateError) {
  EventLoop loop;
  Future<int> answer(loop);
  answer.set_result(3);
  EXPECT_THROW(ThreadsafePromise<int>{answer}, InvalidStateError);
}

// The awaiting task was cancelled (so the future is cancelled): the late
// result is dropped, and the work still ends.
Task<> cancelled_waiter_then_result(std::jthread& worker) {
  Future<int> answer;
  ThreadsafePromise<int> promise(answer);
  auto waiter = create_task([](Future<int> f) -> Task<int> { co_return co_await f; }(answer));
  co_await sleep(std::chrono::seconds(0));
  waiter.cancel();
  try {
    (void)co_await waiter;
  } catch (const CancelledError&) {
  }
  EXPECT_TRUE(answer.cancelled());
  Future<> delivered;
  ThreadsafePromise<> ack(delivered);
  worker = std::jthread([p = std::move(promise), a = std::move(ack)]() mutable {
    EXPECT_TRUE(p.set_result(9));  // posted; dropped on the loop
    a.set_result();
  });
  co_await delivered;
}

TEST(ThreadsafePromise, LateResultForACancelledFutureIsDropped) {
  EventLoop loop(virtual_clock());
  std::jthread worker;
  run_until_complete(loop, cancelled_waiter_then_result(worker));
  worker.join();
  EXPECT_EQ(loop.external_work(), 0u);
}

TEST(ThreadsafePromise, SetAfterTheLoopIsGoneReturnsFalse) {
  std::unique_ptr<ThreadsafePromise<std::string>> p;
  {
    EventLoop loop;
    Future<std::string> answer(loop);
    p = std::make_unique<ThreadsafePromise<std::string>>(answer);
  }
  EXPECT_FALSE(p->set_result("late"));
}

TEST(ThreadsafePromise, DroppedAfterTheLoopIsGoneIsHarmless) {
  std::unique_ptr<ThreadsafePromise<int>> p;
  {
    EventLoop loop;
    Future<int> answer(loop);
    p = std::make_unique<ThreadsafePromise<int>>(answer);
  }
  p.reset();
  SUCCEED() << "no crash, no leak (asan)";
}

}  // namespace
}  // namespace corio
