// Barrier: asyncio.Barrier, a meeting point for a fixed number of tasks.
//
//   corio::Barrier barrier(3);
//   std::size_t index = co_await barrier.wait();  // in each of 3 tasks
#ifndef CORIO_SYNC_BARRIER_H_
#define CORIO_SYNC_BARRIER_H_

#include <coroutine>
#include <cstddef>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/task_base.h"
#include "corio/sync/errors.h"
#include "corio/sync/internal/waiter.h"

namespace corio {

class Barrier;

namespace internal {
class BarrierWait;
}  // namespace internal

// Barrier
//
// wait() suspends until `parties` tasks are waiting, then releases them all
// at once and returns each one's arrival index: 0 to parties - 1, the last
// to arrive getting parties - 1 (and not suspending). The barrier is then
// empty again for the next round (it is cyclic). Indices are unique within
// a round: a waiter that left (was cancelled) frees its place and the
// indices go to those still there, in arrival order.
// abort() breaks the barrier: every waiter, and every later wait() until
// reset(), raises BrokenBarrierError. reset() releases the current waiters
// with BrokenBarrierError and makes the barrier usable again, empty.
//
// Errors: the constructor throws ValueError for zero parties; wait() throws
//   BrokenBarrierError as above, RuntimeError outside a task or when tasks
//   of two loops wait on it.
// Thread safety: the tasks of one loop only. A Barrier must outlive the
//   tasks waiting on it; it is neither copyable nor movable.
// Cancellation: a task cancelled while waiting leaves the barrier (it no
//   longer counts towards `parties`); nothing else changes. Once the
//   barrier has released it, wait() returns its index even if the task is
//   cancelled before it runs (it did pass the barrier, which the others
//   rely on); the CancelledError comes at its next suspension point.
class Barrier {
 public:
  explicit Barrier(std::size_t parties) : parties_(parties) {
    if (parties == 0) throw ValueError("corio: Barrier needs at least one party");
  }
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  // Awaitable giving this task's arrival index (std::size_t).
  internal::LazyAwaiter<internal::BarrierWait, Barrier*> wait() noexcept;

  // Releases the current waiters with BrokenBarrierError and leaves the
  // barrier empty and not broken.
  void reset() noexcept {
    broken_ = false;
    release_broken();
  }
  // Breaks the barrier: current and future waiters raise BrokenBarrierError
  // until reset().
  void abort() noexcept {
    broken_ = true;
    release_broken();
  }

  std::size_t parties() const noexcept { return parties_; }
  // Tasks waiting now.
  std::size_t n_waiting() const noexcept { return waiters_.size(); }
  bool broken() const noexcept { return broken_; }

 private:
  friend class internal::BarrierWait;
  inline void release_broken() noexcept;
  inline void trip() noexcept;

  internal::IntrusiveList<internal::WaitNode> waiters_;
  EventLoop* loop_ = nullptr;
  std::size_t parties_;
  bool broken_ = false;
};

namespace internal {

class [[nodiscard]] BarrierWait final : public Waiter<BarrierWait> {
 public:
  explicit BarrierWait(Barrier* b) noexcept : barrier_(b) {}

  bool await_ready() noexcept {
    if (barrier_->broken_) {
      broken_ = true;
      return true;
    }
    if (barrier_->waiters_.size() + 1 < barrier_->parties_) return false;
    // The last party: release the others and pass without suspending.
    index_ = barrier_->parties_ - 1;
    barrier_->trip();
    return true;
  }
  bool await_suspend(std::coroutine_handle<> h) { return park(h, barrier_->waiters_, barrier_->loop_); }
  std::size_t await_resume() const {
    resume_handoff();
    if (broken_) throw BrokenBarrierError();
    return index_;
  }

 private:
  friend class corio::Barrier;
  Barrier* barrier_;
  std::size_t index_ = 0;
  bool broken_ = false;
};

}  // namespace internal

inline internal::LazyAwaiter<internal::BarrierWait, Barrier*> Barrier::wait() noexcept {
  return internal::LazyAwaiter<internal::BarrierWait, Barrier*>(this);
}

inline void Barrier::trip() noexcept {
  std::size_t index = 0;
  while (internal::WaitNode* w = waiters_.pop_front()) {
    internal::BarrierWait::awaiter_of(w)->index_ = index++;
    w->wake();
  }
}

inline void Barrier::release_broken() noexcept {
  while (internal::WaitNode* w = waiters_.pop_front()) {
    internal::BarrierWait::awaiter_of(w)->broken_ = true;
    w->wake();
  }
}

}  // namespace corio

#endif  // CORIO_SYNC_BARRIER_H_
