// The parts every sync primitive's waiting shares: a node that parks a task
// in a primitive's FIFO list, the leaf awaiter built on loop's Suspension,
// and the check that one primitive's waiters all belong to one loop.
//
// How a wait works (see loop/internal/task_base.h for the protocol):
//  * await_ready takes the fast path when it can (a free lock, a permit, an
//    item) and never suspends then.
//  * Otherwise `Waiter::park` registers the task as suspended on the awaiter
//    (or, if a cancel is already pending, does not suspend: await_resume
//    throws CancelledError) and links the awaiter at the back of the list.
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

// Base of sync's leaf awaiters: a Suspension that parks in a WaitNode list.
// (WaitNode comes first so that it is still alive when ~Suspension detaches
// a task whose frame is destroyed while parked.)
class Waiter : public WaitNode, public Suspension {
 public:
  explicit Waiter(DetachFn detach) noexcept : Suspension(detach) {}

  // For await_suspend: parks the current task at the back of `list`.
  // Returns false (do not suspend; check_cancelled() throws) if a cancel
  // was pending. Errors: RuntimeError outside a task, or if the list's
  // waiters belong to another loop.
  template <class Node>
  bool park(std::coroutine_handle<> h, IntrusiveList<Node>& list, EventLoop*& bound) {
    if (!suspend(h)) return false;
    TaskBase* t = task();
    try {
      bind_loop(bound, t, !list.empty());
    } catch (...) {
      t->cancel_target_ = nullptr;
      throw;
    }
    owner = t;
    list.push_back(static_cast<Node*>(this));
    return true;
  }

  using WaitNode::wake;
};

}  // namespace corio::internal

#endif  // CORIO_SYNC_INTERNAL_WAITER_H_
