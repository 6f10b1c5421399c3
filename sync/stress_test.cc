// Randomized stress over every primitive: many tasks, random cancels (a
// chaos task) and timeouts (a per-operation canceller), fixed seeds, and
// invariants checked at the end: mutual exclusion held, no item lost or
// delivered twice, permits and counts balanced, nothing left waiting.
//
// Every worker absorbs cancellation (catch, uncancel, go on) around each
// operation, so a cancel that lands anywhere, including after a wake-up
// and before the task ran, is exercised and survived. The virtual clock
// makes every sleep instant, so the test is bounded by CPU alone.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/sync/sync.h"
#include "corio/sync/testing/sync_testing.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using Rng = std::mt19937;

constexpr std::uint32_t kSeeds[] = {1, 42, 20240601};
constexpr int kWorkers = 24;
constexpr int kRounds = 150;

Duration random_delay(Rng& rng, int max_us) { return std::chrono::microseconds(rng() % (max_us + 1)); }

// Cancels random victims at random times until stopped.
struct Chaos {
  explicit Chaos(std::uint32_t seed) : rng(seed) {}
  Rng rng;
  std::vector<TaskRef> victims;
  bool stop = false;
  long cancels = 0;
};

Task<> chaos_monkey(Chaos& c) {
  while (!c.stop) {
    co_await sleep(random_delay(c.rng, 200));
    if (c.victims.empty()) continue;
    TaskRef& v = c.victims[c.rng() % c.victims.size()];
    if (!v.done() && v.cancel()) ++c.cancels;
  }
}

struct Stats {
  long ok = 0;
  long cancelled = 0;
};

// Runs `op`, optionally under a random timeout; absorbs CancelledError.
Task<> absorb(Task<> op, Rng& rng, Stats& stats) {
  TaskHandle<> timer;
  if (rng() % 3 == 0) timer = testing::cancel_after(current_task(), random_delay(rng, 150));
  try {
    co_await std::move(op);
    ++stats.ok;
  } catch (const CancelledError&) {
    current_task().uncancel();
    ++stats.cancelled;
  }
  if (timer && !timer.done()) timer.cancel();
}

// A random way to spend time inside a critical section.
Task<> dawdle(Rng& rng) {
  switch (rng() % 3) {
    case 0:
      break;
    case 1:
      co_await yield_now();
      break;
    default:
      co_await sleep(random_delay(rng, 100));
  }
}

struct Inside {
  explicit Inside(int& n) : n(n) { ++n; }
  ~Inside() { --n; }
  int& n;
};

// Runs `make_op(rng)` kRounds times in each of kWorkers tasks under chaos,
// then stops the chaos and waits for every worker.
template <class MakeOp>
Task<Stats> run_workers(std::uint32_t seed, MakeOp make_op, int workers = kWorkers, int rounds = kRounds,
                        bool expect_cancels = true) {
  Chaos chaos(seed);
  Stats stats;
  std::vector<Rng> rngs;
  for (int i = 0; i < workers; ++i) rngs.emplace_back(seed * 7919 + i);
  std::vector<TaskHandle<>> tasks;
  for (int i = 0; i < workers; ++i) {
    tasks.push_back(create_task([](MakeOp& make_op, Rng& rng, Stats& stats, int rounds) -> Task<> {
      for (int r = 0; r < rounds; ++r) co_await absorb(make_op(rng), rng, stats);
    }(make_op, rngs[i], stats, rounds)));
    chaos.victims.emplace_back(tasks.back());
  }
  auto monkey = create_task(chaos_monkey(chaos));
  for (auto& t : tasks) co_await t;  // workers absorb every cancel
  chaos.stop = true;
  co_await monkey;
  if (expect_cancels) {
    EXPECT_GT(chaos.cancels, 0) << "seed " << seed;
  }
  std::printf("  seed %u: %ld ops done, %ld cancelled (%ld by chaos)\n", seed, stats.ok, stats.cancelled,
              chaos.cancels);
  co_return stats;
}

// ---------------------------------------------------------------- Lock

struct LockState {
  Lock lock;
  int inside = 0;
  bool violated = false;
};

Task<> lock_op(LockState& s, Rng& rng) {
  if (rng() % 2 == 0) {
    auto guard = co_await s.lock.scoped();
    Inside in(s.inside);
    if (s.inside != 1) s.violated = true;
    co_await dawdle(rng);
  } else {
    co_await s.lock.acquire();
    Inside in(s.inside);
    if (s.inside != 1) s.violated = true;
    try {
      co_await dawdle(rng);
    } catch (...) {
      s.lock.release();
      throw;
    }
    s.lock.release();
  }
}

CO_TEST(Stress, Lock) {
  for (std::uint32_t seed : kSeeds) {
    LockState s;
    Stats st = co_await run_workers(seed, [&](Rng& rng) { return lock_op(s, rng); });
    EXPECT_FALSE(s.violated) << "seed " << seed;
    EXPECT_FALSE(s.lock.locked()) << "seed " << seed;
    EXPECT_EQ(s.lock.waiters(), 0u);
    EXPECT_GT(st.ok, 0);
    EXPECT_GT(st.cancelled, 0);
  }
}

// ----------------------------------------------------------- Semaphore

struct SemState {
  static constexpr int kPermits = 3;
  BoundedSemaphore sem{kPermits};
  int inside = 0;
  bool violated = false;
};

Task<> sem_op(SemState& s, Rng& rng) {
  auto permit = co_await s.sem.scoped();
  Inside in(s.inside);
  if (s.inside > SemState::kPermits) s.violated = true;
  co_await dawdle(rng);
}

CO_TEST(Stress, BoundedSemaphore) {
  for (std::uint32_t seed : kSeeds) {
    SemState s;
    Stats st = co_await run_workers(seed, [&](Rng& rng) { return sem_op(s, rng); });
    EXPECT_FALSE(s.violated) << "seed " << seed;
    EXPECT_EQ(s.sem.value(), SemState::kPermits) << "seed " << seed;  // none lost, none doubled
    EXPECT_EQ(s.sem.waiters(), 0u);
    EXPECT_GT(st.cancelled, 0);
  }
}

// --------------------------------------------------------------- Event

struct EventState {
  Event ev;
  long passed = 0;
};

Task<> event_op(EventState& s, Rng& rng) {
  co_await s.ev.wait();
  ++s.passed;
}

Task<> event_toggler(EventState& s, Rng& rng, bool& stop) {
  while (!stop) {
    co_await sleep(random_delay(rng, 300));
    if (rng() % 2) {
      s.ev.set();
    } else {
      s.ev.clear();
    }
  }
  s.ev.set();
}

CO_TEST(Stress, Event) {
  for (std::uint32_t seed : kSeeds) {
    EventState s;
    Rng rng(seed);
    bool stop = false;
    auto toggler = create_task(event_toggler(s, rng, stop));
    Stats st = co_await run_workers(seed, [&](Rng& rng) { return event_op(s, rng); });
    stop = true;
    co_await toggler;
    EXPECT_EQ(st.ok, s.passed);
    EXPECT_EQ(st.ok + st.cancelled, long{kWorkers} * kRounds);
    EXPECT_EQ(s.ev.waiters(), 0u);
  }
}

// ----------------------------------------------------------- Condition

struct CondState {
  Condition cond;
  long tokens = 0;
  long produced = 0;
  long consumed = 0;
  int inside = 0;
  bool violated = false;
};

Task<> cond_op(CondState& s, Rng& rng) {
  auto guard = co_await s.cond.scoped();
  Inside in(s.inside);
  if (s.inside != 1) s.violated = true;
  if (rng() % 2 == 0) {
    ++s.tokens;
    ++s.produced;
    if (rng() % 4 == 0) {
      s.cond.notify_all();
    } else {
      s.cond.notify();
    }
    co_await dawdle(rng);  // still holding the lock
  } else {
    --s.inside;  // wait() lets go of the lock
    try {
      co_await s.cond.wait_for([&] { return s.tokens > 0; });
    } catch (const CancelledError&) {
      if (!s.cond.locked()) s.violated = true;  // re-acquired even when cancelled
      ++s.inside;
      throw;
    }
    ++s.inside;
    if (!s.cond.locked() || s.inside != 1) s.violated = true;
    --s.tokens;
    ++s.consumed;
  }
}

CO_TEST(Stress, Condition) {
  for (std::uint32_t seed : kSeeds) {
    CondState s;
    // Waiters may outnumber tokens at the end; a final producer tops up so
    // that every waiter can finish, and no notification may go missing.
    auto topper = create_task([](CondState& s) -> Task<> {
      for (;;) {
        co_await sleep(10ms);
        auto guard = co_await s.cond.scoped();
        if (s.cond.waiters() > 0) {
          s.tokens += static_cast<long>(s.cond.waiters());
          s.produced += static_cast<long>(s.cond.waiters());
          s.cond.notify_all();
        }
      }
    }(s));
    Stats st = co_await run_workers(seed, [&](Rng& rng) { return cond_op(s, rng); });
    topper.cancel();
    try {
      co_await topper;
    } catch (const CancelledError&) {
    }
    EXPECT_FALSE(s.violated) << "seed " << seed;
    EXPECT_EQ(s.produced, s.consumed + s.tokens) << "seed " << seed;
    EXPECT_GE(s.tokens, 0);
    EXPECT_FALSE(s.cond.locked());
    EXPECT_EQ(s.cond.waiters(), 0u);
    EXPECT_GT(st.cancelled, 0);
  }
}

// -------------------------------------------------------------- Barrier

struct BarrierState {
  static constexpr std::size_t kParties = 4;
  Barrier barrier{kParties};
  std::vector<long> index_count = std::vector<long>(kParties, 0);
  bool stop = false;
};

Task<> barrier_op(BarrierState& s, Rng& rng) {
  if (s.stop) co_return;
  co_await dawdle(rng);
  try {
    std::size_t i = co_await s.barrier.wait();
    ++s.index_count.at(i);
  } catch (const BrokenBarrierError&) {
  }
}

CO_TEST(Stress, Barrier) {
  for (std::uint32_t seed : kSeeds) {
    BarrierState s;
    // Workers finish at different times; the last ones would wait forever
    // for parties that never come, so abort once few remain.
    auto breaker = create_task([](BarrierState& s) -> Task<> {
      for (;;) {
        co_await sleep(50ms);
        if (s.barrier.n_waiting() > 0) {
          s.stop = true;
          s.barrier.abort();
        }
      }
    }(s));
    co_await run_workers(seed, [&](Rng& rng) { return barrier_op(s, rng); });
    breaker.cancel();
    try {
      co_await breaker;
    } catch (const CancelledError&) {
    }
    // Every trip released each index exactly once.
    for (std::size_t i = 1; i < BarrierState::kParties; ++i) {
      EXPECT_EQ(s.index_count[i], s.index_count[0]) << "seed " << seed << " index " << i;
    }
    EXPECT_GT(s.index_count[0], 0);
    EXPECT_EQ(s.barrier.n_waiting(), 0u);
  }
}

// --------------------------------------------------------------- Queues

// Producers put unique ids; consumers take them. What put() reports as done
// must come out exactly once; what it reports as cancelled must never.
template <class Q>
struct QueueState {
  explicit QueueState(std::size_t maxsize) : q(maxsize) {}
  Q q;
  std::vector<int> put_ok;
  std::vector<int> got;
  int next_id = 0;
};

template <class Q>
Task<> queue_op(QueueState<Q>& s, Rng& rng) {
  switch (rng() % 6) {
    case 0:
    case 1: {
      int id = s.next_id++;
      co_await s.q.put(id);
      s.put_ok.push_back(id);
      break;
    }
    case 2: {
      int id = s.next_id++;
      try {
        s.q.put_nowait(id);
        s.put_ok.push_back(id);
      } catch (const QueueFull&) {
      }
      break;
    }
    case 3:
    case 4: {
      int v = co_await s.q.get();
      s.got.push_back(v);
      s.q.task_done();
      co_await dawdle(rng);
      break;
    }
    default: {
      try {
        s.got.push_back(s.q.get_nowait());
        s.q.task_done();
      } catch (const QueueEmpty&) {
      }
      co_await dawdle(rng);
    }
  }
}

template <class Q>
Task<> check_queue(std::uint32_t seed, std::size_t maxsize, bool immediate) {
  QueueState<Q> s(maxsize);
  // Getters may outnumber items at the end: a feeder keeps them supplied.
  auto feeder = create_task([](QueueState<Q>& s) -> Task<> {
    for (;;) {
      co_await sleep(10ms);
      for (std::size_t i = s.q.getters(); i > 0; --i) {
        int id = s.next_id++;
        s.q.put_nowait(id);
        s.put_ok.push_back(id);
      }
    }
  }(s));
  co_await run_workers(seed, [&](Rng& rng) { return queue_op(s, rng); });
  feeder.cancel();
  try {
    co_await feeder;
  } catch (const CancelledError&) {
  }
  EXPECT_EQ(s.q.getters(), 0u);
  // Putters may be left waiting on a full queue; shutdown releases them
  // (their items never went in), then the rest is drained.
  std::size_t dropped = 0;
  if (immediate) {
    dropped = s.q.qsize();
    s.q.shutdown(true);
  } else {
    s.q.shutdown();
    for (;;) {
      try {
        s.got.push_back(co_await s.q.get());
        s.q.task_done();
      } catch (const QueueShutDown&) {
        break;
      }
    }
  }
  co_await testing::settle();
  EXPECT_EQ(s.q.putters(), 0u);
  EXPECT_EQ(s.q.qsize(), 0u);
  EXPECT_EQ(s.q.unfinished_tasks(), 0u) << "seed " << seed;
  co_await s.q.join();
  std::sort(s.put_ok.begin(), s.put_ok.end());
  std::sort(s.got.begin(), s.got.end());
  EXPECT_TRUE(std::adjacent_find(s.got.begin(), s.got.end()) == s.got.end()) << "an item came out twice";
  EXPECT_EQ(s.got.size() + dropped, s.put_ok.size()) << "seed " << seed;
  if (!immediate) {
    EXPECT_EQ(s.got, s.put_ok) << "seed " << seed;
  }
  EXPECT_TRUE(std::includes(s.put_ok.begin(), s.put_ok.end(), s.got.begin(), s.got.end()));
}

CO_TEST(Stress, QueueBounded) {
  for (std::uint32_t seed : kSeeds) co_await check_queue<Queue<int>>(seed, 3, false);
}
CO_TEST(Stress, QueueUnboundedImmediateShutdown) {
  for (std::uint32_t seed : kSeeds) co_await check_queue<Queue<int>>(seed, 0, true);
}
CO_TEST(Stress, LifoQueue) {
  for (std::uint32_t seed : kSeeds) co_await check_queue<LifoQueue<int>>(seed, 2, false);
}
CO_TEST(Stress, PriorityQueue) {
  for (std::uint32_t seed : kSeeds) co_await check_queue<PriorityQueue<int>>(seed, 4, false);
}
CO_TEST(Stress, PriorityQueueImmediateShutdown) {
  for (std::uint32_t seed : kSeeds) co_await check_queue<PriorityQueue<int>>(seed, 1, true);
}

// -------------------------------------------------------------- Channel

// Real threads send; loop tasks receive under chaos. No timers here but the
// chaos and timeouts; the virtual clock does not wait for the threads, which
// only shortens the run.
CO_TEST(Stress, ChannelFromThreads) {
  for (std::uint32_t seed : kSeeds) {
    constexpr int kThreads = 3, kPerThread = 3000;
    Channel<int> ch(current_loop(), seed % 2 ? 16 : 0);
    std::vector<int> got;
    bool closed = false;
    std::vector<std::thread> senders;
    for (int t = 0; t < kThreads; ++t) {
      senders.emplace_back([&ch, t] {
        for (int i = 0; i < kPerThread; ++i) ch.send(t * kPerThread + i);
      });
    }
    std::thread closer([&] {
      for (auto& s : senders) s.join();
      ch.close();
    });
    auto op = [&](Rng& rng) -> Task<> {
      return [](Channel<int>& ch, std::vector<int>& got, bool& closed) -> Task<> {
        if (closed) co_return;
        try {
          got.push_back(co_await ch.receive());
        } catch (const QueueShutDown&) {
          closed = true;
        }
      }(ch, got, closed);
    };
    // Enough rounds between the workers to receive everything.
    // Thread timing decides whether the chaos finds anyone parked.
    co_await run_workers(seed, op, 8, kThreads * kPerThread, /*expect_cancels=*/false);
    closer.join();
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got.size(), std::size_t{kThreads} * kPerThread) << "seed " << seed;
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (got[i] != static_cast<int>(i)) {
        ADD_FAILURE() << "seed " << seed << ": item " << i << " lost or duplicated";
        break;
      }
    }
  }
}

}  // namespace
}  // namespace corio
