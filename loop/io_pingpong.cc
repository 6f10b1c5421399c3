// io_pingpong: two tasks exchange one-byte messages over an AF_UNIX
// socketpair, each side on an IoRegistration, for a number of round trips
// (100,000 unless given), then exit: the ping-pong of loop_benchmark's
// BM_Io_PingPong (testing/io_ping_pong.h). For counting system calls:
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

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "corio/loop/loop.h"
#include "corio/loop/testing/io_ping_pong.h"

namespace {

corio::Task<void> ping_pong(int a, int b, long rounds) {
  corio::IoRegistration ra(a);
  corio::IoRegistration rb(b);
  co_await corio::gather(corio::testing::ping(ra, rounds), corio::testing::pong(rb, rounds));
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
