// Condition: asyncio.Condition, a condition variable for the tasks of one
// loop, over its own Lock or one shared with other code.
//
//   corio::Condition cond;
//   // consumer:                          // producer:
//   auto g = co_await cond.scoped();      { auto g = co_await cond.scoped();
//   co_await cond.wait_for([&] {            items.push_back(x);
//     return !items.empty(); });            cond.notify(); }
//
// See examples/condition_changes.cc for a change stream built on it.
#ifndef CORIO_SYNC_CONDITION_H_
#define CORIO_SYNC_CONDITION_H_

#include <coroutine>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/task.h"
#include "corio/sync/errors.h"
#include "corio/sync/internal/waiter.h"
#include "corio/sync/lock.h"

namespace corio {

// Condition
//
// wait() releases the lock, suspends until notified, and re-acquires the
// lock before it returns: always, also when it ends in CancelledError.
// notify(n) wakes the n longest waiting tasks (FIFO); each then queues for
// the lock behind the tasks already waiting for it, and wait() returns once
// it has the lock. As with any condition variable, check the predicate in a
// loop (or use wait_for).
//
// Errors: wait()/notify()/notify_all() without the lock held throw
//   LockError; release() as Lock::release(); wait() throws RuntimeError
//   outside a task or when tasks of two loops use it.
// Thread safety: the tasks of one loop only. A Condition (and a shared Lock)
//   must outlive the tasks waiting on it; neither is copyable or movable.
// Cancellation: a task cancelled in wait() before being notified leaves the
//   waiters, re-acquires the lock (waiting for it if it must; further
//   cancels meanwhile are folded into the same one) and then raises
//   CancelledError with the lock held; no notification is consumed. A task
//   cancelled after notify() chose it keeps the notification: wait() returns
//   normally once it has the lock and the CancelledError comes at its next
//   suspension point (wait_for's next wait(), say), so a notify is never
//   lost to a cancelled task. In both cases the lock is held on exit.
// Loop teardown: when an EventLoop is destroyed with a task still in
//   wait(), the task counts as holding the lock on exit too: its guard, as
//   the frame goes, releases that hold, and nobody else's.
class Condition {
 public:
  // A condition with its own lock.
  Condition() noexcept : lock_(&own_lock_) {}
  // A condition over `lock`, which must outlive it.
  explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  // The lock's operations (see Lock).
  auto acquire() noexcept { return lock_->acquire(); }
  auto scoped() noexcept { return lock_->scoped(); }
  void release() { lock_->release(); }
  bool locked() const noexcept { return lock_->locked(); }
  Lock& lock() noexcept { return *lock_; }

  // Awaitable: releases the lock, waits for a notification, re-acquires.
  // Errors: LockError if the lock is not held (thrown from co_await).
  internal::LazyAwaiter<internal::ConditionWait, Condition*> wait() noexcept;

  // Waits until `pred()` is truthy (checked first, and after each wake-up,
  // with the lock held) and returns its last value. A coroutine: its frame
  // comes from loop's recycling frame allocator (wait() itself allocates
  // nothing). Capture by reference in `pred`, or name the lambda before the
  // co_await: g++ 12 destroys a lambda that captures objects with
  // destructors by value twice when it is made inside a co_await operand
  // (see loop/executor.h). Errors: as wait(), and whatever pred throws.
  // Cancellation: as wait(); the lock is held on exit.
  // (Defined below ConditionWait: clang checks a template's non-dependent
  // co_await where it is written, and needs the awaiter complete there.)
  template <class Pred>
  auto wait_for(Pred pred) -> Task<std::decay_t<std::invoke_result_t<Pred&>>>;

  // Wakes up to `n` waiting tasks, longest waiting first.
  // Errors: LockError if the lock is not held.
  void notify(std::size_t n = 1);
  // Wakes every waiting task. Errors: LockError if the lock is not held.
  void notify_all() { notify(std::numeric_limits<std::size_t>::max()); }

  // Tasks waiting for a notification (for tests and diagnostics).
  std::size_t waiters() const noexcept { return waiters_.size(); }

 private:
  friend class internal::ConditionWait;
  Lock own_lock_;
  Lock* lock_;
  internal::IntrusiveList<internal::WaitNode> waiters_;
  EventLoop* loop_ = nullptr;
};

namespace internal {

// The awaiter of Condition::wait(). Its cancel policy is its own: a cancel
// before the notification must not resume the task at once but first get
// it the lock back, and one after the notification is left pending; so it
// sets its own try_cancel (Suspension's protected interface), in two
// phases: waiting for a notify, then for the lock.
class [[nodiscard]] ConditionWait final : public WaitNode {
 public:
  explicit ConditionWait(Condition* cond) noexcept : WaitNode(&ConditionWait::teardown), cond_(cond) {
    try_cancel = &ConditionWait::try_cancel_impl;
  }
  ConditionWait(const ConditionWait&) = delete;
  ConditionWait& operator=(const ConditionWait&) = delete;
  ~ConditionWait() { abandon(); }

  bool await_ready() const {
    if (cond_->lock_->holds_ == 0) throw_lock_error("corio: Condition::wait() without holding the lock");
    return false;
  }
  bool await_suspend(std::coroutine_handle<> h) {
    // Cancelled before waiting: the lock was never let go.
    if (!suspend(h)) return false;
    Lock* lock = cond_->lock_;
    try {
      bind_loop(cond_->loop_, task(), !cond_->waiters_.empty());
      bind_loop(lock->loop_, task(), !lock->waiters_.empty());
    } catch (...) {
      unpark();
      throw;
    }
    cond_->waiters_.push_back(this);
    lock->release_held();  // await_ready saw the lock held
    return true;
  }
  void await_resume() const { check_cancelled(); }

 private:
  friend class corio::Condition;
  enum class Phase : unsigned char { kNotify, kLock };

  // Notified (or cancelled): queue for the lock, or take it if free.
  void enter_lock_phase() noexcept {
    phase_ = Phase::kLock;
    Lock* lock = cond_->lock_;
    if (lock->holds_ != 0) {
      lock->waiters_.push_back(this);
    } else {
      lock->holds_ = 1;
      wake();
    }
  }

  // The frame is destroyed while parked (loop teardown): unlink, and let
  // the caller hold the lock as wait() promises on exit (Lock::add_hold),
  // so that a guard it holds releases it without error. Only abandon()
  // calls it: a cancel goes to try_cancel_impl.
  static void teardown(Suspension* s) noexcept {
    auto* self = static_cast<ConditionWait*>(s);
    if (self->linked())
      (self->phase_ == Phase::kNotify ? self->cond_->waiters_ : self->cond_->lock_->waiters_).erase(self);
    self->cond_->lock_->add_hold();
  }

  static bool try_cancel_impl(CancelTarget* c) noexcept {
    auto* self = static_cast<ConditionWait*>(c);
    if (self->phase_ == Phase::kLock) {
      // Waiting for the lock only. Already cancelled: this request joins the
      // CancelledError to come. Notified: the wait keeps its notification;
      // returning false leaves the cancel pending for the next suspension.
      return self->cancelled();
    }
    self->cond_->waiters_.erase(self);
    self->take_cancel();
    self->enter_lock_phase();
    return true;
  }

  Condition* cond_;
  Phase phase_ = Phase::kNotify;
};

}  // namespace internal

inline internal::LazyAwaiter<internal::ConditionWait, Condition*> Condition::wait() noexcept {
  return internal::LazyAwaiter<internal::ConditionWait, Condition*>(this);
}

template <class Pred>
auto Condition::wait_for(Pred pred) -> Task<std::decay_t<std::invoke_result_t<Pred&>>> {
  auto result = pred();
  while (!result) {
    co_await wait();
    result = pred();
  }
  co_return std::move(result);
}

inline void Condition::notify(std::size_t n) {
  if (lock_->holds_ == 0) internal::throw_lock_error("corio: Condition::notify() without holding the lock");
  for (; n > 0; --n) {
    internal::WaitNode* w = waiters_.pop_front();
    if (w == nullptr) break;
    static_cast<internal::ConditionWait*>(w)->enter_lock_phase();
  }
}

}  // namespace corio

#endif  // CORIO_SYNC_CONDITION_H_
