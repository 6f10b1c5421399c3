// The socketpair ping-pong that //loop:io_pingpong (for strace) and
// loop_benchmark's BM_Io_PingPong (for time) both run: two tasks exchange
// one-byte messages, each side on an IoRegistration kept for the whole
// run.
//
//   corio::IoRegistration ra(fds[0]), rb(fds[1]);  // an AF_UNIX socketpair, non-blocking
//   co_await corio::gather(corio::testing::ping(ra, rounds), corio::testing::pong(rb, rounds));
//
// A read is `co_await readable()`, read(), and clear_readable() after a
// short read (the socket is drained) or EAGAIN (the cached readiness was
// stale), so the next wait asks the reactor without a wasted read.
//
// Errors: RuntimeError if the peer closed the socket; std::system_error
//   for a failed read or write.
// Thread safety: the loop's thread.
// Cancellation: a cancelled side stops between messages or while waiting
//   for readiness; a message may be half exchanged.
#ifndef CORIO_LOOP_TESTING_IO_PING_PONG_H_
#define CORIO_LOOP_TESTING_IO_PING_PONG_H_

#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

#include "corio/loop/errors.h"
#include "corio/loop/io_registration.h"
#include "corio/loop/task.h"

namespace corio::testing {

// Reads one message (into 64 bytes).
[[nodiscard]] inline Task<void> read_message(IoRegistration& reg) {
  char buf[64];
  for (;;) {
    co_await reg.readable();
    const ssize_t n = ::read(reg.fd(), buf, sizeof buf);
    if (n > 0) {
      if (n < static_cast<ssize_t>(sizeof buf)) reg.clear_readable();
      co_return;
    }
    if (n == 0) throw RuntimeError("io ping-pong: the peer closed the socket");
    if (errno != EAGAIN) throw std::system_error(errno, std::generic_category(), "read");
    reg.clear_readable();
  }
}

// Writes a one-byte message, waiting for room if the socket is full.
[[nodiscard]] inline Task<void> write_message(IoRegistration& reg) {
  const char c = 'x';
  for (;;) {
    const ssize_t n = ::write(reg.fd(), &c, 1);
    if (n == 1) co_return;
    if (n < 0 && errno != EAGAIN) throw std::system_error(errno, std::generic_category(), "write");
    reg.clear_writable();
    co_await reg.writable();
  }
}

// `rounds` times: writes a message, then reads the answer.
[[nodiscard]] inline Task<void> ping(IoRegistration& reg, std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) {
    co_await write_message(reg);
    co_await read_message(reg);
  }
}

// `rounds` times: reads a message, then answers it.
[[nodiscard]] inline Task<void> pong(IoRegistration& reg, std::int64_t rounds) {
  for (std::int64_t i = 0; i < rounds; ++i) {
    co_await read_message(reg);
    co_await write_message(reg);
  }
}

}  // namespace corio::testing

#endif  // CORIO_LOOP_TESTING_IO_PING_PONG_H_
