// SocketTransport: asyncio's selector socket transport, corio's Transport
// (streams/transport.h) over a connected stream Socket (TCP or Unix).
//
//   auto protocol = std::make_shared<corio::StreamReaderProtocol>(reader);
//   auto t = corio::net::SocketTransport::create(std::move(sock), protocol);
//   t->write("hello");                       // sent now if the socket takes it
//
// Reading: while reading is not paused, the reactor calls the transport
// when the socket is readable (IoRegistration::set_read_callback), and it
// reads into ONE buffer shared by every transport of the thread, handing
// the bytes to data_received() at once; so an idle connection holds no read
// buffer (uvloop's trick), and no task or coroutine frame either. One task
// per loop (not per connection) stands for all of them at the loop's
// shutdown: cancelled, it aborts every transport still reading. End of stream calls eof_received(): if it returns
// true the transport stays open for writing (a half-closed connection),
// otherwise it closes.
// Writing: write() sends at once when nothing is queued; what the socket
// does not take goes to the write buffer, flushed by a task when the socket
// is writable. Above the high-water mark the protocol gets pause_writing(),
// at or below the low-water mark resume_writing(). write_eof() half-closes
// (shutdown(SHUT_WR)) once the buffer is flushed; close() flushes, then
// closes; abort() closes at once, dropping the buffer. connection_lost() is
// called exactly once, last, from a loop callback.
//
// get_extra_info: "peername" and "sockname" (corio::net::SocketAddress),
// "socket" (the fd, an int; valid until connection_lost()). The addresses
// are asked of the socket when wanted and kept from the moment it closes,
// not held by every open connection (272 bytes each, most never read).
//
// Errors: create() throws RuntimeError outside a running loop and
//   ValueError for a closed socket. I/O failures are not thrown: they end
//   the connection and reach the protocol as connection_lost(error)
//   (ConnectionResetError, BrokenPipeError, OSError). write() throws
//   RuntimeError after write_eof(); set_write_buffer_limits() ValueError
//   when low > high.
// Thread safety: the loop's thread only.
// Cancellation: nothing here waits. The transport's own tasks (its
//   writer, the loop's reading guard), if cancelled (as the loop's
//   shutdown does), abort the connection.
#ifndef CORIO_NET_SOCKET_TRANSPORT_H_
#define CORIO_NET_SOCKET_TRANSPORT_H_

#include <any>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/io_registration.h"
#include "corio/loop/task.h"
#include "corio/net/socket.h"
#include "corio/streams/internal/byte_buffer.h"
#include "corio/streams/transport.h"

namespace corio::net {

class SocketTransport;
struct ReadGuard;

// Internal: a reading SocketTransport's link in its loop's guard
// (socket_transport.cc): a base, so the guard finds the transport from it.
struct ReadGuardLink : corio::internal::ListNode {
  ReadGuard* guard = nullptr;
};

// Water marks of a SocketTransport's write buffer.
// Errors: create() raises ValueError for low > high. Thread safety: a plain
// value type. Cancellation: not applicable.
struct TransportOptions {
  std::size_t high_water = WriteTransport::kDefaultHighWater;
  std::optional<std::size_t> low_water;  // high_water / 4 when unset
};

// SocketTransport
//
// Errors, Thread safety, Cancellation: see the header comment.
class SocketTransport : public Transport,
                        public std::enable_shared_from_this<SocketTransport>,
                        private IoReadyCallback,
                        private ReadGuardLink {
 public:
  // The size of the per-thread read buffer.
  static constexpr std::size_t kReadBufferSize = 64 * 1024;

  // Takes `sock` (connected), calls protocol->connection_made(*transport),
  // then starts reading. The transport keeps itself alive until
  // connection_lost() has been called; `protocol` is kept until then too.
  static std::shared_ptr<SocketTransport> create(Socket sock, std::shared_ptr<Protocol> protocol,
                                                 const TransportOptions& options = {});

  SocketTransport(const SocketTransport&) = delete;
  SocketTransport& operator=(const SocketTransport&) = delete;
  ~SocketTransport() override = default;

  // The overrides are final (the class is not, for transports that hold
  // their protocol: see the protected constructor), so that the
  // transport's own calls to them stay direct calls.
  std::any get_extra_info(std::string_view name) const final;
  void close() final;
  bool is_closing() const final { return closing_ || lost_; }

  void pause_reading() final { reading_paused_ = true; }
  void resume_reading() final;
  bool is_reading() const final { return !reading_paused_ && !closing_ && !lost_ && !read_eof_; }

  void write(std::string_view data) final;
  void write_eof() final;
  bool can_write_eof() const final { return true; }
  std::size_t get_write_buffer_size() const final { return out_ ? out_->size() : 0; }
  void set_write_buffer_limits(std::size_t high, std::size_t low) final;
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const final { return {high_water_, low_water_}; }
  void abort() final { force_close(nullptr); }

  // Whether connection_lost() has been called.
  bool connection_lost_called() const noexcept { return lost_called_; }

 protected:
  // For a derived transport that holds its protocol itself, in the same
  // allocation (make_streams' does, with the reader's state: one block per
  // connection instead of three). `protocol` is not owned: it must live as
  // long as the transport, as a member of the derived class does; it is
  // only named here, not used, so it may not be constructed yet.
  SocketTransport(Socket sock, Protocol& protocol) noexcept;
  // The low-water mark `options` give. Errors: ValueError for low > high.
  static std::size_t checked_low_water(const TransportOptions& options);
  // create()'s last steps, for a derived transport made by make_shared:
  // sets the water marks, calls connection_made(), starts reading.
  void start(std::size_t high_water, std::size_t low_water);

 private:
  friend struct ReadGuard;
  // The reactor's report (IoReadyCallback), or a loop callback when
  // reading resumes over data already known to be there: reads until the
  // socket would block or reading stops.
  void on_io_ready() noexcept final;
  // Stops the reactor calling: unsets the callback, leaves the loop's
  // guard; returns the self-reference that kept the transport alive while
  // reading, for the caller to drop when it is done with `this`.
  [[nodiscard]] std::shared_ptr<SocketTransport> stop_reader() noexcept;
  Task<void> write_loop(std::shared_ptr<SocketTransport> keep);
  void start_reader();
  void start_writer();
  // Closes the socket now; connection_lost(error) follows from the loop.
  void force_close(std::exception_ptr error) noexcept;
  // The buffer is flushed: sends EOF or finishes a close().
  void after_flush();
  void maybe_pause_protocol();
  void maybe_resume_protocol();

  // create()'s transports: they own their protocol (until
  // connection_lost()), which a derived transport need not.
  class Owning;
  // The owner of the protocol, if this transport is one, handed over as
  // connection_lost() is called. Virtual, as the class has a vtable
  // already: it costs the others no memory.
  virtual std::shared_ptr<Protocol> release_protocol() noexcept { return nullptr; }

  // The flags below share the socket's tail padding.
  [[no_unique_address]] Socket sock_;
  // Flags as bits: each connection holds one set.
  bool reading_paused_ : 1 = false;
  bool reader_running_ : 1 = false;  // the reactor calls on_io_ready()
  bool read_scheduled_ : 1 = false;  // a loop callback will call on_io_ready()
  bool writer_running_ : 1 = false;
  bool writing_paused_ : 1 = false;  // the protocol was told pause_writing()
  bool read_eof_ : 1 = false;        // the peer's EOF was read
  bool eof_requested_ : 1 = false;   // write_eof(): EOF after the buffer
  bool eof_sent_ : 1 = false;
  bool closing_ : 1 = false;  // close(): flush, then lose
  bool lost_ : 1 = false;     // the socket is closed; connection_lost() is queued
  bool lost_called_ : 1 = false;
  // Null once connection_lost() has been called.
  Protocol* protocol_;
  EventLoop* loop_;
  // The addresses, taken as the socket closes (see get_extra_info).
  struct Names {
    std::optional<SocketAddress> peer;
    std::optional<SocketAddress> local;
  };
  std::unique_ptr<Names> closed_names_;
  // While the reactor calls this transport: itself (nobody else need hold
  // it, as a task held it before); its link in the loop's guard is a base.
  std::shared_ptr<SocketTransport> self_;
  // The write buffer: made when a write() leaves bytes the socket did not
  // take, given back once they are sent, so an idle connection holds none.
  std::unique_ptr<internal::ByteBuffer> out_;
  std::size_t high_water_ = 0;
  std::size_t low_water_ = 0;
  bool out_empty() const noexcept { return !out_ || out_->empty(); }
};

}  // namespace corio::net

#endif  // CORIO_NET_SOCKET_TRANSPORT_H_
