// Event: asyncio.Event, a flag that tasks can wait for.
//
//   corio::Event ready;
//   // task A:                       // task B:
//   co_await ready.wait();           ready.set();
#ifndef CORIO_SYNC_EVENT_H_
#define CORIO_SYNC_EVENT_H_

#include <coroutine>
#include <cstddef>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/task_base.h"
#include "corio/sync/internal/waiter.h"

namespace corio {

class Event;

namespace internal {
class EventWait;
}  // namespace internal

// Event
//
// Starts clear. set() sets the flag and wakes every task waiting in wait(),
// in the order they started waiting; while the flag is set, wait() returns
// at once. clear() resets the flag; tasks already woken by set() still
// return from wait() normally.
//
// Errors: wait() throws RuntimeError outside a task or when tasks of two
//   loops wait on one Event. set()/clear()/is_set() never throw.
// Thread safety: the tasks of one loop only (not thread-safe; to set an
//   Event from another thread use loop.call_soon_threadsafe([&] { ev.set(); })).
//   An Event must outlive the tasks waiting on it.
// Cancellation: a task cancelled in wait() is removed from the waiters and
//   nothing else changes. The wake-up carries nothing, so a task cancelled
//   after set() woke it but before it ran raises CancelledError from wait()
//   right away.
class Event {
 public:
  Event() noexcept = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Awaitable: returns once the flag is set (at once if it is already).
  internal::LazyAwaiter<internal::EventWait, Event*> wait() noexcept;

  // Sets the flag and wakes every waiter. A no-op if already set.
  void set() noexcept {
    if (set_) return;
    set_ = true;
    while (internal::WaitNode* w = waiters_.pop_front()) w->wake();
  }
  // Clears the flag.
  void clear() noexcept { set_ = false; }
  bool is_set() const noexcept { return set_; }
  // Tasks waiting (for tests and diagnostics).
  std::size_t waiters() const noexcept { return waiters_.size(); }

 private:
  friend class internal::EventWait;
  internal::IntrusiveList<internal::WaitNode> waiters_;
  EventLoop* loop_ = nullptr;
  bool set_ = false;
};

namespace internal {

class [[nodiscard]] EventWait final : public Waiter<EventWait> {
 public:
  explicit EventWait(Event* ev) noexcept : ev_(ev) {}
  bool await_ready() const noexcept { return ev_->set_; }
  bool await_suspend(std::coroutine_handle<> h) { return park(h, ev_->waiters_, ev_->loop_); }
  // Nothing to lose: a cancel that came after the wake is delivered now.
  void await_resume() const { resume_nothing_to_lose(); }

 private:
  Event* ev_;
};

}  // namespace internal

inline internal::LazyAwaiter<internal::EventWait, Event*> Event::wait() noexcept {
  return internal::LazyAwaiter<internal::EventWait, Event*>(this);
}

}  // namespace corio

#endif  // CORIO_SYNC_EVENT_H_
