// Executor offload: run blocking work on a bounded thread pool and await it
// from a task without blocking the loop (asyncio run_in_executor/to_thread).
// The pool itself is ThreadPoolExecutor (thread_pool_executor.h).
//
// Example:
//   std::string text = co_await corio::to_thread([] { return read_file(); });
//
// g++ 12 bug: a lambda that captures by value something with a destructor
// (a shared_ptr, a string), written as a temporary inside the co_await
// expression, is destroyed twice. Name it first:
//   auto job = [path] { return read_file(path); };
//   std::string text = co_await corio::to_thread(job);
// clang compiles the temporary form correctly.
#ifndef CORIO_LOOP_EXECUTOR_H_
#define CORIO_LOOP_EXECUTOR_H_

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/future.h"
#include "corio/loop/internal/loop_access.h"
#include "corio/loop/internal/loop_link.h"
#include "corio/loop/thread_pool_executor.h"

namespace corio {

namespace internal {

// The link from an executor job back to its future. The job delivers its
// outcome through it, on the loop thread. A job destroyed without having
// run (shutdown(false) drops queued jobs; a submit that throws drops its
// job) cancels the future instead: otherwise its awaiters would wait
// forever and the virtual clock would keep waiting for the job.
template <class R>
class ExecutorCompletion {
 public:
  ExecutorCompletion(Future<R> fut, std::shared_ptr<LoopLink> link) noexcept
      : fut_(std::move(fut)), link_(std::move(link)) {}
  ExecutorCompletion(ExecutorCompletion&& o) noexcept
      : fut_(std::move(o.fut_)), link_(std::move(o.link_)), armed_(std::exchange(o.armed_, false)) {}
  ExecutorCompletion& operator=(ExecutorCompletion&&) = delete;
  ~ExecutorCompletion() {
    if (!armed_) return;
    try {
      post_dropped();
    } catch (...) {
      // Out of memory while dropping: nothing better to do.
    }
  }

  // Called once, by the job, on its worker thread.
  void deliver(std::optional<StoredValue<R>> value, std::exception_ptr error) {
    armed_ = false;
    post(std::move(value), std::move(error));
  }

 private:
  // Through the loop's link: a job on an executor the user owns may end
  // after the loop is gone, and then its outcome is dropped here.
  void post(std::optional<StoredValue<R>> value, std::exception_ptr error) {
    link_->post([&](EventLoop& l) {
      l.call_soon_threadsafe([fut = std::move(fut_), value = std::move(value), error = std::move(error)]() mutable {
        LoopAccess::end_external_work(fut.loop());
        if (fut.done()) return;  // cancelled, e.g. with the task that awaited it
        if (error) {
          fut.set_exception(std::move(error));
        } else if constexpr (std::is_void_v<R>) {
          fut.set_result();
        } else {
          fut.set_result(std::move(*value));
        }
      });
    });
  }
  // The job was destroyed unrun: its future is cancelled. (Apart from
  // post(): carrying an empty value through the closure made g++ 12 warn,
  // wrongly, that it may be used uninitialised, at -O1 with
  // -fsanitize=thread.)
  void post_dropped() {
    link_->post([&](EventLoop& l) {
      l.call_soon_threadsafe([fut = std::move(fut_)]() mutable {
        LoopAccess::end_external_work(fut.loop());
        if (fut.done()) return;  // cancelled, e.g. with the task that awaited it
        fut.cancel("corio: the executor dropped the job before running it");
      });
    });
  }

  Future<R> fut_;
  std::shared_ptr<LoopLink> link_;
  bool armed_ = true;
};

}  // namespace internal

// Runs fn(args...) on `executor` (the loop's default one if null) and
// returns a Future for its result, completed on `loop`'s thread.
// Errors: the future rethrows what `fn` threw; RuntimeError if the executor
//   is shut down. A job the executor drops unrun (shutdown(wait=false))
//   cancels the future: its awaiters get CancelledError.
// Thread safety: call on `loop`'s thread (it uses the loop's default
//   executor and its link); the executor may be shared by several loops.
// Cancellation: cancelling the awaiting task cancels the future (future.h)
//   and stops the wait at once; the job itself cannot be interrupted and
//   runs to the end, its result dropped.
//   The awaiting frame may unwind while the job still runs, so give the job
//   (by value) what it uses rather than references into that frame.
template <class F, class... A>
auto run_in_executor(EventLoop& loop, ThreadPoolExecutor* executor, F fn, A... args)
    -> Future<std::invoke_result_t<F, A...>> {
  using R = std::invoke_result_t<F, A...>;
  if (executor == nullptr) executor = &loop.default_executor();
  Future<R> fut(loop);
  std::shared_ptr<internal::LoopLink> link = loop.link();
  // Ended by the completion, whether the job runs or is dropped (also when
  // submit() throws: the job is destroyed unrun then).
  internal::LoopAccess::begin_external_work(loop);
  executor->submit([done = internal::ExecutorCompletion<R>(fut, std::move(link)), fn = std::move(fn),
                    ... args = std::move(args)]() mutable {
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
    done.deliver(std::move(value), std::move(error));
  });
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
