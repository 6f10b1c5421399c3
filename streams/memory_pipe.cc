#include "corio/streams/memory_pipe.h"

#include <algorithm>
#include <any>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/streams/errors.h"
#include "corio/streams/internal/byte_buffer.h"
#include "corio/streams/stream_protocol.h"
#include "corio/sync/errors.h"

namespace corio {

namespace {

class MemoryConnection;

// One end of a MemoryConnection: the transport its StreamWriter writes to
// and its StreamReader's protocol is fed by.
class MemoryEndpoint final : public Transport {
 public:
  MemoryEndpoint(MemoryConnection* conn, int side) noexcept : conn_(conn), side_(side) {}

  std::any get_extra_info(std::string_view name) const override {
    if (name == "sockname") return sockname;
    if (name == "peername") return peername;
    return {};
  }
  void close() override;
  bool is_closing() const override { return closing || lost; }

  void pause_reading() override { reading_paused = true; }
  void resume_reading() override;
  bool is_reading() const override { return !reading_paused && !closing && !lost; }

  void write(std::string_view data) override;
  void write_eof() override;
  bool can_write_eof() const override { return true; }
  std::size_t get_write_buffer_size() const override { return out.size(); }
  void set_write_buffer_limits(std::size_t high, std::size_t low) override;
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const override { return {high_water, low_water}; }
  void abort() override;

  // Sending.
  std::shared_ptr<Protocol> protocol;
  std::string sockname;
  std::string peername;
  internal::ByteBuffer out;  // the write buffer: not yet in the pipe
  std::size_t high_water = 0;
  std::size_t low_water = 0;
  bool writing_paused = false;  // the protocol was told pause_writing()
  bool eof_requested = false;   // write_eof() or close(): EOF after `out`
  bool closing = false;         // close(): nothing more is received
  bool lost = false;            // connection_lost() is on its way

  // Receiving: the pipe from the other end.
  internal::ByteBuffer in;
  std::size_t capacity = 0;
  bool in_eof = false;  // the other end's EOF has come through the pipe
  bool eof_delivered = false;
  bool reading_paused = false;
  bool delivery_scheduled = false;

 private:
  MemoryConnection* conn_;
  int side_;
};

class MemoryConnection : public std::enable_shared_from_this<MemoryConnection> {
 public:
  explicit MemoryConnection(EventLoop* loop) noexcept : loop_(loop), ends_{{this, 0}, {this, 1}} {}
  MemoryConnection(const MemoryConnection&) = delete;
  MemoryConnection& operator=(const MemoryConnection&) = delete;

  MemoryEndpoint& end(int side) noexcept { return ends_[side]; }

  // Moves what fits from side `from`'s write buffer into the other end's
  // pipe, then settles everything that depends on it: EOF, the water
  // marks, a close waiting for the flush, and the delivery.
  void transfer(int from) {
    MemoryEndpoint& e = ends_[from];
    MemoryEndpoint& p = ends_[1 - from];
    if (e.lost) return;
    if (p.closing || p.lost) {
      // The reading end is gone: bytes still to send can never arrive.
      if (!e.out.empty()) lose(from, std::make_exception_ptr(BrokenPipeError()));
      if (e.closing && !e.lost) lose(from, nullptr);
      return;
    }
    bool moved = false;
    if (!e.out.empty() && p.in.size() < p.capacity) {
      const std::size_t n = std::min(e.out.size(), p.capacity - p.in.size());
      p.in.append(e.out.view().substr(0, n));
      e.out.consume(n);
      moved = true;
    }
    if (e.out.empty() && e.eof_requested && !p.in_eof) {
      p.in_eof = true;
      moved = true;
    }
    if (moved) schedule_delivery(1 - from);
    if (e.writing_paused && e.out.size() <= e.low_water) {
      e.writing_paused = false;
      e.protocol->resume_writing();
    }
    if (e.closing && e.out.empty()) lose(from, nullptr);
  }

  // Queues a delivery to side `to` unless one is queued or it does not read.
  void schedule_delivery(int to) {
    MemoryEndpoint& p = ends_[to];
    if (p.delivery_scheduled || !p.is_reading()) return;
    if (p.in.empty() && !(p.in_eof && !p.eof_delivered)) return;
    if (EventLoop::current() != loop_) return;  // the loop is not running
    loop_->call_soon([self = shared_from_this(), to] { self->deliver(to); });
    p.delivery_scheduled = true;
  }

  // A loop callback: hands the pipe's bytes, then EOF, to side `to`'s
  // protocol, and refills the pipe from the other end's write buffer.
  void deliver(int to) {
    MemoryEndpoint& p = ends_[to];
    p.delivery_scheduled = false;
    if (!p.is_reading()) return;
    if (!p.in.empty()) {
      // data_received() copies into the reader; nothing it does can append
      // to this pipe (only the other end writes into it, from a task).
      p.protocol->data_received(p.in.view());
      p.in.clear();
      transfer(1 - to);       // the pipe has room again
      schedule_delivery(to);  // what came in meanwhile, or the EOF, next time
      return;
    }
    if (p.in_eof && !p.eof_delivered) {
      p.eof_delivered = true;
      if (!p.protocol->eof_received()) p.close();
    }
  }

  // Ends side `side`'s connection: connection_lost(error) on a later
  // iteration. Its buffers go.
  void lose(int side, std::exception_ptr error) {
    MemoryEndpoint& e = ends_[side];
    if (e.lost) return;
    e.lost = true;
    e.closing = true;
    e.out.clear();
    e.in.clear();
    if (EventLoop::current() != loop_) return;
    loop_->call_soon([self = shared_from_this(), side, error = std::move(error)] {
      self->ends_[side].protocol->connection_lost(error);
    });
  }

  EventLoop* loop() const noexcept { return loop_; }

 private:
  EventLoop* loop_;
  MemoryEndpoint ends_[2];
};

void MemoryEndpoint::close() {
  if (closing || lost) return;
  closing = true;
  eof_requested = true;
  in.clear();  // nothing more is received
  conn_->transfer(side_);
}

void MemoryEndpoint::resume_reading() {
  if (!reading_paused) return;
  reading_paused = false;
  conn_->schedule_delivery(side_);
}

void MemoryEndpoint::write(std::string_view data) {
  if (eof_requested && !closing) throw RuntimeError("corio: write() after write_eof()");
  if (closing || lost || data.empty()) return;
  out.append(data);
  conn_->transfer(side_);
  if (!lost && !writing_paused && out.size() > high_water) {
    writing_paused = true;
    protocol->pause_writing();
  }
}

void MemoryEndpoint::write_eof() {
  if (eof_requested || lost) return;
  eof_requested = true;
  conn_->transfer(side_);
}

void MemoryEndpoint::set_write_buffer_limits(std::size_t high, std::size_t low) {
  if (low > high) throw ValueError("corio: low-water mark above the high-water mark");
  high_water = high;
  low_water = low;
  if (lost) return;
  if (!writing_paused && out.size() > high_water) {
    writing_paused = true;
    protocol->pause_writing();
  } else if (writing_paused && out.size() <= low_water) {
    writing_paused = false;
    protocol->resume_writing();
  }
}

void MemoryEndpoint::abort() {
  if (lost) return;
  MemoryEndpoint& peer = conn_->end(1 - side_);
  conn_->lose(side_, nullptr);
  if (!peer.lost) conn_->lose(1 - side_, std::make_exception_ptr(ConnectionResetError("connection reset by peer")));
}

// Held by every handle of one end; the last one gone closes the end.
struct EndOwner {
  std::shared_ptr<MemoryConnection> conn;
  int side;
  EndOwner(std::shared_ptr<MemoryConnection> c, int s) noexcept : conn(std::move(c)), side(s) {}
  EndOwner(const EndOwner&) = delete;
  EndOwner& operator=(const EndOwner&) = delete;
  ~EndOwner() {
    if (EventLoop::current() != conn->loop()) return;  // the loop is not running
    try {
      conn->end(side).close();
    } catch (...) {
      // Out of memory for the callback: the end stays open until the
      // connection goes.
    }
  }
};

void check_options(const MemoryPipeOptions& o) {
  if (o.pipe_capacity == 0) throw ValueError("corio: memory pipe capacity must be positive");
  if (o.limit == 0) throw ValueError("corio: StreamReader limit must be positive");
  if (o.low_water && *o.low_water > o.high_water) {
    throw ValueError("corio: low-water mark above the high-water mark");
  }
}

struct Built {
  std::shared_ptr<EndOwner> owners[2];
  std::shared_ptr<StreamReaderProtocol> protocols[2];
  StreamReader readers[2];
};

// A connection with a reader and a protocol at each end, both connected.
Built build(const MemoryPipeOptions& o) {
  check_options(o);
  EventLoop& loop = current_loop();
  auto conn = std::make_shared<MemoryConnection>(&loop);
  Built b{{}, {}, {StreamReader(o.limit), StreamReader(o.limit)}};
  const std::string* names[2] = {&o.first_name, &o.second_name};
  for (int side = 0; side < 2; ++side) {
    MemoryEndpoint& e = conn->end(side);
    b.protocols[side] = std::make_shared<StreamReaderProtocol>(b.readers[side]);
    e.protocol = b.protocols[side];
    e.sockname = *names[side];
    e.peername = *names[1 - side];
    e.capacity = o.pipe_capacity;
    e.high_water = o.high_water;
    e.low_water = o.low_water.value_or(o.high_water / 4);
  }
  for (int side = 0; side < 2; ++side) {
    b.owners[side] = std::make_shared<EndOwner>(conn, side);
    b.protocols[side]->connection_made(conn->end(side));
  }
  return b;
}

std::shared_ptr<WriteTransport> transport_of(const std::shared_ptr<EndOwner>& owner) {
  // Shares the owner's count: the transport lives while the handle does.
  return std::shared_ptr<WriteTransport>(owner, &owner->conn->end(owner->side));
}

}  // namespace

MemoryPipe memory_pipe(const MemoryPipeOptions& options) {
  Built b = build(options);
  // The first end only writes, the second only reads.
  return MemoryPipe{StreamReader(b.readers[1].state(), b.owners[1]),
                    StreamWriter(transport_of(b.owners[0]), b.protocols[0])};
}

std::pair<MemoryStream, MemoryStream> memory_stream_pair(const MemoryPipeOptions& options) {
  Built b = build(options);
  MemoryStream ends[2] = {
      {StreamReader(b.readers[0].state(), b.owners[0]),
       StreamWriter(transport_of(b.owners[0]), b.protocols[0], b.readers[0])},
      {StreamReader(b.readers[1].state(), b.owners[1]),
       StreamWriter(transport_of(b.owners[1]), b.protocols[1], b.readers[1])},
  };
  return {std::move(ends[0]), std::move(ends[1])};
}

}  // namespace corio
