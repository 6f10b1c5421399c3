#include "corio/net/socket_transport.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/task_handle.h"
#include "corio/sync/errors.h"
#include "corio/sync/event.h"

namespace corio::net {

namespace {

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

std::exception_ptr os_error(int code, const char* what) {
  try {
    throw_os_error(code, what);
  } catch (...) {
    return std::current_exception();
  }
}

// The read buffer shared by every transport of this thread: a read fills it
// and hands it to data_received() before anything else can run, so one is
// enough, and a connection that waits holds none.
char* shared_read_buffer() {
  thread_local std::unique_ptr<char[]> buf(new char[SocketTransport::kReadBufferSize]);
  return buf.get();
}

}  // namespace

class SocketTransport::Owning final : public SocketTransport {
 public:
  Owning(Socket sock, std::shared_ptr<Protocol> protocol) noexcept
      : SocketTransport(std::move(sock), *protocol), owned_(std::move(protocol)) {}

 private:
  std::shared_ptr<Protocol> release_protocol() noexcept override { return std::move(owned_); }

  std::shared_ptr<Protocol> owned_;
};

SocketTransport::SocketTransport(Socket sock, Protocol& protocol) noexcept
    : sock_(std::move(sock)), protocol_(&protocol), loop_(&current_loop()) {}

std::size_t SocketTransport::checked_low_water(const TransportOptions& options) {
  const std::size_t low = options.low_water.value_or(options.high_water / 4);
  if (low > options.high_water) throw ValueError("corio::net: low-water mark above the high-water mark");
  return low;
}

void SocketTransport::start(std::size_t high_water, std::size_t low_water) {
  high_water_ = high_water;
  low_water_ = low_water;
  protocol_->connection_made(*this);
  if (!lost_) start_reader();
}

std::shared_ptr<SocketTransport> SocketTransport::create(Socket sock, std::shared_ptr<Protocol> protocol,
                                                         const TransportOptions& options) {
  if (!sock.is_open()) throw ValueError("corio::net: SocketTransport over a closed socket");
  if (!protocol) throw ValueError("corio::net: SocketTransport without a protocol");
  const std::size_t low = checked_low_water(options);
  current_loop();  // RuntimeError outside a loop, before anything is taken
  auto t = std::make_shared<Owning>(std::move(sock), std::move(protocol));
  t->start(options.high_water, low);
  return t;
}

namespace {

std::optional<SocketAddress> peer_of(const Socket& s) noexcept {
  try {
    return s.peer_address();
  } catch (...) {  // OSError (the peer left), ClosedResourceError
    return std::nullopt;
  }
}

std::optional<SocketAddress> local_of(const Socket& s) noexcept {
  try {
    return s.local_address();
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

std::any SocketTransport::get_extra_info(std::string_view name) const {
  const bool peer = name == "peername";
  if (peer || name == "sockname") {
    std::optional<SocketAddress> a;
    if (sock_.is_open()) {
      a = peer ? peer_of(sock_) : local_of(sock_);
    } else if (closed_names_) {
      a = peer ? closed_names_->peer : closed_names_->local;
    }
    if (a) return *a;
    return {};
  }
  if (name == "socket" && sock_.is_open()) return sock_.fd();
  return {};
}

// ---- The loop's reading guard ----

// The transports of one loop that the reactor calls for reading. Each
// holds itself alive while it reads (a task held it before) and none has a
// task, so a loop shutdown, which cancels tasks, would not reach them: one
// guard task per loop stands for them all. It waits until the last one
// stops reading and then ends; cancelled (the loop's shutdown) or
// destroyed with the loop, it aborts those still reading, as the read
// task's cancel did.
struct ReadGuard {
  explicit ReadGuard(EventLoop* l) noexcept : loop(l) {}
  static SocketTransport* transport_of(ReadGuardLink* l) noexcept { return static_cast<SocketTransport*>(l); }
  static ReadGuardLink* link_of(SocketTransport* t) noexcept { return t; }
  EventLoop* loop;
  internal::IntrusiveList<ReadGuardLink> reading;
  Event emptied;
  bool attached = true;  // new readers join it (see guard_of)
};

namespace {

// The attached guard of each loop running on this thread.
thread_local std::vector<ReadGuard*> tls_guards;

void detach(ReadGuard* g) noexcept {
  g->attached = false;
  std::erase(tls_guards, g);
}

Task<void> guard_reading(ReadGuard* g) {
  struct AbortAll {
    ReadGuard* g;
    explicit AbortAll(ReadGuard* guard) noexcept : g(guard) {}
    AbortAll(const AbortAll&) = delete;
    AbortAll& operator=(const AbortAll&) = delete;
    ~AbortAll() {
      if (g->attached) detach(g);
      while (ReadGuardLink* l = g->reading.front()) {
        const std::shared_ptr<SocketTransport> t = ReadGuard::transport_of(l)->shared_from_this();
        t->abort();  // leaves the list
      }
      delete g;
    }
  } abort_all{g};
  co_await g->emptied.wait();
}

// This loop's guard, started if there is none. Errors: std::bad_alloc.
ReadGuard* guard_of(EventLoop* loop) {
  for (ReadGuard* g : tls_guards) {
    if (g->loop == loop) return g;
  }
  tls_guards.reserve(tls_guards.size() + 1);  // so the push below cannot throw
  auto g = std::make_unique<ReadGuard>(loop);
  create_task(*loop, guard_reading(g.get()), "corio.net.transport_reading");
  tls_guards.push_back(g.get());
  return g.release();
}

}  // namespace

void SocketTransport::start_reader() {
  if (!is_reading()) return;
  if (!reader_running_) {
    try {
      ReadGuard* g = guard_of(loop_);
      sock_.registration().set_read_callback(this);
      ReadGuardLink::guard = g;
      g->reading.push_back(ReadGuard::link_of(this));
      self_ = shared_from_this();
      reader_running_ = true;
    } catch (...) {
      force_close(std::current_exception());
      return;
    }
  }
  // Readiness already cached was reported before the callback was set (or
  // while reading was paused): read it from the loop, not from this call.
  const Readiness r = sock_.registration().readiness();
  if ((r.readable() || r.read_closed() || r.error()) && !read_scheduled_) {
    read_scheduled_ = true;
    try {
      loop_->call_soon([self = shared_from_this()] {
        self->read_scheduled_ = false;
        if (self->reader_running_) self->on_io_ready();
      });
    } catch (...) {
      read_scheduled_ = false;
      force_close(std::current_exception());
    }
  }
}

std::shared_ptr<SocketTransport> SocketTransport::stop_reader() noexcept {
  if (!reader_running_) return nullptr;
  reader_running_ = false;
  IoRegistration& reg = sock_.registration();
  if (reg.registered()) reg.set_read_callback(nullptr);  // unsetting does not throw
  ReadGuard* g = ReadGuardLink::guard;
  g->reading.erase(ReadGuard::link_of(this));
  if (g->reading.empty() && g->attached) {
    detach(g);  // readers from now on start a new guard
    g->emptied.set();
  }
  return std::move(self_);
}

void SocketTransport::on_io_ready() noexcept {
  const std::shared_ptr<SocketTransport> keep = shared_from_this();
  IoRegistration& reg = sock_.registration();
  while (is_reading()) {
    const Readiness r = reg.readiness();
    if (!r.readable() && !r.read_closed() && !r.error()) return;  // the reactor calls again
    char* buf = shared_read_buffer();
    const ssize_t n = ::recv(sock_.fd(), buf, kReadBufferSize, 0);
    if (n > 0) {
      if (static_cast<std::size_t>(n) < kReadBufferSize) reg.clear_readable();
      try {
        protocol_->data_received(std::string_view(buf, static_cast<std::size_t>(n)));
      } catch (...) {
        force_close(std::current_exception());
        return;
      }
      continue;
    }
    if (n == 0) {
      read_eof_ = true;
      const std::shared_ptr<SocketTransport> stopped = stop_reader();
      bool keep_open = false;
      try {
        keep_open = protocol_->eof_received();
      } catch (...) {
        force_close(std::current_exception());
        return;
      }
      if (!keep_open) close();
      return;
    }
    const int e = errno;
    if (would_block(e)) {
      reg.clear_readable();
      continue;
    }
    if (e == EINTR) continue;
    force_close(os_error(e, "recv"));
    return;
  }
  // Paused, closing or closed.
  const std::shared_ptr<SocketTransport> stopped = stop_reader();
}

void SocketTransport::start_writer() {
  if (writer_running_ || lost_) return;
  writer_running_ = true;
  try {
    create_task(*loop_, write_loop(shared_from_this()));
  } catch (...) {
    writer_running_ = false;
    force_close(std::current_exception());
  }
}

Task<void> SocketTransport::write_loop(std::shared_ptr<SocketTransport> keep) {
  IoRegistration& reg = sock_.registration();
  try {
    while (!out_empty() && !lost_) {
      const Readiness r = reg.readiness();
      if (!r.writable() && !r.write_closed() && !r.error()) co_await reg.writable();
      if (lost_) break;
      const std::string_view data = out_->view();
      const ssize_t n = ::send(sock_.fd(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n >= 0) {
        if (static_cast<std::size_t>(n) < data.size()) reg.clear_writable();
        out_->consume(static_cast<std::size_t>(n));
        if (out_->empty()) out_.reset();  // an idle connection holds no buffer
        maybe_resume_protocol();
        continue;
      }
      const int e = errno;
      if (would_block(e)) {
        reg.clear_writable();
        continue;
      }
      if (e == EINTR) continue;
      force_close(os_error(e, "send"));
      break;
    }
  } catch (const ClosedResourceError&) {
  } catch (const CancelledError&) {
    writer_running_ = false;
    force_close(nullptr);
    throw;
  } catch (...) {
    // resume_writing() threw.
    force_close(std::current_exception());
  }
  writer_running_ = false;
  if (!lost_ && out_empty()) after_flush();
}

void SocketTransport::after_flush() {
  if (closing_) {
    force_close(nullptr);
    return;
  }
  if (eof_requested_ && !eof_sent_) {
    eof_sent_ = true;
    if (::shutdown(sock_.fd(), SHUT_WR) != 0 && errno != ENOTCONN) force_close(os_error(errno, "shutdown"));
  }
}

void SocketTransport::resume_reading() {
  if (!reading_paused_) return;
  reading_paused_ = false;
  start_reader();  // data comes from the loop, not from this call
}

void SocketTransport::write(std::string_view data) {
  if (eof_requested_ && !closing_) throw RuntimeError("corio::net: write() after write_eof()");
  if (closing_ || lost_ || data.empty()) return;
  if (out_empty() && !writer_running_) {
    // Nothing queued: try the socket now (most writes end here).
    const ssize_t n = ::send(sock_.fd(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      if (data.empty()) return;
    } else if (!would_block(errno) && errno != EINTR) {
      force_close(os_error(errno, "send"));
      return;
    }
    sock_.registration().clear_writable();  // the send buffer is full
  }
  if (!out_) out_ = std::make_unique<internal::ByteBuffer>();
  out_->append(data);
  start_writer();
  maybe_pause_protocol();
}

void SocketTransport::write_eof() {
  if (eof_requested_ || closing_ || lost_) return;
  eof_requested_ = true;
  if (out_empty() && !writer_running_) after_flush();
}

void SocketTransport::close() {
  if (closing_ || lost_) return;
  closing_ = true;
  // Nothing more is received; the reader ends at its next wake-up.
  if (out_empty() && !writer_running_) force_close(nullptr);
}

void SocketTransport::set_write_buffer_limits(std::size_t high, std::size_t low) {
  if (low > high) throw ValueError("corio::net: low-water mark above the high-water mark");
  high_water_ = high;
  low_water_ = low;
  maybe_pause_protocol();
  maybe_resume_protocol();
}

void SocketTransport::maybe_pause_protocol() {
  if (lost_ || writing_paused_ || get_write_buffer_size() <= high_water_) return;
  writing_paused_ = true;
  protocol_->pause_writing();
}

void SocketTransport::maybe_resume_protocol() {
  if (lost_ || !writing_paused_ || get_write_buffer_size() > low_water_) return;
  writing_paused_ = false;
  protocol_->resume_writing();
}

void SocketTransport::force_close(std::exception_ptr error) noexcept {
  if (lost_) return;
  const std::shared_ptr<SocketTransport> reading = stop_reader();
  lost_ = true;
  closing_ = true;
  out_.reset();
  if (sock_.is_open()) {
    try {
      closed_names_ = std::make_unique<Names>(Names{peer_of(sock_), local_of(sock_)});
    } catch (const std::bad_alloc&) {
      // Without memory the addresses are forgotten; the close goes on.
    }
  }
  sock_.close();  // waiting tasks wake with ClosedResourceError
  auto lose = [self = shared_from_this(), error = std::move(error)]() mutable {
    self->lost_called_ = true;
    Protocol* p = std::exchange(self->protocol_, nullptr);
    const std::shared_ptr<Protocol> owner = self->release_protocol();  // kept through the call
    p->connection_lost(std::move(error));
  };
  if (EventLoop::current() == loop_) {
    try {
      loop_->call_soon(std::move(lose));
      return;
    } catch (...) {
      // No memory for the callback: tell the protocol now rather than never.
    }
  }
  lose();
}

}  // namespace corio::net
