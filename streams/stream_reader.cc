#include "corio/streams/stream_reader.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/sync/errors.h"

namespace corio {

namespace internal {

WaitListAwaiter ReaderState::wait_for_data(const char* caller) {
  before_wait(caller);
  return waiter().wait();
}

void ReaderState::before_wait(const char* caller) {
  if (!waiter().empty()) {
    throw RuntimeError(std::string("corio: StreamReader::") + caller +
                       "() called while another task is already waiting for incoming data");
  }
  // A read that needs more than is buffered must get it even above the
  // pause threshold (readexactly(n) with n > 2 x limit).
  if (paused) {
    paused = false;
    transport->resume_reading();
  }
}

void ReaderState::maybe_resume_transport() {
  if (paused && buffer.size() <= limit) {
    paused = false;
    transport->resume_reading();
  }
}

std::optional<std::string> ReaderState::try_readuntil(std::string_view separator, std::size_t& offset) {
  const std::string_view data = buffer.view();
  const std::size_t seplen = separator.size();
  if (data.size() >= offset + seplen) {
    const std::size_t isep = data.find(separator, offset);
    if (isep != std::string_view::npos) {
      if (isep > limit) throw LimitOverrunError("Separator is found, but chunk is longer than limit", isep);
      std::string chunk = buffer.take(isep + seplen);
      maybe_resume_transport();
      return chunk;
    }
    // Where the next search starts: the separator may straddle the end.
    offset = data.size() + 1 - seplen;
    if (offset > limit) throw LimitOverrunError("Separator is not found, and chunk exceed the limit", offset);
  }
  if (eof) {
    std::string partial = buffer.take(buffer.size());
    throw IncompleteReadError(std::move(partial), std::nullopt);
  }
  return std::nullopt;
}

namespace {

// Whether a search for `sep` from `offset` would end now (found, over the
// limit, or at EOF); if not, moves `offset` on as try_readuntil would.
bool search_ready(ReaderState& s, std::string_view sep, std::size_t& offset) noexcept {
  const std::string_view data = s.buffer.view();
  if (data.size() >= offset + sep.size()) {
    if (data.find(sep, offset) != std::string_view::npos) return true;
    const std::size_t next = data.size() + 1 - sep.size();
    if (next > s.limit || s.eof) return true;  // take() raises the overrun, or ends at EOF
    offset = next;                             // as try_readuntil would: the search goes on from here
    return false;
  }
  return s.eof;
}

}  // namespace

bool ReadUntilOp::ready(ReaderState& s) noexcept {
  if (error || s.error) return true;
  return search_ready(s, separator, offset);
}

bool ReadLineOp::ready(ReaderState& s) noexcept {
  if (s.error) return true;
  return search_ready(s, "\n", s.line_offset);
}

namespace {

[[noreturn]] void throw_raced(const char* caller) {
  throw RuntimeError(std::string("corio: StreamReader::") + caller +
                     "(): another task took the bytes this read was woken for (two tasks reading one stream)");
}

}  // namespace

std::string ReadUntilOp::take(ReaderState& s) {
  if (error) std::rethrow_exception(error);
  s.check_error();
  std::optional<std::string> chunk = s.try_readuntil(separator, offset);
  if (!chunk) throw_raced("readuntil");
  return std::move(*chunk);
}

std::string ReadLineOp::take(ReaderState& s) {
  s.check_error();
  std::size_t& offset = s.line_offset;
  constexpr std::string_view kSep = "\n";
  try {
    std::optional<std::string> line = s.try_readuntil(kSep, offset);
    if (!line) throw_raced("readline");
    return std::move(*line);
  } catch (IncompleteReadError& e) {
    return std::string(e.partial());
  } catch (const LimitOverrunError& e) {
    // Drop the over-long line, through its newline if it is there.
    const std::string_view data = s.buffer.view();
    if (data.substr(std::min(e.consumed(), data.size())).starts_with(kSep)) {
      s.buffer.consume(e.consumed() + kSep.size());
    } else {
      s.buffer.clear();
    }
    s.maybe_resume_transport();
    throw;
  }
}

}  // namespace internal

StreamReader::StreamReader(std::size_t limit) {
  if (limit == 0) throw ValueError("corio: StreamReader limit must be positive");
  s_ = std::make_shared<internal::ReaderState>(limit);
}

void StreamReader::feed_data(std::string_view data) {
  internal::ReaderState& s = *s_;
  if (s.eof) throw InvalidStateError("corio: StreamReader::feed_data() after feed_eof()");
  if (data.empty()) return;
  s.buffer.append(data);
  s.waiter().wake_all();
  if (s.transport != nullptr && !s.paused && s.buffer.size() > 2 * s.limit) {
    s.paused = true;
    s.transport->pause_reading();
  }
}

void StreamReader::feed_eof() noexcept {
  s_->eof = true;
  s_->waiter().wake_all();
}

void StreamReader::set_exception(std::exception_ptr error) noexcept {
  s_->error = std::move(error);
  s_->waiter().wake_all();
}

void StreamReader::set_transport(ReadTransport* transport) {
  if (transport != nullptr && s_->transport != nullptr) {
    throw InvalidStateError("corio: StreamReader::set_transport(): a transport is already set");
  }
  s_->transport = transport;
  if (transport == nullptr) s_->paused = false;
}

Task<std::string> StreamReader::read(std::ptrdiff_t n) {
  internal::ReaderState* s = s_.get();
  s->check_error();
  if (n == 0) co_return std::string();
  if (n < 0) {
    // Everything up to EOF, taken only once EOF is there (so a cancel
    // loses nothing).
    while (!s->eof) {
      co_await s->wait_for_data("read");
      s->check_error();
    }
    co_return s->buffer.take(s->buffer.size());
  }
  while (s->buffer.empty() && !s->eof) {
    co_await s->wait_for_data("read");
    s->check_error();
  }
  std::string out = s->buffer.take(std::min(static_cast<std::size_t>(n), s->buffer.size()));
  s->maybe_resume_transport();
  co_return out;
}

Task<std::size_t> StreamReader::read_into(std::span<char> buf) {
  internal::ReaderState* s = s_.get();
  s->check_error();
  if (buf.empty()) co_return 0;
  while (s->buffer.empty() && !s->eof) {
    co_await s->wait_for_data("read_into");
    s->check_error();
  }
  const std::size_t n = std::min(buf.size(), s->buffer.size());
  s->buffer.take_into(buf.data(), n);
  s->maybe_resume_transport();
  co_return n;
}

Task<std::string> StreamReader::readexactly(std::size_t n) {
  internal::ReaderState* s = s_.get();
  s->check_error();
  if (n == 0) co_return std::string();
  while (s->buffer.size() < n) {
    if (s->eof) throw IncompleteReadError(s->buffer.take(s->buffer.size()), n);
    co_await s->wait_for_data("readexactly");
    s->check_error();
  }
  std::string out = s->buffer.take(n);
  s->maybe_resume_transport();
  co_return out;
}

Task<void> StreamReader::readexactly_into(std::span<char> buf) {
  internal::ReaderState* s = s_.get();
  s->check_error();
  const std::size_t n = buf.size();
  if (n == 0) co_return;
  while (s->buffer.size() < n) {
    if (s->eof) throw IncompleteReadError(s->buffer.take(s->buffer.size()), n);
    co_await s->wait_for_data("readexactly_into");
    s->check_error();
  }
  s->buffer.take_into(buf.data(), n);
  s->maybe_resume_transport();
}

ReadUntilAwaiter StreamReader::readuntil(std::string separator) {
  if (separator.empty()) {
    // An error that raises where the read is awaited.
    internal::ReadUntilOp op;
    op.error = std::make_exception_ptr(ValueError("corio: StreamReader::readuntil(): the separator is empty"));
    return ReadUntilAwaiter(s_.get(), std::move(op));
  }
  internal::ReadUntilOp op;
  op.separator = std::move(separator);
  return ReadUntilAwaiter(s_.get(), std::move(op));
}

ReadLineAwaiter StreamReader::readline() noexcept { return ReadLineAwaiter(s_.get(), internal::ReadLineOp()); }

}  // namespace corio
