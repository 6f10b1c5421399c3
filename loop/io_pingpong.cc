// io_pingpong: two tasks exchange one-byte messages over an AF_UNIX
// socketpair, each side on an IoRegistration, for a number of round trips
// (100,000 unless given), then exit. For counting system calls:
//
//   bazel build -c opt //loop:io_pingpong
//   strace -c -f bazel-bin/loop/io_pingpong
//
// The aim: no epoll_ctl after the first registrations, and at most
// one epoll_wait per loop iteration. The loop is driven by hand with
// run_once() so that the iterations can be counted and printed beside the
// round trips.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <system_error>

#include "corio/loop/loop.h"

namespace {

// Reads one message: waits until readable, reads; a short read means the
// socket was drained, EAGAIN that the cached readiness was stale: either
// way the readiness is cleared, so the next wait asks the reactor.
corio::Task<void> read_message(corio::IoRegistration& reg) {
  char buf[64];
  for (;;) {
    co_await reg.readable();
    const ssize_t n = ::read(reg.fd(), buf, sizeof buf);
    if (n > 0) {
      if (n < static_cast<ssize_t>(sizeof buf)) reg.clear_readable();
      co_return;
    }
    if (n == 0) throw corio::RuntimeError("io_pingpong: the peer closed the socket");
    if (errno != EAGAIN) throw std::system_error(errno, std::generic_category(), "read");
    reg.clear_readable();
  }
}

// Writes a one-byte message, waiting for room if the socket is full.
corio::Task<void> write_message(corio::IoRegistration& reg) {
  const char c = 'x';
  for (;;) {
    const ssize_t n = ::write(reg.fd(), &c, 1);
    if (n == 1) co_return;
    if (n < 0 && errno != EAGAIN) throw std::system_error(errno, std::generic_category(), "write");
    reg.clear_writable();
    co_await reg.writable();
  }
}

corio::Task<void> ping(corio::IoRegistration& reg, long rounds) {
  for (long i = 0; i < rounds; ++i) {
    co_await write_message(reg);
    co_await read_message(reg);
  }
}

corio::Task<void> pong(corio::IoRegistration& reg, long rounds) {
  for (long i = 0; i < rounds; ++i) {
    co_await read_message(reg);
    co_await write_message(reg);
  }
}

corio::Task<void> ping_pong(int a, int b, long rounds) {
  corio::IoRegistration ra(a);
  corio::IoRegistration rb(b);
  co_await corio::gather(ping(ra, rounds), pong(rb, rounds));
}

}  // namespace

int main(int argc, char** argv) {
  const long rounds = argc > 1 ? std::atol(argv[1]) : 100000;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    std::perror("socketpair");
    return 1;
  }
  long iterations = 0;
  const auto start = std::chrono::steady_clock::now();
  {
    corio::EventLoop loop;
    corio::TaskHandle<void> main = corio::create_task(loop, ping_pong(fds[0], fds[1], rounds));
    while (!main.done()) {
      loop.run_once();
      ++iterations;
    }
    main.result();  // rethrows a failure
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ::close(fds[0]);
  ::close(fds[1]);
  std::printf("io_pingpong: %ld round trips, %ld loop iterations, %.1f ms\n", rounds, iterations, ms);
  return 0;
}
