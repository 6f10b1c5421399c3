// semaphore_pool: many jobs started at once, at most three running at any
// moment, limited by a corio::Semaphore (asyncio.Semaphore) used through its
// RAII guard, the C++ shape of `async with sem:`.
//
// Run it:  bazel run //examples:semaphore_pool
//
// Ten "downloads" are created together; each takes a permit before it runs
// and gives it back when its guard goes out of scope, even when it fails.
// The log shows never more than three in flight, permits handed on in the
// order the jobs asked for them, and one job whose failure does not leak
// its permit. A BoundedSemaphore would also catch an extra release().

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/sync/semaphore.h"

using namespace std::chrono_literals;

namespace {

constexpr int kLimit = 3;
int g_running = 0;

corio::Task<int> download(corio::Semaphore& slots, int id) {
  corio::SemaphoreGuard permit = co_await slots.scoped();  // waits for a free slot
  ++g_running;
  std::printf("job %2d: started  (%d running)\n", id, g_running);
  struct Done {
    ~Done() { --g_running; }
  } done;
  co_await corio::sleep(std::chrono::milliseconds(20 + 7 * (id % 4)));
  if (id == 7) throw std::runtime_error("job 7: server said no");
  std::printf("job %2d: finished\n", id);
  co_return id * 100;
}  // the permit is released here, also on the exception path

corio::Task<> main_task() {
  corio::BoundedSemaphore slots(kLimit);
  std::vector<corio::TaskHandle<int>> jobs;
  for (int id = 1; id <= 10; ++id) jobs.push_back(corio::create_task(download(slots, id)));

  int bytes = 0;
  for (auto& job : jobs) {
    try {
      bytes += co_await job;
    } catch (const std::runtime_error& e) {
      std::printf("error: %s\n", e.what());
    }
  }
  std::printf("downloaded %d bytes; %lld of %d permits free again\n", bytes, static_cast<long long>(slots.value()),
              kLimit);
}

}  // namespace

int main() { corio::run(main_task()); }
