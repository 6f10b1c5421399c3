// The loop when memory runs out. TimerQueue: a push or a batch that cannot
// allocate throws std::bad_alloc and leaves the queue exactly as it was, so
// the timers already queued still fire in order and can still be cancelled.
// EventLoop: call_soon, call_at, call_soon_threadsafe and create_task that
// cannot allocate throw bad_alloc, schedule nothing and release the callable
// or coroutine; an iteration that cannot queue posted callbacks keeps them.
//
// This binary links //loop:failing_new, which replaces the global operator
// new with one that can be told to fail, which is why these tests live
// apart from timer_test.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/future.h"
#include "corio/loop/internal/timer_queue.h"
#include "corio/loop/io_registration.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/failing_new.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using internal::TimerNode;
using internal::TimerQueue;
using testing::fail_allocations_after;
using testing::NoMemory;

std::vector<TimerNode> make_nodes(std::size_t n, unsigned seed) {
  std::vector<TimerNode> nodes(n);
  std::mt19937 rng(seed);
  for (auto& node : nodes) node.deadline = static_cast<std::int64_t>(rng() % 1000);
  return nodes;
}

// Pops everything and checks (deadline, push order) is non-decreasing and
// that exactly `expected` nodes come out, each once.
void expect_pops_in_order(TimerQueue& q, const std::vector<TimerNode>& nodes, std::size_t expected) {
  std::vector<bool> seen(nodes.size());
  std::int64_t last_deadline = INT64_MIN;
  std::size_t last_index = 0;
  std::size_t count = 0;
  while (!q.empty()) {
    TimerNode* n = q.pop();
    ASSERT_FALSE(n->queued());
    const auto i = static_cast<std::size_t>(n - nodes.data());
    ASSERT_FALSE(seen[i]);
    seen[i] = true;
    // Nodes were pushed in index order, so equal deadlines pop by index.
    ASSERT_TRUE(n->deadline > last_deadline || (n->deadline == last_deadline && i > last_index));
    last_deadline = n->deadline;
    last_index = i;
    ++count;
  }
  EXPECT_EQ(count, expected);
}

TEST(TimerQueueOutOfMemory, FailedPushLeavesTheNodeUnqueued) {
  TimerQueue q;
  TimerNode n;
  n.deadline = 5;
  {
    NoMemory no_memory;
    EXPECT_THROW(q.push(&n), std::bad_alloc);
  }
  EXPECT_FALSE(n.queued());
  EXPECT_TRUE(q.empty());
  q.push(&n);
  EXPECT_EQ(q.pop(), &n);
}

// Runs `scenario` once for each allocation that the batching step (top())
// makes, failing exactly that one, until a run goes through; returns how
// many runs failed. `scenario(fail_at)` sets up a queue, calls
// `fail_top(q, fail_at)` and checks the queue afterwards.
template <class Scenario>
int for_each_failure_point(Scenario scenario) {
  int failures = 0;
  for (long k = 0; k < 64; ++k) {
    if (!scenario(k)) return failures;
    ++failures;
  }
  ADD_FAILURE() << "top() still allocating after 64 allocations";
  return failures;
}

// Calls q.top() with the allocation number `fail_at` failing; true if it
// threw bad_alloc.
bool fail_top(TimerQueue& q, long fail_at) {
  fail_allocations_after(fail_at);
  bool threw = false;
  try {
    (void)q.top();
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  fail_allocations_after(-1);
  return threw;
}

TEST(TimerQueueOutOfMemory, FailedHeapBatchChangesNothing) {
  const int failures = for_each_failure_point([](long fail_at) {
    auto nodes = make_nodes(100, 1);
    TimerQueue q;
    for (auto& n : nodes) q.push(&n);
    const bool threw = fail_top(q, fail_at);
    q.erase(&nodes[10]);
    q.erase(&nodes[99]);
    expect_pops_in_order(q, nodes, 98);
    return threw;
  });
  EXPECT_GE(failures, 1);
}

TEST(TimerQueueOutOfMemory, FailedSortedBatchChangesNothing) {
  const int failures = for_each_failure_point([](long fail_at) {
    auto nodes = make_nodes(TimerQueue::kBatchMin * 2, 2);
    TimerQueue q;
    for (auto& n : nodes) q.push(&n);
    q.erase(&nodes[3]);  // a tombstone, which the sort squeezes out
    const bool threw = fail_top(q, fail_at);
    q.erase(&nodes[7]);
    q.erase(&nodes[nodes.size() - 2]);
    expect_pops_in_order(q, nodes, nodes.size() - 3);
    return threw;
  });
  EXPECT_GE(failures, 2);  // the scratch buffer, then the histograms
}

TEST(TimerQueueOutOfMemory, FailedMergeIntoALiveRunChangesNothing) {
  const int failures = for_each_failure_point([](long fail_at) {
    const std::size_t half = TimerQueue::kBatchMin * 2;
    auto nodes = make_nodes(2 * half, 3);
    TimerQueue q;
    for (std::size_t i = 0; i < half; ++i) q.push(&nodes[i]);
    EXPECT_NE(q.top(), nullptr);  // the first half becomes the sorted run
    for (std::size_t i = half; i < 2 * half; ++i) q.push(&nodes[i]);
    q.erase(&nodes[half + 1]);
    const bool threw = fail_top(q, fail_at);
    q.erase(&nodes[1]);             // in the run
    q.erase(&nodes[2 * half - 3]);  // pushed in the second burst
    expect_pops_in_order(q, nodes, 2 * half - 3);
    return threw;
  });
  EXPECT_GE(failures, 2);  // the merge's output buffers
}

// Calls `schedule(i)` for i = 0, 1, ... with every allocation failing
// until one call throws std::bad_alloc; returns how many went through
// (bounded: the ready queue and the timer queue grow geometrically).
template <class F>
long schedule_until_out_of_memory(F schedule) {
  {
    NoMemory no_memory;
    for (long i = 0; i < 1000000; ++i) {
      try {
        schedule(i);
      } catch (const std::bad_alloc&) {
        return i;
      }
    }
  }
  ADD_FAILURE() << "no allocation failed";
  return -1;
}

// With the frame allocator on (not under AddressSanitizer), callback states
// come from slabs, which are not carved with operator new: once the
// thread's pool exists, the allocation that fails is the queue's growth.
void warm_up(EventLoop& loop) {
  loop.call_soon([] {});
  loop.call_later(Duration(0), [] {});
  loop.run_once(false);
  loop.run_once(false);
}
#if CORIO_FRAME_SLAB
constexpr long kQueuedAtLeast = 1;
#else
constexpr long kQueuedAtLeast = 0;
#endif

TEST(EventLoopOutOfMemory, FailedCallSoonSchedulesNothingAndReleasesTheCallable) {
  EventLoop loop;
  warm_up(loop);
  auto token = std::make_shared<int>(0);
  std::vector<long> ran;
  ran.reserve(100000);
  const long queued =
      schedule_until_out_of_memory([&](long i) { loop.call_soon([&ran, i, token] { ran.push_back(i); }); });
  ASSERT_GE(queued, kQueuedAtLeast);
  EXPECT_EQ(token.use_count(), 1 + queued);  // the failed call's copy is gone
  loop.run_once(false);
  ASSERT_EQ(ran.size(), static_cast<std::size_t>(queued));
  for (long i = 0; i < queued; ++i) ASSERT_EQ(ran[static_cast<std::size_t>(i)], i);
  EXPECT_EQ(token.use_count(), 1);
  loop.call_soon([&ran] { ran.push_back(-1); });  // memory is back: works again
  loop.run_once(false);
  EXPECT_EQ(ran.back(), -1);
}

TEST(EventLoopOutOfMemory, FailedCallAtSchedulesNothingAndReleasesTheCallable) {
  EventLoop loop;
  warm_up(loop);
  auto token = std::make_shared<int>(0);
  std::vector<long> ran;
  ran.reserve(100000);
  const TimePoint when = loop.time();
  const long queued =
      schedule_until_out_of_memory([&](long i) { loop.call_at(when, [&ran, i, token] { ran.push_back(i); }); });
  ASSERT_GE(queued, kQueuedAtLeast);
  EXPECT_EQ(token.use_count(), 1 + queued);
  for (int spins = 0; spins < 100 && ran.size() < static_cast<std::size_t>(queued); ++spins) loop.run_once(false);
  ASSERT_EQ(ran.size(), static_cast<std::size_t>(queued));
  for (long i = 0; i < queued; ++i) ASSERT_EQ(ran[static_cast<std::size_t>(i)], i);  // equal deadlines: FIFO
  EXPECT_EQ(token.use_count(), 1);
}

TEST(EventLoopOutOfMemory, FailedCallSoonThreadsafeReleasesTheCallable) {
  EventLoop loop;  // its cross-thread queue has no room yet
  auto token = std::make_shared<int>(0);
  bool ran = false;
  {
    NoMemory no_memory;
    EXPECT_THROW(loop.call_soon_threadsafe([&ran, token] { ran = true; }), std::bad_alloc);
  }
  EXPECT_EQ(token.use_count(), 1);
  loop.run_once(false);
  EXPECT_FALSE(ran);
}

TEST(EventLoopOutOfMemory, PostedCallbacksOutlastAnIterationThatRanOutOfMemory) {
  EventLoop loop;
  warm_up(loop);  // ready queue: room for 1024
  std::vector<int> ran;
  ran.reserve(5000);
  for (int i = 0; i < 5000; ++i) loop.call_soon_threadsafe([&ran, i] { ran.push_back(i); });
  {
    NoMemory no_memory;
    EXPECT_THROW(loop.run_once(false), std::bad_alloc);  // cannot queue 5000
  }
  EXPECT_TRUE(ran.empty());
  loop.call_soon_threadsafe([&ran] { ran.push_back(-1); });  // posted after the failure
  for (int spins = 0; spins < 10 && ran.size() < 5001; ++spins) loop.run_once(false);
  ASSERT_EQ(ran.size(), 5001u);
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(ran[static_cast<std::size_t>(i)], i);
  EXPECT_EQ(ran.back(), -1);
}

Task<void> record(std::shared_ptr<int> token, std::vector<long>* ran, long i) {
  ran->push_back(i);
  co_return;
}

TEST(EventLoopOutOfMemory, FailedCreateTaskSchedulesNothingAndReleasesTheCoroutine) {
  EventLoop loop;
  warm_up(loop);
  auto token = std::make_shared<int>(0);
  std::vector<long> ran;
  ran.reserve(100000);
  std::vector<TaskHandle<void>> handles;
  handles.reserve(100000);
  const long queued =
      schedule_until_out_of_memory([&](long i) { handles.push_back(create_task(loop, record(token, &ran, i))); });
  ASSERT_GE(queued, kQueuedAtLeast);
  EXPECT_EQ(token.use_count(), 1 + queued);  // the failed task's frame is gone
  loop.run_once(false);
  ASSERT_EQ(ran.size(), static_cast<std::size_t>(queued));
  for (long i = 0; i < queued; ++i) ASSERT_EQ(ran[static_cast<std::size_t>(i)], i);
  for (const auto& h : handles) EXPECT_TRUE(h.done());
  EXPECT_EQ(token.use_count(), 1);
}

Task<void> record_when_set(Future<void> go, std::vector<int>* ran, int i) {
  co_await go;
  ran->push_back(i);
}

// Each task's ready-queue slot is promised when it is created: waking more
// tasks at once than the queue has ever held allocates nothing.
TEST(EventLoopOutOfMemory, WakingEveryTaskAtOnceNeedsNoMemory) {
  EventLoop loop;
  Future<void> go(loop);
  std::vector<int> ran;
  ran.reserve(3000);
  std::vector<TaskHandle<void>> handles;
  handles.reserve(3000);
  for (int i = 0; i < 3000; ++i) {  // one at a time: at most one is queued
    handles.push_back(create_task(loop, record_when_set(go, &ran, i)));
    loop.run_once(false);
  }
  ASSERT_TRUE(ran.empty());
  {
    NoMemory no_memory;
    go.set_result();  // 3000 wake-ups; the queue has held one entry at most
    loop.run_once(false);
  }
  ASSERT_EQ(ran.size(), 3000u);
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(ran[static_cast<std::size_t>(i)], i);
  for (const auto& h : handles) EXPECT_TRUE(h.done());
}

// A due call_later callback needs a ready-queue slot of its own; without
// memory for one it stays queued, and fires, in order, once the queue has
// drained.
TEST(EventLoopOutOfMemory, DueTimersWaitForRoomInsteadOfFailing) {
  LoopOptions options;
  options.virtual_clock = true;  // the clock moves only when the loop idles
  EventLoop loop(options);
  std::vector<int> ran;
  ran.reserve(3000);
  const TimePoint when = loop.time() + std::chrono::seconds(1);
  for (int i = 0; i < 3000; ++i) loop.call_at(when, [&ran, i] { ran.push_back(i); });
  loop.run_once(false);  // nothing due yet; the queue has room for 1024
  ASSERT_TRUE(ran.empty());
  {
    NoMemory no_memory;
    for (int spins = 0; spins < 100 && ran.size() < 3000; ++spins) loop.run_once();  // idle: jumps to 1 s
  }
  ASSERT_EQ(ran.size(), 3000u);
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(ran[static_cast<std::size_t>(i)], i);
}

// A registration's state outlives its registration while an awaiter made
// from it is alive; when the last reference goes, the state is retired
// (freed after the poll batch) from a noexcept path, so the room for it
// must be there already. Regression: room was kept for the registrations
// then live only, so a state released after another registration had come
// and gone needed memory (std::terminate without it).
TEST(IoRegistrationOutOfMemory, ReleasingAStateThatOutlivedItsRegistrationNeedsNoMemory) {
  EventLoop loop;
  int one[2];
  int two[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, one), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, two), 0);
  {
    IoRegistration first(loop, one[0]);
    std::optional<internal::IoReadyAwaiter> kept;
    kept.emplace(first.readable());  // a reference to first's state
    first.deregister();
    { IoRegistration second(loop, two[0]); }  // retired, not yet freed: the loop has not polled
    NoMemory no_memory;
    kept.reset();  // first's state: retired too
  }
  loop.run_once(false);  // frees both
  for (int fd : {one[0], one[1], two[0], two[1]}) ::close(fd);
}

}  // namespace
}  // namespace corio
