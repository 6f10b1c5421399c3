// gather: run several coroutines concurrently and collect their results in
// order (asyncio.gather), with per-call deadlines (asyncio.timeout).
//
// Run it:  bazel run //examples:gather
//
// Every "request" below is just a sleep, so the timestamps show the point:
// three requests of 300, 200 and 100 ms gathered together take ~300 ms, not
// 600. The asyncio line each step mirrors is quoted in a comment.
//
//   1. gather(a, b, c)            -> std::tuple, one element per argument
//   2. gather(std::vector<Task>)  -> std::vector, in the vector's order
//   3. the first failure is rethrown from gather
//   4. gather(return_exceptions, ...) -> an Outcome per child
//   5. corio::timeout around one child: TimeoutError for it alone

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "corio/loop/loop.h"

using namespace std::chrono_literals;

namespace {

corio::TimePoint g_start;

// Seconds since the program started, on the loop's clock.
double elapsed() { return std::chrono::duration<double>(corio::current_loop().time() - g_start).count(); }

// A fake network call: waits `latency`, then answers.
corio::Task<std::string> fetch_user(int id, std::chrono::milliseconds latency) {
  co_await corio::sleep(latency);
  co_return "user-" + std::to_string(id);
}

corio::Task<int> fetch_order_count(int user_id, std::chrono::milliseconds latency) {
  co_await corio::sleep(latency);
  co_return user_id * 3;
}

corio::Task<double> fetch_balance(int user_id, std::chrono::milliseconds latency) {
  co_await corio::sleep(latency);
  co_return 12.5 * user_id;
}

corio::Task<int> fetch_broken(std::chrono::milliseconds latency) {
  co_await corio::sleep(latency);
  throw std::runtime_error("503 from the inventory service");
}

corio::Task<void> run() {
  g_start = corio::current_loop().time();

  // 1. Tuple form: different result types, awaited together.
  //    user, orders, balance = await asyncio.gather(...)
  {
    std::printf("[%.2fs] 1. tuple gather of 300/200/100 ms requests\n", elapsed());
    auto [user, orders, balance] =
        co_await corio::gather(fetch_user(7, 300ms), fetch_order_count(7, 200ms), fetch_balance(7, 100ms));
    std::printf("[%.2fs]    -> %s, %d orders, balance %.2f (took the longest one, not the sum)\n", elapsed(),
                user.c_str(), orders, balance);
  }

  // 2. Vector form: a dynamic fan-out. Results keep the vector's order even
  //    though the later requests finish first.
  //    names = await asyncio.gather(*(fetch_user(i) for i in range(5)))
  {
    std::printf("[%.2fs] 2. vector gather of 5 requests (250, 200, ..., 50 ms)\n", elapsed());
    std::vector<corio::Task<std::string>> requests;
    for (int i = 0; i < 5; ++i) requests.push_back(fetch_user(i, std::chrono::milliseconds(250 - 50 * i)));
    std::vector<std::string> names = co_await corio::gather(std::move(requests));
    std::printf("[%.2fs]    ->", elapsed());
    for (const std::string& n : names) std::printf(" %s", n.c_str());
    std::printf("\n");
  }

  // 3. Without return_exceptions the first failure propagates out of gather
  //    as soon as it happens. The siblings are NOT cancelled (as in asyncio);
  //    corio::run cancels anything still pending when run() returns.
  //    try: await asyncio.gather(...) except RuntimeError: ...
  {
    std::printf("[%.2fs] 3. gather where one child fails after 100 ms\n", elapsed());
    try {
      co_await corio::gather(fetch_user(1, 200ms), fetch_broken(100ms));
    } catch (const std::runtime_error& e) {
      std::printf("[%.2fs]    -> gather raised: %s\n", elapsed(), e.what());
    }
  }

  // 4. return_exceptions: wait for every child, get a value or an exception
  //    for each.
  //    results = await asyncio.gather(..., return_exceptions=True)
  {
    std::printf("[%.2fs] 4. gather(return_exceptions, ...)\n", elapsed());
    auto [user, broken] = co_await corio::gather(corio::return_exceptions, fetch_user(2, 200ms), fetch_broken(100ms));
    std::printf("[%.2fs]    -> user: %s\n", elapsed(), user.has_value() ? user.value().c_str() : "<error>");
    try {
      broken.value();  // rethrows the stored exception
    } catch (const std::runtime_error& e) {
      std::printf("[%.2fs]    -> inventory: error: %s\n", elapsed(), e.what());
    }
  }

  // 5. A deadline on one child: corio::timeout(d, task) is itself a Task, so
  //    it goes straight into gather. Only the slow call fails.
  //    async def with_deadline(): async with asyncio.timeout(0.15): ...
  //    await asyncio.gather(with_deadline(), fetch_user(4), return_exceptions=True)
  {
    std::printf("[%.2fs] 5. gather with a 150 ms timeout around a 10 s request\n", elapsed());
    auto [slow, fast] = co_await corio::gather(corio::return_exceptions, corio::timeout(150ms, fetch_user(3, 10s)),
                                               fetch_user(4, 100ms));
    try {
      slow.value();
    } catch (const corio::TimeoutError& e) {
      std::printf("[%.2fs]    -> slow request: TimeoutError (%s)\n", elapsed(), e.what());
    }
    std::printf("[%.2fs]    -> fast request: %s\n", elapsed(), fast.value().c_str());
  }

  std::printf("[%.2fs] done\n", elapsed());
}

}  // namespace

int main() {
  corio::run(run());  // asyncio.run(main())
  return 0;
}
