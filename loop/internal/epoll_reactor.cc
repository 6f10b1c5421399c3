#include "corio/loop/internal/epoll_reactor.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <system_error>

#include "corio/loop/errors.h"

namespace corio::internal {

namespace {
[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }
}  // namespace

EpollReactor::EpollReactor() {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw RuntimeError(std::string("corio: epoll_create1: ") + std::strerror(errno));
}

EpollReactor::~EpollReactor() { ::close(epfd_); }

void EpollReactor::watch(int fd, IoSource* source) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(source));
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("epoll_ctl(ADD)");
}

void EpollReactor::unwatch(int fd) noexcept {
  epoll_event ev{};
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);  // EBADF/ENOENT: already gone
}

void EpollReactor::set_interest(int fd, std::uint64_t token, Interest interest, bool& in_set) {
  epoll_event ev{};
  ev.events =
      (has(interest, Interest::kReadable) ? EPOLLIN : 0u) | (has(interest, Interest::kWritable) ? EPOLLOUT : 0u);
  ev.data.u64 = (token << 1) | 1;
  if (interest == Interest::kNone) {
    if (in_set) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);  // a closed fd is already gone
    in_set = false;
    return;
  }
  int rc = ::epoll_ctl(epfd_, in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
  // The record can be stale: a closed fd left the set by itself, and a new
  // one may have been opened with its number.
  // An ADD refused with EEXIST is not retried as a MOD: the fd is in the
  // set under another owner (an IoRegistration), whose entry a MOD would
  // take over. The caller turns it into its error.
  if (rc != 0 && errno == ENOENT) rc = ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
  if (rc != 0) throw_errno("epoll_ctl");
  in_set = true;
}

int EpollReactor::wait_raw(epoll_event* events, std::int64_t timeout_ns) {
  int n;
  if (timeout_ns < 0) {
    n = ::epoll_wait(epfd_, events, kMaxEvents, -1);
  } else if (timeout_ns == 0) {
    n = ::epoll_wait(epfd_, events, kMaxEvents, 0);
  } else {
    timespec ts{static_cast<time_t>(timeout_ns / 1000000000), static_cast<long>(timeout_ns % 1000000000)};
    n = ::epoll_pwait2(epfd_, events, kMaxEvents, &ts, nullptr);
    if (n < 0 && errno == ENOSYS) {
      const std::int64_t ms = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
      n = ::epoll_wait(epfd_, events, kMaxEvents, ms > INT_MAX ? INT_MAX : static_cast<int>(ms));
    }
  }
  if (n < 0) {
    if (errno == EINTR) return 0;
    throw_errno("epoll_wait");
  }
  return n;
}

}  // namespace corio::internal
