// Task<T>: the coroutine type of corio (asyncio's "coroutine").
//
// A function returning Task<T> is lazy: calling it allocates its frame and
// runs nothing. `co_await` runs it inline in the awaiting task and gives its
// value or rethrows its exception. No stack growth however long the chain:
// a child that completes at once returns like a call, one that suspends
// resumes its parent through the task's trampoline. No allocation beyond
// the frame, which comes from a recycling per-thread cache and is released
// the moment the coroutine returns (its value goes straight into the
// awaiter), not when the Task object goes out of scope. To run it
// concurrently instead, hand it to corio::create_task (task_handle.h), or
// to corio::run at the top. (Awaited from another kind of coroutine, outside
// any corio task, a Task that suspended resumes its awaiter nested on the
// stack of whatever resumed the Task; the no-growth promise covers awaits
// inside corio tasks.)
//
// Inside a Task, `co_await` also takes awaitables that know nothing of
// corio (a hand-written awaiter around a callback API that calls
// h.resume() itself, from any thread): the coroutine still resumes inside
// its own task on the loop thread. Such a wait cannot be cancelled; a
// cancel is raised at the next suspension point (internal/foreign_awaiter.h).
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
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/internal/frame_allocator.h"
#include "corio/loop/internal/task_base.h"

namespace corio {

template <class T = void>
class Task;

namespace internal {

// The value is there once the coroutine returned normally, that is when the
// frame has finished with no exception; take() and ref() are only called
// then. A trivially destructible value needs no flag saying whether it was
// constructed, so it lives in a bare union slot; others in an optional.
template <class T>
struct Result : ResultBase {
  static constexpr bool kBareSlot = std::is_trivially_destructible_v<T>;
  union Slot {
    Slot() noexcept {}
    T v;
  };
  std::conditional_t<kBareSlot, Slot, std::optional<T>> value;

  template <class U>
  void emplace(U&& u) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    if constexpr (kBareSlot) {
      ::new (static_cast<void*>(&value.v)) T(std::forward<U>(u));
    } else {
      value.emplace(std::forward<U>(u));
    }
  }
  T take() { return std::move(ref()); }
  T& ref() {
    if (exception) std::rethrow_exception(exception);
    if constexpr (kBareSlot) {
      return value.v;
    } else {
      return *value;
    }
  }
};

template <>
struct Result<void> : ResultBase {
  void take() {
    if (exception) std::rethrow_exception(exception);
  }
  void ref() { take(); }
};

class PromiseBase : public FrameAllocated {
 public:
  // The fields are left unset here and set by start() (or by
  // destroy_unstarted): every store in the ramp counts against g++'s budget
  // for inlining a small coroutine's ramp into its caller.
  PromiseBase() noexcept {}
  PromiseBase(const PromiseBase&) = delete;
  PromiseBase& operator=(const PromiseBase&) = delete;
  ~PromiseBase() { result_->frame = nullptr; }

  std::suspend_always initial_suspend() const noexcept { return {}; }

  // co_await inside a Task: corio's own awaiters are awaited as they are;
  // any other awaitable is wrapped so that, however it resumes the
  // coroutine, the coroutine goes on inside its task's next step on the
  // loop thread (see internal/foreign_awaiter.h). Such a wait cannot be
  // interrupted by cancel(): the cancel is raised at the next suspension.
  // (g++ 12 copies an awaiter that await_transform returns by reference,
  // and corio's awaiters cannot be copied, so one is passed on through an
  // AwaiterRef. An awaitable with an operator co_await is passed on as it
  // is, keeping its value category, which picks the overload.)
  template <class A>
  decltype(auto) await_transform(A&& a) noexcept(kLoopAwaitable<A>) {
    if constexpr (kLoopAwaitable<A> && HasCoAwaitOperator<A>) {
      return std::forward<A>(a);
    } else if constexpr (kLoopAwaitable<A>) {
      return AwaiterRef<std::remove_reference_t<A>>{a};
    } else {
      return ForeignAwaiter<A>(std::forward<A>(a));
    }
  }

  struct FinalAwaiter {
    PromiseBase* p;
    // Not suspending ends the frame here (the coroutine is destroyed as it
    // runs off its end), which is the common case. With no continuation,
    // either the awaiter is still inside the call that started the frame
    // and goes on when that call returns, or this is a scheduled task's
    // root. Otherwise the awaiter is resumed from its task's trampoline
    // (TaskBase::run_step), so a long chain of completions does not nest
    // on the stack.
    bool await_ready() const noexcept {
      if (p->continuation_ == nullptr) return true;
      if (p->task_ != nullptr) {
        p->task_->transfer_to_ = std::coroutine_handle<>::from_address(p->continuation_);
        return true;
      }
      return false;
    }
    // Only for a Task awaited outside any corio task (from another kind of
    // coroutine) that suspended on a foreign awaitable: the awaiter resumes
    // nested here, and destroys this frame when done with it. Not symmetric
    // transfer: that is an indirect call g++ cannot prove nothrow, which
    // would keep exception cleanup in every Task's ramp and stop g++ from
    // inlining the ramp into the caller.
    void await_suspend(std::coroutine_handle<>) const noexcept {
      std::coroutine_handle<>::from_address(p->continuation_).resume();
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {this}; }

  void unhandled_exception() noexcept { result_->exception = std::current_exception(); }

  // Before the first resume: where the outcome goes, what to resume when
  // done (null while the starter is still on the stack below the frame),
  // and the scheduled task the coroutine runs in.
  void start(ResultBase* result, std::coroutine_handle<> continuation, TaskBase* task) noexcept {
    result_ = result;
    continuation_ = continuation.address();
    task_ = task;
  }
  // Once the starter has returned with the frame suspended.
  void set_continuation(std::coroutine_handle<> continuation) noexcept { continuation_ = continuation.address(); }
  // Destroys a frame that was never started (its Task dropped unawaited);
  // the destructor's notice goes to a slot nobody reads. Out of line, so
  // that ~Task, which runs after every co_await, inlines to one test.
  [[gnu::noinline]] static void destroy_unstarted(std::coroutine_handle<> frame, PromiseBase& p) noexcept {
    ResultBase unread;
    p.result_ = &unread;
    frame.destroy();
  }
  TaskBase* task() const noexcept { return task_; }

 protected:
  ResultBase* result_;

 private:
  void* continuation_;  // a coroutine_handle's address, or null
  TaskBase* task_;
};

template <class T>
class Promise final : public PromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  template <class U = T>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    static_cast<Result<T>*>(result_)->emplace(std::forward<U>(v));
  }
};

template <>
class Promise<void> final : public PromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
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
      if (h_) promise_type::destroy_unstarted(h_, h_.promise());
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (h_) promise_type::destroy_unstarted(h_, h_.promise());
  }

  // False for a default-constructed or moved-from Task.
  explicit operator bool() const noexcept { return static_cast<bool>(h_); }

  class Awaiter : internal::LoopAwaiter {
   public:
    // Takes the frame over from the Task at once (an emptied Task cannot be
    // awaited twice), so the awaiter needs nothing else from it.
    explicit Awaiter(handle_type h) noexcept { result_.frame = h; }
    Awaiter(const Awaiter&) = delete;
    Awaiter& operator=(const Awaiter&) = delete;
    // A frame that has not finished (its awaiting task is being torn down)
    // goes with the awaiter, by ~ResultBase. Forced inline: g++ otherwise
    // calls it out of line from any coroutine that can also be destroyed
    // at this await.
    [[gnu::always_inline]] ~Awaiter() {}

    bool await_ready() const {
      if (!result_.frame) throw RuntimeError("corio: co_await on an empty Task (moved from, or already awaited)");
      return false;
    }
    // Starts the child inline, as a plain call: if it completes without
    // suspending, the awaiting coroutine does not suspend either, so a long
    // run of ready awaits never nests. Once nested starts have used the
    // step's stack budget (TaskBase::kInlineStackBytes) the child is handed
    // to the task's trampoline instead (TaskBase::run_step), so deep
    // recursion does not grow the stack past it either. Neither
    // relies on the compiler turning symmetric transfer into a tail call,
    // which g++ does not do at -O0 or under the sanitizers.
    template <class P>
    bool await_suspend(std::coroutine_handle<P> awaiting) noexcept {
      const auto h = handle_type::from_address(result_.frame.address());
      internal::TaskBase* t;
      if constexpr (std::is_base_of_v<internal::PromiseBase, P>) {
        t = awaiting.promise().task();
      } else {
        t = internal::current_task_base();
      }
      promise_type& p = h.promise();
      // The floor is only set during a step, so t is null here only for a
      // Task awaited from another kind of coroutine resumed inside some
      // task's step; that one starts inline, as it would outside a step.
      if (static_cast<const char*>(__builtin_frame_address(0)) < internal::tls_inline_floor && t != nullptr)
          [[unlikely]] {
        p.start(&result_, awaiting, t);
        t->transfer_to_ = h;
        return true;
      }
      p.start(&result_, nullptr, t);
      h.resume();
      // A child that finished has ended its frame, which cleared `frame`.
      if (!result_.frame) return false;
      p.set_continuation(awaiting);
      return true;
    }
    T await_resume() { return result_.take(); }

   private:
    internal::Result<T> result_;
  };
  Awaiter operator co_await() && noexcept { return Awaiter(std::exchange(h_, nullptr)); }
  Awaiter operator co_await() & noexcept { return Awaiter(std::exchange(h_, nullptr)); }

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
