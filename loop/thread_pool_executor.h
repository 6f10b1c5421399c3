// ThreadPoolExecutor: a bounded pool of threads that runs blocking jobs
// (concurrent.futures.ThreadPoolExecutor). Each loop makes one on first use
// for run_in_executor/to_thread (executor.h); a user may make their own.
//
//   corio::ThreadPoolExecutor pool(4);
//   int n = co_await corio::run_in_executor(loop, &pool, [] { return count_lines(); });
#ifndef CORIO_LOOP_THREAD_POOL_EXECUTOR_H_
#define CORIO_LOOP_THREAD_POOL_EXECUTOR_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "corio/loop/internal/unique_function.h"

namespace corio {

// ThreadPoolExecutor
//
// At most `max_workers` threads, started on demand; jobs wait in FIFO order
// for a free thread.
// Errors: the constructor throws std::invalid_argument for 0 workers;
//   submit() after shutdown() throws RuntimeError.
// Thread safety: submit() and shutdown() from any thread.
class ThreadPoolExecutor {
 public:
  explicit ThreadPoolExecutor(std::size_t max_workers);
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;
  // Runs every queued job, then joins the threads. Must not run on one of
  // the pool's own threads (from a job).
  ~ThreadPoolExecutor();

  // Queues `job` to run on one of the threads (starting one if all are
  // busy and fewer than max_workers run). An exception escaping `job` is
  // printed to stderr (the pool has no loop to report to) and the worker
  // goes on; run_in_executor and to_thread deliver theirs to the caller.
  // Errors: RuntimeError after shutdown() (`job` is destroyed unrun);
  // std::bad_alloc.
  void submit(internal::UniqueFunction job);
  // Stops accepting jobs and joins the threads once their running jobs end;
  // with `wait` the queued jobs run first, without it they are destroyed
  // unrun (run_in_executor cancels their futures). Called from one of the
  // pool's jobs, it joins the other threads and lets its own end after the
  // job returns.
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
  std::thread::id detached_;  // a worker that called shutdown() from its job
};

}  // namespace corio

#endif  // CORIO_LOOP_THREAD_POOL_EXECUTOR_H_
