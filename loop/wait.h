// wait and as_completed: watch a set of running tasks (asyncio.wait,
// asyncio.as_completed).
#ifndef CORIO_LOOP_WAIT_H_
#define CORIO_LOOP_WAIT_H_

#include <coroutine>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/loop_access.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/internal/task_watch.h"
#include "corio/loop/internal/timer_heap.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"

namespace corio {

enum class ReturnWhen { kFirstCompleted, kFirstException, kAllCompleted };

// What wait() returns: the tasks done and those still pending, each in the
// order they were given.
template <class H>
struct WaitResult {
  std::vector<H> done;
  std::vector<H> pending;
};

// wait(tasks, return_when, timeout)
//
// Suspends until `return_when` holds: kFirstCompleted (any task done),
// kFirstException (any task raised something other than CancelledError, or
// all done), kAllCompleted; or until `timeout` passes. Never raises the
// tasks' errors and never cancels them: look at `done`, act on `pending`.
// H is TaskHandle<T> or TaskRef.
// Errors: std::invalid_argument for an empty set; RuntimeError with a
//   timeout and no loop running on this thread.
// Thread safety: awaited by a task on the tasks' loop.
// Cancellation: the wait stops; the tasks keep running.
template <class H>
Task<WaitResult<H>> wait(std::vector<H> tasks, ReturnWhen return_when = ReturnWhen::kAllCompleted,
                         std::optional<Delay> timeout = std::nullopt) {
  if (tasks.empty()) throw std::invalid_argument("corio::wait: the set of tasks is empty");
  std::vector<TaskRef> refs(tasks.begin(), tasks.end());
  {
    internal::WatchUntil until = return_when == ReturnWhen::kFirstCompleted   ? internal::WatchUntil::kFirstDone
                                 : return_when == ReturnWhen::kFirstException ? internal::WatchUntil::kFirstException
                                                                              : internal::WatchUntil::kAllDone;
    internal::TaskWatch watch(refs, until);
    if (timeout) watch.set_deadline(current_loop(), internal::deadline_after(current_loop().time(), *timeout));
    co_await watch.wait();
  }
  WaitResult<H> result;
  for (H& t : tasks) (t.done() ? result.done : result.pending).push_back(std::move(t));
  co_return result;
}

// AsCompleted<T>: yields tasks in the order they finish (asyncio.as_completed).
//
//   corio::AsCompleted<int> ac(std::move(handles));
//   while (!ac.empty()) { TaskHandle<int> t = co_await ac.next(); ... }
//
// Tasks already done when it is made come first, in the order given.
// next() may be awaited by several tasks at once (like
// `gather(*as_completed(fs))`): waiting next() calls are served first come,
// first served, and each finished task goes to exactly one of them. A next()
// that is waiting counts as having claimed a task: empty() turns true once
// every task has been handed out or is awaited by a waiting next(), so
// several workers may each loop on `while (!ac.empty())`.
// Errors: next() raises TimeoutError once the optional overall timeout has
//   passed with tasks unfinished (every waiting next() does), and
//   InvalidStateError when none is left (empty()).
// Cancellation: a next() cancelled while waiting stops waiting and takes no
//   task; the other waiting next() calls keep their turn, and no task is
//   lost: the next waiter or a later next() gets it. Once a finished task
//   has been handed to a waiting next(), that next() returns it even if its
//   task is cancelled before it runs (the CancelledError comes at its next
//   suspension point, see loop/internal/task_base.h); if its frame is
//   destroyed before it returns, the task goes to the next waiter or back to
//   the front for a later next().
// Thread safety: loop thread only; must not outlive the loop, and must
//   outlive every next() awaiting it. The constructor throws RuntimeError
//   for an empty handle, and for a timeout with no loop running.
template <class T>
class AsCompleted {
 public:
  explicit AsCompleted(std::vector<TaskHandle<T>> tasks, std::optional<Delay> timeout = std::nullopt)
      : s_(std::make_unique<State>(std::move(tasks))) {
    if (timeout) s_->deadline = internal::deadline_after(current_loop().time(), *timeout);
  }

  // True when every task has been handed out or is awaited by a waiting
  // next(): another next() would raise InvalidStateError.
  bool empty() const noexcept { return remaining() == 0; }
  // Tasks neither handed out nor awaited by a waiting next().
  std::size_t remaining() const noexcept { return s_->tasks.size() - s_->handed - s_->waiters.size(); }

  // The next task to finish (done: await it or call result()).
  Task<TaskHandle<T>> next() {
    State& s = *s_;
    if (empty()) throw InvalidStateError("corio::AsCompleted: no tasks left");
    if (Node* n = s.ready.pop_front()) {
      ++s.handed;
      co_return s.tasks[n->i];
    }
    if (s.deadline && current_loop().time() >= *s.deadline) throw TimeoutError();
    std::size_t i = co_await ReadyAwaiter(&s);
    co_return s.tasks[i];
  }

 private:
  struct State;
  // Watches one task; once it is done, queued in State::ready until a next()
  // takes it (the same link serves both lists, one after the other).
  struct Node : internal::DoneWaiter {
    State* s = nullptr;
    std::size_t i = 0;
  };
  class ReadyAwaiter;
  struct State {
    explicit State(std::vector<TaskHandle<T>> t) : tasks(std::move(t)), nodes(tasks.size()) {
      // All checked before any node is linked: a throw halfway would leave
      // linked nodes behind in the tasks' waiter lists.
      for (const TaskHandle<T>& h : tasks) {
        if (!h) throw RuntimeError("corio::AsCompleted of an empty task handle (default-constructed or moved from)");
      }
      for (std::size_t i = 0; i < tasks.size(); ++i) {
        nodes[i].s = this;
        nodes[i].i = i;
        nodes[i].on_done = &State::on_done;
        if (tasks[i].done()) {
          ready.push_back(&nodes[i]);
        } else {
          tasks[i].base()->add_waiter(&nodes[i]);
        }
      }
    }
    ~State() {
      while (ready.pop_front() != nullptr) {
      }
      // What is still linked is in a task's list of waiters.
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].linked()) tasks[i].base()->remove_waiter(&nodes[i]);
      }
    }
    static void on_done(internal::DoneWaiter* d) noexcept {
      Node* n = static_cast<Node*>(d);
      n->s->deliver(n, false);
    }
    // Hands a finished task's node to the longest waiting next(), or queues
    // it (at the front when it is given back). Allocates nothing.
    void deliver(Node* n, bool front) noexcept;

    std::vector<TaskHandle<T>> tasks;
    std::vector<Node> nodes;
    // Done and not handed out. Invariant: `ready` and `waiters` are never
    // both non-empty.
    internal::IntrusiveList<Node> ready;
    internal::IntrusiveList<ReadyAwaiter> waiters;  // FIFO
    std::size_t handed = 0;                         // to a next(), returned or about to
    std::optional<TimePoint> deadline;
  };
  // A waiting next(), linked in State::waiters; lives in next()'s frame.
  class ReadyAwaiter final : public internal::ListNode, internal::Suspension, internal::TimerNode {
   public:
    explicit ReadyAwaiter(State* s) noexcept : Suspension(&ReadyAwaiter::detach), s_(s) {
      fire = &ReadyAwaiter::on_deadline;
    }
    ~ReadyAwaiter() {
      abandon();
      // Woken with a task and destroyed before passing it on (loop
      // teardown): give it back.
      if (slot_ != nullptr) {
        Node* n = std::exchange(slot_, nullptr);
        --s_->handed;
        s_->deliver(n, true);
      }
    }
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!suspend(h)) return false;
      // From here a throw unwinds through ~ReadyAwaiter, which detaches.
      s_->waiters.push_back(this);
      if (s_->deadline) {
        loop_ = task()->loop();
        deadline = s_->deadline->time_since_epoch().count();
        internal::LoopAccess::add_timer(*loop_, this);
      }
      return true;
    }
    // The index of the task handed over. Errors: CancelledError if
    // cancelled while waiting; TimeoutError if the deadline woke it and
    // nothing finished meanwhile.
    std::size_t await_resume() {
      check_cancelled();
      Node* n = std::exchange(slot_, nullptr);
      if (n == nullptr) {
        n = s_->ready.pop_front();
        if (n == nullptr) throw TimeoutError();
        ++s_->handed;
      }
      return n->i;
    }
    // Called by State::deliver, which has unlinked it and counted the task
    // as handed out.
    void hand(Node* n) noexcept {
      slot_ = n;
      if (loop_ != nullptr) internal::LoopAccess::remove_timer(*loop_, this);
      wake();
    }

   private:
    static void detach(Suspension* self) noexcept {
      auto* a = static_cast<ReadyAwaiter*>(self);
      if (a->linked()) a->s_->waiters.erase(a);
      if (a->loop_ != nullptr) internal::LoopAccess::remove_timer(*a->loop_, a);
    }
    static void on_deadline(TimerNode* n) noexcept {
      auto* a = static_cast<ReadyAwaiter*>(n);
      if (a->linked()) a->s_->waiters.erase(a);
      a->wake();
    }
    State* s_;
    EventLoop* loop_ = nullptr;
    Node* slot_ = nullptr;  // the task handed over, until await_resume
  };
  std::unique_ptr<State> s_;
};

template <class T>
void AsCompleted<T>::State::deliver(Node* n, bool front) noexcept {
  if (ReadyAwaiter* w = waiters.pop_front()) {
    ++handed;
    w->hand(n);
  } else if (front) {
    ready.push_front(n);
  } else {
    ready.push_back(n);
  }
}

}  // namespace corio

#endif  // CORIO_LOOP_WAIT_H_
