// corio::run and run_until_complete: drive a loop until a coroutine is done.
//
// corio::run(main()) is asyncio.run: it makes a fresh loop, runs `main` as a
// task named "main" to completion, then cancels every task still pending and
// runs the loop until they have all unwound, shuts the executor down, and
// returns main's value or rethrows its exception.
//
// Errors: whatever `main` throws; RuntimeError when called on a thread that
//   is already running a loop.
// Thread safety: runs on the calling thread; one loop per thread.
// Leftover tasks are awaited to the end: one that catches CancelledError
// and goes on waiting, or that sits in an await that cannot be cancelled
// (a foreign awaitable, a to_thread job), keeps run() from returning until
// it finishes, as in asyncio.
#ifndef CORIO_LOOP_RUN_H_
#define CORIO_LOOP_RUN_H_

#include <memory>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"

namespace corio {

// Runs `loop` until `task` is done; returns its value (moved) or rethrows.
// Errors: RuntimeError if the loop was stopped before the task finished.
template <class T>
T run_until_complete(EventLoop& loop, TaskHandle<T>& task) {
  if (!task.done()) {
    // Cleared if we leave early. Shared, not owned by the callback alone:
    // if the task never finishes, the callback is destroyed without running
    // (with the loop) and must not leak the flag.
    auto stop_flag = std::make_shared<bool>(true);
    task.add_done_callback([&loop, stop_flag](const TaskRef&) {
      if (*stop_flag) loop.stop();
    });
    try {
      loop.run_forever();
    } catch (...) {
      *stop_flag = false;
      throw;
    }
    if (!task.done()) {
      *stop_flag = false;
      throw RuntimeError("corio: event loop stopped before the task completed");
    }
  }
  return task.take_result();
}

// Schedules `coro` on `loop` and runs the loop until it is done.
template <class T>
T run_until_complete(EventLoop& loop, Task<T> coro) {
  TaskHandle<T> handle = create_task(loop, std::move(coro));
  return run_until_complete(loop, handle);
}

// Cancels every pending task on `loop` and runs it until all have finished
// (the clean-up half of corio::run), tasks created meanwhile included.
// Errors: std::bad_alloc; whatever run_forever raises (an error in the
//   loop itself, not a task's). Thread safety: the loop's thread, with the
//   loop not running.
void shutdown_tasks(EventLoop& loop);

// asyncio.run. `options` sets the virtual clock and debug mode.
template <class T>
T run(Task<T> main, LoopOptions options = {}) {
  if (EventLoop::current() != nullptr) throw RuntimeError("corio::run cannot be called from a running event loop");
  EventLoop loop(options);
  TaskHandle<T> handle = create_task(loop, std::move(main), "main");
  struct Cleanup {
    EventLoop& loop;
    ~Cleanup() {
      try {
        shutdown_tasks(loop);
      } catch (...) {
        ErrorContext ctx;
        ctx.message = "corio::run: error while cancelling leftover tasks";
        ctx.exception = std::current_exception();
        loop.call_exception_handler(ctx);
      }
    }
  } cleanup{loop};
  return run_until_complete(loop, handle);
}

}  // namespace corio

#endif  // CORIO_LOOP_RUN_H_
