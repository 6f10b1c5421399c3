// WaitList: tasks parked until something changes, woken all at once; the
// leaf awaiter of the streams module (a StreamReader waiting for data, a
// StreamWriter's drain() and wait_closed(), Broadcast subscribers).
//
// The wake carries nothing: a woken task looks again at the state it
// waited on (the bytes stay in the buffer, the item stays in the ring). So
// a cancel is always safe: one that arrives while parked unlinks the
// waiter; one that arrives after the wake but before the task ran is raised
// at once by await_resume (see loop/internal/task_base.h), and what the
// task waited for is still there for the next call.
#ifndef CORIO_STREAMS_INTERNAL_WAIT_LIST_H_
#define CORIO_STREAMS_INTERNAL_WAIT_LIST_H_

#include <coroutine>
#include <cstddef>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/task_base.h"

namespace corio::internal {

class WaitList;

// co_await list.wait(): see WaitList.
class [[nodiscard]] WaitListAwaiter : protected Suspension, public ListNode {
 public:
  explicit WaitListAwaiter(WaitList* list) noexcept : WaitListAwaiter(list, nullptr) {}
  // Movable until awaited (so that wait_for(list.wait(), d) works).
  WaitListAwaiter(WaitListAwaiter&& o) noexcept : WaitListAwaiter(o.list_, o.attempt_) {}
  WaitListAwaiter& operator=(WaitListAwaiter&&) = delete;
  ~WaitListAwaiter() { abandon(); }

  bool await_ready() const noexcept { return false; }
  inline bool await_suspend(std::coroutine_handle<> h);
  void await_resume() const { check_cancelled_or_pending(); }

 protected:
  // For awaiters that finish their work from the wake (StreamReader's
  // reads): wake_all() calls `attempt` first; false leaves the awaiter
  // parked (it has not got what it waits for yet), true wakes it (it has,
  // and keeps it: see step 4 of the protocol in task_base.h).
  using AttemptFn = bool (*)(WaitListAwaiter* self) noexcept;
  WaitListAwaiter(WaitList* list, AttemptFn attempt) noexcept
      : Suspension(&WaitListAwaiter::detach), list_(list), attempt_(attempt) {}

 protected:
  // The list this awaiter parks in (for an awaiter whose source derives
  // from WaitList, which then needs no pointer of its own to it).
  WaitList* list() const noexcept { return list_; }

 private:
  friend class WaitList;
  static inline void detach(Suspension* s) noexcept;
  void wake_up() noexcept { wake(); }

  WaitList* list_;
  AttemptFn attempt_;
};

class WaitList {
 public:
  WaitList() noexcept = default;
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;
  // Forgets tasks still parked here, so that their awaiters find nothing
  // to unlink when their frames go. That happens at loop teardown, which
  // destroys tasks in no particular order: the task whose frame owned what
  // the list lives in (a StreamWriter, say) may go before the tasks parked
  // in it. (Otherwise what a task waits on must outlive its wait.)
  ~WaitList() {
    while (waiters_.pop_front() != nullptr) {
    }
  }

  // Parks the calling task until wake_all(). Errors: RuntimeError outside
  // a task. Cancellation: see the header comment.
  WaitListAwaiter wait() noexcept { return WaitListAwaiter(this); }

  // Wakes every parked task, in the order they parked; one whose attempt
  // (see WaitListAwaiter) says it has not got what it waits for stays.
  void wake_all() noexcept {
    IntrusiveList<WaitListAwaiter> stay;
    while (WaitListAwaiter* w = waiters_.pop_front()) {
      if (w->attempt_ != nullptr && !w->attempt_(w)) [[unlikely]] {
        stay.push_back(w);
        continue;
      }
      w->wake_up();
    }
    while (WaitListAwaiter* w = stay.pop_front()) waiters_.push_back(w);
  }

  bool empty() const noexcept { return waiters_.empty(); }
  // O(n): for tests.
  std::size_t size() const noexcept { return waiters_.count(); }

 private:
  friend class WaitListAwaiter;
  // A ring (one pointer) rather than an IntrusiveList (three): every
  // connection holds three WaitLists (its reader's, its writer's drain and
  // wait_closed), nearly always empty.
  IntrusiveRing<WaitListAwaiter> waiters_;
};

inline bool WaitListAwaiter::await_suspend(std::coroutine_handle<> h) {
  if (!suspend(h)) return false;
  list_->waiters_.push_back(this);
  return true;
}

inline void WaitListAwaiter::detach(Suspension* s) noexcept {
  auto* self = static_cast<WaitListAwaiter*>(s);
  if (self->linked()) self->list_->waiters_.erase(self);
}

}  // namespace corio::internal

#endif  // CORIO_STREAMS_INTERNAL_WAIT_LIST_H_
