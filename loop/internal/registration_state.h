// RegistrationState: the loop-side record of an IoRegistration
// (io_registration.h), which the reactor reports to and the loop frees.
#ifndef CORIO_LOOP_INTERNAL_REGISTRATION_STATE_H_
#define CORIO_LOOP_INTERNAL_REGISTRATION_STATE_H_

#include <cstdint>

#include "corio/loop/internal/frame_allocator.h"
#include "corio/loop/internal/reactor.h"

namespace corio {
class EventLoop;
class IoReadyCallback;
}  // namespace corio

namespace corio::internal {

class IoReadyAwaiter;

// The part of a registration the reactor points at; stays at its address
// while the registration or an awaiter made from it holds a reference.
// The last reference hands it to the loop, which frees it after the poll
// batch under way (a report for it may still be in that batch).
struct RegistrationState : IoSource, FrameAllocated {
  EventLoop* loop;
  int fd;
  std::uint32_t refs = 1;
  std::uint8_t ready;  // Readiness bits
  bool registered = true;
  IoReadyAwaiter* reader = nullptr;
  IoReadyAwaiter* writer = nullptr;
  // Callback mode (IoRegistration::set_read_callback); while set, the
  // state's on_events is the one that calls it. In the 64-byte block the
  // state already takes, so it costs no memory.
  IoReadyCallback* read_callback = nullptr;
  // The loop's list of retired states (EventLoop::retired_), to be freed
  // after the poll batch under way: a link here rather than a vector the
  // loop would keep room in for every live state.
  RegistrationState* next_retired = nullptr;
  RegistrationState(EventLoop* l, int f, std::uint8_t initial) noexcept : loop(l), fd(f), ready(initial) {}
  void ref() noexcept { ++refs; }
  void unref() noexcept {
    if (--refs == 0) [[unlikely]]
      retire();
  }
  // Hands the state to the loop (io_registration.cc).
  void retire() noexcept;
};
// The state shares the frame allocator's 64-byte class with nothing to
// spare: a field more would move every registration to the 128 class.
static_assert(sizeof(RegistrationState) <= 64);

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_REGISTRATION_STATE_H_
