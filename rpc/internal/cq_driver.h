// CqDriver: a gRPC completion queue driven by a corio loop, on the loop's
// own thread (the loop's EventSource, loop/event_source.h).
//
// Every operation corio starts on the queue carries a CqTag; when the queue
// hands the tag back, the driver calls tag->fire(tag, ok) on the loop
// thread, which typically wakes the task that awaits the operation. The
// loop polls the queue (AsyncNext with a deadline in the past) on every
// iteration that has tasks ready and, when it has nothing else to do,
// blocks in AsyncNext until its next timer, taking one event (more only
// after a failed one or a quiet one, see wait()); wake() injects an already-expired
// grpc::Alarm so that a blocked AsyncNext returns (the way asio-grpc wakes
// its queue).
//
// Thread safety: poll/wait on the loop thread; wake() and shutdown() from
// any thread.
#ifndef CORIO_RPC_INTERNAL_CQ_DRIVER_H_
#define CORIO_RPC_INTERNAL_CQ_DRIVER_H_

#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "corio/loop/event_loop.h"
#include "corio/loop/event_source.h"

namespace corio::rpc::internal {

// What corio passes to gRPC as an operation's tag.
struct CqTag {
  void (*fire)(CqTag* self, bool ok) noexcept = nullptr;
};

// ThreadSanitizer cannot see gRPC's own synchronization (Debian's gRPC is
// not built with it), so a tag set up on one thread and fired by another
// thread's queue (Server::shutdown's stop tags, wake()'s alarm) would be
// reported as a race. hand_off(tag) before giving such a tag to gRPC, and
// the driver's matching taken_back(tag) when the queue hands a tag back,
// tell it the order gRPC guarantees. Nothing outside TSan builds.
#if defined(__SANITIZE_THREAD__)
#define CORIO_RPC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORIO_RPC_TSAN 1
#endif
#endif
#ifdef CORIO_RPC_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
inline void hand_off(CqTag* tag) noexcept { __tsan_release(tag); }
inline void taken_back(CqTag* tag) noexcept { __tsan_acquire(tag); }
#else
inline void hand_off(CqTag*) noexcept {}
inline void taken_back(CqTag*) noexcept {}
#endif

class CqDriver final : public EventSource {
 public:
  // Takes the queue; a ServerCompletionQueue serves client calls as well.
  explicit CqDriver(std::unique_ptr<grpc::CompletionQueue> cq);
  ~CqDriver() override;
  CqDriver(const CqDriver&) = delete;
  CqDriver& operator=(const CqDriver&) = delete;

  grpc::CompletionQueue* cq() const noexcept { return cq_.get(); }

  std::size_t poll() override;
  std::size_t wait(TimePoint deadline) override;
  void wake() noexcept override;

  // Shuts the queue down (any thread, once): operations still in flight
  // complete, then the queue reports its end and drained() turns true.
  // No operation may be started after this.
  void shutdown() noexcept;
  bool shutting_down() const noexcept { return closed_.load(std::memory_order_acquire); }
  // True once the queue has handed back every tag after shutdown().
  bool drained() const noexcept { return drained_; }
  // Called (loop thread) when the queue reports that it is drained.
  void set_on_drained(void (*fn)(void*), void* arg) noexcept {
    on_drained_ = fn;
    on_drained_arg_ = arg;
  }
  // Called by a tag's fire() (loop thread) when the event changed nothing
  // the loop must see: no task woken, nothing scheduled, the loop not
  // stopped. wait() then takes the next event itself (same deadline)
  // instead of handing an empty iteration back to the loop: a server
  // call's done tag, which for most unary calls comes after the handler
  // ended, is such an event (one of the three that each unary call brings).
  void event_was_quiet() noexcept { quiet_ = true; }

 private:
  // One event (poll's); false when the queue reported no event (or its end).
  bool next(gpr_timespec deadline);
  // The queue reported its end: drained, once.
  void on_shutdown() noexcept;
  static void on_wake(CqTag* self, bool ok) noexcept;

  std::unique_ptr<grpc::CompletionQueue> cq_;
  struct WakeTag : CqTag {
    CqDriver* driver;
  } wake_tag_;
  grpc::Alarm alarm_;
  std::mutex wake_mu_;
  bool wake_set_ = false;  // under wake_mu_: the alarm is set, its tag not yet back
  std::atomic<bool> closed_{false};
  bool drained_ = false;
  bool quiet_ = false;  // see event_was_quiet()
  // gpr_inf_past / gpr_inf_future, computed once (each is a call into
  // libgpr, and poll() or wait() needs one per loop iteration).
  gpr_timespec past_;
  gpr_timespec never_;
  // gRPC's monotonic clock minus the loop's (both CLOCK_MONOTONIC, gRPC's
  // with an origin of its own), measured once: a deadline converts with
  // one addition rather than two clock reads and libgpr's arithmetic per
  // wait (gRPC rounds deadlines up to the millisecond anyway).
  std::int64_t gpr_offset_ns_;
  void (*on_drained_)(void*) = nullptr;
  void* on_drained_arg_ = nullptr;
};

}  // namespace corio::rpc::internal

#endif  // CORIO_RPC_INTERNAL_CQ_DRIVER_H_
