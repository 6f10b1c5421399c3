#include "corio/streams/stream_reader.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/sync/errors.h"

namespace corio {

namespace internal {

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

// The plain reads. Each ready() is true once take() finishes without
// waiting (with bytes, EOF or the stored error); take() raises the stored
// error first, as asyncio's reads do, and throw_raced() when another task
// took the bytes this read was woken for.

bool ReadOp::ready(ReaderState& s) const noexcept {
  if (s.error || s.eof || n == 0) return true;
  return n > 0 && !s.buffer.empty();
}

std::string ReadOp::take(ReaderState& s) {
  s.check_error();
  if (n == 0) return std::string();
  if (n < 0) {
    // Everything up to EOF, taken only once EOF is there (so a cancel
    // loses nothing).
    if (!s.eof) throw_raced("read");
    return s.buffer.take(s.buffer.size());
  }
  if (s.buffer.empty() && !s.eof) throw_raced("read");
  std::string out = s.buffer.take(std::min(static_cast<std::size_t>(n), s.buffer.size()));
  s.maybe_resume_transport();
  return out;
}

bool ReadIntoOp::ready(ReaderState& s) const noexcept { return s.error || s.eof || buf.empty() || !s.buffer.empty(); }

std::size_t ReadIntoOp::take(ReaderState& s) {
  s.check_error();
  if (buf.empty()) return 0;
  if (s.buffer.empty() && !s.eof) throw_raced("read_into");
  const std::size_t n = std::min(buf.size(), s.buffer.size());
  s.buffer.take_into(buf.data(), n);
  s.maybe_resume_transport();
  return n;
}

bool ReadExactlyOp::ready(ReaderState& s) const noexcept { return s.error || s.eof || s.buffer.size() >= n; }

std::string ReadExactlyOp::take(ReaderState& s) {
  s.check_error();
  if (s.buffer.size() < n) {
    if (!s.eof) throw_raced("readexactly");
    throw IncompleteReadError(s.buffer.take(s.buffer.size()), n);
  }
  std::string out = s.buffer.take(n);
  s.maybe_resume_transport();
  return out;
}

bool ReadExactlyIntoOp::ready(ReaderState& s) const noexcept {
  return s.error || s.eof || s.buffer.size() >= buf.size();
}

void ReadExactlyIntoOp::take(ReaderState& s) {
  s.check_error();
  const std::size_t n = buf.size();
  if (s.buffer.size() < n) {
    if (!s.eof) throw_raced("readexactly_into");
    throw IncompleteReadError(s.buffer.take(s.buffer.size()), n);
  }
  s.buffer.take_into(buf.data(), n);
  s.maybe_resume_transport();
}

}  // namespace internal

StreamReader::StreamReader(std::shared_ptr<internal::ReaderState> state, std::shared_ptr<void> keepalive)
    : s_(std::move(state)) {
  if (keepalive.use_count() == 0 || internal::same_owner(s_, keepalive)) return;
  // Declared in this order so that the keepalive goes first, as it did
  // when the handle held it beside the state.
  struct Both {
    std::shared_ptr<internal::ReaderState> state;
    std::shared_ptr<void> keepalive;
  };
  internal::ReaderState* p = s_.get();
  auto both = std::make_shared<Both>(Both{s_, std::move(keepalive)});
  s_ = std::shared_ptr<internal::ReaderState>(std::move(both), p);
}

StreamReader::StreamReader(std::size_t limit) {
  if (limit == 0) throw ValueError("corio: StreamReader limit must be positive");
  s_ = std::make_shared<internal::ReaderState>(limit);
}

void StreamReader::feed_data(std::string_view data) {
  internal::ReaderState& s = *s_;
  if (s.eof) throw InvalidStateError("corio: StreamReader::feed_data() after feed_eof()");
  if (data.empty()) return;
  s.buffer.append(data);
  // Pause only when no read waits: a read woken now takes its bytes next
  // (pausing would only be undone by it), and one still parked after the
  // wake needs more than is buffered (readexactly(n) above twice the
  // limit, read() to EOF), which the transport must bring. The next chunk
  // that comes with no read waiting pauses it.
  const bool read_waiting = !s.waiter().empty();
  s.waiter().wake_all();
  if (s.transport != nullptr && !s.paused && !read_waiting && s.buffer.size() > 2 * s.limit) {
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

ReadAwaiter StreamReader::read(std::ptrdiff_t n) noexcept { return ReadAwaiter(s_.get(), internal::ReadOp{n}); }

ReadIntoAwaiter StreamReader::read_into(std::span<char> buf) noexcept {
  return ReadIntoAwaiter(s_.get(), internal::ReadIntoOp{buf});
}

ReadExactlyAwaiter StreamReader::readexactly(std::size_t n) noexcept {
  return ReadExactlyAwaiter(s_.get(), internal::ReadExactlyOp{n});
}

ReadExactlyIntoAwaiter StreamReader::readexactly_into(std::span<char> buf) noexcept {
  return ReadExactlyIntoAwaiter(s_.get(), internal::ReadExactlyIntoOp{buf});
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
