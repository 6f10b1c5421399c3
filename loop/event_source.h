// EventSource: the hook for an event source that has no file descriptor,
// such as a gRPC completion queue, to be driven by the loop on the loop's
// own thread.
//
// The loop polls the source on every iteration that has work to do, and
// when it has nothing to run it blocks in the source's wait() (bounded by
// its next timer) instead of in epoll; wait() hands over what is already
// queued at once. Meanwhile a watcher thread waits on the reactor's descriptor
// (sockets, signals, call_soon_threadsafe's eventfd) and, when any of them
// becomes ready, calls the source's wake(), so neither side can starve the
// other. While the loop is busy the watcher is idle and costs nothing; a
// loop without a source has no watcher and pays nothing for this hook.
//
//   class CqSource : public corio::EventSource {
//     std::size_t poll() override;                 // AsyncNext with a past deadline, until TIMEOUT
//     std::size_t wait(corio::TimePoint d) override; // AsyncNext(d): the first event
//     void wake() noexcept override;               // set a grpc::Alarm to fire now
//   };
//   loop.set_event_source(&source);
//
// The rpc module's completion-queue driver is the worked example.
#ifndef CORIO_LOOP_EVENT_SOURCE_H_
#define CORIO_LOOP_EVENT_SOURCE_H_

#include <cstddef>

#include "corio/loop/clock.h"

namespace corio {

// EventSource
//
// Implemented by a library; the loop calls it.
// Thread safety: poll() and wait() are called on the loop's thread only,
//   never both at once; wake() may be called from any thread, at any time,
//   including before or during wait().
// Errors: an exception from poll() or wait() propagates out of the loop's
//   run_once/run_forever, as an epoll failure would; handle per-event
//   errors inside the source (report them with call_exception_handler).
class EventSource {
 public:
  virtual ~EventSource() = default;
  // Handles every event that is ready now, without blocking: typically it
  // wakes the tasks the events were for (their steps run later in the
  // iteration). Returns how many it handled.
  virtual std::size_t poll() = 0;
  // Blocks until at least one event is ready (or is already queued),
  // `deadline` passes (kNever: no limit), or wake() is called, and handles
  // at least what woke it (whether it drains the rest is the source's
  // choice: the loop's next iteration polls or waits again). A wake() that
  // came before this call must make it return at once: wake-ups are never
  // lost. Returns how many events it handled.
  virtual std::size_t wait(TimePoint deadline) = 0;
  // Makes the wait() in progress, or else the next one, return promptly.
  // Must not block for long or throw.
  virtual void wake() noexcept = 0;
};

}  // namespace corio

#endif  // CORIO_LOOP_EVENT_SOURCE_H_
