// IoRegistration: a persistent registration of one file descriptor with the
// loop's reactor, owned by whatever owns the fd (a socket, a pipe end) for
// the fd's whole life. The model is Tokio's Registration/PollEvented.
//
//   corio::IoRegistration reg(fd);                 // once: one epoll_ctl
//   for (;;) {
//     co_await reg.readable();                     // no syscall if known ready
//     ssize_t n = ::read(fd, buf, sizeof buf);
//     if (n < 0 && errno == EAGAIN) { reg.clear_readable(); continue; }
//     if (n >= 0 && n < ssize_t(sizeof buf)) reg.clear_readable();  // drained
//     ...
//   }
//   reg.deregister();  ::close(fd);                // waiters get ClosedResourceError
//
// The fd is watched edge-triggered in both directions from registration to
// deregistration, so waiting costs no epoll_ctl. Readiness reported by the
// reactor is cached per direction: a wait on a direction already known to
// be ready returns at once, without suspending or a system call. The cache
// is only ever cleared by the caller (clear_readable/clear_writable), after
// an I/O call that met EAGAIN, or after a short read or write, which for a
// stream socket means its buffer was emptied (filled): the next edge will
// report the change. Forgetting to clear after EAGAIN makes the next wait
// return at once again (a busy loop), never a missed wake-up.
//
// An error or hang-up on the fd satisfies a wait in either direction: the
// next read or write tells which.
//
// Errors: construction throws RuntimeError outside a running loop (the
//   one-argument form) and std::system_error if the reactor rejects the fd
//   (EPERM for a regular file, EEXIST if already registered, EBADF).
//   Awaiting readable()/writable() raises RuntimeError on an empty
//   registration or if another task already waits in that direction, and
//   ClosedResourceError if the registration is (or becomes, while waiting)
//   deregistered.
// Thread safety: the loop's thread only.
// Cancellation: a task cancelled while waiting stops waiting; the cached
//   readiness is unchanged, so the next wait sees what arrived meanwhile.
//
// async_io(direction, op) is the wait and the I/O call in one awaiter, with
// no coroutine frame (Tokio's Registration::async_io): the call is tried
// at once when the direction is known ready, and otherwise from the
// reactor's report, so the task wakes only when the call has finished.
// Sockets build recv/send/accept on it (corio/net/socket.h).
//
// set_read_callback(cb) is the reading side without a task at all: while
// it is set, every reactor report that leaves the fd readable (or hung up,
// or in error) calls cb->on_io_ready() from the loop's poll. A transport
// whose reads the loop drives this way holds no task and no coroutine
// frame per idle connection (SocketTransport, corio/net/socket_transport.h;
// libuv's and uvloop's model). The awaiter paths are untouched: a
// registration without a callback runs exactly the code it did before.
#ifndef CORIO_LOOP_IO_REGISTRATION_H_
#define CORIO_LOOP_IO_REGISTRATION_H_

#include <coroutine>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/loop_access.h"
#include "corio/loop/internal/reactor.h"
#include "corio/loop/internal/registration_state.h"
#include "corio/loop/internal/task_base.h"

namespace corio {

namespace internal {

// The state an awaiter made from an empty registration refers to, so that
// an awaiter's state is never null (one test fewer in each of its hot
// members): never registered, no loop, fd -1, and a reference count that
// awaiters' references never bring to zero. One per thread, so that those
// references are never counted from two threads at once.
RegistrationState* empty_registration_state() noexcept;

// co_await reg.readable() / writable(): see IoRegistration. Holds a
// reference to the state, so it may outlive the registration.
class [[nodiscard]] IoReadyAwaiter : private Suspension {
 public:
  IoReadyAwaiter(RegistrationState* s, Interest dir) noexcept
      : IoReadyAwaiter(s != nullptr ? s : empty_registration_state(), dir, &IoReadyAwaiter::plain_attempt) {}
  IoReadyAwaiter(IoReadyAwaiter&& o) noexcept : IoReadyAwaiter(o.s_, o.dir_, o.attempt_) {}
  [[gnu::always_inline]] ~IoReadyAwaiter() {
    abandon_last();
    s_->unref();
  }

  bool await_ready() const noexcept { return s_->registered && satisfied(s_->ready); }
  // Inline, as Suspension's members are: out of line it cost a socket
  // wait about 35 instructions of call overhead (callgrind).
  [[gnu::always_inline]] bool await_suspend(std::coroutine_handle<> h) {
    if (!s_->registered) [[unlikely]]
      return false;  // await_resume raises
    return park_live(h, slot());
  }
  Readiness await_resume() {
    check_cancelled_or_pending();
    if (!s_->registered) [[unlikely]]
      throw_closed();
    return Readiness{s_->ready};
  }

  // The readiness bits that end a wait in each direction.
  static constexpr std::uint8_t kReadWake = Readiness::kReadable | Readiness::kReadClosed | Readiness::kError;
  static constexpr std::uint8_t kWriteWake = Readiness::kWritable | Readiness::kWriteClosed | Readiness::kError;
  // Whether `bits` satisfy a wait in direction `dir_`.
  bool satisfied(std::uint8_t bits) const noexcept {
    return (bits & (dir_ == Interest::kReadable ? kReadWake : kWriteWake)) != 0;
  }
  // The reactor reported readiness in this awaiter's direction, or the
  // registration ended (await_resume then raises ClosedResourceError).
  void on_wake() noexcept { wake(); }
  // For the reactor's report, once the direction is ready: whether the
  // wait is over. A plain wait is; an async_io awaiter tries its I/O call
  // and goes on waiting if the call would block.
  bool attempt() noexcept { return attempt_(this, nullptr); }
  // attempt(), and if the wait is over, its end as well: unlinks the
  // awaiter from `slot` (its direction's slot in the state), counts it out
  // of the loop's I/O waits and wakes the task. One indirect call that the
  // reactor's report can make as its last act (a tail call: callgrind,
  // about 14 instructions fewer per report than attempt() and a wake).
  void report(IoReadyAwaiter** slot) noexcept { attempt_(this, slot); }

 protected:
  // For IoOpAwaiter: `attempt` runs the I/O call from the reactor's report
  // (true: it finished, wake the task; false: it would block, keep waiting),
  // and when given a slot, ends the wait that finished (end_wait).
  using AttemptFn = bool (*)(IoReadyAwaiter* self, IoReadyAwaiter** slot) noexcept;
  // `s` is not null (empty_registration_state() stands for none).
  IoReadyAwaiter(RegistrationState* s, Interest dir, AttemptFn attempt) noexcept
      : Suspension(&IoReadyAwaiter::detach), s_(s), attempt_(attempt), dir_(dir) {
    s_->ref();
  }
  RegistrationState* state() const noexcept { return s_; }
  Interest dir() const noexcept { return dir_; }
  using Suspension::check_cancelled;
  [[noreturn]] void throw_closed() const;
  // await_suspend on a live registration (state present and registered).
  // The task is the registration's loop's running one: an fd's awaiters
  // run on its loop's thread, so no thread-local lookup is needed.
  // `waiter` is slot(), which a caller that knows its direction at
  // compile time finds without a test.
  [[gnu::always_inline]] bool park_live(std::coroutine_handle<> h, IoReadyAwaiter*& waiter) {
    EventLoop& loop = *s_->loop;
    if (!suspend(h, LoopAccess::current_task(loop))) return false;
    if (waiter != nullptr) [[unlikely]]
      throw_busy();
    waiter = this;
    LoopAccess::io_wait_begin(loop);
    return true;
  }
  // The reactor's side of a wait that is over: see report().
  [[gnu::always_inline]] void end_wait(IoReadyAwaiter** slot) noexcept {
    *slot = nullptr;
    EventLoop& loop = *s_->loop;  // the task's: an fd's awaiters run on its loop
    LoopAccess::io_wait_end(loop);
    wake(loop);
  }
  // The registration's waiter slot in this awaiter's direction.
  IoReadyAwaiter*& slot() const noexcept { return dir_ == Interest::kReadable ? s_->reader : s_->writer; }

 private:
  // A plain wait (readable(), writable()) has no call to try.
  static bool plain_attempt(IoReadyAwaiter* self, IoReadyAwaiter** slot) noexcept {
    if (slot != nullptr) self->end_wait(slot);
    return true;
  }
  // Another task waits in this direction: unparks, raises RuntimeError.
  [[noreturn, gnu::cold, gnu::noinline]] void throw_busy();
  static void detach(Suspension* self) noexcept;

  RegistrationState* s_;
  AttemptFn attempt_;
  Interest dir_;
};

// What one try of an async_io operation reports.
enum class IoAttempt : unsigned char {
  // Finished: await_resume gives its result (or raises its error).
  kDone,
  // Finished, and the fd would block in this direction now (a short read
  // or write of a stream socket): the readiness is cleared, so the next
  // operation waits for the reactor instead of meeting EAGAIN.
  kDrained,
  // The fd would block (EAGAIN, or a write that filled the buffer part
  // way): the readiness is cleared and the wait goes on.
  kWouldBlock,
};

// The direction an async_io op always runs in, if it says so
// (`static constexpr Interest kDirection`), else kNone.
template <class Op>
constexpr Interest op_direction() noexcept {
  if constexpr (requires { Op::kDirection; }) {
    return Op::kDirection;
  } else {
    return Interest::kNone;
  }
}

// co_await reg.async_io(direction, op): see IoRegistration::async_io.
// `Op` provides
//   IoAttempt attempt(int fd) noexcept;  // one non-blocking try
//   R result();                          // once it finished; may throw
// and keeps its own state (buffers, progress) between tries. An op that
// always runs in one direction may say so,
//   static constexpr Interest kDirection = Interest::kReadable;
// which spares the awaiter's hot path two tests of its direction (the
// `direction` given to async_io is then that one).
template <class Op>
class [[nodiscard]] IoOpAwaiter : private IoReadyAwaiter {
  static constexpr Interest kDir = op_direction<Op>();

 public:
  // `s` is not null (empty_registration_state() stands for none).
  IoOpAwaiter(RegistrationState* s, Interest dir, Op op) noexcept
      : IoReadyAwaiter(s, kDir != Interest::kNone ? kDir : dir, &IoOpAwaiter::attempt_from_reactor),
        op_(std::move(op)) {}
  // Finished before it started (no call to make): await_resume gives
  // op.result() at once.
  IoOpAwaiter(std::in_place_t, Op op) noexcept
      : IoReadyAwaiter(empty_registration_state(), Interest::kReadable, &IoOpAwaiter::attempt_from_reactor),
        op_(std::move(op)),
        done_(true) {}
  // Only before the await starts (as a value passed to timeout()).
  IoOpAwaiter(IoOpAwaiter&& o) noexcept
      : IoReadyAwaiter(o.state(), o.dir(), &IoOpAwaiter::attempt_from_reactor), op_(std::move(o.op_)), done_(o.done_) {}
  [[gnu::always_inline]] ~IoOpAwaiter() = default;

  // Tries the call at once when the direction is known ready. An empty or
  // deregistered registration does not suspend (await_resume raises).
  bool await_ready() noexcept {
    RegistrationState* s = state();
    if (!s->registered) [[unlikely]]
      return true;
    if constexpr (kDir == Interest::kReadable) {
      return (s->ready & kReadWake) != 0 && try_once();
    } else if constexpr (kDir == Interest::kWritable) {
      return (s->ready & kWriteWake) != 0 && try_once();
    } else {
      return satisfied(s->ready) && try_once();
    }
  }
  // await_ready returned false, so the registration is live: no need to
  // ask again.
  [[gnu::always_inline]] bool await_suspend(std::coroutine_handle<> h) {
    if constexpr (kDir == Interest::kReadable) {
      return park_live(h, state()->reader);
    } else if constexpr (kDir == Interest::kWritable) {
      return park_live(h, state()->writer);
    } else {
      return park_live(h, slot());
    }
  }
  decltype(auto) await_resume() {
    // Not finished: cancelled while parked (a cancel never reaches a call
    // that finished), or the registration ended.
    if (!done_) [[unlikely]] {
      check_cancelled();
      throw_closed();
    }
    return op_.result();
  }

 private:
  bool try_once() noexcept {
    switch (op_.attempt(state()->fd)) {
      case IoAttempt::kDone:
        break;
      case IoAttempt::kDrained:
        clear();
        break;
      case IoAttempt::kWouldBlock:
        clear();
        return false;
    }
    done_ = true;
    return true;
  }
  void clear() noexcept {
    const Interest d = kDir != Interest::kNone ? kDir : dir();
    state()->ready &=
        static_cast<std::uint8_t>(d == Interest::kReadable ? ~Readiness::kReadable : ~Readiness::kWritable);
  }
  static bool attempt_from_reactor(IoReadyAwaiter* self, IoReadyAwaiter** slot) noexcept {
    auto* a = static_cast<IoOpAwaiter*>(self);
    if (!a->try_once()) return false;
    if (slot != nullptr) a->end_wait(slot);
    return true;
  }

  Op op_;
  bool done_ = false;
};

}  // namespace internal

// What IoRegistration::set_read_callback calls.
// Errors: on_io_ready() must not throw (it runs inside the loop's poll).
// Thread safety: called on the loop's thread, from the poll; never nested
//   in a call the owner makes (not from set_read_callback, never twice at
//   once).
// Cancellation: not applicable (no task); see set_read_callback.
class IoReadyCallback {
 public:
  // The fd is readable, hung up or in error (the registration's cached
  // readiness says which). As with a task's wait, the callee clears the
  // readable bit after EAGAIN or a short read; a bit left set is not
  // reported again until the next report for the fd (edge-triggered), so
  // a callee that stops reading with data left must come back to it
  // itself (from a loop callback, say).
  virtual void on_io_ready() noexcept = 0;

 protected:
  ~IoReadyCallback() = default;
};

class IoRegistration {
 public:
  // Empty: registered() is false; awaiting it raises RuntimeError.
  IoRegistration() noexcept = default;
  // Registers `fd` with the running loop's reactor. `assume` is the
  // readiness to start from (for example Readiness::kWritable for a socket
  // known to be connected): waits in those directions return at once until
  // cleared; by default both are learnt from the reactor.
  explicit IoRegistration(int fd, Readiness assume = {});
  IoRegistration(EventLoop& loop, int fd, Readiness assume = {});
  IoRegistration(IoRegistration&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  IoRegistration& operator=(IoRegistration&& o) noexcept {
    if (this != &o) {
      deregister();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  IoRegistration(const IoRegistration&) = delete;
  IoRegistration& operator=(const IoRegistration&) = delete;
  // Deregisters (see deregister()).
  ~IoRegistration() { deregister(); }

  // Waits until the fd is readable (writable), or in error or hung up;
  // returns the cached readiness. See the header comment for errors.
  internal::IoReadyAwaiter readable() noexcept { return internal::IoReadyAwaiter(s_, Interest::kReadable); }
  internal::IoReadyAwaiter writable() noexcept { return internal::IoReadyAwaiter(s_, Interest::kWritable); }

  // Runs the non-blocking I/O call `op` (see internal::IoOpAwaiter) once
  // the fd is ready in `direction` (kReadable or kWritable): at once when
  // it is known ready, else from the reactor's report, trying again on
  // each report until the call no longer would block; then the task wakes
  // with its result. No coroutine frame and no allocation per call.
  // Errors: what op.result() raises; ClosedResourceError if the
  //   registration is empty or (is, or becomes while waiting) deregistered;
  //   RuntimeError if another task already waits in that direction.
  // Cancellation: a task cancelled while waiting has had no call finish
  //   (what a try that would block did is the op's: a partial write stays
  //   written). A call that finished is never lost to a cancel: the cancel
  //   is delivered at the task's next suspension point.
  template <class Op>
  internal::IoOpAwaiter<Op> async_io(Interest direction, Op op) noexcept {
    return internal::IoOpAwaiter<Op>(s_ != nullptr ? s_ : internal::empty_registration_state(), direction,
                                     std::move(op));
  }

  // Callback mode for the read direction: while `cb` is set (not null),
  // each report from the reactor that leaves the fd readable, hung up or
  // in error calls cb->on_io_ready() (see IoReadyCallback). Null unsets
  // it. Setting it never calls it: readiness already cached when it is
  // set was reported before, so the caller looks at readiness() itself.
  // While set, it counts as an I/O wait for the virtual clock, as a
  // waiting task does. deregister() unsets it without calling it. The
  // callback object must stay valid while set.
  // Errors: RuntimeError on an empty registration, or if a task waits
  //   until the fd is readable (a task must not start such a wait while a
  //   callback is set: the callback takes the reports).
  // Thread safety: the loop's thread only; may be called from the
  //   callback itself.
  // Cancellation: not applicable (no task waits).
  void set_read_callback(IoReadyCallback* cb);
  bool has_read_callback() const noexcept { return s_ != nullptr && s_->read_callback != nullptr; }

  // The cached readiness (empty for an empty registration).
  Readiness readiness() const noexcept { return Readiness{s_ != nullptr ? s_->ready : std::uint8_t{0}}; }
  // Forgets that the fd is readable (writable): call after EAGAIN or a
  // short read (write). The hang-up and error bits stay.
  void clear_readable() noexcept {
    if (s_ != nullptr) s_->ready &= static_cast<std::uint8_t>(~Readiness::kReadable);
  }
  void clear_writable() noexcept {
    if (s_ != nullptr) s_->ready &= static_cast<std::uint8_t>(~Readiness::kWritable);
  }

  // Removes the fd from the reactor, before its owner closes it. A task
  // waiting on it wakes with ClosedResourceError. The fd itself stays open.
  // Idempotent; a no-op on an empty registration.
  void deregister() noexcept;

  bool registered() const noexcept { return s_ != nullptr; }
  int fd() const noexcept { return s_ != nullptr ? s_->fd : -1; }

 private:
  internal::RegistrationState* s_ = nullptr;
};

}  // namespace corio

#endif  // CORIO_LOOP_IO_REGISTRATION_H_
