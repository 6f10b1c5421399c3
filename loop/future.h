// Future<T>: a value that is set later (asyncio.Future), for bridging
// callback APIs and threads into tasks.
//
// A Future is a shared handle to one result. Any number of tasks may await
// it; each gets the value (a copy for `co_await fut`, a move for
// `co_await std::move(fut)`) or the rethrown exception. The completing side
// calls set_result/set_exception on the loop thread, or the *_threadsafe
// forms from any thread.
//
// Errors: set_* on a done future throws InvalidStateError; result() of a
//   pending future throws InvalidStateError; a cancelled future raises
//   CancelledError to its awaiters.
// Thread safety: copies of a Future may be held on any thread (atomic count);
//   only set_result_threadsafe/set_exception_threadsafe may be called off the
//   loop thread. A moved-from Future may only be assigned or destroyed.
// Cancellation: cancelling a task while it awaits a future cancels the
//   future, with the task's cancel message, as asyncio does: whoever was to
//   complete it sees it done (set_result throws InvalidStateError, the
//   *_threadsafe setters drop their value), and every task awaiting it gets
//   CancelledError. So does a cancel already pending when the await starts
//   (raised without suspending). To await a future that others share
//   without that, use shield(fut) (shield.h): only the wait ends.
#ifndef CORIO_LOOP_FUTURE_H_
#define CORIO_LOOP_FUTURE_H_

#include <atomic>
#include <coroutine>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/frame_allocator.h"
#include "corio/loop/internal/task_base.h"

namespace corio {

namespace internal {

template <class T>
using StoredValue = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// What a future's waiter list holds: tasks awaiting it (FutureAwaiter) and
// done callbacks. A callback does not own a reference to the state (that
// would be a cycle keeping a dropped pending future alive), so the state
// frees the callbacks still registered when it goes; `discard` does that.
// Awaiters are never left: their frames hold a Future while they wait.
struct FutureWaiter : DoneWaiter {
  void (*discard)(FutureWaiter* self) noexcept = nullptr;
};

template <class T>
class FutureState : public FrameAllocated {
 public:
  explicit FutureState(EventLoop* l) noexcept : loop(l) {}
  ~FutureState() {
    while (DoneWaiter* w = waiters.pop_front()) {
      auto* fw = static_cast<FutureWaiter*>(w);
      if (fw->discard != nullptr) fw->discard(fw);
    }
  }
  void ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
  void unref() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  void complete() noexcept {
    done = true;
    notify_all(waiters);
  }
  // Future::cancel(). False if already done.
  bool cancel(std::string message) noexcept {
    if (done) return false;
    cancelled = true;
    error = std::make_exception_ptr(CancelledError(std::move(message)));
    complete();
    return true;
  }

  std::atomic<std::uint32_t> refs{1};
  EventLoop* loop;
  IntrusiveList<DoneWaiter> waiters;
  std::optional<StoredValue<T>> value;
  std::exception_ptr error;
  bool done = false;
  bool cancelled = false;
};

// co_await on a Future. A cancel of the awaiting task, while it waits or
// already pending when it starts to, cancels the future (asyncio) with the
// task's cancel message: every awaiter is woken, in the order they began
// waiting, with CancelledError. kPassCancel false (shield()) only ends
// this wait instead.
template <class T, bool kMove, bool kPassCancel = true>
class FutureAwaiter final : Suspension, FutureWaiter {
 public:
  explicit FutureAwaiter(FutureState<T>* s) noexcept : Suspension(&FutureAwaiter::detach), s_(s) {
    on_done = &FutureAwaiter::on_done_impl;
    if constexpr (kPassCancel) try_cancel = &FutureAwaiter::cancel_future;
  }
  [[gnu::always_inline]] ~FutureAwaiter() { abandon(); }
  bool await_ready() const noexcept { return s_->done; }
  bool await_suspend(std::coroutine_handle<> h) {
    if constexpr (kPassCancel) {
      bool pass_on;
      if (!suspend_passing_on(h, pass_on)) {
        if (pass_on) s_->cancel(cancel_message_of(task()));
        return false;
      }
    } else {
      if (!suspend(h)) return false;
    }
    s_->waiters.push_back(this);
    return true;
  }
  T await_resume() {
    check_cancelled();
    if (s_->error) std::rethrow_exception(s_->error);
    if constexpr (std::is_void_v<T>) {
      return;
    } else if constexpr (kMove) {
      return std::move(*s_->value);
    } else {
      return *s_->value;
    }
  }

 private:
  static void detach(Suspension* s) noexcept {
    auto* self = static_cast<FutureAwaiter*>(s);
    if (self->linked()) self->s_->waiters.erase(self);
  }
  static void on_done_impl(DoneWaiter* w) noexcept { static_cast<FutureAwaiter*>(w)->wake(); }
  // The try_cancel of kPassCancel: the future's completion wakes this
  // awaiter with the others, and check_cancelled() raises the cancel.
  static bool cancel_future(CancelTarget* c) noexcept {
    auto* self = static_cast<FutureAwaiter*>(static_cast<Suspension*>(c));
    self->take_cancel();
    self->s_->cancel(cancel_message_of(self->task()));
    return true;
  }
  // Out of memory, the future is cancelled without the message.
  static std::string cancel_message_of(TaskBase* t) noexcept {
    try {
      return t->cancel_message();
    } catch (const std::bad_alloc&) {
      return {};
    }
  }
  FutureState<T>* s_;
};

}  // namespace internal

template <class T = void>
class Future {
 public:
  using Value = internal::StoredValue<T>;

  // A pending future bound to `loop`.
  explicit Future(EventLoop& loop) : s_(new internal::FutureState<T>(&loop)) {}
  // A pending future bound to the running loop. Errors: RuntimeError if none.
  Future() : Future(current_loop()) {}
  Future(const Future& o) noexcept : s_(o.s_) { s_->ref(); }
  Future(Future&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Future& operator=(Future o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~Future() {
    if (s_) s_->unref();
  }

  bool done() const noexcept { return s_->done; }
  bool cancelled() const noexcept { return s_->cancelled; }
  EventLoop& loop() const noexcept { return *s_->loop; }

  // Completes the future and wakes its awaiters.
  // Errors: InvalidStateError if already done; RuntimeError in debug mode
  //   when called from a thread other than the one running the loop.
  template <class... A>
  void set_result(A&&... value) {
    s_->loop->check_thread("Future::set_result()");
    check_pending();
    s_->value.emplace(std::forward<A>(value)...);
    s_->complete();
  }
  void set_exception(std::exception_ptr e) {
    s_->loop->check_thread("Future::set_exception()");
    check_pending();
    if (!e) throw InvalidStateError("corio: set_exception with a null exception");
    s_->error = std::move(e);
    s_->complete();
  }
  // Cancels the future: awaiters get CancelledError. False if already done.
  bool cancel(std::string message = {}) noexcept { return s_->cancel(std::move(message)); }

  // set_result from any thread: delivered on the loop thread. If the future
  // is done by then (e.g. cancelled), the value is dropped; so it is if the
  // loop is destroyed first. The loop does not know a result is coming: to
  // hold a virtual clock until it does, and to be safe if the loop may be
  // gone, hand the thread a ThreadsafePromise (threadsafe_promise.h).
  // Errors: std::bad_alloc (nothing is posted).
  // Thread safety: any thread; the loop must outlive the call.
  template <class... A>
  void set_result_threadsafe(A&&... value) const {
    post([v = Value(std::forward<A>(value)...)](internal::FutureState<T>* s) mutable {
      s->value.emplace(std::move(v));
    });
  }
  // set_exception from any thread, as set_result_threadsafe.
  // Errors: InvalidStateError for a null `e` (as set_exception);
  // std::bad_alloc.
  void set_exception_threadsafe(std::exception_ptr e) const {
    if (!e) throw InvalidStateError("corio: set_exception_threadsafe with a null exception");
    post([e = std::move(e)](internal::FutureState<T>* s) mutable { s->error = std::move(e); });
  }

  // The value. Errors: InvalidStateError if pending; rethrows the exception.
  const Value& result() const {
    if (!s_->done) throw InvalidStateError("corio: future is not done");
    if (s_->error) std::rethrow_exception(s_->error);
    return *s_->value;
  }
  // The exception or null. Errors: InvalidStateError if pending;
  // CancelledError if cancelled.
  std::exception_ptr exception() const {
    if (!s_->done) throw InvalidStateError("corio: future is not done");
    if (s_->cancelled) std::rethrow_exception(s_->error);
    return s_->error;
  }

  // Calls fn(Future) via call_soon once done (at once if already done).
  // An exception from `fn` goes to the loop's exception handler.
  // Errors: std::bad_alloc. Thread safety: the future's loop thread.
  template <class F>
  void add_done_callback(F fn) {
    if (s_->done) {
      s_->loop->call_soon([fn = std::move(fn), self = *this]() mutable { fn(self); });
      return;
    }
    s_->waiters.push_back(new DoneCallback<F>(s_, std::move(fn)));
  }

  internal::FutureAwaiter<T, false> operator co_await() const& noexcept {
    return internal::FutureAwaiter<T, false>(s_);
  }
  internal::FutureAwaiter<T, true> operator co_await() && noexcept { return internal::FutureAwaiter<T, true>(s_); }

  // Internal: an awaiter that does not cancel the future when the awaiting
  // task is cancelled (for shield()).
  template <bool kMove>
  internal::FutureAwaiter<T, kMove, false> shielded_awaiter() const noexcept {
    return internal::FutureAwaiter<T, kMove, false>(s_);
  }

 private:
  void check_pending() const {
    if (s_->done) throw InvalidStateError("corio: future is already done");
  }
  // Holds the state without a reference (see internal::FutureWaiter); the
  // closure it queues when the future completes takes one.
  template <class F>
  struct DoneCallback final : internal::FutureWaiter, internal::FrameAllocated {
    DoneCallback(internal::FutureState<T>* s, F fn) : state(s), fn(std::move(fn)) {
      on_done = &DoneCallback::fire;
      discard = &DoneCallback::drop;
    }
    static void fire(internal::DoneWaiter* w) noexcept {
      auto* self = static_cast<DoneCallback*>(w);
      try {
        Future f(self->state);
        f.loop().call_soon([fn = std::move(self->fn), f]() mutable { fn(f); });
      } catch (...) {
      }
      delete self;
    }
    static void drop(internal::FutureWaiter* w) noexcept { delete static_cast<DoneCallback*>(w); }
    internal::FutureState<T>* state;
    F fn;
  };

  // A new reference to an existing state.
  explicit Future(internal::FutureState<T>* s) noexcept : s_(s) { s_->ref(); }

  // For the *_threadsafe setters: runs `set` (which stores the outcome) and
  // completes the future on the loop thread, if it is still pending then.
  // The closure's own Future keeps the state alive until it has run, or
  // until the loop drops it unrun (the loop destroyed first).
  template <class F>
  void post(F set) const {
    s_->loop->call_soon_threadsafe([f = Future(s_), set = std::move(set)]() mutable {
      if (!f.s_->done) {
        set(f.s_);
        f.s_->complete();
      }
    });
  }

  internal::FutureState<T>* s_;
};

}  // namespace corio

#endif  // CORIO_LOOP_FUTURE_H_
