// Benchmarks of corio's loop module beside Boost.Asio's C++20 coroutines.
//
// Each scenario is measured twice in one binary: BM_<Type>_<Scenario> for
// corio and BM_Asio_<Scenario> for the same work written the idiomatic Asio
// way (io_context, awaitable, co_spawn, use_awaitable, steady_timer, post).
//
//   bazel run -c opt //loop:loop_benchmark -- --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
//       --benchmark_enable_random_interleaving=true
// (the last runs the repetitions of all rows in shuffled order, so that the
// machine's drift over the run falls on corio's and Asio's rows alike).
//
// Scenarios and the aims from the design issue (per operation):
//   1. SpawnJoin        spawn a trivial task and wait for it      <= 100 ns
//   2. AwaitReady       co_await a Task that co_returns at once   <=  10 ns
//      Bare_AwaitReady     reference: a bare lazy coroutine, no corio
//      AwaitReadyMayThrow  the same, the child's body may throw
//      AwaitChain/8, /10000  a chain of ready awaits (per link)
//   3. CallSoon         post a trivial callback and run it        (items/s)
//      CallSoonAfterBurst  the same after 1e6 timers fired (no peer)
//   4. Timers           schedule+fire, schedule+cancel: 1e3, 1e5, 1e6 timers;
//                       1e6 scheduled and fired                    <= 0.5 s
//   5. CallSoonThreadsafe  another thread posts, the loop runs     (items/s)
//   6. Gather           gather 1,000 trivial tasks                (items/s)
//   7. Io_PingPong      two tasks exchange 1-byte messages over a
//                       socketpair, 1,000 round trips per iteration (items/s)
// and corio ahead of Asio on every one.
//
// Conventions:
//  * One loop (corio::EventLoop / asio::io_context) per benchmark run, reused
//    by every iteration; the coroutine scenarios run the whole timing loop
//    inside one driver task (corio::run_until_complete / co_spawn + run).
//  * Real clock (default LoopOptions).
//  * The Asio io_context of single-threaded scenarios is made with
//    concurrency hint 1, Asio's own setting for "one thread runs and posts"
//    (posts from inside run() then skip the scheduler's lock), the fair peer
//    of a corio loop, which is single-threaded by design. The cross-thread
//    scenario uses the default (multi-threaded) io_context.
//  * Timer deadlines are spread pseudo-randomly (the same sequence for both
//    libraries), so both heaps do real sift work; "fire" deadlines are
//    already due, so the numbers are CPU cost, not time spent sleeping.
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/gather.h"
#include "corio/loop/io_registration.h"
#include "corio/loop/run.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/io_ping_pong.h"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// Shared helpers.

corio::Task<int> Trivial(int x) { co_return x; }
asio::awaitable<int> AsioTrivial(int x) { co_return x; }

// Runs an Asio driver coroutine on `ctx` to completion, rethrowing failures.
void AsioRun(asio::io_context& ctx, asio::awaitable<void> driver) {
  std::exception_ptr failure;
  asio::co_spawn(ctx, std::move(driver), [&failure](std::exception_ptr e) { failure = e; });
  ctx.run();
  ctx.restart();
  if (failure) std::rethrow_exception(failure);
}

// Deadline offsets in [0, 1 ms), pseudo-random (xorshift), identical for both
// libraries and across runs.
std::vector<std::int64_t> TimerOffsets(std::size_t n) {
  std::vector<std::int64_t> out(n);
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (auto& o : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    o = static_cast<std::int64_t>(x % 1000000);
  }
  return out;
}

// ---------------------------------------------------------------------------
// 1. Spawn + join of a trivial task.
//
// corio: create_task + co_await on the handle, from a driver task.
// Asio: co_await co_spawn(ex, child(), use_awaitable): Asio's way to start a
// new concurrent coroutine ("thread of execution") and wait for its result.
// (co_await child() directly would run it inline, which is scenario 2.)

corio::Task<void> SpawnJoinDriver(benchmark::State& state, corio::EventLoop& loop) {
  int i = 0;
  for (auto _ : state) {
    int v = co_await corio::create_task(loop, Trivial(i++));
    benchmark::DoNotOptimize(v);
  }
}

void BM_TaskHandle_SpawnJoin(benchmark::State& state) {
  corio::EventLoop loop;
  corio::run_until_complete(loop, SpawnJoinDriver(state, loop));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TaskHandle_SpawnJoin);

asio::awaitable<void> AsioSpawnJoinDriver(benchmark::State& state) {
  auto ex = co_await asio::this_coro::executor;
  int i = 0;
  for (auto _ : state) {
    int v = co_await asio::co_spawn(ex, AsioTrivial(i++), asio::use_awaitable);
    benchmark::DoNotOptimize(v);
  }
}

void BM_Asio_SpawnJoin(benchmark::State& state) {
  asio::io_context ctx(1);
  AsioRun(ctx, AsioSpawnJoinDriver(state));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Asio_SpawnJoin);

// ---------------------------------------------------------------------------
// 2. co_await of a ready Task: the child co_returns at once; the cost is one
// frame allocation, the resume, the return and the frame's release.

// The drivers take the child coroutine as a template argument, a constant
// callee just as a direct call is.
template <corio::Task<int> (*Child)(int)>
corio::Task<void> AwaitReadyDriver(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    int v = co_await Child(i++);
    benchmark::DoNotOptimize(v);
  }
}

template <corio::Task<int> (*Child)(int)>
void BM_Task_AwaitReadyOf(benchmark::State& state) {
  corio::EventLoop loop;
  corio::run_until_complete(loop, AwaitReadyDriver<Child>(state));
  state.SetItemsProcessed(state.iterations());
}

template <asio::awaitable<int> (*Child)(int)>
asio::awaitable<void> AsioAwaitReadyDriver(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    int v = co_await Child(i++);
    benchmark::DoNotOptimize(v);
  }
}

template <asio::awaitable<int> (*Child)(int)>
void BM_Asio_AwaitReadyOf(benchmark::State& state) {
  asio::io_context ctx(1);
  AsioRun(ctx, AsioAwaitReadyDriver<Child>(state));
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Task_AwaitReadyOf<Trivial>)->Name("BM_Task_AwaitReady");
BENCHMARK(BM_Asio_AwaitReadyOf<AsioTrivial>)->Name("BM_Asio_AwaitReady");

// 2a. Reference, not a peer: the least a lazy coroutine await costs with
// this compiler. A bare task type with a per-thread free list for frames,
// the child started inline and its result handed back through the awaiter,
// as corio does, but no exceptions, cancellation, stack bound or loop.

namespace bare {

struct FreeBlock {
  FreeBlock* next;
};
thread_local FreeBlock* free_frames = nullptr;

struct Task {
  struct Slot {
    void* frame;
    int value;
  };
  struct promise_type {
    Slot* slot;
    ~promise_type() { slot->frame = nullptr; }
    static void* operator new(std::size_t n) {
      if (FreeBlock* b = free_frames) {
        free_frames = b->next;
        return b;
      }
      return ::operator new(n < 256 ? 256 : n);
    }
    static void operator delete(void* p, std::size_t) noexcept {
      auto* b = static_cast<FreeBlock*>(p);
      b->next = free_frames;
      free_frames = b;
    }
    Task get_return_object() noexcept { return Task{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_value(int v) noexcept { slot->value = v; }
    void unhandled_exception() noexcept { std::terminate(); }
  };
  struct Awaiter {
    std::coroutine_handle<promise_type> h;
    Slot slot;
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<>) noexcept {
      slot.frame = h.address();
      h.promise().slot = &slot;
      h.resume();
      return slot.frame != nullptr;  // never suspends here
    }
    int await_resume() const noexcept { return slot.value; }
  };
  Awaiter operator co_await() && noexcept { return Awaiter{std::exchange(h, nullptr), {}}; }
  ~Task() {
    if (h) h.destroy();
  }
  std::coroutine_handle<promise_type> h;
};

Task Trivial(int x) { co_return x; }

Task Driver(benchmark::State& state, Task::Slot& root) {
  int i = 0;
  for (auto _ : state) {
    int v = co_await Trivial(i++);
    benchmark::DoNotOptimize(v);
  }
  root.value = 0;
  co_return 0;
}

}  // namespace bare

void BM_Bare_AwaitReady(benchmark::State& state) {
  bare::Task::Slot root{};
  bare::Task driver = bare::Driver(state, root);
  auto h = std::exchange(driver.h, nullptr);
  h.promise().slot = &root;
  h.resume();  // runs the whole timing loop; the frame ends itself
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Bare_AwaitReady);

// 2b. The same with a child whose body may throw (it never does here). g++
// keeps exception cleanup in such a coroutine's ramp, which makes the ramp
// too big to inline into the caller, so this is the cost of a ready await
// of most real coroutines; scenario 2 is that of a leaf that cannot throw.

corio::Task<int> MayThrow(int x) {
  if (x < 0) throw std::invalid_argument("negative");
  co_return x;
}
asio::awaitable<int> AsioMayThrow(int x) {
  if (x < 0) throw std::invalid_argument("negative");
  co_return x;
}

BENCHMARK(BM_Task_AwaitReadyOf<MayThrow>)->Name("BM_Task_AwaitReadyMayThrow");
BENCHMARK(BM_Asio_AwaitReadyOf<AsioMayThrow>)->Name("BM_Asio_AwaitReadyMayThrow");

// 2c. A chain of ready awaits: each link awaits the next, the last returns
// at once, and the values add up on the way back. Per item is per link. At
// depth 8 the links nest on the machine stack; at 10,000 they pass the
// inline stack budget, so most links start from the task's trampoline,
// which keeps the stack flat (Asio's awaitable runs every link from its
// own trampoline).

corio::Task<int> Chain(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await Chain(depth - 1);
}
asio::awaitable<int> AsioChain(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await AsioChain(depth - 1);
}

corio::Task<void> AwaitChainDriver(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(0));
  for (auto _ : state) {
    int v = co_await Chain(depth);
    if (v != depth) throw std::logic_error("chain lost a link");
  }
}

void BM_Task_AwaitChain(benchmark::State& state) {
  corio::EventLoop loop;
  corio::run_until_complete(loop, AwaitChainDriver(state));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Task_AwaitChain)->Arg(8)->Arg(10000);

asio::awaitable<void> AsioAwaitChainDriver(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(0));
  for (auto _ : state) {
    int v = co_await AsioChain(depth);
    if (v != depth) throw std::logic_error("chain lost a link");
  }
}

void BM_Asio_AwaitChain(benchmark::State& state) {
  asio::io_context ctx(1);
  AsioRun(ctx, AsioAwaitChainDriver(state));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Asio_AwaitChain)->Arg(8)->Arg(10000);

// ---------------------------------------------------------------------------
// 3. call_soon throughput: a batch of N trivial callbacks, then run the loop
// until all have run (Asio: N posts, then io_context::run()).

// Times batches of state.range(0) trivial callbacks on `loop`.
void TimeCallSoonBatches(benchmark::State& state, corio::EventLoop& loop) {
  const std::int64_t n = state.range(0);
  std::int64_t count = 0;
  for (auto _ : state) {
    count = 0;
    for (std::int64_t i = 0; i < n; ++i) loop.call_soon([&count] { ++count; });
    while (count < n) loop.run_once(false);
  }
  benchmark::DoNotOptimize(count);
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_EventLoop_CallSoon(benchmark::State& state) {
  corio::EventLoop loop;
  TimeCallSoonBatches(state, loop);
}
BENCHMARK(BM_EventLoop_CallSoon)->Arg(1000);

// 3a. The same after a million timers have fired on the loop, their states
// freed in deadline order, which is not the order they were allocated in:
// a guard against a loop that stays slower after a burst (it ran 3.5 times
// slower when the per-thread free lists kept blocks scattered over the
// burst's memory). Not a peer comparison.
void BM_EventLoop_CallSoonAfterBurst(benchmark::State& state) {
  corio::EventLoop loop;
  const std::vector<std::int64_t> offsets = TimerOffsets(1000000);
  std::size_t fired = 0;
  const corio::TimePoint base = loop.time();
  for (std::int64_t off : offsets) loop.call_at(base - corio::Duration(off), [&fired] { ++fired; });
  while (fired < offsets.size()) loop.run_once(false);
  TimeCallSoonBatches(state, loop);
}
BENCHMARK(BM_EventLoop_CallSoonAfterBurst)->Arg(1000);

void BM_Asio_CallSoon(benchmark::State& state) {
  asio::io_context ctx(1);
  const std::int64_t n = state.range(0);
  std::int64_t count = 0;
  for (auto _ : state) {
    count = 0;
    for (std::int64_t i = 0; i < n; ++i) asio::post(ctx, [&count] { ++count; });
    ctx.run();
    ctx.restart();
  }
  benchmark::DoNotOptimize(count);
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Asio_CallSoon)->Arg(1000);

// ---------------------------------------------------------------------------
// 4. Timers, N per iteration (1e3, 1e5, 1e6).
//
// ScheduleFire: N call_at (Asio: N steady_timer + expires_at + async_wait)
// with already-due, spread deadlines, then run the loop until all have fired.
// ScheduleCancel: N timers an hour out, then each cancelled. corio's cancel
// removes the timer from the queue at once and nothing runs; Asio's cancel
// completes each wait with operation_aborted, so its loop must run those
// handlers before the timers can go: both sides do all the work needed to be
// back to an empty loop. Timer objects are made and destroyed inside the
// timed region on both sides (corio's TimerHandle state is allocated by
// call_at).

void TimerArgs(benchmark::internal::Benchmark* b) { b->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond); }
void TimerArgsHuge(benchmark::internal::Benchmark* b) { b->Arg(1000000)->Iterations(3)->Unit(benchmark::kMillisecond); }

void BM_TimerHandle_ScheduleFire(benchmark::State& state) {
  corio::EventLoop loop;
  const std::int64_t n = state.range(0);
  const std::vector<std::int64_t> offsets = TimerOffsets(static_cast<std::size_t>(n));
  std::int64_t fired = 0;
  for (auto _ : state) {
    fired = 0;
    const corio::TimePoint base = loop.time();
    for (std::int64_t off : offsets) loop.call_at(base - corio::Duration(off), [&fired] { ++fired; });
    while (fired < n) loop.run_once(false);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_TimerHandle_ScheduleFire)->Apply(TimerArgs);
BENCHMARK(BM_TimerHandle_ScheduleFire)->Apply(TimerArgsHuge);

void BM_Asio_TimerScheduleFire(benchmark::State& state) {
  asio::io_context ctx(1);
  const std::int64_t n = state.range(0);
  const std::vector<std::int64_t> offsets = TimerOffsets(static_cast<std::size_t>(n));
  std::vector<asio::steady_timer> timers;
  timers.reserve(static_cast<std::size_t>(n));
  std::int64_t fired = 0;
  for (auto _ : state) {
    fired = 0;
    const auto base = asio::steady_timer::clock_type::now();
    for (std::int64_t off : offsets) {
      asio::steady_timer& t = timers.emplace_back(ctx, base - std::chrono::nanoseconds(off));
      t.async_wait([&fired](const boost::system::error_code&) { ++fired; });
    }
    ctx.run();
    ctx.restart();
    timers.clear();
  }
  if (fired != n) state.SkipWithError("not every timer fired");
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Asio_TimerScheduleFire)->Apply(TimerArgs);
BENCHMARK(BM_Asio_TimerScheduleFire)->Apply(TimerArgsHuge);

void BM_TimerHandle_ScheduleCancel(benchmark::State& state) {
  corio::EventLoop loop;
  const std::int64_t n = state.range(0);
  const std::vector<std::int64_t> offsets = TimerOffsets(static_cast<std::size_t>(n));
  std::vector<corio::TimerHandle> handles;
  handles.reserve(static_cast<std::size_t>(n));
  std::int64_t fired = 0;
  for (auto _ : state) {
    const corio::TimePoint base = loop.time() + 1h;
    for (std::int64_t off : offsets) {
      handles.push_back(loop.call_at(base + corio::Duration(off), [&fired] { ++fired; }));
    }
    for (corio::TimerHandle& h : handles) h.cancel();
    handles.clear();
  }
  loop.run_once(false);
  if (fired != 0) state.SkipWithError("a cancelled timer fired");
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_TimerHandle_ScheduleCancel)->Apply(TimerArgs);
BENCHMARK(BM_TimerHandle_ScheduleCancel)->Apply(TimerArgsHuge);

void BM_Asio_TimerScheduleCancel(benchmark::State& state) {
  asio::io_context ctx(1);
  const std::int64_t n = state.range(0);
  const std::vector<std::int64_t> offsets = TimerOffsets(static_cast<std::size_t>(n));
  std::vector<asio::steady_timer> timers;
  timers.reserve(static_cast<std::size_t>(n));
  std::int64_t aborted = 0;
  for (auto _ : state) {
    aborted = 0;
    const auto base = asio::steady_timer::clock_type::now() + 1h;
    for (std::int64_t off : offsets) {
      asio::steady_timer& t = timers.emplace_back(ctx, base + std::chrono::nanoseconds(off));
      t.async_wait(
          [&aborted](const boost::system::error_code& ec) { aborted += ec == asio::error::operation_aborted; });
    }
    for (asio::steady_timer& t : timers) t.cancel();
    ctx.run();
    ctx.restart();
    timers.clear();
  }
  if (aborted != n) state.SkipWithError("not every wait was aborted");
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Asio_TimerScheduleCancel)->Apply(TimerArgs);
BENCHMARK(BM_Asio_TimerScheduleCancel)->Apply(TimerArgsHuge);

// ---------------------------------------------------------------------------
// 5. call_soon_threadsafe: a producer thread posts N callbacks, the loop runs
// them; the last one stops the loop. The producer thread is started per
// iteration on both sides (tens of microseconds against a batch of 1e5).

void BM_EventLoop_CallSoonThreadsafe(benchmark::State& state) {
  corio::EventLoop loop;
  const std::int64_t n = state.range(0);
  std::int64_t count = 0;  // loop thread only
  for (auto _ : state) {
    count = 0;
    std::thread producer([&loop, &count, n] {
      for (std::int64_t i = 0; i < n; ++i) {
        loop.call_soon_threadsafe([&loop, &count, n] {
          if (++count == n) loop.stop();
        });
      }
    });
    loop.run_forever();
    producer.join();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_EventLoop_CallSoonThreadsafe)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Asio_CallSoonThreadsafe(benchmark::State& state) {
  asio::io_context ctx;  // default hint: posts come from another thread
  const std::int64_t n = state.range(0);
  std::int64_t count = 0;
  for (auto _ : state) {
    count = 0;
    auto guard = asio::make_work_guard(ctx);
    std::thread producer([&ctx, &count, n] {
      for (std::int64_t i = 0; i < n; ++i) {
        asio::post(ctx, [&ctx, &count, n] {
          if (++count == n) ctx.stop();
        });
      }
    });
    ctx.run();
    producer.join();
    guard.reset();
    ctx.restart();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Asio_CallSoonThreadsafe)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---------------------------------------------------------------------------
// 6. gather of N trivial tasks, results collected in order.
//
// Asio: experimental::make_parallel_group over a vector of
// co_spawn(ex, child(), deferred), wait_for_all: the library's own
// "start all, wait for all, results in launch order", i.e. asyncio.gather.

corio::Task<void> GatherDriver(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    std::vector<corio::Task<int>> tasks;
    tasks.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) tasks.push_back(Trivial(i));
    std::vector<int> results = co_await corio::gather(std::move(tasks));
    benchmark::DoNotOptimize(results.data());
  }
}

void BM_Gather_Tasks(benchmark::State& state) {
  corio::EventLoop loop;
  corio::run_until_complete(loop, GatherDriver(state));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Gather_Tasks)->Arg(1000)->Unit(benchmark::kMicrosecond);

asio::awaitable<void> AsioGatherDriver(benchmark::State& state) {
  auto ex = co_await asio::this_coro::executor;
  const int n = static_cast<int>(state.range(0));
  using Op = decltype(asio::co_spawn(ex, AsioTrivial(0), asio::deferred));
  for (auto _ : state) {
    std::vector<Op> ops;
    ops.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) ops.push_back(asio::co_spawn(ex, AsioTrivial(i), asio::deferred));
    auto [order, exceptions, results] = co_await asio::experimental::make_parallel_group(std::move(ops))
                                            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    benchmark::DoNotOptimize(results.data());
  }
}

void BM_Asio_Gather(benchmark::State& state) {
  asio::io_context ctx(1);
  AsioRun(ctx, AsioGatherDriver(state));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Asio_Gather)->Arg(1000)->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------
// 7. Ping-pong of one-byte messages between two tasks over an AF_UNIX
// socketpair, state.range(0) round trips per iteration.
//
// corio: each side keeps an IoRegistration for the whole run; a read is
// `co_await readable()`, read(), and clear_readable() after a short read
// (the socket is drained) or EAGAIN, so the next wait asks the reactor
// without a wasted read (testing/io_ping_pong.h, which //loop:io_pingpong
// runs too). Asio: local::stream_protocol sockets from
// connect_pair, async_read_some/async_write_some with use_awaitable, both
// sides joined with awaitable_operators' &&. Both read into 64 bytes.

corio::Task<void> IoPingPongDriver(benchmark::State& state, int a, int b) {
  corio::IoRegistration ra(a);
  corio::IoRegistration rb(b);
  const std::int64_t rounds = state.range(0);
  for (auto _ : state) co_await corio::gather(corio::testing::ping(ra, rounds), corio::testing::pong(rb, rounds));
}

void BM_Io_PingPong(benchmark::State& state) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  {
    corio::EventLoop loop;
    corio::run_until_complete(loop, IoPingPongDriver(state, fds[0], fds[1]));
  }
  ::close(fds[0]);
  ::close(fds[1]);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Io_PingPong)->Arg(1000)->Unit(benchmark::kMicrosecond);

using AsioLocalSocket = asio::local::stream_protocol::socket;

asio::awaitable<void> AsioPing(AsioLocalSocket& s, std::int64_t rounds) {
  const char c = 'x';
  char buf[64];
  for (std::int64_t i = 0; i < rounds; ++i) {
    co_await s.async_write_some(asio::buffer(&c, 1), asio::use_awaitable);
    co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
  }
}

asio::awaitable<void> AsioPong(AsioLocalSocket& s, std::int64_t rounds) {
  const char c = 'x';
  char buf[64];
  for (std::int64_t i = 0; i < rounds; ++i) {
    co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
    co_await s.async_write_some(asio::buffer(&c, 1), asio::use_awaitable);
  }
}

asio::awaitable<void> AsioPingPongDriver(benchmark::State& state, AsioLocalSocket& a, AsioLocalSocket& b) {
  using namespace asio::experimental::awaitable_operators;
  const std::int64_t rounds = state.range(0);
  for (auto _ : state) co_await (AsioPing(a, rounds) && AsioPong(b, rounds));
}

void BM_Asio_PingPong(benchmark::State& state) {
  asio::io_context ctx(1);
  AsioLocalSocket a(ctx);
  AsioLocalSocket b(ctx);
  asio::local::connect_pair(a, b);
  AsioRun(ctx, AsioPingPongDriver(state, a, b));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Asio_PingPong)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace
