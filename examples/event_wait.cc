// event_wait: tasks that wait for a one-time signal (asyncio.Event): a
// "server ready" flag that several clients wait on, one of them with a
// deadline that expires first.
//
// Run it:  bazel run //examples:event_wait
//
// set() wakes every waiting task at once, in the order they started
// waiting; a task that waits after set() does not wait at all. A wait is
// cancellable at any point (here by corio::timeout) and leaves nothing
// behind: the impatient client gives up and the others are unaffected.

#include <chrono>
#include <cstdio>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/sync/event.h"

using namespace std::chrono_literals;

namespace {

corio::TimePoint g_start;

long ms() {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(corio::current_loop().time() - g_start).count());
}

corio::Task<> client(corio::Event& ready, int id) {
  std::printf("[%3ld ms] client %d: waiting for the server\n", ms(), id);
  co_await ready.wait();
  std::printf("[%3ld ms] client %d: server is ready, sending request\n", ms(), id);
}

corio::Task<> impatient_client(corio::Event& ready) {
  try {
    co_await corio::timeout(20ms, [](corio::Event& ready) -> corio::Task<> { co_await ready.wait(); }(ready));
    std::printf("[%3ld ms] impatient client: got in\n", ms());
  } catch (const corio::TimeoutError&) {
    std::printf("[%3ld ms] impatient client: gave up after 20 ms\n", ms());
  }
}

corio::Task<> server(corio::Event& ready) {
  std::printf("[%3ld ms] server: loading configuration...\n", ms());
  co_await corio::sleep(50ms);
  std::printf("[%3ld ms] server: ready\n", ms());
  ready.set();
}

corio::Task<> main_task() {
  g_start = corio::current_loop().time();
  corio::Event ready;
  std::vector<corio::TaskHandle<>> tasks;
  for (int id = 1; id <= 3; ++id) tasks.push_back(corio::create_task(client(ready, id)));
  tasks.push_back(corio::create_task(impatient_client(ready)));
  tasks.push_back(corio::create_task(server(ready)));
  for (auto& t : tasks) co_await t;

  // The event stays set: a late client does not wait.
  co_await client(ready, 4);
}

}  // namespace

int main() { corio::run(main_task()); }
