// Transports and protocols: the seam between a byte stream's I/O and the
// code that consumes it, as in asyncio. A transport moves bytes (over a
// socket, a pipe, or memory) and calls its protocol; a protocol reacts.
// StreamReaderProtocol (stream_protocol.h) is the protocol that feeds a
// StreamReader and gives a StreamWriter its flow control; the in-memory
// transports of memory_pipe.h implement the transport side, and the net
// module will implement it over sockets.
//
//   transport                         protocol
//   ---------                         --------
//   connection_made(transport)   ->   (keeps a pointer to the transport)
//   bytes arrived                ->   data_received(bytes)
//   the peer sent EOF            ->   eof_received()   (false: close me)
//   write buffer above high mark ->   pause_writing()
//   write buffer at/below low    ->   resume_writing()
//   closed or failed             ->   connection_lost(error or null)
//   pause_reading() / resume_reading()   <-   protocol's buffer is full/has room
//
// Contract for every transport: it calls connection_made once before
// anything else and connection_lost exactly once, last, before it is
// destroyed (a protocol may keep a raw pointer to it until then); it calls
// its protocol on the loop's thread only, never from inside a call the
// protocol made to it, except pause_writing(), which write() may call.
//
// Thread safety: transports and protocols belong to one loop's thread.
// Cancellation: nothing here waits; every call returns at once (waiting is
//   StreamReader's and StreamWriter's business).
#ifndef CORIO_STREAMS_TRANSPORT_H_
#define CORIO_STREAMS_TRANSPORT_H_

#include <any>
#include <cstddef>
#include <exception>
#include <string_view>
#include <utility>

namespace corio {

// BaseTransport
//
// What every transport offers: extra information, and closing.
class BaseTransport {
 public:
  virtual ~BaseTransport() = default;

  // Optional information about the transport by name, or an empty std::any
  // when it has none by that name. The names asyncio uses: "peername" and
  // "sockname" (addresses; in-memory transports give std::string), "socket",
  // "pipe". Errors: none.
  virtual std::any get_extra_info(std::string_view name) const { return {}; }

  // Closes the transport: data already written is still flushed, no more
  // data is received, and then the protocol's connection_lost(nullptr) is
  // called. Idempotent. Errors: none.
  virtual void close() = 0;
  // True once the transport is closing or closed.
  virtual bool is_closing() const = 0;
};

// ReadTransport
//
// The receiving side: the protocol may ask it to stop delivering data for
// a while (flow control), as a StreamReader does when its buffer passes
// twice its limit.
class ReadTransport : public virtual BaseTransport {
 public:
  // Stops calling data_received() until resume_reading(). Idempotent.
  virtual void pause_reading() = 0;
  // Resumes delivery; data that arrived meanwhile is delivered later, from
  // the loop, never from inside this call. Idempotent.
  virtual void resume_reading() = 0;
  virtual bool is_reading() const = 0;
};

// WriteTransport
//
// The sending side: write() never blocks; bytes the other end cannot take
// yet are kept in the transport's write buffer, and the transport tells its
// protocol to pause_writing() when that buffer goes above the high-water
// mark and to resume_writing() when it drops to the low-water mark or
// below. StreamWriter::drain() waits on that.
class WriteTransport : public virtual BaseTransport {
 public:
  // asyncio's defaults.
  static constexpr std::size_t kDefaultHighWater = 64 * 1024;

  // Queues `data` for sending. After close() or once the connection is
  // lost the data is dropped, as asyncio does (drain() then reports the
  // loss). Errors: RuntimeError after write_eof(); std::bad_alloc.
  virtual void write(std::string_view data) = 0;
  // Closes the sending direction once the buffer is flushed (a half
  // close); the receiving one stays open. Errors: RuntimeError where
  // can_write_eof() is false.
  virtual void write_eof() = 0;
  virtual bool can_write_eof() const = 0;
  // Bytes in the write buffer, not yet taken by the other end.
  virtual std::size_t get_write_buffer_size() const = 0;
  // Sets the water marks: pause_writing() above `high`, resume_writing()
  // at `low` or below. Errors: ValueError unless low <= high.
  virtual void set_write_buffer_limits(std::size_t high, std::size_t low) = 0;
  // {high, low}.
  virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const = 0;
  // Closes at once, dropping the buffer; connection_lost(nullptr) follows.
  virtual void abort() = 0;
};

// Transport: both directions (a socket, one end of memory_stream_pair()).
class Transport : public ReadTransport, public WriteTransport {};

// BaseProtocol
//
// The calls every transport makes on its protocol. The default
// implementations do nothing.
class BaseProtocol {
 public:
  virtual ~BaseProtocol() = default;

  // The connection is up; `transport` stays valid until connection_lost().
  virtual void connection_made(BaseTransport& transport) {}
  // The connection is closed: `error` is null after a normal close or EOF,
  // else why it was lost. Called once, last.
  virtual void connection_lost(std::exception_ptr error) {}
  // The transport's write buffer went above its high-water mark.
  virtual void pause_writing() {}
  // ... and dropped to its low-water mark or below.
  virtual void resume_writing() {}
};

// Protocol: a stream protocol, with the calls of the receiving side.
class Protocol : public BaseProtocol {
 public:
  // Bytes arrived, in order. `data` is valid for the call only.
  virtual void data_received(std::string_view data) {}
  // The peer will send no more. Return true to keep the transport open
  // (for writing: a half-closed connection), false to let it close.
  virtual bool eof_received() { return false; }
};

}  // namespace corio

#endif  // CORIO_STREAMS_TRANSPORT_H_
