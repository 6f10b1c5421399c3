// TaskWatch: lets one task wait until a condition over a set of other tasks
// holds (all done, first done, first failure), with an optional deadline.
// The shared engine of gather, wait, as_completed and TaskGroup's exit.
#ifndef CORIO_LOOP_INTERNAL_TASK_WATCH_H_
#define CORIO_LOOP_INTERNAL_TASK_WATCH_H_

#include <coroutine>
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/loop_access.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/internal/timer_heap.h"
#include "corio/loop/task_handle.h"

namespace corio::internal {

enum class WatchUntil {
  kAllDone,
  kFirstDone,
  kFirstException,      // first exception other than CancelledError, or all done
  kFirstErrorOrCancel,  // first exception including CancelledError, or all done
};

class TaskWatch {
 public:
  // Errors: RuntimeError for an empty handle among `tasks` (checked before
  // any is watched); std::bad_alloc.
  TaskWatch(const std::vector<TaskRef>& tasks, WatchUntil until) : until_(until) {
    for (const TaskRef& t : tasks) {
      if (!t) throw RuntimeError("corio: gather/wait of an empty task handle (default-constructed or moved from)");
    }
    nodes_ = std::vector<Node>(tasks.size());
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      Node& n = nodes_[i];
      n.owner = this;
      n.index = i;
      n.task = tasks[i].base();
      n.on_done = &TaskWatch::on_child_done;
      if (n.task->done()) {
        count(i);
      } else {
        n.task->add_waiter(&n);
      }
    }
  }
  TaskWatch(const TaskWatch&) = delete;
  ~TaskWatch() {
    for (Node& n : nodes_) {
      if (n.linked()) n.task->remove_waiter(&n);
    }
    if (timer_.queued()) LoopAccess::remove_timer(*timer_.loop, &timer_);
  }

  bool satisfied() const noexcept {
    const std::size_t total = nodes_.size();
    switch (until_) {
      case WatchUntil::kAllDone:
        return done_ == total;
      case WatchUntil::kFirstDone:
        return done_ > 0 || total == 0;
      case WatchUntil::kFirstException:
      case WatchUntil::kFirstErrorOrCancel:
        return first_failed_.has_value() || done_ == total;
    }
    return true;
  }
  bool timed_out() const noexcept { return timed_out_; }
  // Index (in the constructor's order) of the first task to fail.
  std::optional<std::size_t> first_failed() const noexcept { return first_failed_; }
  // Indices of tasks in the order they completed.
  const std::vector<std::size_t>& completion_order() const noexcept { return order_; }

  // Arms a deadline on `loop`'s clock: waiting then ends with timed_out().
  void set_deadline(EventLoop& loop, TimePoint when) {
    timer_.loop = &loop;
    timer_.owner = this;
    timer_.deadline = when.time_since_epoch().count();
    timer_.fire = &TaskWatch::on_deadline;
    LoopAccess::add_timer(loop, &timer_);
  }

  // Awaitable: suspends until satisfied() or timed out.
  // Cancellation: stops waiting; the watched tasks are untouched.
  class [[nodiscard]] Awaiter final : Suspension {
   public:
    explicit Awaiter(TaskWatch* w) noexcept : Suspension(&Awaiter::detach), w_(w) {}
    [[gnu::always_inline]] ~Awaiter() { abandon(); }
    bool await_ready() const noexcept { return w_->satisfied() || w_->timed_out_; }
    bool await_suspend(std::coroutine_handle<> h) {
      if (!suspend(h)) return false;
      w_->waiting_ = this;
      return true;
    }
    void await_resume() const { check_cancelled(); }

   private:
    friend class TaskWatch;
    static void detach(Suspension* s) noexcept { static_cast<Awaiter*>(s)->w_->waiting_ = nullptr; }
    TaskWatch* w_;
  };
  Awaiter wait() noexcept { return Awaiter(this); }

 private:
  struct Node : DoneWaiter {
    TaskWatch* owner = nullptr;
    TaskBase* task = nullptr;
    std::size_t index = 0;
  };
  struct Timer : TimerNode {
    TaskWatch* owner = nullptr;
    EventLoop* loop = nullptr;
  };

  void count(std::size_t i) noexcept {
    ++done_;
    order_.push_back(i);
    TaskBase* t = nodes_[i].task;
    if (!first_failed_ && t->exception_peek()) {
      if (until_ == WatchUntil::kFirstErrorOrCancel || !t->cancelled()) first_failed_ = i;
    }
  }
  void poke() noexcept {
    if (waiting_ != nullptr && (satisfied() || timed_out_)) {
      Awaiter* a = waiting_;
      waiting_ = nullptr;
      a->wake();
    }
  }
  static void on_child_done(DoneWaiter* d) noexcept {
    Node* n = static_cast<Node*>(d);
    n->owner->count(n->index);
    n->owner->poke();
  }
  static void on_deadline(TimerNode* t) noexcept {
    TaskWatch* w = static_cast<Timer*>(t)->owner;
    w->timed_out_ = true;
    w->poke();
  }

  WatchUntil until_;
  std::vector<Node> nodes_;
  std::vector<std::size_t> order_;
  std::optional<std::size_t> first_failed_;
  std::size_t done_ = 0;
  Awaiter* waiting_ = nullptr;
  Timer timer_;
  bool timed_out_ = false;
};

// Waits until every task in `tasks` is done, absorbing cancellation of the
// waiting task meanwhile; returns true if a cancellation was absorbed (the
// caller then re-raises it). Used where children must not be left behind.
inline Task<bool> wait_all_absorbing_cancel(std::vector<TaskRef> tasks) {
  bool cancelled = false;
  for (;;) {
    TaskWatch watch(tasks, WatchUntil::kAllDone);
    try {
      co_await watch.wait();
      co_return cancelled;
    } catch (const CancelledError&) {
      cancelled = true;
    }
  }
}

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_TASK_WATCH_H_
