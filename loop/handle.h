// Handle and TimerHandle: what call_soon, call_later and call_at return
// (asyncio.Handle, asyncio.TimerHandle): a way to cancel the callback
// before it runs.
//
//   corio::TimerHandle h = loop.call_later(1s, [] { ... });
//   h.cancel();   // it will not run
//
// Thread safety: the loop's thread only.
#ifndef CORIO_LOOP_HANDLE_H_
#define CORIO_LOOP_HANDLE_H_

#include <utility>

#include "corio/loop/clock.h"
#include "corio/loop/errors.h"
#include "corio/loop/internal/handle_state.h"

namespace corio {

// Handle: returned by call_soon; cancel() stops a callback that has not run.
class Handle {
 public:
  Handle() = default;
  explicit Handle(internal::HandleState* s) noexcept : s_(s) {
    if (s_) s_->ref();
  }
  Handle(const Handle& o) noexcept : Handle(o.s_) {}
  Handle(Handle&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Handle& operator=(Handle o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~Handle() {
    if (s_) s_->unref();
  }
  // Prevents the callback from running if it has not started. Idempotent.
  // Thread safety: loop thread only.
  void cancel() noexcept;
  // True once cancel() was called (false for an empty handle).
  bool cancelled() const noexcept { return s_ != nullptr && s_->cancelled; }

 protected:
  internal::HandleState* s_ = nullptr;
};

// TimerHandle: returned by call_later/call_at. cancel() also removes the
// timer from the loop's timer queue at once and releases the callback.
class TimerHandle : public Handle {
 public:
  using Handle::Handle;
  // The deadline on the loop's clock. Errors: RuntimeError for an empty
  // (default-constructed) handle.
  TimePoint when() const {
    if (s_ == nullptr) throw RuntimeError("corio: TimerHandle::when() of an empty handle");
    return TimePoint(Duration(static_cast<internal::TimerState*>(s_)->deadline));
  }
};

}  // namespace corio

#endif  // CORIO_LOOP_HANDLE_H_
