// FdReady, wait_readable, wait_writable: asyncio's one-shot wait for a file
// descriptor to become readable or writable.
//
//   co_await corio::wait_readable(sock);  // then read(sock, ...) won't block
//
// Each wait adds the fd to the reactor and removes it again (two epoll_ctl
// calls). Code that waits on the same fd again and again (a socket) keeps
// an IoRegistration (io_registration.h) instead, which registers once. An
// fd that has an IoRegistration cannot be awaited here (RuntimeError).
#ifndef CORIO_LOOP_FD_READY_H_
#define CORIO_LOOP_FD_READY_H_

#include <coroutine>

// event_loop.h includes this header too, for the code that has always
// found wait_readable there; the two guards settle either order.
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/io_waiter.h"
#include "corio/loop/internal/reactor.h"
#include "corio/loop/internal/task_base.h"

namespace corio {

// Awaitable: suspends the current task until `fd` is readable, or
// writable, or in error/hang-up (the next I/O call tells which). Made by
// wait_readable / wait_writable below; the fd stays the caller's.
//
// Errors: RuntimeError outside a task, or if another task (or an
//   add_reader/add_writer callback) already waits on the same fd and
//   direction, or if the fd has an IoRegistration; std::invalid_argument
//   for a negative fd; std::system_error if epoll rejects the fd (EPERM
//   for a regular file, EBADF for a closed one). Each is raised by the
//   co_await.
// Thread safety: awaited by a task on its loop's thread.
// Cancellation: the waiter is removed; nothing else changes.
class [[nodiscard]] FdReady : private internal::Suspension, private internal::IoWaiter {
 public:
  FdReady(int fd, Interest direction) noexcept
      : Suspension(&FdReady::detach), IoWaiter{&FdReady::on_ready, false}, fd_(fd), direction_(direction) {}
  [[gnu::always_inline]] ~FdReady() { abandon(); }
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h);
  void await_resume() const { check_cancelled_or_pending(); }

 private:
  static void detach(Suspension* s) noexcept;
  static void on_ready(IoWaiter* w, Readiness) noexcept;
  int fd_;
  Interest direction_;
  EventLoop* loop_ = nullptr;
};

// co_await wait_readable(fd): the current task waits until `fd` is
// readable; wait_writable until it is writable (see FdReady for errors).
FdReady wait_readable(int fd) noexcept;
FdReady wait_writable(int fd) noexcept;

}  // namespace corio

#endif  // CORIO_LOOP_FD_READY_H_
