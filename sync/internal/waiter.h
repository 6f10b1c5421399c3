// The parts every sync primitive's waiting shares: a node that parks a task
// in a primitive's FIFO list, the leaf awaiter built on loop's Suspension,
// and the check that one primitive's waiters all belong to one loop.
//
// How a wait works (see loop/internal/task_base.h for the protocol):
//  * await_ready takes the fast path when it can (a free lock, a permit, an
//    item) and never suspends then.
//  * Otherwise `Waiter::park` registers the task as suspended on the awaiter
//    (or, if a cancel is already pending, does not suspend: await_resume
//    throws CancelledError) and links its node at the back of the list.
//  * The primitive hands over what the wait was for (ownership, a permit,
//    an item) by unlinking the node, storing the result in the awaiter and
//    calling `wake()`, which clears the task's cancel target: a cancel that
//    arrives after that is kept pending and delivered at the task's next
//    suspension point, so what was handed over is never lost.
//  * A cancel while still linked unlinks the node (`detach`) and the
//    awaiter's await_resume throws CancelledError; nothing was handed over.
#ifndef CORIO_SYNC_INTERNAL_WAITER_H_
#define CORIO_SYNC_INTERNAL_WAITER_H_

#include <coroutine>
#include <new>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/task_base.h"

namespace corio::internal {

// A task parked in a primitive's list. `owner` is set when it parks.
struct WaitNode : ListNode {
  TaskBase* owner = nullptr;

  // Wakes the parked task normally; the caller has unlinked the node.
  void wake() noexcept {
    owner->cancel_target_ = nullptr;
    owner->schedule();
  }
};

// Throws if `task` runs on another loop than the tasks already waiting on a
// primitive (`bound`, meaningful only while `others_waiting`). Waking a task
// of another loop would touch that loop's ready queue from this thread.
inline void bind_loop(EventLoop*& bound, TaskBase* task, bool others_waiting) {
  EventLoop* loop = task->loop();
  if (others_waiting && bound != loop) {
    throw RuntimeError("corio: a sync primitive is used by tasks of two different event loops");
  }
  bound = loop;
}

// Base of sync's leaf awaiters (CRTP: Derived is the awaiter).
//
// The Suspension (the task's cancel target) and the list node live in a
// Node that is only constructed when the task really parks. The fast path,
// which never parks (a free lock, an item already queued), so builds and
// destroys nothing but a pointer and a flag: the uncontended Lock costs a
// few nanoseconds instead of paying for an out-of-line ~Suspension().
//
// Derived provides `static void detach(Derived* self) noexcept`, which
// unlinks its node from the primitive's list when the task is cancelled
// while parked (or its frame destroyed), and befriends Waiter<Derived>.
template <class Derived>
class Waiter {
 public:
  Waiter() noexcept {}
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
  ~Waiter() {
    if (parked_) node_.~Node();
  }

 protected:
  struct Node final : WaitNode, Suspension {
    explicit Node(Derived* a) noexcept : Suspension(&Node::detach_thunk), awaiter(a) {}
    static void detach_thunk(Suspension* s) noexcept { Waiter::call_detach(static_cast<Node*>(s)->awaiter); }
    Derived* const awaiter;
  };

  // The awaiter parked as `n` (a node of one of Derived's lists).
  static Derived* awaiter_of(WaitNode* n) noexcept { return static_cast<Node*>(n)->awaiter; }

  // For await_suspend: parks the current task at the back of `list`.
  // Returns false (do not suspend; await_resume throws CancelledError) if a
  // cancel was pending. Errors: RuntimeError outside a task, or if the
  // list's waiters belong to another loop.
  bool park(std::coroutine_handle<> h, IntrusiveList<WaitNode>& list, EventLoop*& bound) {
    if (!begin_park(h)) return false;
    TaskBase* t = node_.task();
    try {
      bind_loop(bound, t, !list.empty());
    } catch (...) {
      t->cancel_target_ = nullptr;
      throw;
    }
    node_.owner = t;
    list.push_back(&node_);
    return true;
  }

  // The first half of park(), for awaiters that link the node themselves:
  // registers the task as suspended here (false: a cancel was pending).
  bool begin_park(std::coroutine_handle<> h) {
    ::new (static_cast<void*>(&node_)) Node(static_cast<Derived*>(this));
    parked_ = true;
    return node_.suspend(h);
  }

  // For await_resume of a hand-off wait: throws CancelledError if cancelled
  // while parked.
  void resume_handoff() const {
    if (parked_) [[unlikely]]
      node_.check_cancelled();
  }
  // For await_resume of a wait whose wake carries nothing: also delivers a
  // cancel requested after the wake.
  void resume_nothing_to_lose() const {
    if (parked_) [[unlikely]]
      node_.check_cancelled_or_pending();
  }

  bool parked() const noexcept { return parked_; }
  // Only after begin_park().
  Node& node() noexcept { return node_; }

 private:
  static void call_detach(Derived* self) noexcept { Derived::detach(self); }

  union {
    Node node_;
  };
  bool parked_ = false;
};

}  // namespace corio::internal

#endif  // CORIO_SYNC_INTERNAL_WAITER_H_
