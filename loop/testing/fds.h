// File descriptors for loop tests: a non-blocking AF_UNIX socketpair and a
// non-blocking pipe, each closed on destruction, and small helpers that
// write, read, fill and drain them.
//
//   corio::testing::SocketPair sp;
//   corio::IoRegistration reg(sp.a);
//   corio::testing::write_byte(sp.b);  // sp.a is readable now
//
// Errors: the constructors throw std::system_error if the kernel gives no
//   fds; write_byte() and fill() record a gtest failure if a write went
//   other than expected.
// Thread safety: one thread at a time per object.
#ifndef CORIO_LOOP_TESTING_FDS_H_
#define CORIO_LOOP_TESTING_FDS_H_

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "gtest/gtest.h"

namespace corio::testing {

// Closes `fd` unless it is closed already (-1), and marks it closed.
inline void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// A non-blocking AF_UNIX stream socketpair, closed on destruction.
struct SocketPair {
  int a = -1;
  int b = -1;
  SocketPair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      throw std::system_error(errno, std::generic_category(), "socketpair");
    }
    a = fds[0];
    b = fds[1];
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
  ~SocketPair() {
    close_a();
    close_b();
  }
  void close_a() noexcept { close_fd(a); }
  void close_b() noexcept { close_fd(b); }
};

// A non-blocking pipe (`r` its read end, `w` its write end), closed on
// destruction.
struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    r = fds[0];
    w = fds[1];
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    close_r();
    close_w();
  }
  void close_r() noexcept { close_fd(r); }
  void close_w() noexcept { close_fd(w); }
};

// Writes one byte; a gtest failure unless it was written.
inline void write_byte(int fd, char c = 'x') { EXPECT_EQ(::write(fd, &c, 1), 1); }

// Reads what is there: the byte count, 0 at end of file, -1 if nothing.
inline ssize_t read_some(int fd) {
  char buf[4096];
  return ::read(fd, buf, sizeof buf);
}

// Writes until the fd would block; a gtest failure if it stopped for
// another reason.
inline void fill(int fd) {
  static const std::string chunk(4096, 'f');
  while (::write(fd, chunk.data(), chunk.size()) > 0) {
  }
  EXPECT_EQ(errno, EAGAIN);
}

// Reads until the fd would block (or its end).
inline void drain(int fd) {
  while (read_some(fd) > 0) {
  }
}

}  // namespace corio::testing

#endif  // CORIO_LOOP_TESTING_FDS_H_
