#include "corio/streams/stream_writer.h"

#include <stdexcept>
#include <utility>

#include "corio/loop/sleep.h"

namespace corio {

StreamWriter::StreamWriter(std::shared_ptr<WriteTransport> transport, std::shared_ptr<StreamReaderProtocol> protocol,
                           std::optional<StreamReader> reader)
    : transport_(std::move(transport)), protocol_(protocol.get()) {
  if (!transport_ || !protocol_) throw std::invalid_argument("corio: StreamWriter needs a transport and a protocol");
  std::shared_ptr<internal::ReaderState> state;
  if (reader) state = reader->state();
  reader_ = state.get();
  if (internal::same_owner(protocol, transport_) && (!state || internal::same_owner(state, transport_))) return;
  // Declared in the order the handle used to hold them, so they go in the
  // same order (the reader's state first, the transport last).
  struct Parts {
    std::shared_ptr<WriteTransport> transport;
    std::shared_ptr<StreamReaderProtocol> protocol;
    std::shared_ptr<internal::ReaderState> reader;
  };
  WriteTransport* t = transport_.get();
  auto parts = std::make_shared<Parts>(Parts{std::move(transport_), std::move(protocol), std::move(state)});
  transport_ = std::shared_ptr<WriteTransport>(std::move(parts), t);
}

Task<void> StreamWriter::drain() {
  if (reader_) {
    if (std::exception_ptr e = reader_->error) std::rethrow_exception(e);
  }
  // StreamReaderProtocol is held in the frame: a handle moved meanwhile
  // does not take it away.
  StreamReaderProtocol* protocol = protocol_;
  if (transport_->is_closing()) {
    // Let connection_lost() run, or a loop of write(); drain(); on a
    // closed connection would never see the error (asyncio does the same).
    co_await yield_now();
  }
  co_await protocol->drain_helper();
}

std::any StreamWriter::get_extra_info(std::string_view name, std::any default_value) const {
  std::any v = transport_->get_extra_info(name);
  return v.has_value() ? v : default_value;
}

}  // namespace corio
