// Tests for executor offload: run_in_executor/to_thread and the bounded
// ThreadPoolExecutor behind them. Threads meet through atomics and
// condition variables, never through sleeps.
#include "corio/loop/executor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/frame_allocator.h"
#include "corio/loop/run.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

// How long a thread waits for a partner before giving up. Only reached when
// the behaviour under test is broken; then the test fails instead of hanging.
constexpr auto kGiveUp = std::chrono::seconds(10);

// `n` threads meet here; arrive_and_wait() tells whether all of them came
// within kGiveUp.
class Rendezvous {
 public:
  explicit Rendezvous(int n) : n_(n) {}
  bool arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (++arrived_ == n_) cv_.notify_all();
    return cv_.wait_for(lock, kGiveUp, [this] { return arrived_ >= n_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_;
  int arrived_ = 0;
};

// A one-shot flag that a thread can wait on (bounded by kGiveUp).
class Gate {
 public:
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kGiveUp, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// kGccNote: with GCC 12, a lambda (or any aggregate) that holds a copy of a
// non-trivially destructible object and is written as a temporary inside a
// co_await expression, as in `co_await to_thread([ptr] {...})`, has that
// copy destroyed twice: a double free, whatever the awaitable. Jobs that
// capture such objects are therefore bound to a local variable and moved
// in. Captures by reference, and no captures, are unaffected.

struct CustomError {
  int code;
};

// ---- results and errors ----

CO_TEST(Executor, ToThreadReturnsTheValue) {
  const int v = co_await to_thread([] { return 6 * 7; });
  EXPECT_EQ(v, 42);
}

CO_TEST(Executor, TheJobRunsOnAnotherThread) {
  const std::thread::id loop_thread = std::this_thread::get_id();
  const std::thread::id job_thread = co_await to_thread([] { return std::this_thread::get_id(); });
  EXPECT_NE(job_thread, loop_thread);
}

CO_TEST(Executor, ArgumentsArePassedToTheJob) {
  const std::string s =
      co_await to_thread([](int n, std::string x) { return std::string(n, x[0]); }, 3, std::string("z"));
  EXPECT_EQ(s, "zzz");
}

CO_TEST(Executor, VoidJob) {
  std::atomic<int> ran{0};
  co_await to_thread([&ran] { ran.store(1); });
  EXPECT_EQ(ran.load(), 1);
}

CO_TEST(Executor, MoveOnlyResult) {
  std::unique_ptr<int> p = co_await to_thread([] { return std::make_unique<int>(9); });
  EXPECT_EQ(*p, 9);
}

CO_TEST(Executor, StandardExceptionKeepsItsType) {
  EXPECT_THROW(co_await to_thread([]() -> int { throw std::out_of_range("range"); }), std::out_of_range);
}

CO_TEST(Executor, AnyThrownTypeIsRethrown) {
  try {
    co_await to_thread([] { throw CustomError{17}; });
    ADD_FAILURE() << "no exception";
  } catch (const CustomError& e) {
    EXPECT_EQ(e.code, 17);
  }
}

TEST(Executor, ToThreadOutsideARunningLoopThrows) {
  EXPECT_THROW(to_thread([] { return 1; }), RuntimeError);
}

// ---- the loop keeps running ----

CO_TEST(Executor, TheLoopKeepsRunningWhileTheJobRuns) {
  // The job cannot finish until a task on the loop lets it: if awaiting the
  // job blocked the loop, the job would give up and report it.
  std::atomic<bool> job_started{false};
  Gate job_may_finish;
  std::vector<std::string> log;  // loop thread only
  auto helper = create_task([](std::atomic<bool>& started, Gate& gate, std::vector<std::string>& l) -> Task<> {
    while (!started.load()) co_await yield_now();
    l.push_back("helper ran while the job was running");
    gate.open();
  }(job_started, job_may_finish, log));
  const bool released = co_await to_thread([&] {
    job_started.store(true);
    return job_may_finish.wait();
  });
  log.push_back("job done");
  co_await helper;
  EXPECT_TRUE(released);
  EXPECT_THAT(log, ::testing::ElementsAre("helper ran while the job was running", "job done"));
}

// ---- the pool ----

CO_TEST(ThreadPool, NeverRunsMoreThanMaxWorkersJobsAtOnce) {
  ThreadPoolExecutor pool(2);
  EventLoop& loop = current_loop();
  std::atomic<int> active{0};
  std::atomic<int> peak{0};
  std::atomic<bool> full{false};
  auto job = [&] {
    const int now = ++active;
    int prev = peak.load();
    while (prev < now && !peak.compare_exchange_weak(prev, now)) {
    }
    if (now == 2) full.store(true);
    // Hold the slot until both workers have been busy at once, so that a
    // third concurrent job would show in `peak`.
    const auto give_up = std::chrono::steady_clock::now() + kGiveUp;
    while (!full.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    --active;
    return now;
  };
  std::vector<Future<int>> futures;
  for (int i = 0; i < 8; ++i) futures.push_back(run_in_executor(loop, &pool, job));
  for (auto& f : futures) co_await f;
  EXPECT_EQ(peak.load(), 2);
  EXPECT_TRUE(full.load());
}

// Regression: a worker that was notified but had not woken yet still counted
// as idle, so a second job submitted right after the first started no new
// thread even below max_workers, and waited behind the first.
CO_TEST(ThreadPool, TwoJobsSubmittedToOneIdleWorkerRunConcurrently) {
  ThreadPoolExecutor pool(2);
  EventLoop& loop = current_loop();
  co_await run_in_executor(loop, &pool, [] {});  // one worker, now idle
  Rendezvous both(2);
  auto a = run_in_executor(loop, &pool, [&] { return both.arrive_and_wait(); });
  auto b = run_in_executor(loop, &pool, [&] { return both.arrive_and_wait(); });
  EXPECT_TRUE(co_await a);
  EXPECT_TRUE(co_await b);
}

CO_TEST(ThreadPool, GrowsOnDemandUpToMaxWorkers) {
  ThreadPoolExecutor pool(3);
  EventLoop& loop = current_loop();
  Rendezvous three(3);
  std::vector<Future<bool>> futures;
  for (int i = 0; i < 3; ++i) futures.push_back(run_in_executor(loop, &pool, [&] { return three.arrive_and_wait(); }));
  for (auto& f : futures) EXPECT_TRUE(co_await f);
}

CO_TEST(ThreadPool, RunInExecutorUsesTheGivenExecutor) {
  ThreadPoolExecutor pool(1);
  EventLoop& loop = current_loop();
  auto id = [] { return std::this_thread::get_id(); };
  const std::thread::id first = co_await run_in_executor(loop, &pool, id);
  const std::thread::id second = co_await run_in_executor(loop, &pool, id);
  EXPECT_EQ(first, second);  // one worker only
}

CO_TEST(ThreadPool, JobsWaitInFifoOrderForAFreeWorker) {
  ThreadPoolExecutor pool(1);
  EventLoop& loop = current_loop();
  std::mutex mu;
  std::vector<int> order;
  std::vector<Future<void>> futures;
  for (int i = 0; i < 20; ++i) {
    futures.push_back(run_in_executor(loop, &pool, [&, i] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
    }));
  }
  for (auto& f : futures) co_await f;
  std::vector<int> expected(20);
  for (int i = 0; i < 20; ++i) expected[i] = i;
  EXPECT_EQ(order, expected);
}

TEST(ThreadPool, SubmitAfterShutdownThrows) {
  ThreadPoolExecutor pool(1);
  pool.shutdown();
  EXPECT_THROW(pool.submit([] {}), RuntimeError);
}

CO_TEST(ThreadPool, RunInExecutorAfterShutdownThrowsAndLeavesTheClockFree) {
  ThreadPoolExecutor pool(1);
  pool.shutdown();
  EventLoop& loop = current_loop();
  EXPECT_THROW(run_in_executor(loop, &pool, [] { return 1; }), RuntimeError);
  // The failed call took back its "external work" mark: the virtual clock
  // still jumps (it would otherwise wait an hour of real time here).
  const TimePoint start = loop.time();
  co_await sleep(1h);
  EXPECT_EQ(loop.time() - start, 1h);
}

TEST(ThreadPool, ShutdownWithWaitRunsTheQueuedJobs) {
  ThreadPoolExecutor pool(1);
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i) pool.submit([&] { ++ran; });
  pool.shutdown(/*wait=*/true);
  EXPECT_EQ(ran.load(), 5);
}

#if CORIO_FRAME_CACHE
// A worker that frees a burst of blocks allocated elsewhere (the loop's)
// gives them back after the job instead of keeping them in free lists of
// its own that it may never allocate from.
TEST(ThreadPool, AWorkerKeepsNoBurstOfFreedBlocks) {
  // On a fresh thread, whose blocks come from slabs of its own that stay
  // its own while it lives: freed on the worker, they go back to them.
  std::thread([] {
    constexpr std::size_t kBytes = internal::kFrameClassBytes;
    std::vector<void*> blocks(2 * internal::frame_cache_limit(0));
    for (void*& p : blocks) p = internal::frame_allocate(kBytes);
    ThreadPoolExecutor pool(1);  // one worker runs both jobs
    pool.submit([&] {
      for (void* p : blocks) internal::frame_free(p, kBytes);
    });
    void* next = nullptr;
    pool.submit([&] { next = internal::frame_allocate(kBytes); });
    pool.shutdown(/*wait=*/true);
    // Not one of the burst's blocks: the worker's list was emptied.
    EXPECT_EQ(std::find(blocks.begin(), blocks.end(), next), blocks.end());
    internal::frame_free(next, kBytes);
  }).join();
}
#endif  // CORIO_FRAME_CACHE

TEST(ThreadPool, DestructorRunsTheQueuedJobs) {
  std::atomic<int> ran{0};
  {
    ThreadPoolExecutor pool(2);
    for (int i = 0; i < 5; ++i) pool.submit([&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 5);
}

// An exception escaping a raw submit()'s job is printed, and the worker
// goes on with the next job (it used to end the process).
TEST(ThreadPool, AJobThatThrowsDoesNotStopThePool) {
  ThreadPoolExecutor pool(1);
  std::atomic<int> ran{0};
  ::testing::internal::CaptureStderr();
  pool.submit([] { throw std::runtime_error("job failed"); });
  pool.submit([&] { ++ran; });
  pool.shutdown(/*wait=*/true);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_NE(err.find("job failed"), std::string::npos) << err;
}

// shutdown() from one of the pool's own jobs joins the other threads and
// lets its own end (a thread joining itself used to throw and terminate);
// the destructor then waits for that thread to be done with the pool.
TEST(ThreadPool, ShutdownFromItsOwnJobReturnsAndTheQueuedJobsStillRun) {
  std::atomic<int> ran{0};
  std::atomic<bool> returned{false};
  std::atomic<bool> go{false};
  {
    ThreadPoolExecutor pool(2);
    pool.submit([&] {
      while (!go.load()) std::this_thread::yield();  // until the others are queued
      pool.shutdown(/*wait=*/true);
      returned = true;
    });
    pool.submit([&] { ++ran; });
    pool.submit([&] { ++ran; });
    go = true;
  }
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(ran.load(), 2);
}

TEST(ThreadPool, ShutdownWithoutWaitDropsTheQueuedJobs) {
  ThreadPoolExecutor pool(1);
  Gate release;
  std::atomic<bool> first_started{false};
  std::atomic<int> queued_ran{0};
  auto token = std::make_shared<int>(0);
  pool.submit([&] {
    first_started.store(true);
    release.wait();
  });
  while (!first_started.load()) std::this_thread::yield();
  // The worker is busy: these queue up behind it.
  for (int i = 0; i < 4; ++i) pool.submit([&queued_ran, token] { ++queued_ran; });
  // Open the gate only once shutdown(false) has taken effect (submit
  // starts failing), so no queued job can have started before it.
  std::thread opener([&] {
    for (;;) {
      try {
        pool.submit([&queued_ran] { ++queued_ran; });
      } catch (const RuntimeError&) {
        break;
      }
    }
    release.open();
  });
  pool.shutdown(/*wait=*/false);
  opener.join();
  EXPECT_EQ(queued_ran.load(), 0);
  EXPECT_EQ(token.use_count(), 1);  // the dropped jobs were destroyed
}

// Regression: a run_in_executor job dropped by shutdown(false) left its
// future pending forever (its awaiters hung) and its "external work" mark
// set, so the virtual clock never jumped again.
CO_TEST(ThreadPool, ShutdownWithoutWaitCancelsTheFuturesOfDroppedJobs) {
  ThreadPoolExecutor pool(1);
  EventLoop& loop = current_loop();
  Gate release;
  std::atomic<bool> first_started{false};
  auto first = run_in_executor(loop, &pool, [&] {
    first_started.store(true);
    release.wait();
    return 1;
  });
  auto second = run_in_executor(loop, &pool, [] { return 2; });  // queued behind `first`
  while (!first_started.load()) co_await yield_now();
  // shutdown(false) joins the running job, so it runs on its own thread;
  // the running job is let go once the shutdown has taken effect.
  std::thread closer([&] { pool.shutdown(/*wait=*/false); });
  std::thread opener([&] {
    for (;;) {
      try {
        pool.submit([] {});
      } catch (const RuntimeError&) {
        break;
      }
    }
    release.open();
  });
  EXPECT_EQ(co_await first, 1);  // the running job finishes normally
  closer.join();
  opener.join();
  // The dropped job's cancellation was posted before `first` finished.
  EXPECT_TRUE(second.done());
  EXPECT_TRUE(second.cancelled());
  EXPECT_THROW(co_await second, CancelledError);
  // Nothing holds the virtual clock back any more.
  const TimePoint start = loop.time();
  co_await sleep(1h);
  EXPECT_EQ(loop.time() - start, 1h);
}

TEST(ThreadPool, ZeroWorkersIsRejected) {
  EXPECT_THROW(ThreadPoolExecutor(0), std::invalid_argument);
  EventLoop loop;
  EXPECT_THROW(loop.set_default_executor_workers(0), std::invalid_argument);
}

TEST(ThreadPool, DefaultExecutorSize) {
  EventLoop loop;
  const unsigned hw = std::thread::hardware_concurrency();
  const std::size_t expected = std::min<std::size_t>(32, (hw == 0 ? 1 : hw) + 4);
  EXPECT_EQ(loop.default_executor().max_workers(), expected);
  EXPECT_EQ(&loop.default_executor(), &loop.default_executor());
}

TEST(ThreadPool, SetDefaultExecutorWorkersSizesTheDefaultExecutor) {
  EventLoop loop;
  loop.set_default_executor_workers(3);
  EXPECT_EQ(loop.default_executor().max_workers(), 3u);
}

// ---- cancellation ----

CO_TEST(ExecutorCancellation, CancellingTheAwaitingTaskStopsTheWaitAtOnce) {
  ThreadPoolExecutor pool(1);
  EventLoop& loop = current_loop();
  std::atomic<bool> job_started{false};
  std::atomic<bool> job_finished{false};
  Gate release;
  auto token = std::make_shared<int>(0);
  // Made here and moved all the way into the executor, so that once the job
  // and its completion are gone nothing else holds `token`. (A local, not
  // a temporary inside co_await: see kGccNote.)
  auto job = [&job_started, &job_finished, &release, token] {
    job_started.store(true);
    release.wait();
    job_finished.store(true);
    return token;  // the result nobody will take
  };
  auto waiter = create_task([](EventLoop& l, ThreadPoolExecutor& p, auto j) -> Task<std::shared_ptr<int>> {
    co_return co_await run_in_executor(l, &p, std::move(j));
  }(loop, pool, std::move(job)));
  while (!job_started.load()) co_await yield_now();
  EXPECT_TRUE(waiter.cancel());
  EXPECT_THROW(co_await waiter, CancelledError);
  EXPECT_TRUE(waiter.cancelled());
  EXPECT_FALSE(job_finished.load());  // the job was not interrupted
  release.open();
  // The pool has one worker: this runs after the first job has finished.
  co_await run_in_executor(loop, &pool, [] {});
  EXPECT_TRUE(job_finished.load());
  co_await yield_now();             // the first job's completion callback has run
  EXPECT_EQ(token.use_count(), 1);  // its dropped result was released
}

// The job finishes only while the loop is being destroyed: its completion
// is posted to a loop that will never run it, and must still be freed (see
// CallSoonThreadsafe.CallbacksThatNeverRanAreReleasedWithTheLoop).
TEST(ExecutorCancellation, JobFinishingAfterTheLoopStoppedIsReleased) {
  auto token = std::make_shared<int>(0);
  Gate release;
  {
    EventLoop loop;
    loop.set_default_executor_workers(1);
    std::atomic<bool> job_started{false};
    auto waiter = create_task(loop, [](std::shared_ptr<int> tok, Gate& gate, std::atomic<bool>& started) -> Task<> {
      auto job = [tok, &gate, &started] {  // a local: see kGccNote
        started.store(true);
        gate.wait();
        return tok;
      };
      co_await to_thread(std::move(job));
    }(token, release, job_started));
    auto canceller = create_task(loop, [](TaskHandle<> w, std::atomic<bool>& started) -> Task<> {
      while (!started.load()) co_await yield_now();
      w.cancel();
    }(waiter, job_started));
    EXPECT_THROW(run_until_complete(loop, waiter), CancelledError);
    run_until_complete(loop, canceller);
    release.open();  // the loop's destructor joins the job
  }
  EXPECT_EQ(token.use_count(), 1);
}

// Regression: a job on an executor the user owns (which outlives the loop)
// that ended after the loop was destroyed posted its outcome to the freed
// loop (a use-after-free under AddressSanitizer). It is now dropped, and
// what it held is released.
TEST(ExecutorCancellation, JobOnAUserPoolEndingAfterTheLoopIsGoneIsDropped) {
  auto token = std::make_shared<int>(0);
  Gate release;
  ThreadPoolExecutor pool(1);
  std::atomic<bool> job_started{false};
  {
    auto loop = std::make_unique<EventLoop>();
    auto waiter = create_task(
        *loop, [](ThreadPoolExecutor& p, std::shared_ptr<int> tok, Gate& gate, std::atomic<bool>& started) -> Task<> {
          auto job = [tok, &gate, &started] {  // a local: see kGccNote
            started.store(true);
            gate.wait();
            return tok;
          };
          co_await run_in_executor(current_loop(), &p, std::move(job));
        }(pool, token, release, job_started));
    auto canceller = create_task(*loop, [](TaskHandle<> w, std::atomic<bool>& started) -> Task<> {
      while (!started.load()) co_await yield_now();
      w.cancel();
    }(waiter, job_started));
    EXPECT_THROW(run_until_complete(*loop, waiter), CancelledError);
    run_until_complete(*loop, canceller);
  }  // the loop is gone; the job still runs
  release.open();
  pool.shutdown();  // joins the job, which drops its outcome
  EXPECT_EQ(token.use_count(), 1);
}

}  // namespace
}  // namespace corio
