// StreamWriter: asyncio.StreamWriter, the writing side of a byte stream.
//
//   writer.write("hello\n");             // buffered in the transport
//   co_await writer.drain();             // waits while the buffer is full
//   writer.close();
//   co_await writer.wait_closed();
//
// write() never blocks: the transport keeps what the other end cannot take
// yet. drain() is the flow control: it returns at once while the
// transport's write buffer is at or below its high-water mark, and
// otherwise waits until the buffer drops to the low-water mark (see
// WriteTransport::set_write_buffer_limits). So a loop of write(); drain();
// facing a slow reader stops at the high-water mark and memory stays
// bounded. See memory_pipe.h for an in-memory transport to try it on.
#ifndef CORIO_STREAMS_STREAM_WRITER_H_
#define CORIO_STREAMS_STREAM_WRITER_H_

#include <any>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ranges>
#include <string_view>
#include <utility>

#include "corio/loop/task.h"
#include "corio/streams/stream_protocol.h"
#include "corio/streams/stream_reader.h"
#include "corio/streams/transport.h"

namespace corio {

// StreamWriter
//
// A handle on a transport, its StreamReaderProtocol and, for a two-way
// stream, the StreamReader of the same connection (drain() then raises the
// reader's exception, as asyncio's does). Copies share the stream.
//
// Errors: write() and writelines() throw RuntimeError after write_eof();
//   after close(), or once the connection is lost, they drop the data (as
//   asyncio) and drain() raises ConnectionResetError. drain() also raises
//   the reader's exception, if it has one. wait_closed() raises the error
//   that ended the connection, if any. Awaiting outside a task raises
//   RuntimeError.
// Thread safety: the loop's thread only.
// Cancellation: cancel safe. drain() and wait_closed() only wait: a task
//   cancelled in drain() has lost no byte (what it wrote stays in the
//   transport's buffer and is delivered), and may drain() again.
class StreamWriter {
 public:
  // Errors: std::invalid_argument for a null transport or protocol.
  StreamWriter(std::shared_ptr<WriteTransport> transport, std::shared_ptr<StreamReaderProtocol> protocol,
               std::optional<StreamReader> reader = std::nullopt);

  // Queues `data` on the transport.
  void write(std::string_view data) { transport_->write(data); }
  // Writes each element of `lines` (anything convertible to
  // std::string_view), in order, with nothing added between them.
  template <std::ranges::input_range R>
  requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>
  void writelines(R&& lines) {
    for (auto&& line : lines) transport_->write(std::string_view(line));
  }
  void writelines(std::initializer_list<std::string_view> lines) {
    for (std::string_view line : lines) transport_->write(line);
  }

  // Whether the transport supports write_eof().
  bool can_write_eof() const { return transport_->can_write_eof(); }
  // Sends EOF after the buffered data (a half close: reading goes on).
  // Errors: RuntimeError if the transport cannot.
  void write_eof() { transport_->write_eof(); }

  // Closes the transport: buffered data is still sent, then the connection
  // ends (wait_closed() returns). Idempotent.
  void close() { transport_->close(); }
  bool is_closing() const { return transport_->is_closing(); }
  // Returns once the connection has ended.
  Task<void> wait_closed() { return protocol_->wait_closed(); }

  // Waits until the transport's write buffer is low enough to write more
  // (see the header comment); returns at once when it is. If the transport
  // is closing, lets the loop run once first, so that a connection lost
  // meanwhile is seen.
  Task<void> drain();

  // The transport's extra information (BaseTransport::get_extra_info),
  // or `default_value` when it has none by that name:
  //   auto peer = std::any_cast<std::string>(writer.get_extra_info("peername"));
  std::any get_extra_info(std::string_view name, std::any default_value = {}) const;

  WriteTransport& transport() const noexcept { return *transport_; }
  StreamReaderProtocol& protocol() const noexcept { return *protocol_; }

 private:
  // Owns the transport, the protocol and the reader's state: when the
  // three share one owner (a connection's block, net/streams.cc) this is
  // an alias of it, otherwise of a small block holding all three, made by
  // the constructor. So a handle is 32 bytes rather than three pointer
  // pairs, and a copy counts one reference.
  std::shared_ptr<WriteTransport> transport_;
  StreamReaderProtocol* protocol_;
  // The reader's state, for drain() to raise its exception; null without
  // a reader.
  internal::ReaderState* reader_ = nullptr;
};

}  // namespace corio

#endif  // CORIO_STREAMS_STREAM_WRITER_H_
