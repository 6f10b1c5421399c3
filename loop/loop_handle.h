// LoopHandle and ExternalWork: how other threads, and libraries that own
// threads (gRPC, a blocking client, a worker pool), talk to a loop safely.
//
//   corio::LoopHandle h = corio::LoopHandle::current();  // on the loop
//   corio::ExternalWork work = h.begin_external_work();  // a result is owed
//   std::thread([h, work = std::move(work)]() mutable {
//     auto r = compute();
//     h.call_soon_threadsafe([r] { ... });               // false once the loop is gone
//   }).detach();                                          // `work` ends with the thread
//
// A LoopHandle stays valid after its loop is destroyed: posting to a loop
// that is gone (or being destroyed) is a documented no-op that returns
// false and destroys the callable on the calling thread. Never a crash.
#ifndef CORIO_LOOP_LOOP_HANDLE_H_
#define CORIO_LOOP_LOOP_HANDLE_H_

#include <memory>
#include <utility>

#include "corio/loop/event_loop.h"

namespace corio {

class ExternalWork;

// LoopHandle
//
// A copyable, thread-safe reference to an EventLoop that outlives it.
// Errors: call_soon_threadsafe throws std::bad_alloc (nothing is posted).
// Thread safety: every member may be called from any thread; made on the
//   loop's thread (LoopHandle(loop), current()).
class LoopHandle {
 public:
  // An empty handle: alive() is false and posts return false.
  LoopHandle() noexcept = default;
  // A handle to `loop`. Loop thread. Errors: std::bad_alloc (first use).
  explicit LoopHandle(EventLoop& loop) : link_(loop.link()) {}
  // A handle to the loop running on this thread. Errors: RuntimeError if
  // none runs; std::bad_alloc.
  static LoopHandle current() { return LoopHandle(current_loop()); }

  // Schedules `f` on the loop's thread, after the callbacks already queued,
  // and wakes the loop. Returns false if the loop is gone or being
  // destroyed: `f` is then destroyed unrun, on this thread.
  template <class F>
  bool call_soon_threadsafe(F f) const {
    if (!link_) return false;
    return link_->post([&](EventLoop& l) { l.call_soon_threadsafe(std::move(f)); });
  }
  // Asks the loop to stop (EventLoop::stop from any thread). False if the
  // loop is gone.
  bool stop() const {
    return call_soon_threadsafe([] {
      if (EventLoop* l = EventLoop::current()) l->stop();
    });
  }
  // True while the loop exists. Only a hint from another thread: the loop
  // may be destroyed right after it answers.
  bool alive() const noexcept;
  // Declares work on another thread that owes the loop a result (see
  // ExternalWork). An empty token if the loop is gone.
  ExternalWork begin_external_work() const;

  friend bool operator==(const LoopHandle& a, const LoopHandle& b) noexcept { return a.link_ == b.link_; }

 private:
  friend class ExternalWork;
  std::shared_ptr<internal::LoopLink> link_;
};

// ExternalWork
//
// An RAII token for work outside the loop that will hand it a result: a job
// on another thread, a callback a library will call, a channel a thread
// feeds. While any token lives, the loop's virtual clock does not jump to
// the next timer when it would otherwise be idle (a test with
// LoopOptions::virtual_clock would otherwise see its timeouts expire before
// the other thread could answer). to_thread/run_in_executor, Channel and
// ThreadsafePromise hold one for as long as they owe the loop something.
//
// Errors: none; a token for a loop that is gone is empty and does nothing.
// Thread safety: made on any thread (usually the loop's, before handing the
//   work off), moved anywhere, and released (destroyed or reset()) on any
//   thread; a release from another thread wakes the loop.
class ExternalWork {
 public:
  ExternalWork() noexcept = default;
  ExternalWork(ExternalWork&& o) noexcept : link_(std::move(o.link_)) {}
  ExternalWork& operator=(ExternalWork&& o) noexcept {
    if (this != &o) {
      reset();
      link_ = std::move(o.link_);
    }
    return *this;
  }
  ExternalWork(const ExternalWork&) = delete;
  ExternalWork& operator=(const ExternalWork&) = delete;
  ~ExternalWork() { reset(); }

  // Ends the work now (idempotent).
  void reset() noexcept;
  // True until reset (or moved from).
  explicit operator bool() const noexcept { return link_ != nullptr; }

 private:
  friend class LoopHandle;
  explicit ExternalWork(std::shared_ptr<internal::LoopLink> link) noexcept : link_(std::move(link)) {}
  std::shared_ptr<internal::LoopLink> link_;
};

}  // namespace corio

#endif  // CORIO_LOOP_LOOP_HANDLE_H_
