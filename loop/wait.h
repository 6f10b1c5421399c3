// wait and as_completed: watch a set of running tasks (asyncio.wait,
// asyncio.as_completed).
#ifndef CORIO_LOOP_WAIT_H_
#define CORIO_LOOP_WAIT_H_

#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/task_watch.h"
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
// Errors: std::invalid_argument for an empty set.
// Cancellation: the wait stops; the tasks keep running.
template <class H>
Task<WaitResult<H>> wait(std::vector<H> tasks, ReturnWhen return_when = ReturnWhen::kAllCompleted,
                         std::optional<Duration> timeout = std::nullopt) {
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
// Errors: next() raises TimeoutError once the optional overall timeout has
//   passed with tasks unfinished, and InvalidStateError when none is left.
// Cancellation: next() stops waiting; no task is lost: a later next() still
//   returns it.
// Thread safety: loop thread only; must not outlive the loop.
template <class T>
class AsCompleted {
 public:
  explicit AsCompleted(std::vector<TaskHandle<T>> tasks, std::optional<Duration> timeout = std::nullopt)
      : s_(std::make_unique<State>(std::move(tasks))) {
    if (timeout) s_->deadline = internal::deadline_after(current_loop().time(), *timeout);
  }

  // True when every task has been handed out.
  bool empty() const noexcept { return s_->handed == s_->tasks.size(); }
  std::size_t remaining() const noexcept { return s_->tasks.size() - s_->handed; }

  // The next task to finish (done: await it or call result()).
  Task<TaskHandle<T>> next() {
    State& s = *s_;
    if (s.handed == s.tasks.size()) throw InvalidStateError("corio::AsCompleted: no tasks left");
    if (s.ready.empty()) {
      if (s.deadline && current_loop().time() >= *s.deadline) throw TimeoutError();
      co_await ReadyAwaiter(&s);
      if (s.ready.empty()) throw TimeoutError();
    }
    std::size_t i = s.ready.front();
    s.ready.pop_front();
    ++s.handed;
    co_return s.tasks[i];
  }

 private:
  struct State;
  struct Node : internal::DoneWaiter {
    State* s = nullptr;
    std::size_t i = 0;
  };
  class ReadyAwaiter;
  struct State {
    explicit State(std::vector<TaskHandle<T>> t) : tasks(std::move(t)), nodes(tasks.size()) {
      for (std::size_t i = 0; i < tasks.size(); ++i) {
        nodes[i].s = this;
        nodes[i].i = i;
        nodes[i].on_done = &State::on_done;
        if (tasks[i].done()) {
          ready.push_back(i);
        } else {
          tasks[i].base()->add_waiter(&nodes[i]);
        }
      }
    }
    ~State() {
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (nodes[i].linked()) tasks[i].base()->remove_waiter(&nodes[i]);
      }
    }
    static void on_done(internal::DoneWaiter* d) noexcept {
      Node* n = static_cast<Node*>(d);
      n->s->ready.push_back(n->i);
      n->s->poke();
    }
    void poke() noexcept;
    std::vector<TaskHandle<T>> tasks;
    std::vector<Node> nodes;
    std::deque<std::size_t> ready;
    std::size_t handed = 0;
    std::optional<TimePoint> deadline;
    ReadyAwaiter* waiting = nullptr;
  };
  class ReadyAwaiter final : internal::Suspension, internal::TimerNode {
   public:
    explicit ReadyAwaiter(State* s) noexcept : Suspension(&ReadyAwaiter::detach), s_(s) {
      fire = &ReadyAwaiter::on_deadline;
    }
    ~ReadyAwaiter() { abandon(); }
    bool await_ready() const noexcept { return !s_->ready.empty(); }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!suspend(h)) return false;
      s_->waiting = this;
      if (s_->deadline) {
        loop_ = task()->loop();
        deadline = s_->deadline->time_since_epoch().count();
        loop_->add_timer(this);
      }
      return true;
    }
    void await_resume() const { check_cancelled(); }
    void wake_now() noexcept {
      s_->waiting = nullptr;
      if (loop_ != nullptr) loop_->remove_timer(this);
      wake();
    }

   private:
    static void detach(Suspension* self) noexcept {
      auto* a = static_cast<ReadyAwaiter*>(self);
      a->s_->waiting = nullptr;
      if (a->loop_ != nullptr) a->loop_->remove_timer(a);
    }
    static void on_deadline(TimerNode* n) noexcept { static_cast<ReadyAwaiter*>(n)->wake_now(); }
    State* s_;
    EventLoop* loop_ = nullptr;
  };
  std::unique_ptr<State> s_;
};

template <class T>
void AsCompleted<T>::State::poke() noexcept {
  if (waiting != nullptr) waiting->wake_now();
}

}  // namespace corio

#endif  // CORIO_LOOP_WAIT_H_
