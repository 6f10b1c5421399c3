// TaskHandle<T>: a Task scheduled on the loop (asyncio.Task), and
// create_task, which makes one.
//
// create_task(coro) starts `coro` concurrently on the current loop and
// returns a handle. The loop keeps the task alive until it finishes, so a
// dropped handle does not stop it (fire and forget is safe). co_await on the
// handle gives the result or rethrows; many tasks may await one handle.
// A task that fails and whose exception nobody retrieves (by awaiting it,
// result() or exception()) is reported once through the loop's exception
// handler when its last handle goes away: "Task exception was never
// retrieved". It is never lost and never terminates the process.
//
// Thread safety: handles are for the loop's thread only (no atomic counts).
// Handles must not outlive their loop.
// Cancellation: cancelling a task while it awaits a handle cancels the
// awaited task too, and the awaiter then sees how that task ended
// (CancelledError if it ended cancelled). A cancel requested while the
// awaiter was running, still pending when the await starts, is passed on in
// the same way, as asyncio does. If the awaited task returns a value
// without reaching another suspension point, the request lapses there and
// stays pending in the awaiter (internal/task_base.h). shield() awaits a
// task without passing cancels on.
#ifndef CORIO_LOOP_TASK_HANDLE_H_
#define CORIO_LOOP_TASK_HANDLE_H_

#include <coroutine>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/loop_access.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/task.h"

namespace corio {

namespace internal {

template <class T>
class TaskState final : public TaskBase {
 public:
  TaskState(EventLoop* loop, typename Task<T>::handle_type h) noexcept : TaskBase(loop, &result_, h) {
    result_.frame = h;
    h.promise().start(&result_, nullptr, this);
  }
  ~TaskState() override {
    report_if_unretrieved();
    result_.destroy_frame();
  }
  Result<T>& result() noexcept { return result_; }

 private:
  Result<T> result_;
};

}  // namespace internal

// TaskRef: the untyped part of a task handle (no result access).
// An empty handle (default-constructed or moved from) can be tested
// (operator bool), compared, assigned and destroyed; its other members,
// and co_await of it, throw RuntimeError.
class TaskRef {
 public:
  TaskRef() noexcept = default;
  explicit TaskRef(internal::TaskBase* t) noexcept : t_(t) {
    if (t_) t_->ref();
  }
  TaskRef(const TaskRef& o) noexcept : TaskRef(o.t_) {}
  TaskRef(TaskRef&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  TaskRef& operator=(TaskRef o) noexcept {
    std::swap(t_, o.t_);
    return *this;
  }
  ~TaskRef() {
    if (t_) t_->unref();
  }
  explicit operator bool() const noexcept { return t_ != nullptr; }
  friend bool operator==(const TaskRef& a, const TaskRef& b) noexcept { return a.t_ == b.t_; }

  // True once the task finished: value, exception or cancelled.
  bool done() const { return live()->done(); }
  // True if the task finished by CancelledError.
  bool cancelled() const { return live()->cancelled(); }
  // Requests cancellation: CancelledError is raised at the task's current
  // suspension point (or the next one; before it starts, it never runs).
  // Returns false if the task is already done (a no-op then). A task whose
  // wait had already completed (a lock, an item, a child's result handed
  // to it) and that returns before suspending again ends with its value,
  // not cancelled: unlike asyncio, corio never discards a finished result.
  // Errors: RuntimeError for an empty handle, or in debug mode when called
  // from a thread other than the one running the task's loop.
  bool cancel(std::string message = {}) {
    internal::TaskBase* t = live();
    t->loop()->check_thread("TaskHandle::cancel()");
    return t->cancel(std::move(message));
  }
  // Pending cancel() requests (asyncio Task.cancelling()).
  std::uint32_t cancelling() const { return live()->cancelling(); }
  // Withdraws one cancel() request and returns those left (asyncio).
  std::uint32_t uncancel() { return live()->uncancel(); }
  // The task's name: the one given, or "Task-<n>" (n counts the tasks
  // created on this thread) when none or an empty one was given.
  std::string get_name() const { return live()->name(); }
  // Renames the task. Errors: std::bad_alloc.
  void set_name(std::string name) { live()->set_name(std::move(name)); }

  // The task's exception, or null if it returned a value. Counts as
  // retrieving it. Errors: InvalidStateError if not done; CancelledError if
  // the task was cancelled.
  std::exception_ptr exception() const {
    check_done();
    std::exception_ptr e = t_->exception_retrieved();
    if (t_->cancelled()) std::rethrow_exception(e);
    return e;
  }

  // Schedules `fn(TaskRef)` with call_soon once the task is done (at once
  // if it already is). Errors: none; exceptions from `fn` go to the loop's
  // exception handler.
  template <class F>
  void add_done_callback(F fn) {
    if (live()->done()) {
      t_->loop()->call_soon([fn = std::move(fn), self = *this]() mutable { fn(self); });
      return;
    }
    t_->add_waiter(new DoneCallback<F>(t_, std::move(fn)));
  }

  // Internal: the task's state (null for an empty handle).
  internal::TaskBase* base() const noexcept { return t_; }

 protected:
  // The task, or RuntimeError for an empty handle.
  internal::TaskBase* live() const {
    if (t_ == nullptr) [[unlikely]]
      throw_empty();
    return t_;
  }
  [[noreturn, gnu::cold, gnu::noinline]] static void throw_empty() {
    throw RuntimeError("corio: use of an empty task handle (default-constructed or moved from)");
  }
  void check_done() const {
    if (!live()->done()) throw InvalidStateError("corio: task " + t_->name() + " is not done");
  }

  template <class F>
  struct DoneCallback final : internal::DoneWaiter, internal::FrameAllocated {
    DoneCallback(internal::TaskBase* t, F fn) : task(t), fn(std::move(fn)) { on_done = &DoneCallback::fire; }
    static void fire(internal::DoneWaiter* w) noexcept {
      auto* self = static_cast<DoneCallback*>(w);
      TaskRef ref(self->task);
      try {
        ref.t_->loop()->call_soon([fn = std::move(self->fn), ref]() mutable { fn(ref); });
      } catch (...) {
      }
      delete self;
    }
    internal::TaskBase* task;
    F fn;
  };

  internal::TaskBase* t_ = nullptr;
};

namespace internal {

// co_await on a TaskHandle: waits for the task to finish. Cancelling the
// awaiting task cancels the awaited one too (asyncio), and the awaiter then
// sees how it ended; so does a cancel already pending when the await
// starts. While suspended it holds a reference to the task, so
// that the handle it was made from may go meanwhile (dropped by a done
// callback, reassigned) without freeing the result it will read.
template <class T, bool kMove>
class JoinAwaiter final : Suspension, DoneWaiter {
 public:
  explicit JoinAwaiter(TaskState<T>* t) noexcept : Suspension(&JoinAwaiter::detach), t_(t) {
    try_cancel = &JoinAwaiter::forward_cancel;
    on_done = &JoinAwaiter::on_done_impl;
  }
  JoinAwaiter(const JoinAwaiter&) = delete;
  // Forced inline, as Task's awaiter's: out of line, the recheck of the
  // base's destructor after a possible free costs a stack frame per join.
  [[gnu::always_inline]] ~JoinAwaiter() {
    abandon();
    if (held_) t_->unref();  // last: it may free the task
  }
  bool await_ready() const noexcept { return t_->done(); }
  bool await_suspend(std::coroutine_handle<> h) {
    if (current_task_base() == t_) throw RuntimeError("corio: a task cannot await itself");
    // A cancel requested while this task ran goes on to the awaited task,
    // as if it had come while waiting (asyncio); one another awaiter has
    // already taken is raised here at once (see take_pending_cancel).
    const Pending pending = begin_suspend();
    if (pending == Pending::kRaise) [[unlikely]] {
      take_cancel();
      return false;
    }
    park(h);
    t_->add_waiter(this);
    t_->ref();
    held_ = true;
    if (pending == Pending::kPassOn) [[unlikely]]
      forward_cancel(this);  // t_ is not done: it takes it
    return true;
  }
  T await_resume() {
    check_cancelled();
    if (forwarded_) task()->cancel_raised();  // if the child took it, here it comes
    t_->exception_retrieved();
    if constexpr (kMove) {
      return t_->result().take();
    } else {
      return t_->result().ref();
    }
  }

 private:
  // Teardown while suspended here (the cancel itself goes to forward_cancel).
  static void detach(Suspension* s) noexcept {
    auto* self = static_cast<JoinAwaiter*>(s);
    self->t_->remove_waiter(self);
  }
  static void on_done_impl(DoneWaiter* w) noexcept {
    auto* self = static_cast<JoinAwaiter*>(w);
    // A forwarded cancel that the child raised comes back as its result. One
    // that lapsed in the child (it returned before reaching a suspension
    // point) is still owed to this task: it stays pending here.
    if (self->forwarded_) {
      if (self->t_->cancelled()) {
        self->hold_cancel();
      } else if (self->t_->cancel_lapsed()) {
        self->task()->restore_pending_cancel();
      }
    }
    self->wake();
  }
  // The try_cancel: the cancel goes on to the awaited task, whose end then
  // wakes this awaiter (asyncio).
  static bool forward_cancel(CancelTarget* c) noexcept {
    auto* self = static_cast<JoinAwaiter*>(static_cast<Suspension*>(c));
    const bool taken = self->t_->cancel(self->task()->cancel_message());
    if (taken) self->forwarded_ = true;
    return taken;
  }
  TaskState<T>* t_;
  bool forwarded_ = false;  // the cancel went on to the awaited task
  bool held_ = false;       // a reference to the task, taken when suspending
};

}  // namespace internal

template <class T = void>
class TaskHandle : public TaskRef {
 public:
  TaskHandle() noexcept = default;
  explicit TaskHandle(internal::TaskState<T>* t) noexcept : TaskRef(t) {}

  // The task's value. Errors: InvalidStateError if not done; rethrows the
  // task's exception (CancelledError if cancelled). The reference stays
  // valid while any handle to the task (or a TaskRef) exists.
  decltype(auto) result() const& {
    check_done();
    state()->exception_retrieved();
    if constexpr (std::is_void_v<T>) {
      state()->result().take();
    } else {
      return static_cast<const T&>(state()->result().ref());
    }
  }

  // As result(), but moves the value out (for move-only results): a later
  // result() or take_result() sees the moved-from value.
  T take_result() {
    check_done();
    state()->exception_retrieved();
    return state()->result().take();
  }

  // Awaiting an lvalue handle copies the value; awaiting an rvalue
  // (co_await std::move(h), co_await create_task(...)) moves it out, for
  // move-only results: do that only as the task's sole awaiter.
  internal::JoinAwaiter<T, false> operator co_await() const& { return internal::JoinAwaiter<T, false>(live_state()); }
  internal::JoinAwaiter<T, true> operator co_await() && { return internal::JoinAwaiter<T, true>(live_state()); }

 private:
  internal::TaskState<T>* state() const noexcept { return static_cast<internal::TaskState<T>*>(t_); }
  internal::TaskState<T>* live_state() const { return static_cast<internal::TaskState<T>*>(live()); }
};

namespace internal {
// create_task's two steps, shared by its overloads. Forced inline: as calls
// they added about 17 instructions to a spawn (callgrind).
//
// The state of a new task, holding the loop's reference (the only one yet).
// Errors: RuntimeError if `coro` is empty, or in debug mode when called
// from a thread other than the one running `loop`; std::bad_alloc.
template <class T>
[[gnu::always_inline]] inline TaskState<T>* new_task_state(EventLoop& loop, Task<T>& coro) {
  if (!coro) throw RuntimeError("corio: create_task of an empty Task");
  loop.check_thread("create_task()");
  return new TaskState<T>(&loop, coro.release());
}
// Hands a new task to its loop and returns the caller's handle. If the
// loop cannot take it (out of memory), the loop's reference is dropped and
// the handle, the last one, releases the task as the error propagates.
template <class T>
[[gnu::always_inline]] inline TaskHandle<T> adopt(EventLoop& loop, TaskState<T>* state) {
  TaskHandle<T> handle(state);
  try {
    LoopAccess::adopt_task(loop, state);
  } catch (...) {
    state->unref();
    throw;
  }
  return handle;
}
}  // namespace internal

// Schedules `coro` on `loop` (which need not be running yet) and returns its
// handle, named "Task-<n>".
// Errors: RuntimeError if `coro` is empty, or in debug mode when called
//   from a thread other than the one running `loop`; std::bad_alloc.
template <class T>
TaskHandle<T> create_task(EventLoop& loop, Task<T> coro) {
  return internal::adopt(loop, internal::new_task_state(loop, coro));
}

// As above, with a name that shows in get_name() and debug reports (an
// empty one keeps the default). On an error `coro` is not scheduled.
template <class T>
TaskHandle<T> create_task(EventLoop& loop, Task<T> coro, std::string name) {
  internal::TaskState<T>* state = internal::new_task_state(loop, coro);
  if (!name.empty()) {
    try {
      state->set_name(std::move(name));
    } catch (...) {
      state->unref();  // the only reference: releases the frame too
      throw;
    }
  }
  return internal::adopt(loop, state);
}

// Schedules `coro` on the running loop (asyncio.create_task).
// Errors: RuntimeError if no loop runs on this thread.
template <class T>
TaskHandle<T> create_task(Task<T> coro) {
  return create_task(current_loop(), std::move(coro));
}
template <class T>
TaskHandle<T> create_task(Task<T> coro, std::string name) {
  return create_task(current_loop(), std::move(coro), std::move(name));
}

// The task running now (asyncio.current_task), or an empty TaskRef.
inline TaskRef current_task() noexcept { return TaskRef(internal::current_task_base()); }

// The tasks of `loop` not yet done (asyncio.all_tasks), oldest first. Each
// TaskRef keeps its task's state alive, so the list stays safe to use
// after the loop has run on. Loop thread only. Errors: std::bad_alloc;
// RuntimeError from the overload without a loop when none is running.
inline std::vector<TaskRef> all_tasks(EventLoop& loop) { return loop.pending_tasks(); }
inline std::vector<TaskRef> all_tasks() { return all_tasks(current_loop()); }

// (Declared in event_loop.h, which cannot see TaskRef.)
inline std::vector<TaskRef> EventLoop::pending_tasks() {
  std::vector<TaskRef> out;
  out.reserve(tasks_.size());
  tasks_.for_each([&](internal::TaskBase* t) { out.emplace_back(t); });
  return out;
}

}  // namespace corio

#endif  // CORIO_LOOP_TASK_HANDLE_H_
