// The state behind a Handle or TimerHandle (handle.h): a callback queued
// on the loop that may be cancelled before it runs.
#ifndef CORIO_LOOP_INTERNAL_HANDLE_STATE_H_
#define CORIO_LOOP_INTERNAL_HANDLE_STATE_H_

#include <cstdint>
#include <utility>

#include "corio/loop/internal/frame_allocator.h"
#include "corio/loop/internal/timer_heap.h"

namespace corio {
class EventLoop;
}  // namespace corio

namespace corio::internal {

// A callback that may be cancelled before it runs. Reference-counted by the
// loop's queues and the user's handle. Kept small (a million pending timers
// are a million of these).
class HandleState : public FrameAllocated {
 public:
  HandleState(EventLoop* loop, bool is_timer) noexcept : loop(loop), is_timer(is_timer) {}
  virtual ~HandleState() = default;
  virtual void invoke() = 0;
  void ref() noexcept { ++refs; }
  void unref() noexcept {
    if (--refs == 0) delete this;
  }
  EventLoop* loop;
  std::uint32_t refs = 1;
  bool cancelled = false;
  const bool is_timer;
};

// A call_later/call_at state: also a node of the loop's timer queue.
class TimerState : public HandleState, public TimerNode {
 public:
  explicit TimerState(EventLoop* loop) noexcept : HandleState(loop, true) {}
};

// A call_soon state.
class SoonState : public HandleState {
 public:
  explicit SoonState(EventLoop* loop) noexcept : HandleState(loop, false) {}
};

// `Base` (SoonState or TimerState) holding the callable `F`.
template <class F, class Base>
class HandleImpl final : public Base {
 public:
  HandleImpl(EventLoop* loop, F&& f) : Base(loop), f_(std::move(f)) {}
  void invoke() override { f_(); }

 private:
  F f_;
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_HANDLE_STATE_H_
