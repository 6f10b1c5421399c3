#include "corio/rpc/internal/cq_driver.h"

#include <grpc/support/time.h>

#include <chrono>

namespace corio::rpc::internal {

CqDriver::CqDriver(std::unique_ptr<grpc::CompletionQueue> cq)
    : cq_(std::move(cq)), past_(gpr_inf_past(GPR_CLOCK_MONOTONIC)), never_(gpr_inf_future(GPR_CLOCK_MONOTONIC)) {
  const gpr_timespec g = gpr_now(GPR_CLOCK_MONOTONIC);
  const std::int64_t ours = std::chrono::duration_cast<Duration>(Clock::now().time_since_epoch()).count();
  gpr_offset_ns_ = g.tv_sec * 1'000'000'000 + g.tv_nsec - ours;
  wake_tag_.fire = &CqDriver::on_wake;
  wake_tag_.driver = this;
}

CqDriver::~CqDriver() {
  // The queue must be shut down and drained before it is destroyed (gRPC's
  // rule); an owner that did not do so gets it done here.
  shutdown();
  while (!drained_) {
    void* tag;
    bool ok;
    if (!cq_->Next(&tag, &ok)) break;
    taken_back(static_cast<CqTag*>(tag));
    static_cast<CqTag*>(tag)->fire(static_cast<CqTag*>(tag), ok);
  }
}

void CqDriver::on_shutdown() noexcept {
  if (!drained_) {
    drained_ = true;
    if (on_drained_ != nullptr) on_drained_(on_drained_arg_);
  }
}

bool CqDriver::next(gpr_timespec deadline) {
  void* tag;
  bool ok;
  switch (cq_->AsyncNext(&tag, &ok, deadline)) {
    case grpc::CompletionQueue::GOT_EVENT:
      taken_back(static_cast<CqTag*>(tag));
      static_cast<CqTag*>(tag)->fire(static_cast<CqTag*>(tag), ok);
      return true;
    case grpc::CompletionQueue::SHUTDOWN:
      on_shutdown();
      return false;
    case grpc::CompletionQueue::TIMEOUT:
      return false;
  }
  return false;
}

std::size_t CqDriver::poll() {
  if (drained_) return 0;
  std::size_t n = 0;
  while (next(past_)) ++n;
  return n;
}

std::size_t CqDriver::wait(TimePoint deadline) {
  if (drained_) return 0;
  gpr_timespec d = never_;
  std::int64_t ns;
  if (deadline != kNever && !__builtin_add_overflow(deadline.time_since_epoch().count(), gpr_offset_ns_, &ns)) {
    // On gRPC's monotonic clock (see gpr_offset_ns_); one already past is
    // as good as gpr_inf_past.
    if (ns < 0) ns = 0;
    d.tv_sec = ns / 1'000'000'000;
    d.tv_nsec = static_cast<std::int32_t>(ns % 1'000'000'000);
    d.clock_type = GPR_CLOCK_MONOTONIC;
  }
  // One event. A successful one is all this hands over: the loop runs what
  // it woke and comes back here, where AsyncNext hands over an event already
  // queued without polling, whereas draining with a past deadline ends in
  // one AsyncNext that finds the queue empty and polls gRPC's pollset (an
  // epoll_wait, and a turn at gRPC's poller role that the other loops'
  // threads contend for): measured 1.32 AsyncNext calls per unary RPC more
  // than the plain CQ server makes. A failed event is followed by whatever
  // came with it: gRPC delivers a failed read and the call's cancellation
  // (its done tag) together, and the handler must see both in one
  // iteration, so that the failed read is raised as the cancel it is rather
  // than taken for a half-close. (When the done tag comes first, the task it
  // cancels is ready, and the loop polls the source before it runs ready
  // tasks.)
  //
  // A quiet event (event_was_quiet: it woke nothing, so the loop would
  // only come back here) is followed by the next one, with the same
  // deadline: 170-200 instructions of loop iteration less per unary call.
  //
  // AsyncNext is called here rather than through next(): this is the one
  // call per streamed message, and the fold saves a call and the ok bit's
  // round trip through memory.
  grpc::CompletionQueue* const cq = cq_.get();
  std::size_t n = 0;
  for (;;) {
    void* tag;
    bool ok;
    quiet_ = false;
    const grpc::CompletionQueue::NextStatus status = cq->AsyncNext(&tag, &ok, d);
    if (status != grpc::CompletionQueue::GOT_EVENT) [[unlikely]] {
      if (status == grpc::CompletionQueue::SHUTDOWN) on_shutdown();
      return n;
    }
    auto* t = static_cast<CqTag*>(tag);
    taken_back(t);
    t->fire(t, ok);
    ++n;
    if (!ok) [[unlikely]]
      return n + poll();
    if (!quiet_) return n;
  }
}

void CqDriver::wake() noexcept {
  std::lock_guard<std::mutex> lock(wake_mu_);
  if (wake_set_ || closed_.load(std::memory_order_relaxed)) return;
  wake_set_ = true;
  hand_off(&wake_tag_);
  alarm_.Set(cq_.get(), gpr_inf_past(GPR_CLOCK_MONOTONIC), &wake_tag_);
}

void CqDriver::on_wake(CqTag* self, bool) noexcept {
  CqDriver* d = static_cast<WakeTag*>(self)->driver;
  std::lock_guard<std::mutex> lock(d->wake_mu_);
  d->wake_set_ = false;
}

void CqDriver::shutdown() noexcept {
  {
    // Under the wake lock: no alarm may be set on a queue shutting down.
    std::lock_guard<std::mutex> lock(wake_mu_);
    if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  }
  cq_->Shutdown();
}

}  // namespace corio::rpc::internal
