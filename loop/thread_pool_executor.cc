#include "corio/loop/thread_pool_executor.h"

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <thread>

#include "corio/loop/errors.h"
#include "corio/loop/internal/frame_allocator.h"

namespace corio {

namespace {
// No loop to report to: a worker thread belongs to no loop.
void report_escaped_job_exception() noexcept {
  const char* what = "unknown exception";
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "corio: exception escaped a ThreadPoolExecutor job: %s\n", what);
}
}  // namespace

ThreadPoolExecutor::ThreadPoolExecutor(std::size_t max_workers) : max_workers_(max_workers) {
  if (max_workers == 0) throw std::invalid_argument("corio: executor needs at least one worker");
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  shutdown(true);
  // A worker that shut the pool down from its job was detached, not
  // joined: wait until it no longer touches this object.
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return detached_ == std::thread::id(); });
}

void ThreadPoolExecutor::submit(internal::UniqueFunction job) {
  std::unique_lock<std::mutex> lock(mu_);
  if (shutdown_) throw RuntimeError("corio: executor is shut down");
  jobs_.push_back(std::move(job));
  // Start a thread unless an idle one will take this job. Compare with the
  // queue length, not with zero: a worker that was notified but has not
  // woken yet still counts in idle_, and it can take one job only, so a
  // second job submitted meanwhile would otherwise wait behind the first
  // although max_workers allows another thread.
  if (jobs_.size() > idle_ && threads_.size() < max_workers_) {
    threads_.emplace_back([this] { worker(); });
  } else {
    lock.unlock();
    cv_.notify_one();
  }
}

void ThreadPoolExecutor::shutdown(bool wait) {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
    if (!wait) jobs_.clear();
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) {
    // Called from one of its own jobs: that thread cannot join itself; it
    // ends by itself once the job returns (shutdown_ is set).
    if (t.get_id() == std::this_thread::get_id()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        detached_ = t.get_id();
      }
      t.detach();
    } else {
      t.join();
    }
  }
}

void ThreadPoolExecutor::worker() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (jobs_.empty()) {
      if (shutdown_) {
        if (detached_ == std::this_thread::get_id()) {
          detached_ = std::thread::id();
          cv_.notify_all();
        }
        return;
      }
      ++idle_;
      cv_.wait(lock, [this] { return shutdown_ || !jobs_.empty(); });
      --idle_;
      continue;
    }
    internal::UniqueFunction job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    // run_in_executor's jobs catch their own exceptions; a raw submit()'s
    // that escapes is reported here rather than ending the process.
    try {
      job();
    } catch (...) {
      report_escaped_job_exception();
    }
    job = internal::UniqueFunction();
    // A job that freed a burst of the loop's blocks (results, frames) left
    // them in this thread's free lists, which this thread may never use:
    // give them back, as the loop does after its own bursts.
    internal::frame_cache_settle();
    lock.lock();
  }
}

}  // namespace corio
