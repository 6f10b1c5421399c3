// Task<T>: the coroutine type of corio (asyncio's "coroutine").
//
// A function returning Task<T> is lazy: calling it allocates its frame and
// runs nothing. `co_await` runs it inline in the awaiting task (no stack
// growth however long the chain: a child that completes at once returns
// like a call, one that suspends resumes its parent by symmetric transfer;
// no allocation beyond the frame, which comes from a recycling per-thread
// cache), and gives its value
// or rethrows its exception. To run it concurrently instead, hand it to
// corio::create_task (task_handle.h), or to corio::run at the top.
//
// Errors: co_await rethrows whatever the coroutine threw; RuntimeError when
//   awaiting an empty (moved-from) Task or one already awaited.
// Thread safety: a Task runs on one loop thread; move it freely before then.
// Cancellation: a Task shares the cancellation of the task awaiting it; see
//   internal/task_base.h for the protocol.
//
// Example:
//   corio::Task<int> answer() { co_return 42; }
//   corio::Task<> main_task() { int v = co_await answer(); ... }
#ifndef CORIO_LOOP_TASK_H_
#define CORIO_LOOP_TASK_H_

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/internal/frame_allocator.h"
#include "corio/loop/internal/task_base.h"

namespace corio {

template <class T = void>
class Task;

namespace internal {

class PromiseBase : public FrameAllocated {
 public:
  std::suspend_always initial_suspend() const noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) const noexcept {
      PromiseBase& p = h.promise();
      // Finished while its awaiter is still starting it: control returns to
      // that awaiter's await_suspend, which continues without suspending.
      if (p.started_inline_ || !p.continuation_) return std::noop_coroutine();
      // Resume the awaiter from the task's trampoline (run_step), not from
      // here, so a long chain of completions does not nest on the stack.
      if (p.task_ != nullptr) {
        p.task_->transfer_to_ = p.continuation_;
        return std::noop_coroutine();
      }
      return p.continuation_;
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() const noexcept { return {}; }

  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  std::coroutine_handle<> continuation_;
  std::exception_ptr exception_;
  TaskBase* task_ = nullptr;  // the scheduled task this coroutine runs in
  bool started_inline_ = false;
};

template <class T>
class Promise final : public PromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  template <class U = T>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) { value_.emplace(std::forward<U>(v)); }
  T take() {
    if (exception_) std::rethrow_exception(exception_);
    return std::move(*value_);
  }
  T& ref() {
    if (exception_) std::rethrow_exception(exception_);
    return *value_;
  }

 private:
  std::optional<T> value_;
};

template <>
class Promise<void> final : public PromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() {
    if (exception_) std::rethrow_exception(exception_);
  }
  void ref() { take(); }
};

}  // namespace internal

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = internal::Promise<T>;
  using value_type = T;
  using handle_type = std::coroutine_handle<promise_type>;

  Task() noexcept = default;
  explicit Task(handle_type h) noexcept : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  // False for a default-constructed or moved-from Task.
  explicit operator bool() const noexcept { return static_cast<bool>(h_); }

  struct Awaiter {
    handle_type h;
    bool await_ready() const {
      if (!h) throw RuntimeError("corio: co_await on an empty Task");
      if (h.done()) throw RuntimeError("corio: Task awaited twice");
      return false;
    }
    // Starts the child inline, as a plain call: if it completes without
    // suspending, the awaiting coroutine does not suspend either, so a long
    // run of ready awaits never nests. Past kMaxInlineDepth nested starts
    // the child is handed to the task's trampoline instead (TaskBase::
    // run_step), so deep recursion does not grow the stack either. Neither
    // relies on the compiler turning symmetric transfer into a tail call,
    // which g++ does not do at -O0 or under the sanitizers.
    template <class P>
    bool await_suspend(std::coroutine_handle<P> awaiting) noexcept {
      promise_type& p = h.promise();
      p.continuation_ = awaiting;
      internal::TaskBase* t;
      if constexpr (std::is_base_of_v<internal::PromiseBase, P>) {
        t = awaiting.promise().task_;
      } else {
        t = internal::current_task_base();
      }
      p.task_ = t;
      if (t != nullptr) {
        if (t->inline_depth_ >= internal::TaskBase::kMaxInlineDepth) {
          t->transfer_to_ = h;
          return true;
        }
        ++t->inline_depth_;
      }
      p.started_inline_ = true;
      h.resume();
      p.started_inline_ = false;
      if (t != nullptr) --t->inline_depth_;
      return !h.done();
    }
    T await_resume() { return h.promise().take(); }
  };
  Awaiter operator co_await() && noexcept { return Awaiter{h_}; }
  Awaiter operator co_await() & noexcept { return Awaiter{h_}; }

  // Internal: gives up the frame (create_task takes it over).
  handle_type release() noexcept { return std::exchange(h_, nullptr); }

 private:
  handle_type h_;
};

template <class T>
Task<T> internal::Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> internal::Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}

}  // namespace corio

#endif  // CORIO_LOOP_TASK_H_
