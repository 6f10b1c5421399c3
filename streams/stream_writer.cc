#include "corio/streams/stream_writer.h"

#include <stdexcept>
#include <utility>

#include "corio/loop/sleep.h"

namespace corio {

StreamWriter::StreamWriter(std::shared_ptr<WriteTransport> transport, std::shared_ptr<StreamReaderProtocol> protocol,
                           std::optional<StreamReader> reader)
    : transport_(std::move(transport)), protocol_(std::move(protocol)) {
  if (reader) reader_ = reader->state();
  if (!transport_ || !protocol_) throw std::invalid_argument("corio: StreamWriter needs a transport and a protocol");
}

Task<void> StreamWriter::drain() {
  if (reader_) {
    if (std::exception_ptr e = reader_->error) std::rethrow_exception(e);
  }
  // StreamReaderProtocol is held in the frame: a handle moved meanwhile
  // does not take it away.
  StreamReaderProtocol* protocol = protocol_.get();
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
