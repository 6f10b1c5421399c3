// Barrier: asyncio.Barrier, a meeting point for a fixed number of tasks.
//
//   corio::Barrier barrier(3);
//   std::size_t index = co_await barrier.wait();  // in each of 3 tasks
#ifndef CORIO_SYNC_BARRIER_H_
#define CORIO_SYNC_BARRIER_H_

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <new>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/loop_access.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/internal/timer_heap.h"
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
// to arrive getting parties - 1 (and not suspending). Indices are unique
// within a cycle: a waiter that left (was cancelled) frees its place and
// the indices go to those still there, in arrival order.
//
// The barrier is cyclic, with asyncio's (and threading's) states. It fills
// as parties arrive; the last one releases the cycle, which then drains
// until every released party has resumed from its wait(). A wait() that
// starts meanwhile (typically a party released first, back for the next
// round) waits at the entrance; once the draining has ended, the parties
// at the entrance join the next cycle in the order they came (on the next
// loop iteration, as the parties asyncio wakes then enter it), and a
// wait() that starts while some are still there queues behind them.
// Unlike asyncio, where the first party to run after the draining enters
// first, corio admits them first come, first served: arrival indices in
// that cycle can differ from asyncio's.
//
// abort() breaks the barrier: the parties waiting, those released but not
// yet resumed, those at the entrance and every later wait() raise
// BrokenBarrierError, until reset(). reset() raises BrokenBarrierError in
// the parties waiting and those released but not yet resumed; until they
// have all resumed, new arrivals wait at the entrance. Parties already at
// the entrance are not affected by reset() and join the next cycle. With
// no party waiting or released, reset() makes the barrier usable at once.
//
// Errors: the constructor throws ValueError for zero parties; wait() throws
//   BrokenBarrierError as above, RuntimeError outside a task or when tasks
//   of two loops wait on it.
// Thread safety: the tasks of one loop only. A Barrier must outlive the
//   tasks waiting on it; it is neither copyable nor movable.
// Cancellation: a task cancelled while waiting, in the cycle or at the
//   entrance, leaves the barrier (it no longer counts towards `parties`);
//   nothing else changes. Once the barrier has released it, wait() returns
//   its index even if the task is cancelled before it runs (it did pass
//   the barrier, which the others rely on); the CancelledError comes at
//   its next suspension point. (A reset() or abort() before it resumes
//   still makes it raise BrokenBarrierError, as in asyncio.)
class Barrier {
 public:
  explicit Barrier(std::size_t parties) : parties_(parties) {
    if (parties == 0) throw ValueError("corio: Barrier needs at least one party");
    admit_timer_.owner = this;
    admit_timer_.fire = &Barrier::on_admit_timer;
  }
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;
  ~Barrier() {
    // Queued only while parties wait at the entrance, so their loop exists
    // (a loop that is destroyed unqueues its timers).
    if (admit_timer_.queued()) internal::LoopAccess::remove_timer(*loop_, &admit_timer_);
  }

  // Awaitable giving this task's arrival index (std::size_t).
  internal::LazyAwaiter<internal::BarrierWait, Barrier*> wait() noexcept;

  // Breaks the current cycle (see above) and returns the barrier to
  // filling, not broken, once the parties it broke have resumed.
  inline void reset() noexcept;
  // Breaks the barrier: current and future waiters raise
  // BrokenBarrierError until reset().
  inline void abort() noexcept;

  std::size_t parties() const noexcept { return parties_; }
  // Tasks waiting in the cycle that is filling (not those at the entrance).
  std::size_t n_waiting() const noexcept { return waiters_.size(); }
  bool broken() const noexcept { return state_ == State::kBroken; }

 private:
  friend class internal::BarrierWait;
  enum class State : std::uint8_t { kFilling, kDraining, kResetting, kBroken };
  struct AdmitTimer : internal::TimerNode {
    Barrier* owner = nullptr;
  };

  // The last party arrived: releases the waiters with their indices.
  inline void trip() noexcept;
  // Wakes the waiters of the cycle with BrokenBarrierError.
  inline void break_waiters() noexcept;
  // A released party resumed (or its frame went without resuming).
  inline void leave() noexcept;
  // Moves the parties at the entrance into the filling cycle, in order.
  inline void admit() noexcept;
  inline void schedule_admission() noexcept;
  static void on_admit_timer(internal::TimerNode* n) noexcept { static_cast<AdmitTimer*>(n)->owner->admit(); }

  // Parked in the cycle that is filling (empty in every other state).
  internal::IntrusiveList<internal::WaitNode> waiters_;
  // Parked at the entrance: while the barrier drains or resets, and, once
  // it fills again, until admitted.
  internal::IntrusiveList<internal::WaitNode> entrance_;
  AdmitTimer admit_timer_;
  EventLoop* loop_ = nullptr;
  std::size_t parties_;
  // Released (woken from the cycle with an index or broken) but not yet
  // resumed: asyncio's count of the parties still inside.
  std::size_t released_ = 0;
  // reset() and abort() calls so far: a released party that sees this
  // change before it resumes raises BrokenBarrierError.
  std::uint64_t breaks_ = 0;
  State state_ = State::kFilling;
};

namespace internal {

class [[nodiscard]] BarrierWait final : public Waiter<BarrierWait> {
 public:
  explicit BarrierWait(Barrier* b) noexcept : barrier_(b) {}
  // A released party whose frame goes before it resumed (loop teardown, or
  // g++ 12's order of two awaits in one expression) still leaves.
  ~BarrierWait() {
    if (released_) barrier_->leave();
  }

  bool await_ready() noexcept {
    Barrier& b = *barrier_;
    if (b.state_ == Barrier::State::kBroken) {
      broken_ = true;
      return true;
    }
    if (b.state_ != Barrier::State::kFilling || !b.entrance_.empty()) {
      at_entrance_ = true;
      return false;
    }
    if (b.waiters_.size() + 1 < b.parties_) return false;
    // The last party: release the others and pass without suspending.
    index_ = b.parties_ - 1;
    b.trip();
    return true;
  }
  bool await_suspend(std::coroutine_handle<> h) {
    Barrier& b = *barrier_;
    const bool others = !b.waiters_.empty() || !b.entrance_.empty();
    return park(h, at_entrance_ ? b.entrance_ : b.waiters_, b.loop_, others);
  }
  std::size_t await_resume() {
    resume_handoff();
    if (released_) {
      released_ = false;
      if (barrier_->breaks_ != breaks_seen_) broken_ = true;
      barrier_->leave();
    }
    if (broken_) throw BrokenBarrierError();
    return index_;
  }

 private:
  friend class corio::Barrier;
  // Woken from the cycle (counted until it resumes).
  void release(std::uint64_t breaks) noexcept {
    released_ = true;
    breaks_seen_ = breaks;
  }
  // From the entrance into the cycle (the caller unlinked the node).
  void enter(IntrusiveList<WaitNode>& cycle) noexcept { link(cycle); }

  Barrier* barrier_;
  std::size_t index_ = 0;
  std::uint64_t breaks_seen_ = 0;
  bool broken_ = false;
  bool at_entrance_ = false;
  bool released_ = false;
};

}  // namespace internal

inline internal::LazyAwaiter<internal::BarrierWait, Barrier*> Barrier::wait() noexcept {
  return internal::LazyAwaiter<internal::BarrierWait, Barrier*>(this);
}

inline void Barrier::trip() noexcept {
  state_ = State::kDraining;
  std::size_t index = 0;
  while (internal::WaitNode* w = waiters_.pop_front()) {
    internal::BarrierWait* a = internal::BarrierWait::awaiter_of(w);
    a->index_ = index++;
    a->release(breaks_);
    ++released_;
    w->wake();
  }
  if (released_ == 0) state_ = State::kFilling;  // one party: nothing to drain
}

inline void Barrier::break_waiters() noexcept {
  while (internal::WaitNode* w = waiters_.pop_front()) {
    internal::BarrierWait* a = internal::BarrierWait::awaiter_of(w);
    a->broken_ = true;
    a->release(breaks_);
    ++released_;
    w->wake();
  }
}

inline void Barrier::reset() noexcept {
  ++breaks_;  // breaks the parties released and not yet resumed
  if (waiters_.empty() && released_ == 0) {
    state_ = State::kFilling;
    return;
  }
  state_ = State::kResetting;
  break_waiters();
}

inline void Barrier::abort() noexcept {
  ++breaks_;
  state_ = State::kBroken;
  break_waiters();
  while (internal::WaitNode* w = entrance_.pop_front()) {
    internal::BarrierWait::awaiter_of(w)->broken_ = true;
    w->wake();
  }
  if (admit_timer_.queued()) internal::LoopAccess::remove_timer(*loop_, &admit_timer_);
}

inline void Barrier::leave() noexcept {
  if (--released_ != 0) return;
  if (state_ == State::kDraining || state_ == State::kResetting) {
    state_ = State::kFilling;
    if (!entrance_.empty()) schedule_admission();
  }
}

inline void Barrier::schedule_admission() noexcept {
  if (admit_timer_.queued()) return;
  // Due now: it fires on the next loop iteration.
  admit_timer_.deadline = loop_->time().time_since_epoch().count();
  try {
    internal::LoopAccess::add_timer(*loop_, &admit_timer_);
  } catch (const std::bad_alloc&) {
    admit();  // out of memory: admit them at once instead
  }
}

inline void Barrier::admit() noexcept {
  while (state_ == State::kFilling && !entrance_.empty()) {
    internal::WaitNode* w = entrance_.pop_front();
    internal::BarrierWait::awaiter_of(w)->enter(waiters_);
    if (waiters_.size() == parties_) trip();
  }
}

}  // namespace corio

#endif  // CORIO_SYNC_BARRIER_H_
