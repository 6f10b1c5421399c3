// StreamReaderProtocol: asyncio's StreamReaderProtocol (with its
// FlowControlMixin), the protocol that joins a transport to a StreamReader
// and a StreamWriter.
//
//   auto reader = corio::StreamReader();
//   auto protocol = std::make_shared<corio::StreamReaderProtocol>(reader);
//   // a transport calls protocol->connection_made(*transport), then
//   // data_received()/eof_received()/connection_lost() ...
//   corio::StreamWriter writer(transport, protocol, reader);
//
// Receiving side: data_received() feeds the reader, eof_received() ends it,
// connection_lost() ends it too (or sets its exception). The reader gets the
// transport for its pause_reading()/resume_reading() flow control.
// Sending side: pause_writing()/resume_writing() from the transport decide
// whether StreamWriter::drain() waits; connection_lost() releases it.
#ifndef CORIO_STREAMS_STREAM_PROTOCOL_H_
#define CORIO_STREAMS_STREAM_PROTOCOL_H_

#include <exception>
#include <optional>
#include <string_view>

#include "corio/loop/task.h"
#include "corio/streams/internal/wait_list.h"
#include "corio/streams/stream_reader.h"
#include "corio/streams/transport.h"

namespace corio {

// StreamReaderProtocol
//
// `reader` may be nullopt for a stream that is only written (asyncio's
// FlowControlMixin alone). The protocol keeps the reader's state alive,
// not whatever a reader handle keeps alive.
//
// Errors: drain() raises ConnectionResetError once the connection is lost,
//   and the loss's error when it ends a drain() that was waiting;
//   wait_closed() raises the loss's error, if any.
// Thread safety: the loop's thread only.
// Cancellation: drain() and wait_closed() only wait; cancelling them
//   changes nothing (the bytes written stay in the transport's buffer).
class StreamReaderProtocol : public Protocol {
 public:
  explicit StreamReaderProtocol(std::optional<StreamReader> reader = std::nullopt) noexcept;

  void connection_made(BaseTransport& transport) override;
  void connection_lost(std::exception_ptr error) override;
  void pause_writing() override { writing_paused_ = true; }
  void resume_writing() override;
  void data_received(std::string_view data) override;
  // Ends the reader; keeps the transport open for writing (true).
  bool eof_received() override;

  // What StreamWriter::drain() awaits: returns at once unless the
  // transport paused writing; then waits for resume_writing() or the end
  // of the connection. Errors: see above.
  Task<void> drain_helper();
  // Returns once connection_lost() was called. Errors: see above.
  Task<void> wait_closed();

  bool writing_paused() const noexcept { return writing_paused_; }
  bool connection_is_lost() const noexcept { return lost_; }
  // The transport, between connection_made() and connection_lost().
  BaseTransport* transport() const noexcept { return transport_; }
  // The reader it feeds, if any (a copy of the handle).
  std::optional<StreamReader> reader() const {
    if (!has_reader()) return std::nullopt;
    return reader_;
  }

 private:
  bool has_reader() const noexcept { return reader_.state() != nullptr; }

  // A handle with no state when there is no reader: a std::optional would
  // take 8 bytes more for its flag, in every connection.
  StreamReader reader_;
  bool writing_paused_ = false;
  bool lost_ = false;
  BaseTransport* transport_ = nullptr;
  internal::WaitList drain_waiters_;
  internal::WaitList closed_waiters_;
  std::exception_ptr lost_error_;
};

}  // namespace corio

#endif  // CORIO_STREAMS_STREAM_PROTOCOL_H_
