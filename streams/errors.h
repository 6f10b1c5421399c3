// Typed errors raised by corio's streams module: asyncio's
// IncompleteReadError, LimitOverrunError and the ConnectionError family,
// GeneratorExit for async generators, and LaggedError for Broadcast.
//
// The connection errors are OSErrors (loop/errors.h) carrying an errno.
// The ordinary ones derive from corio::Error (loop/errors.h), so
// `catch (const std::exception&)` handles them. GeneratorExit, like
// CancelledError, does not: it is how aclose() unwinds a generator, and a
// generator's `catch (const std::exception&)` must not swallow it (in
// Python it is a BaseException for the same reason).
#ifndef CORIO_STREAMS_ERRORS_H_
#define CORIO_STREAMS_ERRORS_H_

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "corio/loop/errors.h"

namespace corio {

// IncompleteReadError
//
// The stream ended before a read got what it asked for:
// StreamReader::readexactly() at EOF with fewer than n bytes (`expected()`
// is n), readuntil() at EOF before the separator (`expected()` is
// nullopt). `partial()` holds the bytes read before the end; they have
// been taken from the stream.
class IncompleteReadError : public Error {
 public:
  IncompleteReadError(std::string partial, std::optional<std::size_t> expected)
      : Error(message(partial.size(), expected)), partial_(std::move(partial)), expected_(expected) {}

  // The bytes read before EOF.
  const std::string& partial() const noexcept { return partial_; }
  // How many bytes the read wanted, or nullopt for readuntil().
  std::optional<std::size_t> expected() const noexcept { return expected_; }

 private:
  static std::string message(std::size_t got, std::optional<std::size_t> expected) {
    std::string m = std::to_string(got) + " bytes read on a total of ";
    m += expected ? std::to_string(*expected) : std::string("undefined");
    return m + " expected bytes";
  }
  std::string partial_;
  std::optional<std::size_t> expected_;
};

// LimitOverrunError
//
// StreamReader::readuntil()/readline() found no separator within the
// reader's limit, or found one further away than the limit. `consumed()`
// is how many bytes can be read (or discarded) without reaching the
// separator, as in asyncio. After readuntil() the bytes stay in the
// buffer; readline() discards them (see StreamReader).
class LimitOverrunError : public Error {
 public:
  LimitOverrunError(const std::string& message, std::size_t consumed) : Error(message), consumed_(consumed) {}
  std::size_t consumed() const noexcept { return consumed_; }

 private:
  std::size_t consumed_;
};

// ConnectionError
//
// Base of the errors that end a connection (asyncio's ConnectionError, an
// OSError there too): `code()` is the errno (ECONNRESET, EPIPE, ...). The
// same classes are raised for sockets (corio::net names them as aliases)
// and for in-memory streams, so one catch clause serves both.
class ConnectionError : public OSError {
 public:
  using OSError::OSError;
};

// ConnectionResetError (ECONNRESET): the connection was lost while a task
// used it, or the peer went away: StreamWriter::drain() once the
// connection is lost, a StreamReader after a transport called
// set_exception() with it, a socket read or write the peer reset.
class ConnectionResetError : public ConnectionError {
 public:
  ConnectionResetError() : ConnectionResetError("connection reset") {}
  explicit ConnectionResetError(const std::string& what) : ConnectionError(ECONNRESET, what) {}
  using ConnectionError::ConnectionError;
};

// BrokenPipeError (EPIPE, ESHUTDOWN): a write to a stream whose reading
// end is gone.
class BrokenPipeError : public ConnectionError {
 public:
  BrokenPipeError() : BrokenPipeError("broken pipe") {}
  explicit BrokenPipeError(const std::string& what) : ConnectionError(EPIPE, what) {}
  using ConnectionError::ConnectionError;
};

// ConnectionRefusedError (ECONNREFUSED): nothing listens where a
// connection was attempted.
class ConnectionRefusedError : public ConnectionError {
 public:
  explicit ConnectionRefusedError(const std::string& what) : ConnectionError(ECONNREFUSED, what) {}
  using ConnectionError::ConnectionError;
};

// ConnectionAbortedError (ECONNABORTED): the connection was aborted before
// it was accepted, or by the local end.
class ConnectionAbortedError : public ConnectionError {
 public:
  explicit ConnectionAbortedError(const std::string& what) : ConnectionError(ECONNABORTED, what) {}
  using ConnectionError::ConnectionError;
};

// GeneratorExit
//
// Raised inside an AsyncGenerator at the co_yield where it is suspended
// when its consumer calls aclose(), so that its catch blocks and its
// asynchronous cleanup run. A generator should let it propagate (or return);
// yielding another value instead makes aclose() raise RuntimeError.
// Not derived from std::exception (see above).
class GeneratorExit {
 public:
  const char* what() const noexcept { return "generator exit"; }
};

// LaggedError
//
// Broadcast: the subscriber fell so far behind that items it had not
// received were overwritten. `missed()` says how many; the subscriber's
// next recv() gives the oldest item still retained (Tokio's
// RecvError::Lagged).
class LaggedError : public Error {
 public:
  explicit LaggedError(std::uint64_t missed)
      : Error("broadcast subscriber lagged behind by " + std::to_string(missed) + " items"), missed_(missed) {}
  std::uint64_t missed() const noexcept { return missed_; }

 private:
  std::uint64_t missed_;
};

}  // namespace corio

#endif  // CORIO_STREAMS_ERRORS_H_
