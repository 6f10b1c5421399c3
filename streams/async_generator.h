// AsyncGenerator<T>: an asynchronous generator (Python's `async def` with
// `yield`), a coroutine that produces values lazily with co_yield and may
// co_await anything a Task may in between.
//
//   corio::AsyncGenerator<int> ticks(int n) {
//     for (int i = 0; i < n; ++i) {
//       co_await corio::sleep(1ms);
//       co_yield i;
//     }
//   }
//   ...
//   auto gen = ticks(3);
//   while (std::optional<int> v = co_await gen.next()) use(*v);
//
// Nothing runs until the first next(). Each next() runs the generator, in
// the awaiting task, until its next co_yield (the value) or its end
// (nullopt); the generator's own awaits suspend that task. Combinators
// (map, filter, take, batch, merge, from_queue) are in combinators.h.
//
// Ending early: dropping the generator destroys its frame, so the
// destructors of its locals run (RAII cleanup), but not its catch blocks
// nor any asynchronous cleanup. aclose() (Python's aclose) resumes it with
// GeneratorExit raised at its co_yield: its catch blocks run, it may
// co_await on the way out, and aclose() returns once it has ended. That is
// what async_with(gen, ...) (async_with.h) does.
#ifndef CORIO_STREAMS_ASYNC_GENERATOR_H_
#define CORIO_STREAMS_ASYNC_GENERATOR_H_

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/internal/frame_allocator.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/task.h"
#include "corio/streams/errors.h"

namespace corio {

template <class T>
class AsyncGenerator;

namespace internal {

template <class T>
class GeneratorPromise final : public FrameAllocated {
 public:
  AsyncGenerator<T> get_return_object() noexcept;
  std::suspend_always initial_suspend() const noexcept { return {}; }

  // co_yield: hands the value to the consumer and suspends; raises
  // GeneratorExit on resumption when the consumer called aclose().
  struct YieldAwaiter {
    GeneratorPromise* p;
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept { return p->hand_back(); }
    void await_resume() const {
      if (p->closing_) throw GeneratorExit();
    }
  };
  template <class U = T>
  requires std::is_constructible_v<T, U&&> YieldAwaiter yield_value(U&& v)
  noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    value_.emplace(std::forward<U>(v));
    return YieldAwaiter{this};
  }

  struct FinalAwaiter {
    GeneratorPromise* p;
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept {
      p->finished_ = true;
      return p->hand_back();
    }
    void await_resume() const noexcept {}
  };
  // The frame stays until the AsyncGenerator goes.
  FinalAwaiter final_suspend() noexcept { return FinalAwaiter{this}; }
  void return_void() noexcept {}
  void unhandled_exception() noexcept { error_ = std::current_exception(); }

  // The generator's awaits are a Task's (see PromiseBase::await_transform).
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

  // Where control goes when the generator yields or ends: back into the
  // next() that started it inline (it is below on the stack), or to the
  // consumer through its task's trampoline (as a Task's completion does),
  // or, outside any task, straight to the consumer.
  std::coroutine_handle<> hand_back() noexcept {
    running_ = false;
    const std::coroutine_handle<> c = std::exchange(consumer_, nullptr);
    if (!c) return std::noop_coroutine();
    if (task_ != nullptr) {
      task_->transfer_to_ = c;
      return std::noop_coroutine();
    }
    return c;
  }

  std::optional<T> value_;
  std::exception_ptr error_;
  std::coroutine_handle<> consumer_;  // to resume at the next yield, if suspended
  TaskBase* task_ = nullptr;          // the task running the generator now
  bool started_ = false;
  bool running_ = false;   // inside a next() or aclose()
  bool finished_ = false;  // ran off its end (or raised)
  bool closing_ = false;   // aclose(): yields raise GeneratorExit
};

// co_await gen.next() (kClose false) and co_await gen.aclose() (true).
template <class T, bool kClose>
class [[nodiscard]] GeneratorStep : LoopAwaiter {
  using Handle = std::coroutine_handle<GeneratorPromise<T>>;

 public:
  explicit GeneratorStep(AsyncGenerator<T>* gen) noexcept : gen_(gen) {}
  GeneratorStep(GeneratorStep&& o) noexcept : gen_(o.gen_) {}
  GeneratorStep& operator=(GeneratorStep&&) = delete;
  // If the awaiting frame is destroyed while the generator runs for it
  // (loop teardown), the generator's frame goes first, while the task its
  // awaits refer to still exists.
  ~GeneratorStep() {
    if (suspended_ && handle() && handle().promise().running_) gen_->destroy_frame();
  }

  bool await_ready() {
    Handle h = handle();
    if (!h) {
      if constexpr (kClose) return true;
      throw RuntimeError("corio: next() on an empty AsyncGenerator (moved from)");
    }
    GeneratorPromise<T>& p = h.promise();
    if (p.running_) throw RuntimeError("corio: AsyncGenerator awaited while it is already running");
    if (p.finished_) return true;
    if constexpr (kClose) {
      if (!p.started_) {  // never ran: nothing to unwind
        p.finished_ = true;
        return true;
      }
    }
    return false;
  }

  template <class P>
  bool await_suspend(std::coroutine_handle<P> consumer) {
    const Handle h = handle();
    GeneratorPromise<T>& p = h.promise();
    TaskBase* t;
    if constexpr (std::is_base_of_v<PromiseBase, P>) {
      t = consumer.promise().task();
    } else {
      t = current_task_base();
    }
    p.task_ = t;
    p.started_ = true;
    p.running_ = true;
    p.closing_ = kClose;
    p.value_.reset();
    suspended_ = true;
    // As Task's awaiter: inline while the step's stack budget lasts, then
    // through the trampoline.
    if (t != nullptr && static_cast<const char*>(__builtin_frame_address(0)) < tls_inline_floor) [[unlikely]] {
      p.consumer_ = consumer;
      t->transfer_to_ = h;
      return true;
    }
    p.consumer_ = nullptr;
    h.resume();
    if (!p.running_) {  // yielded or ended without suspending
      suspended_ = false;
      return false;
    }
    p.consumer_ = consumer;
    return true;
  }

  auto await_resume() {
    suspended_ = false;
    const Handle h = handle();
    if constexpr (kClose) {
      if (!h) return;
      GeneratorPromise<T>& p = h.promise();
      if (p.value_) {
        // It yielded instead of ending: it stays closed, and the frame
        // goes with the AsyncGenerator.
        p.value_.reset();
        p.finished_ = true;
        throw RuntimeError("corio: async generator ignored GeneratorExit");
      }
      if (std::exception_ptr e = std::exchange(p.error_, nullptr)) {
        try {
          std::rethrow_exception(e);
        } catch (const GeneratorExit&) {
          // The expected way out.
        }
      }
    } else {
      GeneratorPromise<T>& p = h.promise();
      if (std::exception_ptr e = std::exchange(p.error_, nullptr)) std::rethrow_exception(e);
      std::optional<T> out;
      if (p.value_) {
        out.emplace(std::move(*p.value_));
        p.value_.reset();
      }
      return out;
    }
  }

 private:
  Handle handle() const noexcept { return gen_->h_; }

  AsyncGenerator<T>* gen_;
  bool suspended_ = false;  // the consumer is suspended waiting for the generator
};

}  // namespace internal

// AsyncGenerator<T>
//
// The type a generator coroutine returns. Move-only. T is the type of the
// values (not a reference); co_yield takes anything T can be made from.
//
// Errors: next() rethrows what the generator raised (once; afterwards it
//   is finished and next() gives nullopt); RuntimeError when awaited while
//   another next() or aclose() of it is in progress, on an empty
//   (moved-from) generator, and outside a task. aclose() rethrows an error
//   raised during the close other than GeneratorExit, and raises
//   RuntimeError if the generator yields instead of ending.
// Thread safety: awaited by the tasks of one loop, one at a time.
// Cancellation: the generator runs in the consumer's task, so a cancel of
//   the consumer while next() waits is raised at the generator's own
//   suspension point: its catch blocks and destructors run, and next()
//   rethrows the CancelledError; the generator is finished afterwards. A
//   cancel while it runs without suspending is raised at its next
//   suspension point, as for any Task. Not restartable after that, like a
//   Python async generator whose __anext__ was cancelled: cancel safety
//   beyond that is the body's own (from_queue's waits are cancel safe).
//   Do not move or destroy a generator while a next() of it is pending.
template <class T>
class [[nodiscard]] AsyncGenerator {
  static_assert(!std::is_reference_v<T>, "AsyncGenerator<T>: T must not be a reference");

 public:
  using promise_type = internal::GeneratorPromise<T>;
  using value_type = T;

  AsyncGenerator() noexcept = default;
  explicit AsyncGenerator(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  AsyncGenerator(AsyncGenerator&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  AsyncGenerator& operator=(AsyncGenerator&& o) noexcept {
    if (this != &o) {
      destroy_frame();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  AsyncGenerator(const AsyncGenerator&) = delete;
  AsyncGenerator& operator=(const AsyncGenerator&) = delete;
  // Destroys the frame: the destructors of the generator's locals run.
  ~AsyncGenerator() { destroy_frame(); }

  // False for a default-constructed or moved-from generator.
  explicit operator bool() const noexcept { return static_cast<bool>(h_); }

  // Awaitable giving the next value, or nullopt once the generator ended.
  internal::GeneratorStep<T, false> next() noexcept { return internal::GeneratorStep<T, false>(this); }
  // Awaitable: closes the generator (Python's aclose()): GeneratorExit is
  // raised at the co_yield where it waits, and the await returns once it
  // ended. A no-op on one that never started, or finished.
  internal::GeneratorStep<T, true> aclose() noexcept { return internal::GeneratorStep<T, true>(this); }
  // True once the generator ended (or was closed), and for an empty one.
  bool done() const noexcept { return !h_ || h_.promise().finished_; }

 private:
  template <class, bool>
  friend class internal::GeneratorStep;
  void destroy_frame() noexcept {
    if (h_) std::exchange(h_, nullptr).destroy();
  }

  std::coroutine_handle<promise_type> h_;
};

template <class T>
AsyncGenerator<T> internal::GeneratorPromise<T>::get_return_object() noexcept {
  return AsyncGenerator<T>(std::coroutine_handle<GeneratorPromise<T>>::from_promise(*this));
}

}  // namespace corio

#endif  // CORIO_STREAMS_ASYNC_GENERATOR_H_
