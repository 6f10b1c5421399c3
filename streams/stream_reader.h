// StreamReader: asyncio.StreamReader, the reading side of a byte stream.
//
//   corio::StreamReader reader;              // or one from memory_pipe(),
//   reader.feed_data("GET / HTTP/1.1\r\n");  // fed by a transport
//   std::string line = co_await reader.readuntil("\r\n");
//   std::string body = co_await reader.readexactly(length);
//   char buf[4096];
//   std::size_t n = co_await reader.read_into(buf);   // no string made
//
// Bytes come in through feed_data() (from a transport's protocol, see
// stream_protocol.h, or directly in tests) and wait in the reader's buffer
// until a read takes them. feed_eof() marks the end; set_exception() makes
// every later read raise an error (a reset connection).
//
// The limit (64 KiB by default, as asyncio) bounds two things: how far
// readuntil()/readline() look for their separator, and, for a reader fed
// by a transport (set_transport), its buffer: once data arrives with no
// read waiting and the buffer holds more than twice the limit, the reader
// asks the transport to pause_reading(), and it resumes it once a read
// brings the buffer down to the limit, or when a read has to wait for more
// data (asyncio's StreamReaderProtocol flow control). So a slow consumer
// holds at most about 2 x limit bytes plus one chunk here, and
// back-pressure reaches the writer through the transport.
//
// StreamReader is a handle: copies share one stream; the stream lives
// while a handle (or the protocol feeding it) does. A handle may be moved
// while a read is in progress, but some handle must outlive the read.
#ifndef CORIO_STREAMS_STREAM_READER_H_
#define CORIO_STREAMS_STREAM_READER_H_

#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "corio/loop/task.h"
#include "corio/streams/errors.h"
#include "corio/streams/internal/byte_buffer.h"
#include "corio/streams/internal/wait_list.h"
#include "corio/streams/transport.h"

namespace corio {

namespace internal {

// Whether two shared_ptrs share one control block (or neither has one).
template <class A, class B>
bool same_owner(const std::shared_ptr<A>& a, const std::shared_ptr<B>& b) noexcept {
  return !a.owner_before(b) && !b.owner_before(a);
}

// The state a StreamReader handle shares.
// The WaitList (at most one task) is a base rather than a member so that a
// ReadAwaiter finds the state from the list it parks in, with no pointer of
// its own (8 bytes of every frame idle in a read).
struct ReaderState : WaitList {
  explicit ReaderState(std::size_t l) noexcept : limit(l) {}

  // Throws the stored exception, if any.
  void check_error() const {
    if (error) std::rethrow_exception(error);
  }
  // Before a read parks: RuntimeError if another task waits; resumes a
  // paused transport (the read needs more than is buffered).
  void before_wait(const char* caller);
  // After a read took bytes: resumes a paused transport once the buffer is
  // down to the limit.
  void maybe_resume_transport();
  // readuntil()'s search step: the chunk through the separator, or nullopt
  // to wait for more. `offset` carries the search position between steps.
  // Errors: LimitOverrunError, IncompleteReadError (at EOF).
  std::optional<std::string> try_readuntil(std::string_view separator, std::size_t& offset);

  ByteBuffer buffer;
  std::size_t limit;
  std::exception_ptr error;
  ReadTransport* transport = nullptr;
  WaitList& waiter() noexcept { return *this; }
  // Where the waiting readline()'s search for "\n" goes on (see
  // ReadLineOp): restarted by every readline(), so one that another
  // readline() restarted only searches again from the start.
  std::size_t line_offset = 0;
  bool eof = false;
  bool paused = false;  // the transport was asked to pause_reading()
};

// A StreamReader read as an awaiter, with no coroutine frame. Whether it
// can finish is looked at once (await_ready) and, while the task waits, at
// each wake that feed_data()/feed_eof()/set_exception() give (WaitList's
// attempt), so the task wakes only once the read can finish; the bytes are
// then taken in await_resume, in the task's own step, as the coroutine
// version took them. `Op` provides
//   bool ready(ReaderState& s) noexcept;  // take() would finish now (a
//                                         // value or an error); takes nothing
//   bool start(ReaderState& s) noexcept;  // optional: ready() for the first
//                                         // look, when that one differs
//   R take(ReaderState& s);               // the read's last step
//   const char* name() const noexcept;    // "readline", for error messages
// The awaiter lives in the awaiting coroutine's frame for as long as the
// task waits (g++ gives each co_await its own slot), so it is kept small:
// a handler idle in readline() pays for every byte of it.
// Cancellation (StreamReader's): a cancel while parked, or between the
// wake and the task's step, raises CancelledError with nothing taken.
template <class Op>
class [[nodiscard]] ReadAwaiter : private WaitListAwaiter {
 public:
  ReadAwaiter(ReaderState* s, Op op) noexcept
      : WaitListAwaiter(s, &ReadAwaiter::attempt_from_wake), op_(std::move(op)) {}
  // Only before the await starts (as a value passed to timeout()).
  ReadAwaiter(ReadAwaiter&& o) noexcept
      : WaitListAwaiter(o.state(), &ReadAwaiter::attempt_from_wake), op_(std::move(o.op_)) {}
  ReadAwaiter& operator=(ReadAwaiter&&) = delete;
  ~ReadAwaiter() = default;

  bool await_ready() noexcept {
    if constexpr (requires { op_.start(*state()); }) {
      return op_.start(*state());
    } else {
      return op_.ready(*state());
    }
  }
  bool await_suspend(std::coroutine_handle<> h) {
    state()->before_wait(op_.name());
    return WaitListAwaiter::await_suspend(h);
  }
  decltype(auto) await_resume() {
    check_cancelled_or_pending();  // a cancel, before or after the wake: nothing taken
    return op_.take(*state());
  }

 private:
  static bool attempt_from_wake(WaitListAwaiter* w) noexcept {
    auto* self = static_cast<ReadAwaiter*>(w);
    return self->op_.ready(*self->state());
  }
  ReaderState* state() const noexcept { return static_cast<ReaderState*>(list()); }

  [[no_unique_address]] Op op_;  // readline()'s is empty
};

// readuntil()'s work (stream_reader.cc).
struct ReadUntilOp {
  std::string separator;     // never empty, unless `error` is set
  std::size_t offset = 0;    // where the search goes on
  std::exception_ptr error;  // readuntil(""): raised where awaited
  bool ready(ReaderState& s) noexcept;
  std::string take(ReaderState& s);
  const char* name() const noexcept { return "readuntil"; }
};

// readline()'s work: "\n", with its own EOF and limit rules (stream_reader.cc).
// It holds nothing: where the search goes on is kept in the state
// (ReaderState::line_offset), as one task at a time waits on a reader.
struct ReadLineOp {
  bool start(ReaderState& s) noexcept {
    s.line_offset = 0;
    return ready(s);
  }
  bool ready(ReaderState& s) noexcept;
  std::string take(ReaderState& s);
  const char* name() const noexcept { return "readline"; }
};

// read(n)'s work: n > 0, up to n bytes once any are there; n < 0,
// everything once EOF has come; n == 0, "" at once.
struct ReadOp {
  std::ptrdiff_t n;
  bool ready(ReaderState& s) const noexcept;
  std::string take(ReaderState& s);
  const char* name() const noexcept { return "read"; }
};

// read_into()'s work: up to buf.size() bytes into buf once any are there.
struct ReadIntoOp {
  std::span<char> buf;
  bool ready(ReaderState& s) const noexcept;
  std::size_t take(ReaderState& s);
  const char* name() const noexcept { return "read_into"; }
};

// readexactly()'s work: n bytes once n are there, or the error at EOF.
struct ReadExactlyOp {
  std::size_t n;
  bool ready(ReaderState& s) const noexcept;
  std::string take(ReaderState& s);
  const char* name() const noexcept { return "readexactly"; }
};

// readexactly_into()'s work: buf.size() bytes into buf.
struct ReadExactlyIntoOp {
  std::span<char> buf;
  bool ready(ReaderState& s) const noexcept;
  void take(ReaderState& s);
  const char* name() const noexcept { return "readexactly_into"; }
};

}  // namespace internal

// What the reads return: `co_await` one for its result. Each is an awaiter
// with no coroutine frame; timeout(), wait_for() and co_invoke take it as
// they take a Task (wrap it in co_invoke for create_task). readline()'s
// holds no separator and no search position: 64 bytes (a WaitList wait)
// in the frame of a task waiting in it, where it was 136.
using ReadUntilAwaiter = internal::ReadAwaiter<internal::ReadUntilOp>;
using ReadLineAwaiter = internal::ReadAwaiter<internal::ReadLineOp>;
using ReadAwaiter = internal::ReadAwaiter<internal::ReadOp>;
using ReadIntoAwaiter = internal::ReadAwaiter<internal::ReadIntoOp>;
using ReadExactlyAwaiter = internal::ReadAwaiter<internal::ReadExactlyOp>;
using ReadExactlyIntoAwaiter = internal::ReadAwaiter<internal::ReadExactlyIntoOp>;

// StreamReader
//
// Errors: every read raises the exception given to set_exception() once one
//   was set (before looking at the buffer, as asyncio does); RuntimeError
//   when a second task starts a read that must wait while another task is
//   already waiting on the same reader, and outside a task; and, for
//   readline()/readuntil(), when another task took the bytes such a read
//   had been woken for before it ran (two tasks reading one stream at
//   once). Each read's own errors are listed with it.
// Thread safety: the loop's thread only.
// Cancellation: cancel safe. A read takes its bytes from the buffer only
//   in the step in which it returns them, so a read cancelled while it
//   waits has taken nothing: the next read sees every byte, in order. A
//   read that could complete without waiting does so even with a cancel
//   pending (the cancel then comes at the task's next suspension point).
class StreamReader {
 public:
  static constexpr std::size_t kDefaultLimit = 64 * 1024;

  // A reader with nothing in it. Errors: ValueError for a limit of 0.
  explicit StreamReader(std::size_t limit = kDefaultLimit);
  // For transports that keep the stream's other parts alive as long as a
  // reader handle exists (memory_pipe): `keepalive` is held by this handle
  // and its copies. A handle is one pointer pair: when `keepalive` has
  // another owner than `state` (and is not empty), both go into one small
  // block the handle owns; pass a `state` that aliases the keepalive's
  // owner (std::shared_ptr's aliasing constructor) to avoid it.
  // Errors: std::bad_alloc (only when that block is needed).
  StreamReader(std::shared_ptr<internal::ReaderState> state, std::shared_ptr<void> keepalive);

  // ---- Feeding (the transport's side). ----

  // Appends `data` to the buffer and wakes a waiting read. Above twice the
  // limit it asks the transport, if any, to pause reading.
  // Errors: InvalidStateError after feed_eof(); std::bad_alloc.
  void feed_data(std::string_view data);
  // No more data will come. Idempotent.
  void feed_eof() noexcept;
  // Every later read raises `error` (ConnectionResetError, say); a waiting
  // read is woken to raise it.
  void set_exception(std::exception_ptr error) noexcept;
  // The exception set by set_exception(), or null.
  std::exception_ptr exception() const noexcept { return s_->error; }
  // The transport to pause and resume (null: none). Called by the
  // protocol on connection_made, and with null on connection_lost.
  // Errors: InvalidStateError if a transport is already set.
  void set_transport(ReadTransport* transport);

  // True once feed_eof() was called and the buffer is empty.
  bool at_eof() const noexcept { return s_->eof && s_->buffer.empty(); }
  std::size_t limit() const noexcept { return s_->limit; }
  // Bytes in the buffer, not yet read.
  std::size_t buffered() const noexcept { return s_->buffer.size(); }

  // ---- Reading. ----
  //
  // Each read returns an awaiter with no coroutine frame (ReadAwaiter,
  // ReadLineAwaiter, ...): await it directly, or give it to timeout() or
  // wait_for(); wrap it in co_invoke for create_task. A read looks at the
  // buffer when awaited, not when called.

  // Up to `n` bytes: what is buffered (at most n) once there is anything,
  // or "" at EOF. n < 0: everything up to EOF (asyncio's read()), taken at
  // once when EOF comes. n == 0: "" at once.
  ReadAwaiter read(std::ptrdiff_t n = -1) noexcept;
  // As read(buf.size()), into `buf` without making a string: returns the
  // number of bytes copied, 0 at EOF (or for an empty buf, at once).
  ReadIntoAwaiter read_into(std::span<char> buf) noexcept;
  // Exactly `n` bytes. Errors: IncompleteReadError at EOF with fewer
  //   (partial() holds them; they are taken).
  ReadExactlyAwaiter readexactly(std::size_t n) noexcept;
  // As readexactly(buf.size()), into `buf`. Errors: IncompleteReadError;
  //   then `buf` is untouched and partial() holds the bytes.
  ReadExactlyIntoAwaiter readexactly_into(std::span<char> buf) noexcept;
  // The bytes up to and including `separator`. At EOF before the separator:
  // IncompleteReadError with the bytes left (taken). If the separator is
  // not within the limit: LimitOverrunError, and the bytes stay in the
  // buffer (read them with read(), or drop them). ValueError for an empty
  // separator.
  ReadUntilAwaiter readuntil(std::string separator = "\n");
  // A line ending in '\n' (included); at EOF the bytes left without a
  // newline ("" once nothing is left). A line longer than the limit raises
  // LimitOverrunError and, as asyncio does, is discarded: through its
  // newline if that is in the buffer, else the whole buffer, so the next
  // readline() starts afresh.
  ReadLineAwaiter readline() noexcept;

  // Internal: the shared state (for the protocol and writer).
  const std::shared_ptr<internal::ReaderState>& state() const noexcept { return s_; }

 private:
  // Owns the state and whatever else the stream needs (see the two-argument
  // constructor): one pointer pair, as a served connection keeps its
  // handles in its own block (net/streams.cc).
  std::shared_ptr<internal::ReaderState> s_;
};

}  // namespace corio

#endif  // CORIO_STREAMS_STREAM_READER_H_
