#include "corio/loop/io_registration.h"

#include <string>

#include "corio/loop/internal/loop_access.h"

namespace corio {

namespace internal {

void RegistrationState::retire() noexcept { LoopAccess::retire_registration(*loop, this); }

RegistrationState* empty_registration_state() noexcept {
  static thread_local RegistrationState empty = [] {
    RegistrationState s(nullptr, -1, 0);
    s.registered = false;
    s.refs = std::uint32_t{1} << 31;  // awaiters' references come and go in pairs
    return s;
  }();
  return &empty;
}

void IoReadyAwaiter::throw_busy() {
  unpark();
  throw RuntimeError("corio: fd " + std::to_string(s_->fd) + " already has a task waiting until it is " +
                     (dir_ == Interest::kReadable ? "readable" : "writable"));
}

void IoReadyAwaiter::throw_closed() const {
  if (s_->loop == nullptr) {  // empty_registration_state()
    if (attempt_ != &IoReadyAwaiter::plain_attempt)
      throw ClosedResourceError("corio: I/O on an empty (closed) IoRegistration");
    throw RuntimeError("corio: awaited an empty IoRegistration");
  }
  throw ClosedResourceError("corio: fd " + std::to_string(s_->fd) + " was deregistered");
}

void IoReadyAwaiter::detach(Suspension* self) noexcept {
  auto* a = static_cast<IoReadyAwaiter*>(self);
  if (a->slot() == a) {
    a->slot() = nullptr;
    LoopAccess::io_wait_end(*a->s_->loop);
  }
}

namespace {

void on_events_both(RegistrationState* s) noexcept;

void on_events(IoSource* src, Readiness r) noexcept {
  auto* s = static_cast<RegistrationState*>(src);
  if (!s->registered) return;  // deregistered earlier in this batch
  s->ready |= r.bits;
  if (s->writer != nullptr) [[unlikely]]
    return on_events_both(s);
  // At most a reader waits (the usual case): its report() is the last
  // thing to do, a tail call, so this function needs no frame.
  if (IoReadyAwaiter* w = s->reader; w != nullptr && (s->ready & IoReadyAwaiter::kReadWake) != 0) {
    w->report(&s->reader);
  }
}

// on_events with a writer waiting (and maybe a reader).
[[gnu::noinline]] void on_events_both(RegistrationState* s) noexcept {
  // The slot says the direction: no need to ask the awaiter (satisfied()).
  if (IoReadyAwaiter* w = s->reader; w != nullptr && (s->ready & IoReadyAwaiter::kReadWake) != 0 && w->attempt()) {
    s->reader = nullptr;
    LoopAccess::io_wait_end(*s->loop);
    w->on_wake();
  }
  if (IoReadyAwaiter* w = s->writer; w != nullptr && (s->ready & IoReadyAwaiter::kWriteWake) != 0 && w->attempt()) {
    s->writer = nullptr;
    LoopAccess::io_wait_end(*s->loop);
    w->on_wake();
  }
}

// on_events while a read callback is set (set_read_callback swaps it in,
// so registrations without one keep the plain path above).
void on_events_with_callback(IoSource* src, Readiness r) noexcept {
  auto* s = static_cast<RegistrationState*>(src);
  if (!s->registered) return;
  s->ready |= r.bits;
  constexpr std::uint8_t kRead = Readiness::kReadable | Readiness::kReadClosed | Readiness::kError;
  if (IoReadyCallback* cb = s->read_callback; cb != nullptr && (s->ready & kRead) != 0) {
    cb->on_io_ready();
    if (!s->registered) return;  // the callback closed the fd
  }
  if (IoReadyAwaiter* w = s->writer; w != nullptr && w->satisfied(s->ready) && w->attempt()) {
    s->writer = nullptr;
    LoopAccess::io_wait_end(*s->loop);
    w->on_wake();
  }
}

RegistrationState* make_state(EventLoop& loop, int fd, Readiness assume) {
  if (fd < 0) throw std::invalid_argument("corio: negative file descriptor");
  auto* s = new RegistrationState(&loop, fd, assume.bits);
  s->on_events = &on_events;
  try {
    LoopAccess::watch_fd(loop, fd, s);
  } catch (...) {
    delete s;
    throw;
  }
  return s;
}

}  // namespace
}  // namespace internal

IoRegistration::IoRegistration(int fd, Readiness assume) : IoRegistration(current_loop(), fd, assume) {}

IoRegistration::IoRegistration(EventLoop& loop, int fd, Readiness assume)
    : s_(internal::make_state(loop, fd, assume)) {}

void IoRegistration::set_read_callback(IoReadyCallback* cb) {
  internal::RegistrationState* s = s_;
  if (s == nullptr) throw RuntimeError("corio: set_read_callback() on an empty IoRegistration");
  if (cb != nullptr && s->reader != nullptr) {
    throw RuntimeError("corio: fd " + std::to_string(s->fd) +
                       " has a task waiting until it is readable; it cannot also have a read callback");
  }
  if ((s->read_callback != nullptr) != (cb != nullptr)) {
    if (cb != nullptr) {
      internal::LoopAccess::io_wait_begin(*s->loop);
    } else {
      internal::LoopAccess::io_wait_end(*s->loop);
    }
  }
  s->read_callback = cb;
  s->on_events = cb != nullptr ? &internal::on_events_with_callback : &internal::on_events;
}

void IoRegistration::deregister() noexcept {
  internal::RegistrationState* s = std::exchange(s_, nullptr);
  if (s == nullptr) return;
  s->registered = false;
  if (s->read_callback != nullptr) {
    s->read_callback = nullptr;
    internal::LoopAccess::io_wait_end(*s->loop);
  }
  internal::LoopAccess::unwatch_fd(*s->loop, s->fd);
  for (internal::IoReadyAwaiter** slot : {&s->reader, &s->writer}) {
    if (internal::IoReadyAwaiter* w = std::exchange(*slot, nullptr)) {
      internal::LoopAccess::io_wait_end(*s->loop);
      w->on_wake();
    }
  }
  s->unref();
}

}  // namespace corio
