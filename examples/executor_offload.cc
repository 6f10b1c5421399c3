// executor_offload: keep the event loop responsive while blocking work runs
// on a thread pool (asyncio.to_thread / loop.run_in_executor).
//
// Run it:  bazel run //examples:executor_offload
//
// A heartbeat task ticks every 50 ms and records how late each tick fires.
// Then the same CPU-heavy job (key stretching: millions of hash rounds) runs
//   1. directly in a task: the loop is blocked, the heartbeat stalls;
//   2. through corio::to_thread, twice in parallel: the heartbeat keeps
//      ticking on time while both jobs run on pool threads;
//   3. through run_in_executor on a pool of our own, with a blocking file
//      read that fails: the exception is rethrown at the co_await.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "corio/loop/loop.h"

using namespace std::chrono_literals;

namespace {

corio::TimePoint g_start;

double elapsed() { return std::chrono::duration<double>(corio::current_loop().time() - g_start).count(); }

// Blocking, CPU-bound: iterated FNV-1a/xorshift mixing, like a password KDF.
// Plain C++ with no corio in it: this is the code you want off the loop.
std::uint64_t stretch_key(std::string password, std::uint64_t rounds) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : password) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
  }
  return h;
}

// Blocking I/O: reads a whole file. Throws if it cannot be opened.
std::string read_file(std::string path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Ticks every `period` until cancelled; tracks the worst lateness seen since
// the last reset, which is how long the loop was unable to run it.
struct Heartbeat {
  int beats = 0;
  corio::Duration worst_lateness{};
};

corio::Task<void> heartbeat(Heartbeat* hb, corio::Duration period) {
  corio::EventLoop& loop = corio::current_loop();
  corio::TimePoint next = loop.time() + period;
  for (;;) {
    co_await corio::sleep_until(next);
    corio::TimePoint now = loop.time();
    hb->worst_lateness = std::max(hb->worst_lateness, now - next);
    ++hb->beats;
    // Schedule from now, so one stall does not cause a burst of catch-up beats.
    next = std::max(next, now) + period;
  }
}

double ms(corio::Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Wraps the offloaded call in a Task so it can go into corio::gather.
corio::Task<std::uint64_t> stretch_off_loop(std::string password, std::uint64_t rounds) {
  co_return co_await corio::to_thread(stretch_key, std::move(password), rounds);
}

// Prints how a phase went for the heartbeat since `hb` was reset at `t0`.
void report(const Heartbeat& hb, corio::TimePoint t0, corio::Duration period, const char* verdict) {
  corio::Duration took = corio::current_loop().time() - t0;
  std::printf("[%.2fs]    took %.0f ms; heartbeat: %d beats (~%d expected), worst lateness %.1f ms  <- %s\n", elapsed(),
              ms(took), hb.beats, static_cast<int>(took / period), ms(hb.worst_lateness), verdict);
}

corio::Task<void> run() {
  constexpr std::uint64_t kRounds = 100'000'000;  // a few hundred ms of CPU
  constexpr corio::Duration kPeriod = 50ms;
  corio::EventLoop& loop = corio::current_loop();
  g_start = loop.time();

  Heartbeat hb;
  corio::TaskHandle<void> beat = corio::create_task(heartbeat(&hb, kPeriod), "heartbeat");

  // 1. The mistake: blocking work called straight from a task.
  //    key = stretch_key(pw)          # inside async def: blocks the loop
  co_await corio::sleep(120ms);
  std::printf("[%.2fs] 1. stretch_key called on the loop thread\n", elapsed());
  hb = {};
  corio::TimePoint t0 = loop.time();
  std::uint64_t k0 = stretch_key("hunter2", kRounds);
  co_await corio::sleep(1ms);  // let the overdue heartbeat run and measure the stall
  std::printf("[%.2fs]    key %016llx\n", elapsed(), static_cast<unsigned long long>(k0));
  report(hb, t0, kPeriod, "loop was blocked");

  // 2. The fix: offload to the default executor, two jobs in parallel.
  //    k1, k2 = await asyncio.gather(asyncio.to_thread(stretch_key, "hunter2"),
  //                                  asyncio.to_thread(stretch_key, "correct horse"))
  co_await corio::sleep(120ms);
  std::printf("[%.2fs] 2. two stretch_key jobs via corio::to_thread, gathered\n", elapsed());
  hb = {};
  t0 = loop.time();
  auto [k1, k2] =
      co_await corio::gather(stretch_off_loop("hunter2", kRounds), stretch_off_loop("correct horse", kRounds));
  std::printf("[%.2fs]    keys %016llx %016llx\n", elapsed(), static_cast<unsigned long long>(k1),
              static_cast<unsigned long long>(k2));
  report(hb, t0, kPeriod, "loop stayed responsive");
  if (k1 != k0) throw std::logic_error("offloaded result differs from the inline one");

  // 3. A dedicated pool, and an exception crossing back from the thread.
  //    with ThreadPoolExecutor(max_workers=2) as pool:
  //        data = await loop.run_in_executor(pool, read_file, path)
  std::printf("[%.2fs] 3. blocking file reads via run_in_executor on a 2-thread pool\n", elapsed());
  corio::ThreadPoolExecutor io_pool(2);
  std::string status = co_await corio::run_in_executor(loop, &io_pool, read_file, std::string("/proc/self/status"));
  std::printf("[%.2fs]    read /proc/self/status: %zu bytes\n", elapsed(), status.size());
  try {
    co_await corio::run_in_executor(loop, &io_pool, read_file, std::string("/no/such/file"));
  } catch (const std::runtime_error& e) {
    std::printf("[%.2fs]    the pool thread threw; caught on the loop: %s\n", elapsed(), e.what());
  }

  beat.cancel();
  std::printf("[%.2fs] done\n", elapsed());
}

}  // namespace

int main() {
  corio::run(run());
  return 0;
}
