// Lock: asyncio.Lock, a mutual-exclusion lock for the tasks of one loop.
//
//   co_await lock.acquire();  ...  lock.release();
//   { corio::LockGuard g = co_await lock.scoped(); ... }   // async with lock:
//
// Waiters are served in FIFO order with direct hand-off: release() gives
// ownership straight to the first waiter (the lock never looks free in
// between), and acquire() while anyone waits queues behind them, so a task
// that releases and at once re-acquires cannot starve a waiter.
// Like asyncio's, the lock has no owner: any task may release it.
#ifndef CORIO_SYNC_LOCK_H_
#define CORIO_SYNC_LOCK_H_

#include <coroutine>
#include <cstddef>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/task_base.h"
#include "corio/sync/errors.h"
#include "corio/sync/guard.h"
#include "corio/sync/internal/waiter.h"

namespace corio {

class Lock;
class Condition;

// LockGuard: holds a Lock until destroyed (see guard.h).
using LockGuard = Guard<Lock>;

namespace internal {

template <bool kGuard>
class LockAcquire;
class ConditionWait;

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_lock_error(const char* what) { throw LockError(what); }

}  // namespace internal

// Lock
//
// Errors: release() of an unlocked lock throws LockError; acquire() throws
//   RuntimeError outside a task or when tasks of two loops wait on it.
// Thread safety: the tasks of one loop only (not thread-safe). A Lock must
//   outlive the tasks waiting on it. It is neither copyable nor movable.
// Cancellation: a task cancelled while waiting in acquire() is removed from
//   the queue and holds nothing. Once release() has handed it the lock, the
//   acquire completes with the lock held even if the task is cancelled
//   before it runs; the CancelledError then comes at its next suspension
//   point (a LockGuard releases the lock as it unwinds). Ownership is never
//   lost nor granted twice: an acquire abandoned before it returns (its
//   frame destroyed by the loop, or the g++ 12 order in README.md) releases
//   what it obtained.
class Lock {
 public:
  Lock() noexcept = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  // Awaitable: suspends until the lock is this task's (asyncio acquire()).
  // Does not suspend when the lock is free.
  internal::LazyAwaiter<internal::LockAcquire<false>, Lock*> acquire() noexcept;
  // Awaitable giving a LockGuard that releases the lock when destroyed.
  internal::LazyAwaiter<internal::LockAcquire<true>, Lock*> scoped() noexcept;

  // Releases the lock, handing it to the first waiter if any.
  // Errors: LockError if the lock is not locked.
  void release() {
    if (holds_ != 1) [[unlikely]] {
      if (holds_ == 0) internal::throw_lock_error("corio: Lock::release() of a lock that is not acquired");
      --holds_;  // see add_hold()
      return;
    }
    hand_on();
  }

  // True while some task holds the lock.
  bool locked() const noexcept { return holds_ != 0; }
  // Tasks waiting to acquire (for tests and diagnostics).
  std::size_t waiters() const noexcept { return waiters_.size(); }

 private:
  template <bool>
  friend class internal::LockAcquire;
  friend class internal::ConditionWait;
  friend class Condition;

  // release() once the lock is known to be held.
  void release_held() noexcept {
    if (holds_ != 1) [[unlikely]] {
      --holds_;  // see add_hold()
      return;
    }
    hand_on();
  }
  // The last holder lets go: to the first waiter, or the lock is free.
  void hand_on() noexcept {
    if (internal::WaitNode* w = waiters_.pop_front()) {
      w->grant();  // ownership passes to `w`; holds_ stays 1
    } else {
      holds_ = 0;
    }
  }

  // For a Condition::wait() whose frame the loop destroys while it waits:
  // the wait's caller holds the lock on exit, and its guard will release
  // it. Takes the lock if free, else counts one more holder, so that the
  // guard's release neither fails nor takes the lock from its holder.
  void add_hold() noexcept { ++holds_; }

  // Invariant: waiters_ is non-empty only while holds_ != 0.
  internal::IntrusiveList<internal::WaitNode> waiters_;
  EventLoop* loop_ = nullptr;
  // 0: free; 1: held; more only after add_hold() at loop teardown.
  std::size_t holds_ = 0;
};

namespace internal {

// The awaiter of Lock::acquire() (kGuard false) and Lock::scoped().
template <bool kGuard>
class [[nodiscard]] LockAcquire final : public Waiter<LockAcquire<kGuard>> {
 public:
  explicit LockAcquire(Lock* lock) noexcept : lock_(lock) {}
  // Releases a lock obtained but never passed on (see waiter.h).
  [[gnu::always_inline]] ~LockAcquire() {
    if (this->owed()) [[unlikely]]
      give_back();
  }

  bool await_ready() noexcept {
    if (lock_->holds_ != 0) return false;
    lock_->holds_ = 1;
    this->mark_owed();
    return true;
  }
  bool await_suspend(std::coroutine_handle<> h) { return this->park(h, lock_->waiters_, lock_->loop_); }
  auto await_resume() {
    this->resume_handoff();
    this->pass_on();
    if constexpr (kGuard) return LockGuard(*lock_);
  }

 private:
  [[gnu::cold, gnu::noinline]] void give_back() noexcept { lock_->release_held(); }

  Lock* lock_;
};

}  // namespace internal

inline internal::LazyAwaiter<internal::LockAcquire<false>, Lock*> Lock::acquire() noexcept {
  return internal::LazyAwaiter<internal::LockAcquire<false>, Lock*>(this);
}
inline internal::LazyAwaiter<internal::LockAcquire<true>, Lock*> Lock::scoped() noexcept {
  return internal::LazyAwaiter<internal::LockAcquire<true>, Lock*>(this);
}

}  // namespace corio

#endif  // CORIO_SYNC_LOCK_H_
