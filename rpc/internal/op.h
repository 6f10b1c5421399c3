// The pieces every corio RPC shares: an operation's tag, kept in the RPC's
// reference-counted state (never in a task's frame, since gRPC may hand a
// tag back after the task that started the operation has gone), and the
// awaiter with which a task waits for one operation.
//
// Cancellation (see loop/internal/task_base.h for the protocol): a task
// cancelled while an operation is in flight stops waiting at once; the
// operation stays in flight and its tag, which holds a reference to the
// state, comes back later and is dropped. Buffers an operation writes into
// (a read's message) live in the state, so nothing dangles.
#ifndef CORIO_RPC_INTERNAL_OP_H_
#define CORIO_RPC_INTERNAL_OP_H_

#include <grpcpp/client_context.h>

#include <coroutine>
#include <cstdint>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/task_base.h"
#include "corio/rpc/internal/cq_driver.h"

namespace corio::rpc::internal {

class OpAwaiterBase;

// A reference-counted RPC state: one reference per operation in flight and
// one per owner (a task, a handle).
class RefCounted {
 public:
  virtual ~RefCounted() = default;
  void ref() noexcept { ++refs_; }
  void unref() noexcept {
    if (--refs_ == 0) delete this;
  }

 private:
  std::uint32_t refs_ = 1;
};

// One kind of operation of one RPC (its read, its write, its finish): at
// most one in flight at a time, as gRPC requires.
struct OpTag : CqTag {
  RefCounted* owner = nullptr;
  OpAwaiterBase* waiter = nullptr;
  // Cancelled when a waiting task is cancelled (a client call's context),
  // so the operation in flight ends promptly.
  grpc::ClientContext* cancel_ctx = nullptr;
  bool in_flight = false;
  OpTag() noexcept { fire = &OpTag::on_fire; }
  // Marks the operation as started; its tag holds a reference to `owner`.
  void begin() noexcept {
    in_flight = true;
    owner->ref();
  }
  static void on_fire(CqTag* self, bool ok) noexcept;
};

// Whether the running loop's completion queue is shut down (or gone): no
// operation may start on it. The loop is the one the call's queue belongs
// to (RPC objects are used on their loop's thread only).
inline bool queue_closed() {
  auto* d = static_cast<CqDriver*>(current_loop().event_source());
  return d == nullptr || d->shutting_down();
}
[[noreturn, gnu::cold]] inline void throw_queue_closed() {
  throw RuntimeError("corio::rpc: an operation on a call whose loop's completion queue is shut down");
}

class OpAwaiterBase : protected corio::internal::Suspension {
 public:
  explicit OpAwaiterBase(OpTag& tag) noexcept : Suspension(&OpAwaiterBase::detach), tag_(&tag) {}
  OpAwaiterBase(OpAwaiterBase&& o) noexcept : Suspension(&OpAwaiterBase::detach), tag_(o.tag_) {}
  // Forced inline, as Suspension's own hot members (an out-of-line
  // destructor cost each streamed message a call); abandon_last() lets the
  // compiler drop ~Suspension's second check.
  [[gnu::always_inline]] ~OpAwaiterBase() { abandon_last(); }
  void completed(bool ok) noexcept {
    ok_ = ok;
    wake();
  }

 protected:
  static void detach(Suspension* self) noexcept {
    auto* a = static_cast<OpAwaiterBase*>(self);
    if (a->tag_->waiter == a) {
      a->tag_->waiter = nullptr;
      if (a->tag_->cancel_ctx != nullptr) a->tag_->cancel_ctx->TryCancel();
    }
  }
  OpTag* tag_;
  bool ok_ = false;
};

inline void OpTag::on_fire(CqTag* self, bool ok) noexcept {
  auto* t = static_cast<OpTag*>(self);
  t->in_flight = false;
  if (OpAwaiterBase* w = std::exchange(t->waiter, nullptr)) w->completed(ok);
  t->owner->unref();
}

// co_await: starts an operation with start(tag) and waits for its tag;
// gives the operation's ok bit. A cancel that arrives after the tag came
// back is delivered at the task's next suspension point, so the outcome
// (a message read, a write done) is never lost; after a failed operation,
// which has no outcome, it is raised at once.
template <class Start>
class [[nodiscard]] OpAwaiter : public OpAwaiterBase {
 public:
  OpAwaiter(OpTag& tag, Start start) : OpAwaiterBase(tag), start_(std::move(start)) {}
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    // gRPC aborts the process on an operation started on a queue that is
    // shut down (a task that caught its cancel at a server's shutdown and
    // goes on using a call): a typed error instead.
    if (queue_closed()) [[unlikely]]
      throw_queue_closed();
    if (!suspend(h)) return false;
    tag_->waiter = this;
    tag_->begin();
    start_(static_cast<void*>(static_cast<CqTag*>(tag_)));
    return true;
  }
  bool await_resume() {
    check_cancelled();
    // A failed operation carries nothing to lose: a cancel requested since
    // its tag came back is raised now (see Suspension).
    if (!ok_) check_cancelled_or_pending();
    return ok_;
  }

 private:
  Start start_;
};

}  // namespace corio::rpc::internal

#endif  // CORIO_RPC_INTERNAL_OP_H_
