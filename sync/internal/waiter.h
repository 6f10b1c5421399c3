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
//  * A cancel while still linked unlinks the node and the awaiter's
//    await_resume throws CancelledError; nothing was handed over.
//  * What a wait obtained (a lock, a permit, an item) belongs to the awaiter
//    until its await_resume passes it to the caller. An awaiter destroyed
//    before that gives it back. This happens when await_resume never runs:
//    g++ 12 runs `co_await a + co_await b` as a's suspend, b's ready and
//    suspend, then a's resume and b's, so if a's resume throws, b's never
//    runs; and when the loop destroys a woken frame before it ran.
#ifndef CORIO_SYNC_INTERNAL_WAITER_H_
#define CORIO_SYNC_INTERNAL_WAITER_H_

#include <coroutine>
#include <exception>
#include <mutex>
#include <new>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/task_base.h"

namespace corio::internal {

// A task parked in a primitive's list: the list node and the task's
// Suspension (loop/internal/task_base.h) in one, so that a primitive wakes
// whichever waiter it pops, whatever its awaiter.
struct WaitNode : ListNode, Suspension {
  explicit WaitNode(DetachFn detach) noexcept : Suspension(detach) {}

  // (wake(), Suspension's, wakes the parked task normally; the caller has
  // unlinked the node and stored what it hands over in the awaiter.)

  // Set by grant(): the wake handed the awaiter something it must give back
  // if it is destroyed before its await_resume passes it on.
  bool granted = false;
  // wake() for a hand-off of ownership (a lock, a permit).
  void grant() noexcept {
    granted = true;
    wake();
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

// Tells the current loop's exception handler (stderr without a loop) that
// putting back an item failed with `error`.
[[gnu::cold, gnu::noinline]] inline void report_put_back_failure(const char* what, std::exception_ptr error) noexcept {
  try {
    ErrorContext context{what, std::move(error), {}};
    if (EventLoop* loop = EventLoop::current()) {
      loop->call_exception_handler(context);
    } else {
      EventLoop::default_exception_handler(context);
    }
  } catch (...) {
    // Out of memory for the report too: nothing more can be done.
  }
}

// Base of sync's leaf awaiters (CRTP: Derived is the awaiter).
//
// The Suspension (the task's cancel target) and the list node live in a
// Node that is only constructed when the task really parks. The fast path,
// which never parks (a free lock, an item already queued), so builds and
// destroys nothing but a pointer and a flag: the uncontended Lock costs a
// few nanoseconds instead of paying for an out-of-line ~Suspension().
//
// The Node knows the list it is parked in, so it can unlink itself when the
// task is cancelled while parked, and when the frame is destroyed while
// parked (loop teardown) it does so in its own destructor, while everything
// it touches is still alive.
template <class Derived>
class Waiter : LoopAwaiter {
 public:
  Waiter() noexcept {}
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;
  ~Waiter() {
    if (parked_) node_.~Node();
  }

 protected:
  struct Node final : WaitNode {
    explicit Node(Derived* a) noexcept : WaitNode(&Node::detach), awaiter(a) {}
    ~Node() { abandon(); }
    static void detach(Suspension* s) noexcept {
      auto* n = static_cast<Node*>(s);
      if (n->mu != nullptr) {
        std::lock_guard<std::mutex> lock(*n->mu);
        if (n->linked()) n->list->erase(n);
      } else if (n->linked()) {
        n->list->erase(n);
      }
    }

    Derived* const awaiter;
    IntrusiveList<WaitNode>* list = nullptr;  // where it is parked
    std::mutex* mu = nullptr;                 // held to unlink, if the list needs it
  };

  // The awaiter parked as `n` (a node of one of Derived's lists).
  static Derived* awaiter_of(WaitNode* n) noexcept { return static_cast<Node*>(n)->awaiter; }

  // For await_suspend: parks the current task at the back of `list`.
  // Returns false (do not suspend; await_resume throws CancelledError) if a
  // cancel was pending. Errors: RuntimeError outside a task, or if the
  // list's waiters belong to another loop. A primitive whose lists share
  // one `bound` passes `others_waiting`: whether any of them is non-empty.
  bool park(std::coroutine_handle<> h, IntrusiveList<WaitNode>& list, EventLoop*& bound) {
    return park(h, list, bound, !list.empty());
  }
  bool park(std::coroutine_handle<> h, IntrusiveList<WaitNode>& list, EventLoop*& bound, bool others_waiting) {
    if (!begin_park(h)) return false;
    try {
      bind_loop(bound, node_.task(), others_waiting);
    } catch (...) {
      node_.unpark();
      throw;
    }
    link(list);
    return true;
  }

  // The two halves of park(), for awaiters with more to do in between.
  // begin_park registers the task as suspended here (false: a cancel was
  // pending, do not suspend); link puts the node at the back of `list`.
  bool begin_park(std::coroutine_handle<> h) {
    ::new (static_cast<void*>(&node_)) Node(static_cast<Derived*>(this));
    parked_ = true;
    return node_.suspend(h);
  }
  void link(IntrusiveList<WaitNode>& list, std::mutex* mu = nullptr) noexcept {
    node_.list = &list;
    node_.mu = mu;
    list.push_back(&node_);
  }

  // For await_resume of a hand-off wait: throws CancelledError if cancelled
  // while parked.
  void resume_handoff() const {
    if (parked_ && node_.cancelled()) [[unlikely]]
      node_.check_cancelled();
  }
  // For await_resume of a wait whose wake carries nothing: also delivers a
  // cancel requested after the wake.
  void resume_nothing_to_lose() const {
    if (parked_) [[unlikely]]
      node_.check_cancelled_or_pending();
  }

  // Ownership a wait obtained and await_resume has not passed on yet: taken
  // on the fast path (mark_owed, in await_ready) or granted by a hand-off.
  // The awaiter's destructor gives it back while owed() (see above).
  void mark_owed() noexcept { owed_ = true; }
  bool owed() const noexcept { return owed_ || (parked_ && node_.granted); }
  // For await_resume: the caller has it now.
  void pass_on() noexcept {
    owed_ = false;
    if (parked_) node_.granted = false;
  }

  // Only after begin_park().
  Node& node() noexcept { return node_; }

 private:
  union {
    Node node_;
  };
  bool parked_ = false;
  bool owed_ = false;
};

}  // namespace corio::internal

#endif  // CORIO_SYNC_INTERNAL_WAITER_H_
