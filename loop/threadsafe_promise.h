// ThreadsafePromise<T>: the completing side of a Future<T>, handed to
// another thread (a worker, a blocking library's callback), that the loop
// counts as outstanding external work until it is fulfilled or dropped.
//
//   corio::Future<int> answer;                        // on the loop thread
//   corio::ThreadsafePromise<int> promise(answer);    // the loop now waits for it
//   std::thread([p = std::move(promise)]() mutable { p.set_result(compute()); }).detach();
//   int v = co_await answer;
//
// Future::set_result_threadsafe alone delivers a value from any thread too,
// but the loop cannot know one is coming: with LoopOptions::virtual_clock it
// would jump to its next timer (a `wait_for(answer, 5s)` would time out at
// once). The promise holds an ExternalWork token (loop_handle.h) from its
// construction until its result has been delivered on the loop thread, and
// posts through a LoopHandle, so a thread that outlives the loop is safe.
#ifndef CORIO_LOOP_THREADSAFE_PROMISE_H_
#define CORIO_LOOP_THREADSAFE_PROMISE_H_

#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/future.h"
#include "corio/loop/loop_handle.h"

namespace corio {

// ThreadsafePromise
//
// Completes one Future<T> exactly once, from any thread. Move-only.
// Destroying a promise that was never fulfilled cancels its future (its
// awaiters get CancelledError with a message saying so), as a job dropped
// by an executor does: a result that will never come is never waited for
// forever.
//
// Errors: set_result/set_exception on a promise already fulfilled (or moved
//   from) throw InvalidStateError; set_exception with a null pointer throws
//   InvalidStateError and leaves the promise armed; std::bad_alloc from the
//   constructor (nothing begun), or from a set_* when the post cannot be
//   allocated: the promise is then spent, its result lost and the future
//   left pending (only out of memory).
// Thread safety: constructed on the future's loop thread; then moved to and
//   used from any one thread at a time. The loop may be destroyed first: a
//   set_* then returns false and drops the value on the calling thread.
// Cancellation: if the future is done when the result arrives (its awaiting
//   task was cancelled, which cancels the future), the result is dropped.
template <class T = void>
class ThreadsafePromise {
 public:
  // A promise for `future`, which must be pending. Loop thread (the
  // future's). Errors: InvalidStateError if `future` is done;
  // std::bad_alloc.
  explicit ThreadsafePromise(Future<T> future) : handle_(future.loop()) {
    if (future.done()) throw InvalidStateError("corio: ThreadsafePromise for a future that is already done");
    work_ = handle_.begin_external_work();
    future_.emplace(std::move(future));
  }
  ThreadsafePromise(ThreadsafePromise&& o) noexcept
      : handle_(std::move(o.handle_)), work_(std::move(o.work_)), future_(std::exchange(o.future_, std::nullopt)) {}
  // Breaks the promise this one held (as its destructor), then takes `o`'s.
  ThreadsafePromise& operator=(ThreadsafePromise&& o) noexcept {
    if (this != &o) {
      abandon();
      handle_ = std::move(o.handle_);
      work_ = std::move(o.work_);
      future_ = std::exchange(o.future_, std::nullopt);
    }
    return *this;
  }
  ThreadsafePromise(const ThreadsafePromise&) = delete;
  ThreadsafePromise& operator=(const ThreadsafePromise&) = delete;
  ~ThreadsafePromise() { abandon(); }

  // Completes the future with a value constructed from `value`, on the loop
  // thread. Returns false if the loop is gone (the value is dropped here).
  // Any thread. Errors: see the class comment.
  template <class... A>
  bool set_result(A&&... value) {
    Future<T> f = take("set_result");
    return handle_.call_soon_threadsafe(
        [f = std::move(f), v = typename Future<T>::Value(std::forward<A>(value)...), w = std::move(work_)]() mutable {
          if (!f.done()) f.set_result(std::move(v));
          w.reset();  // after the result is in: the loop never sees a gap
        });
  }
  // Completes the future with `e`, as set_result.
  bool set_exception(std::exception_ptr e) {
    if (!e) throw InvalidStateError("corio: ThreadsafePromise::set_exception with a null exception");
    Future<T> f = take("set_exception");
    return handle_.call_soon_threadsafe([f = std::move(f), e = std::move(e), w = std::move(work_)]() mutable {
      if (!f.done()) f.set_exception(std::move(e));
      w.reset();
    });
  }

  // True until fulfilled, moved from or destroyed.
  bool valid() const noexcept { return future_.has_value(); }

 private:
  Future<T> take(const char* what) {
    if (!future_)
      throw InvalidStateError(std::string("corio: ThreadsafePromise::") + what + " on a promise already used");
    Future<T> f = std::move(*future_);
    future_.reset();
    return f;
  }

  // Unfulfilled: cancels the future on the loop thread and ends the work.
  void abandon() noexcept {
    if (!future_) return;
    Future<T> f = std::move(*future_);
    future_.reset();
    try {
      handle_.call_soon_threadsafe([f = std::move(f), w = std::move(work_)]() mutable {
        f.cancel("corio: a ThreadsafePromise was destroyed without a result");
        w.reset();
      });
    } catch (...) {
      // Out of memory: the work token ends with this promise; the future
      // stays pending (nothing better can be done without memory).
    }
  }

  LoopHandle handle_;
  ExternalWork work_;
  std::optional<Future<T>> future_;
};

}  // namespace corio

#endif  // CORIO_LOOP_THREADSAFE_PROMISE_H_
