#include "corio/loop/fd_ready.h"

#include "corio/loop/event_loop.h"

namespace corio {

bool FdReady::await_suspend(std::coroutine_handle<> h) {
  if (!suspend(h)) return false;
  loop_ = task()->loop();
  try {
    loop_->add_io_waiter(fd_, direction_, this);
  } catch (...) {
    unpark();
    throw;
  }
  return true;
}

void FdReady::detach(Suspension* s) noexcept {
  auto* self = static_cast<FdReady*>(s);
  self->loop_->remove_io_waiter(self->fd_, self->direction_, self);
}

void FdReady::on_ready(IoWaiter* w, Readiness) noexcept { static_cast<FdReady*>(w)->wake(); }

FdReady wait_readable(int fd) noexcept { return FdReady(fd, Interest::kReadable); }
FdReady wait_writable(int fd) noexcept { return FdReady(fd, Interest::kWritable); }

}  // namespace corio
