// The reactor seam: what the event loop asks of an I/O backend, in types
// that name no backend's constants.
//
// A backend provides (EpollReactor is today's, epoll_reactor.h):
//   * watch(fd, source): a persistent, edge-triggered registration of `fd`
//     for every direction. The backend reports each readiness change as
//     source->on_events(source, readiness) from wait(); the registration
//     stays until unwatch(fd). No call is made per wait: this is what
//     sockets use (IoRegistration, io_registration.h).
//   * set_interest(fd, token, interest): level-triggered interest in some
//     directions, for asyncio's add_reader/add_writer and the one-shot
//     wait_readable/wait_writable; an empty interest removes the fd.
//     Events for it come back to the loop as (token, readiness).
//   * wait(timeout_ns, sink): waits up to timeout_ns (negative: no limit,
//     zero: a poll) and hands every event to the sink.
//   * fd(): a descriptor that is readable while events are pending, so
//     another waiter (an EventSource's watcher) can wait for the reactor.
//
// A completion-based backend (io_uring) fits the same shape by arming a
// multishot poll per watched fd (IORING_OP_POLL_ADD with
// IORING_POLL_ADD_MULTI) and turning its completions into the same
// readiness reports: the sockets above it wait on readiness either way, so
// nothing in streams or net changes with the backend.
#ifndef CORIO_LOOP_INTERNAL_REACTOR_H_
#define CORIO_LOOP_INTERNAL_REACTOR_H_

#include <cstdint>

namespace corio {

// Directions a waiter cares about.
enum class Interest : std::uint8_t {
  kNone = 0,
  kReadable = 1,
  kWritable = 2,
  kBoth = 3,
};
constexpr Interest operator|(Interest a, Interest b) noexcept {
  return static_cast<Interest>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
constexpr bool has(Interest set, Interest one) noexcept {
  return (static_cast<std::uint8_t>(set) & static_cast<std::uint8_t>(one)) != 0;
}

// What the backend saw on an fd: bits of kReadable, kWritable, kReadClosed
// (the peer shut down its sending side: reads will end), kWriteClosed
// (writes will fail) and kError (the next I/O call reports the error). An
// error or hang-up also counts as readable and writable, so that a waiter
// in either direction wakes and meets it in its next read or write.
struct Readiness {
  static constexpr std::uint8_t kReadable = 1;
  static constexpr std::uint8_t kWritable = 2;
  static constexpr std::uint8_t kReadClosed = 4;
  static constexpr std::uint8_t kWriteClosed = 8;
  static constexpr std::uint8_t kError = 16;
  std::uint8_t bits = 0;

  bool readable() const noexcept { return (bits & kReadable) != 0; }
  bool writable() const noexcept { return (bits & kWritable) != 0; }
  bool read_closed() const noexcept { return (bits & kReadClosed) != 0; }
  bool write_closed() const noexcept { return (bits & kWriteClosed) != 0; }
  bool error() const noexcept { return (bits & kError) != 0; }
  bool has(Interest i) const noexcept { return (bits & static_cast<std::uint8_t>(i)) != 0; }
};

namespace internal {

// The receiver of a watched fd's readiness reports. Called from the
// reactor's wait(), on the loop thread.
struct IoSource {
  void (*on_events)(IoSource* self, Readiness ready) noexcept = nullptr;
};

}  // namespace internal
}  // namespace corio

#endif  // CORIO_LOOP_INTERNAL_REACTOR_H_
