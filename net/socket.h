// Socket: a non-blocking socket that owns its fd and one IoRegistration
// for the fd's whole life, so waiting for readiness costs no epoll_ctl.
//
//   corio::net::Socket s = corio::net::Socket::open(AF_INET, SOCK_STREAM);
//   co_await s.connect(corio::net::SocketAddress::ip("127.0.0.1", 8080));
//   co_await s.send_all("hello");
//   char buf[4096];
//   std::size_t n = co_await s.recv(buf);        // 0 at end of stream
//
// Reads and writes try the system call when the direction is known to be
// ready and wait for the reactor only when it is not (a short read means
// the receive buffer was emptied: the next read waits first). Writes use
// MSG_NOSIGNAL: a peer that went away is a BrokenPipeError, never SIGPIPE.
//
// Errors: system-call failures raise the matching corio::net error
//   (errors.h): ConnectionRefusedError, ConnectionResetError,
//   BrokenPipeError, ... ; any other errno an OSError. Operations on a
//   closed socket raise ClosedResourceError (corio/loop/errors.h), as does
//   a wait interrupted by close() from another task.
// Thread safety: the loop's thread (the one that opened or accepted it).
// Cancellation: a task cancelled while waiting loses nothing: no byte was
//   read or written by the interrupted call (a send_all cancelled midway
//   has sent a prefix, reported in nothing: use the stream layer for
//   all-or-nothing writes). accept() cancelled takes no connection. A call
//   that finished before the cancel came returns its result; the cancel is
//   raised at the task's next suspension point.
//
// recv, send, send_all and accept are awaiters built on
// IoRegistration::async_io, not coroutines: a call costs no frame and no
// allocation, and the system call is made at once when the direction is
// known ready, else from the reactor's report. Like any awaitable they
// work with corio::timeout; to run one as a task of its own, wrap it in a
// coroutine (co_invoke).
#ifndef CORIO_NET_SOCKET_H_
#define CORIO_NET_SOCKET_H_

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "corio/loop/io_registration.h"
#include "corio/loop/task.h"
#include "corio/net/address.h"
#include "corio/net/errors.h"

namespace corio::net {

class Socket;

namespace socket_internal {

// The non-blocking calls behind Socket's awaiters (IoRegistration::async_io
// ops). `err` is the errno of a failed call, or kClosed for a call on a
// closed socket, raised by result().
inline constexpr int kClosed = -1;
[[noreturn, gnu::cold, gnu::noinline]] void fail(int err, const char* what);

inline bool would_block(int e) noexcept { return e == EAGAIN || e == EWOULDBLOCK; }
// RecvOp/SendOp's result for a call on a closed socket.
inline constexpr ssize_t kClosedResult = -(ssize_t{1} << 62);
// Raises the error a negative RecvOp/SendOp result stands for.
[[noreturn, gnu::cold, gnu::noinline]] void fail_result(ssize_t result, const char* what);

// RecvOp's and SendOp's attempt(): makes the call (`call`, one recv or
// send of `span`'s bytes) again while a signal interrupts it, and keeps
// its count in `n`, or -errno if it failed. kDrained when it moved fewer
// bytes than `span` holds, but for a read that moved none (`kRead`: the
// end of the stream), which is kDone. (`span` by reference, read after the
// call as RecvOp and SendOp did themselves: the same machine code.)
template <bool kRead, class Span, class Call>
[[gnu::always_inline]] inline corio::internal::IoAttempt attempt_call(ssize_t& n, const Span& span,
                                                                      Call call) noexcept {
  for (;;) {
    n = call();
    if (n >= 0) [[likely]] {
      return (!kRead || n > 0) && static_cast<std::size_t>(n) < span.size() ? corio::internal::IoAttempt::kDrained
                                                                            : corio::internal::IoAttempt::kDone;
    }
    const int e = errno;
    if (e == EINTR) continue;
    if (would_block(e)) return corio::internal::IoAttempt::kWouldBlock;
    n = -e;
    return corio::internal::IoAttempt::kDone;
  }
}
// RecvOp's and SendOp's result(): the count `n`, or raises the error it
// stands for (`what` names the call).
inline std::size_t count_result(ssize_t n, const char* what) {
  if (n < 0) [[unlikely]]
    fail_result(n, what);
  return static_cast<std::size_t>(n);
}

struct RecvOp {
  static constexpr Interest kDirection = Interest::kReadable;
  std::span<char> buf;
  // The bytes read, or -errno of a failed call, or kClosedResult (one field
  // for both keeps the awaiter's construction one store shorter).
  ssize_t n = 0;
  corio::internal::IoAttempt attempt(int fd) noexcept {
    // A short read emptied the receive buffer: the next one waits (0 is the
    // end of the stream).
    return attempt_call<true>(n, buf, [&] { return ::recv(fd, buf.data(), buf.size(), 0); });
  }
  std::size_t result() const { return count_result(n, "recv"); }
};

struct SendOp {
  static constexpr Interest kDirection = Interest::kWritable;
  std::span<const char> data;
  // The bytes written, or -errno of a failed call, or kClosedResult (one field
  // for both keeps the awaiter's construction one store shorter).
  ssize_t n = 0;
  corio::internal::IoAttempt attempt(int fd) noexcept {
    // A short write filled the send buffer: the next one waits.
    return attempt_call<false>(n, data, [&] { return ::send(fd, data.data(), data.size(), MSG_NOSIGNAL); });
  }
  std::size_t result() const { return count_result(n, "send"); }
};

struct SendAllOp {
  static constexpr Interest kDirection = Interest::kWritable;
  std::string_view data;  // what is left to send
  int err = 0;
  corio::internal::IoAttempt attempt(int fd) noexcept {
    for (;;) {
      const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (sent >= 0) [[likely]] {
        data.remove_prefix(static_cast<std::size_t>(sent));
        // A short write filled the send buffer: wait for room.
        return data.empty() ? corio::internal::IoAttempt::kDone : corio::internal::IoAttempt::kWouldBlock;
      }
      const int e = errno;
      if (e == EINTR) continue;
      if (would_block(e)) return corio::internal::IoAttempt::kWouldBlock;
      err = e;
      return corio::internal::IoAttempt::kDone;
    }
  }
  void result() const {
    if (err != 0) [[unlikely]]
      fail(err, "send");
  }
};

// Holds the accepted fd until result() makes it a Socket; closes it if the
// awaiter is destroyed first (a frame destroyed after the wake).
struct AcceptOp {
  static constexpr Interest kDirection = Interest::kReadable;
  int fd = -1;
  int err = 0;
  AcceptOp() noexcept = default;
  explicit AcceptOp(int e) noexcept : err(e) {}
  AcceptOp(AcceptOp&& o) noexcept : fd(std::exchange(o.fd, -1)), err(o.err) {}
  AcceptOp& operator=(AcceptOp&&) = delete;
  ~AcceptOp();
  corio::internal::IoAttempt attempt(int listen_fd) noexcept;
  Socket result();
};

}  // namespace socket_internal

class Socket {
 public:
  // An empty socket (fd() is -1).
  Socket() noexcept = default;
  // Opens a non-blocking, close-on-exec socket registered with the running
  // loop. Errors: OSError (EMFILE, EAFNOSUPPORT, ...); RuntimeError outside
  // a loop.
  static Socket open(int family, int type, int protocol = 0);
  // Adopts a non-blocking fd (closed on error). `assume` as IoRegistration.
  static Socket adopt(int fd, Readiness assume = {});
  Socket(Socket&& o) noexcept : reg_(std::move(o.reg_)), fd_(std::exchange(o.fd_, -1)) {}
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      close();
      reg_ = std::move(o.reg_);
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  int fd() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  // Deregisters and closes (a task waiting on it gets ClosedResourceError).
  // Idempotent.
  void close() noexcept;

  // Options. Errors: OSError.
  void set_option(int level, int name, int value);
  void set_reuse_address(bool on = true) { set_option(SOL_SOCKET, SO_REUSEADDR, on); }
  void set_reuse_port(bool on = true) { set_option(SOL_SOCKET, SO_REUSEPORT, on); }
  void set_nodelay(bool on = true);
  void set_keepalive(bool on = true) { set_option(SOL_SOCKET, SO_KEEPALIVE, on); }

  // Errors: OSError (EADDRINUSE, EACCES, ...).
  void bind(const SocketAddress& addr);
  void listen(int backlog = 128);
  SocketAddress local_address() const;
  SocketAddress peer_address() const;

  using AcceptAwaiter = corio::internal::IoOpAwaiter<socket_internal::AcceptOp>;
  using RecvAwaiter = corio::internal::IoOpAwaiter<socket_internal::RecvOp>;
  using SendAwaiter = corio::internal::IoOpAwaiter<socket_internal::SendOp>;
  using SendAllAwaiter = corio::internal::IoOpAwaiter<socket_internal::SendAllOp>;

  // Waits for and takes one connection (accept4, non-blocking). Errors:
  // OSError (EMFILE/ENFILE when out of descriptors: the server backs off);
  // a connection aborted before it was taken is skipped.
  [[nodiscard]] AcceptAwaiter accept() noexcept;
  // Connects (EINPROGRESS waits until writable, then SO_ERROR tells).
  // Errors: ConnectionRefusedError, OSError (ENETUNREACH, ...).
  [[nodiscard]] Task<void> connect(const SocketAddress& addr);

  // Reads up to buf.size() bytes; 0 at end of stream (or for an empty
  // buffer). Errors: ConnectionResetError, OSError.
  [[nodiscard]] RecvAwaiter recv(std::span<char> buf) noexcept;
  // Writes some of `data`, waiting until at least one byte is taken.
  // Errors: BrokenPipeError, ConnectionResetError, OSError.
  [[nodiscard]] SendAwaiter send(std::span<const char> data) noexcept;
  // Writes all of `data` (any bytes; a std::string converts). The bytes
  // must outlive the await: `co_await s.send_all(a + b)` is fine, a
  // temporary in a coroutine handed to create_task is not.
  [[nodiscard]] SendAllAwaiter send_all(std::string_view data) noexcept;
  // Half-closes the sending side (the peer reads end of stream).
  void shutdown_write();

  // Datagrams (UDP, Unix datagram). recv_from truncates to buf.size().
  [[nodiscard]] Task<std::size_t> recv_from(std::span<char> buf, SocketAddress* from);
  [[nodiscard]] Task<std::size_t> send_to(std::span<const char> data, const SocketAddress& to);

  // The registration, for the stream layer.
  IoRegistration& registration() noexcept { return reg_; }

 private:
  Socket(int fd, IoRegistration reg) noexcept : reg_(std::move(reg)), fd_(fd) {}
  void check_open(const char* what) const {
    if (fd_ < 0) [[unlikely]]
      throw_closed(what);
  }
  [[noreturn, gnu::cold]] static void throw_closed(const char* what);
  IoRegistration reg_;
  int fd_ = -1;
};

// The hot calls, inline so that an awaiting coroutine inlines them whole.
// An empty buffer (or, for send_all, nothing to send) finishes at once
// without a system call, as before, even on a closed socket. The socket is
// open exactly while its registration is (close() ends both), and asking
// the registration lets the compiler drop the awaiter's own null test.
inline Socket::RecvAwaiter Socket::recv(std::span<char> buf) noexcept {
  if (buf.empty() || !reg_.registered()) [[unlikely]]
    return RecvAwaiter(std::in_place, socket_internal::RecvOp{buf, buf.empty() ? 0 : socket_internal::kClosedResult});
  return reg_.async_io(Interest::kReadable, socket_internal::RecvOp{buf, 0});
}

inline Socket::SendAwaiter Socket::send(std::span<const char> data) noexcept {
  if (data.empty() || !reg_.registered()) [[unlikely]]
    return SendAwaiter(std::in_place, socket_internal::SendOp{data, data.empty() ? 0 : socket_internal::kClosedResult});
  return reg_.async_io(Interest::kWritable, socket_internal::SendOp{data, 0});
}

inline Socket::SendAllAwaiter Socket::send_all(std::string_view data) noexcept {
  if (data.empty() || !reg_.registered()) [[unlikely]]
    return SendAllAwaiter(std::in_place, socket_internal::SendAllOp{data, data.empty() ? 0 : socket_internal::kClosed});
  return reg_.async_io(Interest::kWritable, socket_internal::SendAllOp{data, 0});
}

}  // namespace corio::net

#endif  // CORIO_NET_SOCKET_H_
