// Helpers for sync's tests: spawning, timeouts by cancellation, and
// running the loop until everything ready has run.
#ifndef CORIO_SYNC_TESTING_SYNC_TESTING_H_
#define CORIO_SYNC_TESTING_SYNC_TESTING_H_

#include <utility>

#include "corio/loop/event_loop.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"

namespace corio::testing {

// Cancels `t` after `delay` on the loop's clock: a stand-in for a timeout.
inline TaskHandle<> cancel_after(TaskRef t, Duration delay) {
  return create_task([](TaskRef t, Duration d) -> Task<> {
    co_await sleep(d);
    t.cancel();
  }(std::move(t), delay));
}

// Yields `n` times, letting every ready task run in between.
inline Task<> settle(int n = 3) {
  for (int i = 0; i < n; ++i) co_await yield_now();
}

}  // namespace corio::testing

#endif  // CORIO_SYNC_TESTING_SYNC_TESTING_H_
