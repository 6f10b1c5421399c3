#include "corio/net/socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace corio::net {

void throw_os_error(int code, const std::string& what) {
  const std::string msg = "corio::net: " + what + ": " + std::strerror(code);
  switch (code) {
    case ECONNREFUSED:
      throw ConnectionRefusedError(code, msg);
    case ECONNRESET:
      throw ConnectionResetError(code, msg);
    case ECONNABORTED:
      throw ConnectionAbortedError(code, msg);
    case EPIPE:
    case ESHUTDOWN:
      throw BrokenPipeError(code, msg);
    default:
      throw OSError(code, msg);
  }
}

namespace socket_internal {

void fail(int err, const char* what) {
  if (err == kClosed) throw ClosedResourceError(std::string("corio::net: ") + what + " on a closed socket");
  throw_os_error(err, what);
}

void fail_result(ssize_t result, const char* what) {
  fail(result == kClosedResult ? kClosed : static_cast<int>(-result), what);
}

AcceptOp::~AcceptOp() {
  if (fd >= 0) ::close(fd);
}

corio::internal::IoAttempt AcceptOp::attempt(int listen_fd) noexcept {
  for (;;) {
    fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return corio::internal::IoAttempt::kDone;  // more may be queued: no clear
    const int e = errno;
    if (would_block(e)) return corio::internal::IoAttempt::kWouldBlock;
    if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;  // that one is gone; take the next
    err = e;
    return corio::internal::IoAttempt::kDone;
  }
}

Socket AcceptOp::result() {
  if (err != 0) fail(err, "accept");
  // Data may have come with the connection: the first read tries.
  return Socket::adopt(std::exchange(fd, -1), Readiness{Readiness::kReadable | Readiness::kWritable});
}

}  // namespace socket_internal

using socket_internal::would_block;

Socket Socket::open(int family, int type, int protocol) {
  const int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw_os_error(errno, "socket");
  return adopt(fd, Readiness{Readiness::kWritable});
}

Socket Socket::adopt(int fd, Readiness assume) {
  try {
    return Socket(fd, IoRegistration(fd, assume));
  } catch (...) {
    ::close(fd);
    throw;
  }
}

void Socket::close() noexcept {
  if (fd_ < 0) return;
  reg_.deregister();
  ::close(std::exchange(fd_, -1));
}

void Socket::throw_closed(const char* what) {
  throw ClosedResourceError(std::string("corio::net: ") + what + " on a closed socket");
}

void Socket::set_option(int level, int name, int value) {
  check_open("setsockopt");
  if (::setsockopt(fd_, level, name, &value, sizeof value) != 0) throw_os_error(errno, "setsockopt");
}

void Socket::set_nodelay(bool on) { set_option(IPPROTO_TCP, TCP_NODELAY, on); }

void Socket::bind(const SocketAddress& addr) {
  check_open("bind");
  if (::bind(fd_, addr.get(), addr.size()) != 0) throw_os_error(errno, "bind " + addr.to_string());
}

void Socket::listen(int backlog) {
  check_open("listen");
  if (::listen(fd_, backlog) != 0) throw_os_error(errno, "listen");
}

SocketAddress Socket::local_address() const {
  check_open("getsockname");
  SocketAddress a;
  *a.size_ptr() = SocketAddress::capacity();
  if (::getsockname(fd_, a.get(), a.size_ptr()) != 0) throw_os_error(errno, "getsockname");
  return a;
}

SocketAddress Socket::peer_address() const {
  check_open("getpeername");
  SocketAddress a;
  *a.size_ptr() = SocketAddress::capacity();
  if (::getpeername(fd_, a.get(), a.size_ptr()) != 0) throw_os_error(errno, "getpeername");
  return a;
}

Socket::AcceptAwaiter Socket::accept() noexcept {
  if (fd_ < 0) return AcceptAwaiter(std::in_place, socket_internal::AcceptOp(socket_internal::kClosed));
  return reg_.async_io(Interest::kReadable, socket_internal::AcceptOp());
}

Task<void> Socket::connect(const SocketAddress& addr) {
  check_open("connect");
  if (::connect(fd_, addr.get(), addr.size()) == 0) co_return;
  if (errno != EINPROGRESS && errno != EINTR) throw_os_error(errno, "connect " + addr.to_string());
  reg_.clear_writable();
  co_await reg_.writable();
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) throw_os_error(err, "connect " + addr.to_string());
}

void Socket::shutdown_write() {
  check_open("shutdown");
  if (::shutdown(fd_, SHUT_WR) != 0 && errno != ENOTCONN) throw_os_error(errno, "shutdown");
}

Task<std::size_t> Socket::recv_from(std::span<char> buf, SocketAddress* from) {
  for (;;) {
    check_open("recvfrom");
    if (!reg_.readiness().readable()) co_await reg_.readable();
    SocketAddress a;
    *a.size_ptr() = SocketAddress::capacity();
    const ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), 0, a.get(), a.size_ptr());
    if (n >= 0) {
      if (from != nullptr) *from = a;
      co_return static_cast<std::size_t>(n);
    }
    const int e = errno;
    if (would_block(e)) {
      reg_.clear_readable();
      continue;
    }
    if (e == EINTR) continue;
    throw_os_error(e, "recvfrom");
  }
}

Task<std::size_t> Socket::send_to(std::span<const char> data, const SocketAddress& to) {
  for (;;) {
    check_open("sendto");
    if (!reg_.readiness().writable()) co_await reg_.writable();
    const ssize_t n = ::sendto(fd_, data.data(), data.size(), MSG_NOSIGNAL, to.get(), to.size());
    if (n >= 0) co_return static_cast<std::size_t>(n);
    const int e = errno;
    if (would_block(e)) {
      reg_.clear_writable();
      continue;
    }
    if (e == EINTR) continue;
    throw_os_error(e, "sendto " + to.to_string());
  }
}

}  // namespace corio::net
