#include "corio/streams/stream_protocol.h"

#include <utility>

#include "corio/streams/errors.h"

namespace corio {

// A served connection's block holds one (net/streams.cc): the vtable
// pointer, the reader, the transport, two wait lists, the error, the flags.
static_assert(sizeof(void*) != 8 || sizeof(StreamReaderProtocol) == 64);

StreamReaderProtocol::StreamReaderProtocol(std::optional<StreamReader> reader) noexcept
    : reader_(reader ? std::move(*reader) : StreamReader(nullptr, nullptr)) {}

void StreamReaderProtocol::connection_made(BaseTransport& transport) {
  transport_ = &transport;
  if (has_reader()) {
    if (auto* rt = dynamic_cast<ReadTransport*>(&transport)) reader_.set_transport(rt);
  }
}

void StreamReaderProtocol::connection_lost(std::exception_ptr error) {
  if (has_reader()) {
    if (error) {
      reader_.set_exception(error);
    } else {
      reader_.feed_eof();
    }
    reader_.set_transport(nullptr);
  }
  transport_ = nullptr;
  lost_ = true;
  lost_error_ = std::move(error);
  drain_waiters_.wake_all();
  closed_waiters_.wake_all();
}

void StreamReaderProtocol::resume_writing() {
  writing_paused_ = false;
  drain_waiters_.wake_all();
}

void StreamReaderProtocol::data_received(std::string_view data) {
  if (has_reader()) reader_.feed_data(data);
}

bool StreamReaderProtocol::eof_received() {
  if (has_reader()) reader_.feed_eof();
  return true;
}

Task<void> StreamReaderProtocol::drain_helper() {
  if (lost_) throw ConnectionResetError("Connection lost");
  while (writing_paused_ && !lost_) co_await drain_waiters_.wait();
  if (lost_ && lost_error_) std::rethrow_exception(lost_error_);
}

Task<void> StreamReaderProtocol::wait_closed() {
  while (!lost_) co_await closed_waiters_.wait();
  if (lost_error_) std::rethrow_exception(lost_error_);
}

}  // namespace corio
