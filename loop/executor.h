// Executor offload: run blocking work on a bounded thread pool and await it
// from a task without blocking the loop (asyncio run_in_executor/to_thread).
//
// Example:
//   std::string text = co_await corio::to_thread([] { return read_file(); });
#ifndef CORIO_LOOP_EXECUTOR_H_
#define CORIO_LOOP_EXECUTOR_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/future.h"
#include "corio/loop/internal/unique_function.h"

namespace corio {

// ThreadPoolExecutor
//
// At most `max_workers` threads, started on demand; jobs wait in FIFO order
// for a free thread.
// Errors: submit() after shutdown() throws RuntimeError.
// Thread safety: submit() and shutdown() from any thread.
class ThreadPoolExecutor {
 public:
  explicit ThreadPoolExecutor(std::size_t max_workers);
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;
  // Runs every queued job, then joins the threads.
  ~ThreadPoolExecutor();

  void submit(internal::UniqueFunction job);
  // Stops accepting jobs; with `wait`, finishes queued ones and joins.
  void shutdown(bool wait = true);
  std::size_t max_workers() const noexcept { return max_workers_; }

 private:
  void worker();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<internal::UniqueFunction> jobs_;
  std::vector<std::thread> threads_;
  std::size_t max_workers_;
  std::size_t idle_ = 0;
  bool shutdown_ = false;
};

// Runs fn(args...) on `executor` (the loop's default one if null) and
// returns a Future for its result, completed on `loop`'s thread.
// Errors: the future rethrows what `fn` threw.
// Cancellation: cancelling the awaiting task stops the wait at once; the
//   job itself cannot be interrupted and runs to the end, its result dropped.
template <class F, class... A>
auto run_in_executor(EventLoop& loop, ThreadPoolExecutor* executor, F fn, A... args)
    -> Future<std::invoke_result_t<F, A...>> {
  using R = std::invoke_result_t<F, A...>;
  if (executor == nullptr) executor = &loop.default_executor();
  Future<R> fut(loop);
  loop.begin_external_work();
  try {
    executor->submit([fut, fn = std::move(fn), ... args = std::move(args)]() mutable {
      EventLoop* l = &fut.loop();
      std::exception_ptr error;
      std::optional<internal::StoredValue<R>> value;
      try {
        if constexpr (std::is_void_v<R>) {
          std::invoke(std::move(fn), std::move(args)...);
          value.emplace();
        } else {
          value.emplace(std::invoke(std::move(fn), std::move(args)...));
        }
      } catch (...) {
        error = std::current_exception();
      }
      l->call_soon_threadsafe([fut = std::move(fut), value = std::move(value), error = std::move(error)]() mutable {
        fut.loop().end_external_work();
        if (fut.done()) return;
        if (error) {
          fut.set_exception(std::move(error));
        } else if constexpr (std::is_void_v<R>) {
          fut.set_result();
        } else {
          fut.set_result(std::move(*value));
        }
      });
    });
  } catch (...) {
    loop.end_external_work();
    throw;
  }
  return fut;
}

// asyncio.to_thread: fn(args...) on the running loop's default executor.
// Errors: RuntimeError if no loop runs on this thread.
template <class F, class... A>
auto to_thread(F fn, A... args) {
  return run_in_executor(current_loop(), nullptr, std::move(fn), std::move(args)...);
}

}  // namespace corio

#endif  // CORIO_LOOP_EXECUTOR_H_
