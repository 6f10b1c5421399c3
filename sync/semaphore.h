// Semaphore and BoundedSemaphore: asyncio's counting semaphores for the
// tasks of one loop.
//
//   corio::Semaphore slots(4);
//   { corio::SemaphoreGuard permit = co_await slots.scoped(); ... }
//
// See examples/semaphore_pool.cc for a worker pool limited by one.
#ifndef CORIO_SYNC_SEMAPHORE_H_
#define CORIO_SYNC_SEMAPHORE_H_

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/task_base.h"
#include "corio/sync/errors.h"
#include "corio/sync/guard.h"
#include "corio/sync/internal/waiter.h"

namespace corio {

class Semaphore;

// SemaphoreGuard: holds one permit until destroyed (see guard.h).
using SemaphoreGuard = Guard<Semaphore>;

namespace internal {

template <bool kGuard>
class SemaphoreAcquire;

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_value_error(const char* what) { throw ValueError(what); }

}  // namespace internal

// Semaphore
//
// Holds `value` permits. acquire() takes one, suspending while there is
// none; release() returns one. Waiters are served in FIFO order with direct
// hand-off: release() gives the permit straight to the first waiter, and
// acquire() while anyone waits queues behind them, so a task that releases
// and at once re-acquires cannot starve a waiter.
//
// Errors: the constructor throws ValueError for a negative value; acquire()
//   throws RuntimeError outside a task or when tasks of two loops wait on
//   it; release() of a BoundedSemaphore above its initial value, or of a
//   Semaphore above INT64_MAX, throws ValueError.
// Thread safety: the tasks of one loop only. A Semaphore must outlive the
//   tasks waiting on it; it is neither copyable nor movable.
// Cancellation: a task cancelled while waiting in acquire() holds no permit
//   afterwards and the permit count is unchanged. Once release() has handed
//   it a permit, the acquire completes with the permit even if the task is
//   cancelled before it runs; the CancelledError comes at its next
//   suspension point (a SemaphoreGuard returns the permit as it unwinds).
//   An acquire abandoned before it returns (its frame destroyed by the
//   loop, or the g++ 12 order in README.md) returns what it obtained.
class Semaphore {
 public:
  explicit Semaphore(std::int64_t value = 1) : Semaphore(value, kUnbounded) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Awaitable: takes a permit, suspending until one is free.
  internal::LazyAwaiter<internal::SemaphoreAcquire<false>, Semaphore*> acquire() noexcept;
  // Awaitable giving a SemaphoreGuard that returns the permit when destroyed.
  internal::LazyAwaiter<internal::SemaphoreAcquire<true>, Semaphore*> scoped() noexcept;

  // Returns a permit, handing it to the first waiter if any.
  // Errors: ValueError for a BoundedSemaphore already at its initial value,
  // and for a Semaphore already at INT64_MAX.
  void release() {
    // value_ reaches bound_ only at a BoundedSemaphore's limit, so the
    // common release tests one number. A bound of 0 has no permit to give,
    // to a waiter or to the count.
    if (value_ >= bound_) [[unlikely]] {
      internal::throw_value_error(bound_ == kUnbounded
                                      ? "corio: Semaphore (or BoundedSemaphore of INT64_MAX) released past INT64_MAX"
                                      : "corio: BoundedSemaphore released too many times");
    }
    release_held();
  }

  // True if acquire() would suspend.
  bool locked() const noexcept { return value_ == 0; }
  // Free permits.
  std::int64_t value() const noexcept { return value_; }
  // Tasks waiting for a permit (for tests and diagnostics).
  std::size_t waiters() const noexcept { return waiters_.size(); }

 protected:
  static constexpr std::int64_t kUnbounded = std::numeric_limits<std::int64_t>::max();
  Semaphore(std::int64_t value, std::int64_t bound) : value_(value), bound_(bound) {
    if (value < 0) internal::throw_value_error("corio: Semaphore initial value must be >= 0");
  }

 private:
  template <bool>
  friend class internal::SemaphoreAcquire;

  // release() of a permit known to be held.
  void release_held() noexcept {
    if (internal::WaitNode* w = waiters_.pop_front()) {
      w->grant();  // the permit passes to `w`; value_ stays 0
    } else {
      ++value_;
    }
  }

  // Invariant: waiters_ is non-empty only while value_ == 0.
  internal::IntrusiveList<internal::WaitNode> waiters_;
  EventLoop* loop_ = nullptr;
  std::int64_t value_;
  std::int64_t bound_;
};

// BoundedSemaphore
//
// A Semaphore whose release() refuses to raise the count above the initial
// value (asyncio.BoundedSemaphore): it throws ValueError instead, which
// catches a release without a matching acquire.
// Errors, Thread safety, Cancellation: as Semaphore.
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(std::int64_t value = 1) : Semaphore(value, value) {}
};

namespace internal {

// The awaiter of Semaphore::acquire() (kGuard false) and scoped().
template <bool kGuard>
class [[nodiscard]] SemaphoreAcquire final : public Waiter<SemaphoreAcquire<kGuard>> {
 public:
  explicit SemaphoreAcquire(Semaphore* sem) noexcept : sem_(sem) {}
  // Returns a permit obtained but never passed on (see waiter.h). It was
  // taken from the count or handed over by a release() within the bound,
  // so returning it can not exceed a BoundedSemaphore's bound.
  [[gnu::always_inline]] ~SemaphoreAcquire() {
    if (this->owed()) [[unlikely]]
      give_back();
  }

  bool await_ready() noexcept {
    if (sem_->value_ == 0) return false;
    --sem_->value_;
    this->mark_owed();
    return true;
  }
  bool await_suspend(std::coroutine_handle<> h) { return this->park(h, sem_->waiters_, sem_->loop_); }
  auto await_resume() {
    this->resume_handoff();
    this->pass_on();
    if constexpr (kGuard) return SemaphoreGuard(*sem_);
  }

 private:
  [[gnu::cold, gnu::noinline]] void give_back() noexcept { sem_->release_held(); }

  Semaphore* sem_;
};

}  // namespace internal

inline internal::LazyAwaiter<internal::SemaphoreAcquire<false>, Semaphore*> Semaphore::acquire() noexcept {
  return internal::LazyAwaiter<internal::SemaphoreAcquire<false>, Semaphore*>(this);
}
inline internal::LazyAwaiter<internal::SemaphoreAcquire<true>, Semaphore*> Semaphore::scoped() noexcept {
  return internal::LazyAwaiter<internal::SemaphoreAcquire<true>, Semaphore*>(this);
}

}  // namespace corio

#endif  // CORIO_SYNC_SEMAPHORE_H_
