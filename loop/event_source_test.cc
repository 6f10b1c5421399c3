// Tests for EventLoop::set_event_source: an event source without an fd
// (here a queue of callbacks fed by other threads, standing for a gRPC
// completion queue) is polled every iteration and waited on when the loop
// is idle, while a watcher thread waits on the reactor and wakes it.
// Meant to be run under --config=tsan as well.
#include "corio/loop/event_source.h"

#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/testing/fds.h"
#include "corio/loop/testing/threads.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::SocketPair;

// How long a test waits for something that should happen at once before
// it gives up and fails (instead of hanging).
constexpr Duration kBound = 20s;

// A queue of callbacks that any thread may feed; the loop runs them on its
// own thread from poll() and wait(). wait() blocks on a condition variable
// until an item, the deadline, or wake().
class QueueSource : public EventSource {
 public:
  // Any thread.
  void push(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      items_.push_back(std::move(f));
    }
    cv_.notify_all();
  }

  std::size_t poll() override {
    polls_.fetch_add(1);
    return run_queued();
  }

  std::size_t wait(TimePoint deadline) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++waits_;
      deadlines_.push_back(deadline);
      in_wait_ = true;
      cv_.notify_all();  // for wait_until_waiting()
      bool timed_out = false;
      while (items_.empty() && !woken_ && !timed_out) {
        if (deadline == kNever) {
          cv_.wait(lock);
        } else {
          timed_out = cv_.wait_until(lock, deadline) == std::cv_status::timeout;
        }
      }
      if (woken_) ++wakes_taken_;
      if (timed_out && items_.empty() && !woken_) ++timeouts_;
      woken_ = false;
      in_wait_ = false;
    }
    return run_queued();
  }

  void wake() noexcept override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      woken_ = true;
      ++wake_calls_;
    }
    cv_.notify_all();
  }

  // Another thread: blocks until the loop is inside wait() (for at most
  // `limit`); returns whether it was. With `after` waits already seen, a
  // later wait.
  bool wait_until_waiting(int after = 0, std::chrono::milliseconds limit = 20s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return in_wait_ && waits_ > after; });
  }

  int polls() const { return polls_.load(); }
  int waits() const {
    std::lock_guard<std::mutex> lock(mu_);
    return waits_;
  }
  int timeouts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return timeouts_;
  }
  int wakes_taken() const {
    std::lock_guard<std::mutex> lock(mu_);
    return wakes_taken_;
  }
  int wake_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return wake_calls_;
  }
  std::vector<TimePoint> deadlines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return deadlines_;
  }

 private:
  std::size_t run_queued() {
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(items_);
    }
    for (auto& f : batch) f();
    return batch.size();
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> items_;
  bool woken_ = false;
  bool in_wait_ = false;
  int waits_ = 0;
  int timeouts_ = 0;
  int wakes_taken_ = 0;
  int wake_calls_ = 0;
  std::vector<TimePoint> deadlines_;
  std::atomic<int> polls_{0};
};

// Sets `source` on `loop` for a scope.
class SourceScope {
 public:
  SourceScope(EventLoop& loop, EventSource& source) : loop_(loop) { loop_.set_event_source(&source); }
  ~SourceScope() { loop_.set_event_source(nullptr); }
  SourceScope(const SourceScope&) = delete;
  SourceScope& operator=(const SourceScope&) = delete;

 private:
  EventLoop& loop_;
};

Task<> sleep_for(Duration d) { co_await sleep(d); }

// The threads of this process blocked in poll() now (the watcher, when
// the loop waits in its source).
std::vector<pid_t> threads_in_poll() { return testing::threads_blocked_in(testing::kPolls); }

bool thread_exists(pid_t tid) { return ::access(("/proc/self/task/" + std::to_string(tid)).c_str(), F_OK) == 0; }

// ---- Driving the source ----

CO_TEST_REAL_CLOCK(EventSource, ItemsPostedFromAnotherThreadRunOnTheLoopThreadInOrder) {
  EventLoop& loop = current_loop();
  QueueSource source;
  SourceScope scope(loop, source);
  constexpr int kItems = 100;
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::vector<int> order;  // loop thread only
  bool all_on_loop_thread = true;
  Future<void> all_ran(loop);
  std::jthread feeder([&] {
    for (int i = 0; i < kItems; ++i) {
      source.push([&, i]() mutable {
        order.push_back(i);
        if (std::this_thread::get_id() != loop_thread) all_on_loop_thread = false;
        if (i == kItems - 1) all_ran.set_result();
      });
    }
  });
  co_await wait_for(all_ran, kBound);
  feeder.join();
  std::vector<int> expected;
  for (int i = 0; i < kItems; ++i) expected.push_back(i);
  EXPECT_EQ(order, expected);
  EXPECT_TRUE(all_on_loop_thread);
}

CO_TEST_REAL_CLOCK(EventSource, IsPolledOnEveryIterationWithoutWaitingWhileTheLoopIsBusy) {
  EventLoop& loop = current_loop();
  QueueSource source;
  SourceScope scope(loop, source);
  bool handled = false;
  source.push([&] { handled = true; });
  co_await yield_now();  // one iteration, and the task was runnable throughout
  EXPECT_TRUE(handled);
  const int polls = source.polls();
  for (int i = 0; i < 10; ++i) co_await yield_now();
  EXPECT_EQ(source.polls(), polls + 10);
  EXPECT_EQ(source.waits(), 0);
}

// Regression: the loop decided whether it had work before it polled the
// source, so a task that poll() woke waited until the next event or timer
// (here the 20 s bound; with none, forever). An idle loop now goes to
// wait(), which must hand over the queued item at once: no wait times out.
CO_TEST_REAL_CLOCK(EventSource, ATaskThatPollWakesRunsWithoutWaitingInTheSource) {
  EventLoop& loop = current_loop();
  QueueSource source;
  SourceScope scope(loop, source);
  Future<void> handled(loop);
  source.push([handled]() mutable { handled.set_result(); });  // for the next poll()
  const TimePoint start = loop.time();
  co_await wait_for(handled, kBound);
  EXPECT_EQ(source.timeouts(), 0);
  EXPECT_LT(loop.time() - start, kBound);
}

CO_TEST_REAL_CLOCK(EventSource, AnIdleLoopBlocksInWaitAndItsTimerFiresOnTime) {
  EventLoop& loop = current_loop();
  QueueSource source;
  SourceScope scope(loop, source);
  const TimePoint start = loop.time();
  co_await sleep(100ms);
  const Duration slept = loop.time() - start;
  EXPECT_GE(slept, 100ms);
  EXPECT_LT(slept, 100ms + 5s);  // generous: the machine may be busy
  // One wait, which ended at its deadline: the loop did not spin, and the
  // watcher had nothing to wake it for.
  EXPECT_EQ(source.waits(), 1);
  EXPECT_EQ(source.timeouts(), 1);
  EXPECT_EQ(source.wake_calls(), 0);
  const std::vector<TimePoint> deadlines = source.deadlines();
  EXPECT_EQ(deadlines.size(), 1u);
  if (!deadlines.empty()) {
    EXPECT_GE(deadlines[0], start + 100ms);
    EXPECT_LT(deadlines[0], start + 100ms + 5s);
  }
}

CO_TEST_REAL_CLOCK(EventSource, WithNoTimerTheLoopWaitsWithoutADeadline) {
  EventLoop& loop = current_loop();
  QueueSource source;
  SourceScope scope(loop, source);
  Future<void> item_ran(loop);
  std::jthread feeder([&] {
    EXPECT_TRUE(source.wait_until_waiting());
    source.push([&]() mutable { item_ran.set_result(); });
  });
  co_await item_ran;
  feeder.join();
  const std::vector<TimePoint> deadlines = source.deadlines();
  EXPECT_FALSE(deadlines.empty());
  if (!deadlines.empty()) {
    EXPECT_EQ(deadlines.front(), kNever);
  }
}

// ---- The reactor while the loop waits in the source ----

CO_TEST_REAL_CLOCK(EventSource, ASocketReadCompletesWhileTheLoopIsBlockedInTheSource) {
  EventLoop& loop = current_loop();
  QueueSource source;
  SourceScope scope(loop, source);
  SocketPair sp;
  IoRegistration reg(sp.a);
  std::jthread writer([&] {
    EXPECT_TRUE(source.wait_until_waiting());
    const char c = 'x';
    EXPECT_EQ(::write(sp.b, &c, 1), 1);
  });
  co_await wait_for(reg.readable(), kBound);
  writer.join();
  char buf[8];
  EXPECT_EQ(::read(sp.a, buf, sizeof buf), 1);
  EXPECT_GE(source.wakes_taken(), 1);  // the watcher woke the source
}

CO_TEST_REAL_CLOCK(EventSource, CallSoonThreadsafeWhileBlockedInTheSourceRuns) {
  EventLoop& loop = current_loop();
  QueueSource source;
  SourceScope scope(loop, source);
  Future<std::thread::id> ran_on(loop);
  const LoopHandle h = LoopHandle::current();
  std::jthread poster([&] {
    EXPECT_TRUE(source.wait_until_waiting());
    EXPECT_TRUE(h.call_soon_threadsafe([ran_on]() mutable { ran_on.set_result(std::this_thread::get_id()); }));
  });
  EXPECT_EQ(co_await wait_for(ran_on, kBound), std::this_thread::get_id());
  poster.join();
}

CO_TEST_REAL_CLOCK(EventSource, ASignalHandlerRunsWhileBlockedInTheSource) {
  EventLoop& loop = current_loop();
  QueueSource source;
  SourceScope scope(loop, source);
  Future<std::thread::id> ran_on(loop);
  loop.add_signal_handler(SIGUSR1, [ran_on]() mutable {
    if (!ran_on.done()) ran_on.set_result(std::this_thread::get_id());
  });
  std::jthread sender([&] {
    EXPECT_TRUE(source.wait_until_waiting());
    EXPECT_EQ(::kill(::getpid(), SIGUSR1), 0);
  });
  EXPECT_EQ(co_await wait_for(ran_on, kBound), std::this_thread::get_id());
  sender.join();
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
}

// The watcher is corio's thread: it blocks every signal, so a process
// signal lands on a thread the application knows. (Before, a SIGUSR1 could
// land on it and interrupt its poll(); the EINTR retry in the watcher stays
// for a signal sent to that very thread.)
std::string signal_mask_of_thread_named(const std::string& name) {
  DIR* d = ::opendir("/proc/self/task");
  std::string mask;
  while (dirent* e = d != nullptr ? ::readdir(d) : nullptr) {
    if (e->d_name[0] == '.') continue;
    const std::string dir = std::string("/proc/self/task/") + e->d_name;
    std::ifstream comm(dir + "/comm");
    std::string n;
    if (!std::getline(comm, n) || n != name) continue;
    std::ifstream status(dir + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("SigBlk:", 0) == 0) mask = line.substr(7);
    }
  }
  if (d != nullptr) ::closedir(d);
  return mask;
}

CO_TEST_REAL_CLOCK(EventSource, TheWatcherThreadIsNamedAndBlocksEverySignal) {
  EventLoop& loop = current_loop();
  QueueSource source;
  SourceScope scope(loop, source);
  std::string mask;
  Future<void> checked(loop);
  std::jthread checker([&] {
    EXPECT_TRUE(source.wait_until_waiting());  // the watcher exists and polls
    mask = signal_mask_of_thread_named("corio-watcher");
    source.push([checked]() mutable { checked.set_result(); });
  });
  co_await wait_for(checked, kBound);
  checker.join();
  CO_ASSERT_FALSE(mask.empty()) << "no thread named corio-watcher";
  const unsigned long long blocked = std::stoull(mask, nullptr, 16);
  EXPECT_NE(blocked & (1ull << (SIGUSR1 - 1)), 0u);
  EXPECT_NE(blocked & (1ull << (SIGTERM - 1)), 0u);
  EXPECT_NE(blocked & (1ull << (SIGINT - 1)), 0u);
}

// ---- Setting and removing the source ----

CO_TEST_REAL_CLOCK(EventSource, SettingASecondSourceRaisesRuntimeError) {
  EventLoop& loop = current_loop();
  QueueSource first;
  QueueSource second;
  SourceScope scope(loop, first);
  EXPECT_THROW(loop.set_event_source(&second), RuntimeError);
  EXPECT_EQ(loop.event_source(), &first);
  loop.set_event_source(&first);  // the same one again is fine
  EXPECT_EQ(loop.event_source(), &first);
  loop.set_event_source(nullptr);
  loop.set_event_source(&second);  // another one once the first is removed
  EXPECT_EQ(loop.event_source(), &second);
  co_return;
}

CO_TEST_REAL_CLOCK(EventSource, RemovingTheSourceReturnsToPlainEpollBlocking) {
  EventLoop& loop = current_loop();
  QueueSource source;
  loop.set_event_source(&source);
  co_await sleep(1ms);
  EXPECT_GE(source.waits(), 1);
  loop.set_event_source(nullptr);
  EXPECT_EQ(loop.event_source(), nullptr);
  const int polls = source.polls();
  const int waits = source.waits();
  // Idle with a timer, then idle waiting for a socket: both in epoll.
  const pid_t loop_tid = testing::current_tid();
  SocketPair sp;
  IoRegistration reg(sp.a);
  std::jthread writer([&] {
    EXPECT_TRUE(testing::wait_until_blocked_in(loop_tid, testing::kEpollWaits));
    const char c = 'x';
    EXPECT_EQ(::write(sp.b, &c, 1), 1);
  });
  co_await sleep(1ms);
  co_await wait_for(reg.readable(), kBound);
  writer.join();
  EXPECT_EQ(source.polls(), polls);
  EXPECT_EQ(source.waits(), waits);
}

TEST(EventSource, AnExceptionFromPollPropagatesOutOfRunOnce) {
  struct Throwing : QueueSource {
    std::size_t poll() override { throw std::runtime_error("source failed"); }
  };
  Throwing source;
  EventLoop loop;
  SourceScope scope(loop, source);
  EXPECT_THROW(loop.run_once(false), std::runtime_error);
}

// ---- run_forever's rounds: a loop that only waits on its source ----

// A source with a script and no threads: each wait() runs the next step
// on the loop thread and records its deadline and how much of `log` had
// run by then; poll() only counts. A wait() past the script throws, which
// ends run_forever (rather than hanging).
class ScriptSource : public EventSource {
 public:
  explicit ScriptSource(const std::vector<std::string>& log) : log_(log) {}
  std::vector<std::function<void()>> steps;
  std::vector<TimePoint> deadlines;
  std::vector<std::size_t> ran_before;
  int polls = 0;

  std::size_t poll() override {
    ++polls;
    return 0;
  }
  std::size_t wait(TimePoint deadline) override {
    deadlines.push_back(deadline);
    ran_before.push_back(log_.size());
    const std::size_t i = deadlines.size() - 1;
    if (i >= steps.size()) throw std::runtime_error("wait() past the script");
    steps[i]();
    return 1;
  }
  void wake() noexcept override {}

 private:
  const std::vector<std::string>& log_;
};

// While nothing is ready and no timer is set, run_forever waits on the
// source round after round; a round that leaves a callback ready, a timer
// set, or the loop stopping goes back to the general iteration (which
// polls the source before running what is ready, fires the timer, ends).
TEST(EventSource, RunForeverWaitsAgainOnlyWhenTheRoundLeftNothingElseToDo) {
  LoopOptions options;
  options.virtual_clock = true;
  EventLoop loop(options);
  std::vector<std::string> log;
  ScriptSource source(log);
  source.steps = {
      [&] { loop.call_soon([&] { log.push_back("a"); }); },
      [&] {
        loop.call_soon([&] {
          log.push_back("b");
          loop.call_soon([&] { log.push_back("c"); });  // ready after the round: no wait before it runs
        });
      },
      [&] { loop.call_later(5s, [&] { log.push_back("t"); }); },  // a timer: the next iteration jumps to it
      [&] { loop.stop(); },
  };
  loop.set_event_source(&source);
  loop.run_forever();
  loop.set_event_source(nullptr);
  EXPECT_EQ(log, (std::vector<std::string>{"a", "b", "c", "t"}));
  // What had run when each wait began: c before the third, t before the fourth.
  EXPECT_EQ(source.ran_before, (std::vector<std::size_t>{0, 1, 3, 4}));
  EXPECT_EQ(source.deadlines, std::vector<TimePoint>(4, kNever));
  // Polled by the iteration that ran c (busy) and the one that jumped to t.
  EXPECT_EQ(source.polls, 2);
}

// A task that the source wakes on every wait runs one step per round, in
// the round whose wait woke it, and the next wait comes after that step.
TEST(EventSource, ATaskWokenByEachWaitRunsBeforeTheNextWait) {
  EventLoop loop;
  std::vector<std::string> log;
  ScriptSource source(log);
  Future<void>* pending = nullptr;  // what the task awaits now
  constexpr int kRounds = 5;
  for (int i = 0; i < kRounds; ++i) {
    source.steps.push_back([&] {
      ASSERT_NE(pending, nullptr);
      std::exchange(pending, nullptr)->set_result();
    });
  }
  source.steps.push_back([&] { loop.stop(); });
  auto body = [&]() -> Task<> {
    for (int i = 0; i < kRounds; ++i) {
      Future<void> f(loop);
      pending = &f;
      co_await f;
      log.push_back(std::to_string(i));
    }
  };
  TaskHandle<void> task = create_task(loop, body());
  loop.set_event_source(&source);
  loop.run_forever();
  loop.set_event_source(nullptr);
  EXPECT_TRUE(task.done());
  EXPECT_EQ(log, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  EXPECT_EQ(source.ran_before, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5}));
  // Only the first iteration, with the new task ready, polled.
  EXPECT_EQ(source.polls, 1);
}

// ---- Destroying the loop with a source set ----

// Runs `loop` until it has waited in `source` once (so the watcher thread
// exists), and returns the watcher's id: the thread blocked in poll().
pid_t start_watcher(EventLoop& loop, QueueSource& source) {
  const std::vector<pid_t> before = threads_in_poll();
  run_until_complete(loop, sleep_for(1ms));
  EXPECT_GE(source.waits(), 1);
  // The last wait ended at its deadline, and the watcher is still in poll().
  for (int i = 0; i < 20000; ++i) {
    for (pid_t tid : threads_in_poll()) {
      bool old = false;
      for (pid_t b : before) old = old || b == tid;
      if (!old) return tid;
    }
    std::this_thread::sleep_for(1ms);
  }
  ADD_FAILURE() << "no watcher thread in poll()";
  return -1;
}

TEST(EventSource, DestroyingTheLoopWhileTheWatcherPollsJoinsIt) {
  QueueSource source;
  pid_t watcher;
  {
    EventLoop loop;
    loop.set_event_source(&source);
    watcher = start_watcher(loop, source);
    EXPECT_TRUE(thread_exists(watcher));
  }
  EXPECT_FALSE(thread_exists(watcher));
}

TEST(EventSource, DestroyingTheLoopWhileTheWatcherIdlesJoinsIt) {
  QueueSource source;
  pid_t watcher;
  {
    EventLoop loop;
    loop.set_event_source(&source);
    watcher = start_watcher(loop, source);
    // Wake the loop through the reactor: the watcher fires, wakes the
    // source, and goes idle until armed again, which it never is.
    const LoopHandle h(loop);
    const int waits = source.waits();
    std::jthread stopper([&] {
      EXPECT_TRUE(source.wait_until_waiting(waits));
      h.stop();
    });
    loop.run_forever();
    stopper.join();
    EXPECT_TRUE(thread_exists(watcher));
  }
  EXPECT_FALSE(thread_exists(watcher));
}

TEST(EventSource, DestroyingTheLoopAfterTheSourceWasRemovedJoinsTheWatcher) {
  QueueSource source;
  pid_t watcher;
  {
    EventLoop loop;
    loop.set_event_source(&source);
    watcher = start_watcher(loop, source);
    loop.set_event_source(nullptr);
  }
  EXPECT_FALSE(thread_exists(watcher));
}

}  // namespace
}  // namespace corio
