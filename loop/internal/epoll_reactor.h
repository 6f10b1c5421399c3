// EpollReactor: the reactor backend on Linux epoll (see reactor.h for the
// seam it implements). Loop thread only, except fd(), which another thread
// may wait on.
#ifndef CORIO_LOOP_INTERNAL_EPOLL_REACTOR_H_
#define CORIO_LOOP_INTERNAL_EPOLL_REACTOR_H_

#include <sys/epoll.h>

#include <cstdint>

#include "corio/loop/internal/reactor.h"

namespace corio::internal {

class EpollReactor {
 public:
  // Errors: RuntimeError if epoll_create1 fails (out of descriptors).
  EpollReactor();
  ~EpollReactor();
  EpollReactor(const EpollReactor&) = delete;
  EpollReactor& operator=(const EpollReactor&) = delete;

  // Readable while events are pending (an epoll fd is itself pollable).
  int fd() const noexcept { return epfd_; }

  // Edge-triggered, every direction, until unwatch(): reports go to
  // `source`, which must stay at its address meanwhile.
  // Errors: std::system_error from epoll_ctl (EPERM for a regular file,
  //   EBADF for a closed fd, EEXIST if the fd is already in the set).
  void watch(int fd, IoSource* source);
  // Ends watch(). The fd may already be closed: then it has left the set
  // by itself and this does nothing.
  void unwatch(int fd) noexcept;

  // Level-triggered interest for the loop's own fd table: events come back
  // as level(token, readiness). `in_set` is the caller's record of whether
  // the fd is in the set; kNone removes it. `token` must fit in 63 bits.
  // Errors: std::system_error from epoll_ctl (the fd is left as it was);
  //   EEXIST when `in_set` is false and the fd is in the set (watch()ed).
  void set_interest(int fd, std::uint64_t token, Interest interest, bool& in_set);

  // Waits up to `timeout_ns` (negative: no limit; 0: poll) and reports
  // each event: to its IoSource, or as level(token, readiness). Returns
  // the number of events, 0 when interrupted by a signal.
  // Errors: std::system_error if epoll_wait fails otherwise.
  template <class Level>
  int wait(std::int64_t timeout_ns, Level&& level) {
    epoll_event events[kMaxEvents];
    const int n = wait_raw(events, timeout_ns);
    for (int i = 0; i < n; ++i) {
      const std::uint64_t data = events[i].data.u64;
      const Readiness r = translate(events[i].events);
      if (data & 1) {
        level(data >> 1, r);
      } else {
        auto* s = reinterpret_cast<IoSource*>(static_cast<std::uintptr_t>(data));
        s->on_events(s, r);
      }
    }
    return n;
  }

  static Readiness translate(std::uint32_t epoll_events) noexcept {
    // The usual report (readable and/or writable, nothing else) in a few
    // instructions instead of five tests (callgrind: about 12 fewer per
    // event on the echo benchmark).
    static_assert(EPOLLIN == 1 && EPOLLOUT == 4 && Readiness::kReadable == 1 && Readiness::kWritable == 2);
    if ((epoll_events & ~static_cast<std::uint32_t>(EPOLLIN | EPOLLOUT)) == 0) [[likely]]
      return Readiness{static_cast<std::uint8_t>((epoll_events & EPOLLIN) | ((epoll_events & EPOLLOUT) >> 1))};
    std::uint8_t bits = 0;
    if (epoll_events & (EPOLLIN | EPOLLPRI)) bits |= Readiness::kReadable;
    if (epoll_events & EPOLLOUT) bits |= Readiness::kWritable;
    if (epoll_events & EPOLLRDHUP) bits |= Readiness::kReadable | Readiness::kReadClosed;
    if (epoll_events & EPOLLHUP) {
      bits |= Readiness::kReadable | Readiness::kWritable | Readiness::kReadClosed | Readiness::kWriteClosed;
    }
    if (epoll_events & EPOLLERR) bits |= Readiness::kReadable | Readiness::kWritable | Readiness::kError;
    return Readiness{bits};
  }

 private:
  static constexpr int kMaxEvents = 256;
  int wait_raw(epoll_event* events, std::int64_t timeout_ns);
  int epfd_ = -1;
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_EPOLL_REACTOR_H_
