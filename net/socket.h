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
//   all-or-nothing writes). accept() cancelled takes no connection.
#ifndef CORIO_NET_SOCKET_H_
#define CORIO_NET_SOCKET_H_

#include <sys/socket.h>

#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "corio/loop/io_registration.h"
#include "corio/loop/task.h"
#include "corio/net/address.h"
#include "corio/net/errors.h"

namespace corio::net {

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

  // Waits for and takes one connection (accept4, non-blocking). Errors:
  // OSError (EMFILE/ENFILE when out of descriptors: the server backs off);
  // a connection aborted before it was taken is skipped.
  [[nodiscard]] Task<Socket> accept();
  // Connects (EINPROGRESS waits until writable, then SO_ERROR tells).
  // Errors: ConnectionRefusedError, OSError (ENETUNREACH, ...).
  [[nodiscard]] Task<void> connect(const SocketAddress& addr);

  // Reads up to buf.size() bytes; 0 at end of stream (or for an empty
  // buffer). Errors: ConnectionResetError, OSError.
  [[nodiscard]] Task<std::size_t> recv(std::span<char> buf);
  // Writes some of `data`, waiting until at least one byte is taken.
  // Errors: BrokenPipeError, ConnectionResetError, OSError.
  [[nodiscard]] Task<std::size_t> send(std::span<const char> data);
  // Writes all of `data` (any bytes; a std::string converts). The bytes
  // must outlive the await: `co_await s.send_all(a + b)` is fine, a
  // temporary handed to create_task is not.
  [[nodiscard]] Task<void> send_all(std::string_view data);
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

}  // namespace corio::net

#endif  // CORIO_NET_SOCKET_H_
