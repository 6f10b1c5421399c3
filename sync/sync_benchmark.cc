// Benchmarks of corio's sync primitives against Boost.Asio 1.81 doing the
// same thing with C++20 coroutines (co_spawn + use_awaitable), in one
// binary: bazel run -c opt //sync:sync_benchmark
//
// Each benchmark runs on a fresh loop (corio::EventLoop / asio::io_context
// with BOOST_ASIO_CONCURRENCY_HINT_UNSAFE, Asio's fastest single-threaded
// setting), single-threaded, driven from inside a coroutine so that only the
// scenario is timed.
//
// The Asio peers. Asio has no async mutex, semaphore or event, so each peer
// is what Asio code writes instead, chosen to be the fastest fair one:
//  * Lock/Semaphore: AsioLock/AsioSemaphore below, a flag or count with a
//    fast path that never suspends, and a steady_timer (expiring never) to
//    park waiters; release() hands ownership or the permit directly to the
//    first waiter with cancel_one(), the same FIFO hand-off corio does. The
//    other common emulation, experimental::channel<void(error_code)> of
//    capacity 1 (acquire = async_send, release = try_receive), is also
//    measured for the uncontended case (BM_Asio_Lock_UncontendedChannel).
//  * Queue: experimental::channel<void(error_code, int)> with the same
//    capacity as the corio Queue (the single-threaded channel;
//    concurrent_channel only adds a mutex).
//  * Event: a steady_timer with expires_at(max) whose cancel() is set().
//  * Spawning and joining: co_spawn(detached) plus a counting wait group on
//    a steady_timer, as corio's create_task plus awaiting the handles.
#include <benchmark/benchmark.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/sync/sync.h"

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using ErrorCode = boost::system::error_code;
constexpr auto kNoThrow = asio::as_tuple(use_awaitable);

// ---------------------------------------------------------------- drivers

template <class Body>
void run_corio(benchmark::State& state, Body body) {
  corio::EventLoop loop;
  corio::run_until_complete(loop, body(state));
}

template <class Body>
void run_asio(benchmark::State& state, Body body) {
  asio::io_context ctx(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE);
  asio::co_spawn(ctx, body(state), asio::detached);
  ctx.run();
}

// ------------------------------------------------------------ Asio peers

class AsioLock {
 public:
  explicit AsioLock(const asio::any_io_executor& ex) : timer_(ex, asio::steady_timer::time_point::max()) {}
  awaitable<void> acquire() {
    if (!locked_) {
      locked_ = true;
      co_return;
    }
    ++waiting_;
    co_await timer_.async_wait(kNoThrow);  // woken by release() with the lock
  }
  void release() {
    if (waiting_ > 0) {
      --waiting_;
      timer_.cancel_one();  // ownership passes to the oldest waiter
    } else {
      locked_ = false;
    }
  }

 private:
  asio::steady_timer timer_;
  std::size_t waiting_ = 0;
  bool locked_ = false;
};

class AsioSemaphore {
 public:
  AsioSemaphore(const asio::any_io_executor& ex, std::size_t n)
      : timer_(ex, asio::steady_timer::time_point::max()), value_(n) {}
  awaitable<void> acquire() {
    if (value_ > 0) {
      --value_;
      co_return;
    }
    ++waiting_;
    co_await timer_.async_wait(kNoThrow);  // woken by release() with a permit
  }
  void release() {
    if (waiting_ > 0) {
      --waiting_;
      timer_.cancel_one();
    } else {
      ++value_;
    }
  }

 private:
  asio::steady_timer timer_;
  std::size_t waiting_ = 0;
  std::size_t value_;
};

class AsioWaitGroup {
 public:
  explicit AsioWaitGroup(const asio::any_io_executor& ex) : timer_(ex, asio::steady_timer::time_point::max()) {}
  void add(std::size_t n) { count_ += n; }
  void done() {
    if (--count_ == 0) timer_.cancel();
  }
  awaitable<void> wait() {
    if (count_ > 0) co_await timer_.async_wait(kNoThrow);
  }

 private:
  asio::steady_timer timer_;
  std::size_t count_ = 0;
};

// ------------------------------------------------- Lock: uncontended

void BM_Lock_Uncontended(benchmark::State& state) {
  run_corio(state, [](benchmark::State& state) -> corio::Task<> {
    corio::Lock lock;
    for (auto _ : state) {
      co_await lock.acquire();
      lock.release();
    }
  });
}
BENCHMARK(BM_Lock_Uncontended);

void BM_Lock_UncontendedScoped(benchmark::State& state) {
  run_corio(state, [](benchmark::State& state) -> corio::Task<> {
    corio::Lock lock;
    for (auto _ : state) {
      auto guard = co_await lock.scoped();
      benchmark::DoNotOptimize(guard);
    }
  });
}
BENCHMARK(BM_Lock_UncontendedScoped);

void BM_Asio_Lock_Uncontended(benchmark::State& state) {
  run_asio(state, [](benchmark::State& state) -> awaitable<void> {
    AsioLock lock(co_await asio::this_coro::executor);
    for (auto _ : state) {
      co_await lock.acquire();
      lock.release();
    }
  });
}
BENCHMARK(BM_Asio_Lock_Uncontended);

void BM_Asio_Lock_UncontendedChannel(benchmark::State& state) {
  run_asio(state, [](benchmark::State& state) -> awaitable<void> {
    asio::experimental::channel<void(ErrorCode)> lock(co_await asio::this_coro::executor, 1);
    for (auto _ : state) {
      co_await lock.async_send(ErrorCode{}, use_awaitable);
      lock.try_receive([](ErrorCode) {});
    }
  });
}
BENCHMARK(BM_Asio_Lock_UncontendedChannel);

// ------------------------------------- Lock: hand-off between N tasks
// Each of N tasks takes the lock 100 times, yielding once while holding it,
// so the others queue and every release hands the lock over.

constexpr int kHandOffRounds = 100;

corio::Task<> corio_lock_worker(corio::Lock& lock) {
  for (int i = 0; i < kHandOffRounds; ++i) {
    co_await lock.acquire();
    co_await corio::yield_now();
    lock.release();
  }
}

void BM_Lock_HandOff(benchmark::State& state) {
  run_corio(state, [](benchmark::State& state) -> corio::Task<> {
    const auto n = static_cast<std::size_t>(state.range(0));
    corio::Lock lock;
    std::vector<corio::TaskHandle<>> tasks;
    tasks.reserve(n);
    for (auto _ : state) {
      for (std::size_t i = 0; i < n; ++i) tasks.push_back(corio::create_task(corio_lock_worker(lock)));
      for (auto& t : tasks) co_await t;
      tasks.clear();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n) * kHandOffRounds);
  });
}
BENCHMARK(BM_Lock_HandOff)->Arg(2)->Arg(16)->Arg(256);

awaitable<void> asio_lock_worker(AsioLock& lock, AsioWaitGroup& wg) {
  auto ex = co_await asio::this_coro::executor;
  for (int i = 0; i < kHandOffRounds; ++i) {
    co_await lock.acquire();
    co_await asio::post(ex, use_awaitable);  // yield
    lock.release();
  }
  wg.done();
}

void BM_Asio_Lock_HandOff(benchmark::State& state) {
  run_asio(state, [](benchmark::State& state) -> awaitable<void> {
    const auto n = static_cast<std::size_t>(state.range(0));
    auto ex = co_await asio::this_coro::executor;
    AsioLock lock(ex);
    AsioWaitGroup wg(ex);
    for (auto _ : state) {
      wg.add(n);
      for (std::size_t i = 0; i < n; ++i) asio::co_spawn(ex, asio_lock_worker(lock, wg), asio::detached);
      co_await wg.wait();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n) * kHandOffRounds);
  });
}
BENCHMARK(BM_Asio_Lock_HandOff)->Arg(2)->Arg(16)->Arg(256);

// ------------------------------- Semaphore: limiting N workers to 4
// N workers each take a permit 100 times and yield once while holding it.

constexpr int kPermits = 4;

corio::Task<> corio_sem_worker(corio::Semaphore& sem) {
  for (int i = 0; i < kHandOffRounds; ++i) {
    auto permit = co_await sem.scoped();
    co_await corio::yield_now();
  }
}

void BM_Semaphore_Workers(benchmark::State& state) {
  run_corio(state, [](benchmark::State& state) -> corio::Task<> {
    const auto n = static_cast<std::size_t>(state.range(0));
    corio::Semaphore sem(kPermits);
    std::vector<corio::TaskHandle<>> tasks;
    tasks.reserve(n);
    for (auto _ : state) {
      for (std::size_t i = 0; i < n; ++i) tasks.push_back(corio::create_task(corio_sem_worker(sem)));
      for (auto& t : tasks) co_await t;
      tasks.clear();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n) * kHandOffRounds);
  });
}
BENCHMARK(BM_Semaphore_Workers)->Arg(16)->Arg(256);

awaitable<void> asio_sem_worker(AsioSemaphore& sem, AsioWaitGroup& wg) {
  auto ex = co_await asio::this_coro::executor;
  for (int i = 0; i < kHandOffRounds; ++i) {
    co_await sem.acquire();
    co_await asio::post(ex, use_awaitable);  // yield
    sem.release();
  }
  wg.done();
}

void BM_Asio_Semaphore_Workers(benchmark::State& state) {
  run_asio(state, [](benchmark::State& state) -> awaitable<void> {
    const auto n = static_cast<std::size_t>(state.range(0));
    auto ex = co_await asio::this_coro::executor;
    AsioSemaphore sem(ex, kPermits);
    AsioWaitGroup wg(ex);
    for (auto _ : state) {
      wg.add(n);
      for (std::size_t i = 0; i < n; ++i) asio::co_spawn(ex, asio_sem_worker(sem, wg), asio::detached);
      co_await wg.wait();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n) * kHandOffRounds);
  });
}
BENCHMARK(BM_Asio_Semaphore_Workers)->Arg(16)->Arg(256);

// ------------------------------------- Queue: ping-pong between two tasks
// One item goes back and forth through two queues of capacity 1; each
// transfer counts as an item.

corio::Task<> corio_pong(corio::Queue<int>& in, corio::Queue<int>& out) {
  for (;;) {
    int v = co_await in.get();
    if (v < 0) co_return;
    co_await out.put(v);
  }
}

void BM_Queue_PingPong(benchmark::State& state) {
  run_corio(state, [](benchmark::State& state) -> corio::Task<> {
    corio::Queue<int> ping(1), pong(1);
    auto partner = corio::create_task(corio_pong(ping, pong));
    for (auto _ : state) {
      co_await ping.put(1);
      benchmark::DoNotOptimize(co_await pong.get());
    }
    co_await ping.put(-1);
    co_await partner;
    state.SetItemsProcessed(state.iterations() * 2);
  });
}
BENCHMARK(BM_Queue_PingPong);

using AsioIntChannel = asio::experimental::channel<void(ErrorCode, int)>;

awaitable<void> asio_pong(AsioIntChannel& in, AsioIntChannel& out) {
  for (;;) {
    int v = co_await in.async_receive(use_awaitable);
    if (v < 0) co_return;
    co_await out.async_send(ErrorCode{}, v, use_awaitable);
  }
}

void BM_Asio_Queue_PingPong(benchmark::State& state) {
  run_asio(state, [](benchmark::State& state) -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    AsioIntChannel ping(ex, 1), pong(ex, 1);
    asio::co_spawn(ex, asio_pong(ping, pong), asio::detached);
    for (auto _ : state) {
      co_await ping.async_send(ErrorCode{}, 1, use_awaitable);
      benchmark::DoNotOptimize(co_await pong.async_receive(use_awaitable));
    }
    co_await ping.async_send(ErrorCode{}, -1, use_awaitable);
    state.SetItemsProcessed(state.iterations() * 2);
  });
}
BENCHMARK(BM_Asio_Queue_PingPong);

// ------------------------------------------ Queue: fan-in from N producers
// N producers put 10,000 items in all into one queue of capacity 64; one
// consumer takes them.

constexpr int kFanInItems = 10000;
constexpr std::size_t kFanInCapacity = 64;

corio::Task<> corio_producer(corio::Queue<int>& q, int items) {
  for (int i = 0; i < items; ++i) co_await q.put(i);
}

void BM_Queue_FanIn(benchmark::State& state) {
  run_corio(state, [](benchmark::State& state) -> corio::Task<> {
    const int n = static_cast<int>(state.range(0));
    corio::Queue<int> q(kFanInCapacity);
    std::vector<corio::TaskHandle<>> producers;
    for (auto _ : state) {
      for (int i = 0; i < n; ++i) producers.push_back(corio::create_task(corio_producer(q, kFanInItems / n)));
      std::int64_t sum = 0;
      for (int i = 0; i < kFanInItems / n * n; ++i) sum += co_await q.get();
      benchmark::DoNotOptimize(sum);
      for (auto& p : producers) co_await p;
      producers.clear();
    }
    state.SetItemsProcessed(state.iterations() * (kFanInItems / n * n));
  });
}
BENCHMARK(BM_Queue_FanIn)->Arg(4)->Arg(64);

awaitable<void> asio_producer(AsioIntChannel& ch, int items, AsioWaitGroup& wg) {
  for (int i = 0; i < items; ++i) co_await ch.async_send(ErrorCode{}, i, use_awaitable);
  wg.done();
}

void BM_Asio_Queue_FanIn(benchmark::State& state) {
  run_asio(state, [](benchmark::State& state) -> awaitable<void> {
    const int n = static_cast<int>(state.range(0));
    auto ex = co_await asio::this_coro::executor;
    AsioIntChannel ch(ex, kFanInCapacity);
    AsioWaitGroup wg(ex);
    for (auto _ : state) {
      wg.add(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) asio::co_spawn(ex, asio_producer(ch, kFanInItems / n, wg), asio::detached);
      std::int64_t sum = 0;
      for (int i = 0; i < kFanInItems / n * n; ++i) sum += co_await ch.async_receive(use_awaitable);
      benchmark::DoNotOptimize(sum);
      co_await wg.wait();
    }
    state.SetItemsProcessed(state.iterations() * (kFanInItems / n * n));
  });
}
BENCHMARK(BM_Asio_Queue_FanIn)->Arg(4)->Arg(64);

// ------------------------------------------ Event: waking 10,000 waiters
// Spawn 10,000 tasks that wait on the event, let them park, set it, and
// join them all.

constexpr std::size_t kEventWaiters = 10000;

corio::Task<> corio_event_waiter(corio::Event& ev) { co_await ev.wait(); }

void BM_Event_Wake10k(benchmark::State& state) {
  run_corio(state, [](benchmark::State& state) -> corio::Task<> {
    corio::Event ev;
    std::vector<corio::TaskHandle<>> tasks;
    tasks.reserve(kEventWaiters);
    for (auto _ : state) {
      for (std::size_t i = 0; i < kEventWaiters; ++i) tasks.push_back(corio::create_task(corio_event_waiter(ev)));
      co_await corio::yield_now();  // all of them park
      ev.set();
      for (auto& t : tasks) co_await t;
      tasks.clear();
      ev.clear();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kEventWaiters));
  });
}
BENCHMARK(BM_Event_Wake10k);

awaitable<void> asio_event_waiter(asio::steady_timer& ev, AsioWaitGroup& wg) {
  co_await ev.async_wait(kNoThrow);
  wg.done();
}

void BM_Asio_Event_Wake10k(benchmark::State& state) {
  run_asio(state, [](benchmark::State& state) -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer ev(ex, asio::steady_timer::time_point::max());
    AsioWaitGroup wg(ex);
    for (auto _ : state) {
      wg.add(kEventWaiters);
      for (std::size_t i = 0; i < kEventWaiters; ++i) asio::co_spawn(ex, asio_event_waiter(ev, wg), asio::detached);
      co_await asio::post(ex, use_awaitable);  // yield: all of them park
      ev.cancel();
      co_await wg.wait();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kEventWaiters));
  });
}
BENCHMARK(BM_Asio_Event_Wake10k);

}  // namespace
