// TaskGroup: structured concurrency (asyncio.TaskGroup).
//
//   co_await corio::task_group([&](corio::TaskGroup& tg) -> corio::Task<> {
//     tg.create_task(fetch(1));
//     tg.create_task(fetch(2));
//     co_return;
//   });   // returns once every child is done
//
// The body runs inline in the current task; children run as tasks. When a
// child fails (an exception other than CancelledError), the group cancels
// every other child and the body, waits for all of them, and raises an
// ExceptionGroup holding every child's error (and the body's, if it failed
// other than by the group's own cancellation), in the order they happened.
// No child outlives the group. The body's co_return value is returned.
//
// Errors: ExceptionGroup as above; CancelledError if the task running the
//   group was cancelled from outside and nothing failed (children are
//   cancelled and awaited first); RuntimeError from create_task once the
//   group is shutting down.
// Thread safety: loop thread only.
// Cancellation: a cancel() of the task running the group from outside it
//   (the group's caller, a timeout, an enclosing group) cancels the body and
//   every child and waits for them. If a child or the body failed, the
//   ExceptionGroup takes priority but the outer cancel is not lost: it stays
//   pending and is raised at the task's next suspension point (as any pending
//   cancel: internal/task_base.h), so a task that catches the ExceptionGroup
//   and awaits again gets CancelledError (asyncio 3.13, gh-116720);
//   cancelling() is unchanged. The group's own cancel of the body on a child
//   failure is withdrawn (uncancel) before the group exits and leaves nothing
//   pending. "From outside" is any request cancelling() still counts once the
//   group withdrew its own, one the task caught earlier without uncancel()
//   included (as in asyncio). A timeout the ExceptionGroup passes through
//   withdraws its own request, and with it the pending cancel if no other
//   request is counted.
#ifndef CORIO_LOOP_TASK_GROUP_H_
#define CORIO_LOOP_TASK_GROUP_H_

#include <coroutine>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"

namespace corio {

class TaskGroup {
 public:
  TaskGroup() = default;
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup();

  // Starts `coro` as a child task. Its errors belong to the group (they are
  // never reported as unretrieved). As in asyncio, a running child may still
  // add siblings after the body returned; the group waits for them too.
  // Errors: RuntimeError if the group is shutting down (a child or the body
  //   failed, or the group was cancelled) or finished (no child left after
  //   the body returned).
  template <class T>
  TaskHandle<T> create_task(Task<T> coro, std::string name = {}) {
    check_can_create();
    TaskHandle<T> h = corio::create_task(*loop_, std::move(coro), std::move(name));
    watch(h.base());
    return h;
  }
  // Children not yet finished.
  std::size_t size() const noexcept { return children_.size(); }

  // ---- Internal: used by task_group(); not for applications. ----
  void enter();
  // Called when the body finished; returns an awaitable that waits for the
  // children and then raises as documented above via finish().
  class ExitAwaiter;
  ExitAwaiter wait_children() noexcept;
  void finish(std::exception_ptr body_error);
  void body_done(std::exception_ptr body_error);
  bool has_children() const noexcept { return !children_.empty(); }
  void absorb_outer_cancel(const CancelledError& error);

 private:
  enum class State { kCreated, kActive, kExiting, kDone };
  // Linked in children_ through its ListNode base, and in the child task's
  // waiter list through `done`.
  struct Child : internal::ListNode, internal::FrameAllocated {
    struct Done : internal::DoneWaiter {
      Child* child;
    } done;
    TaskGroup* group;
    internal::TaskBase* task;
  };
  void check_can_create() const;
  void watch(internal::TaskBase* t);
  void abort() noexcept;
  static void on_child_done(internal::DoneWaiter* w) noexcept;

  EventLoop* loop_ = nullptr;
  internal::TaskBase* parent_ = nullptr;
  internal::IntrusiveList<Child> children_;
  std::vector<std::exception_ptr> errors_;
  std::exception_ptr outer_cancel_;  // a cancel absorbed while waiting
  ExitAwaiter* exit_waiter_ = nullptr;
  State state_ = State::kCreated;
  bool aborting_ = false;
  bool parent_cancel_requested_ = false;
  bool propagate_cancel_ = false;
};

class [[nodiscard]] TaskGroup::ExitAwaiter final : internal::Suspension {
 public:
  explicit ExitAwaiter(TaskGroup* g) noexcept : Suspension(&ExitAwaiter::detach), g_(g) {}
  [[gnu::always_inline]] ~ExitAwaiter() { abandon(); }
  bool await_ready() const noexcept { return !g_->has_children(); }
  bool await_suspend(std::coroutine_handle<> h) {
    if (!suspend(h)) return false;
    g_->exit_waiter_ = this;
    return true;
  }
  void await_resume() const { check_cancelled(); }
  void wake_now() noexcept {
    g_->exit_waiter_ = nullptr;
    wake();
  }

 private:
  static void detach(Suspension* s) noexcept { static_cast<ExitAwaiter*>(s)->g_->exit_waiter_ = nullptr; }
  TaskGroup* g_;
};

inline TaskGroup::ExitAwaiter TaskGroup::wait_children() noexcept { return ExitAwaiter(this); }

namespace internal {

template <class T, class F>
Task<T> run_task_group(F body) {
  TaskGroup group;
  group.enter();
  std::exception_ptr body_error;
  std::optional<std::conditional_t<std::is_void_v<T>, std::monostate, T>> value;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await body(group);
      value.emplace();
    } else {
      value.emplace(co_await body(group));
    }
  } catch (...) {
    body_error = std::current_exception();
  }
  group.body_done(body_error);
  while (group.has_children()) {
    try {
      co_await group.wait_children();
    } catch (const CancelledError& e) {
      group.absorb_outer_cancel(e);
    }
  }
  group.finish(body_error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*value);
}

}  // namespace internal

// Runs `body(TaskGroup&)` (a callable returning Task<T>) as a task group.
template <class F>
requires std::is_invocable_v<F&, TaskGroup&> Task<typename std::invoke_result_t<F&, TaskGroup&>::value_type> task_group(
    F body) {
  return internal::run_task_group<typename std::invoke_result_t<F&, TaskGroup&>::value_type>(std::move(body));
}

}  // namespace corio

#endif  // CORIO_LOOP_TASK_GROUP_H_
