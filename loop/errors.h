// Typed errors raised by corio's loop library.
//
// CancelledError deliberately does NOT derive from std::exception, mirroring
// asyncio (where CancelledError is a BaseException since Python 3.8): a
// `catch (const std::exception&)` that handles ordinary failures does not
// swallow cancellation by accident. Catch it by name, or with `catch (...)`.
#ifndef CORIO_LOOP_ERRORS_H_
#define CORIO_LOOP_ERRORS_H_

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace corio {

// CancelledError
//
// Raised at a task's suspension point when the task is cancelled
// (TaskHandle::cancel, a timeout scope, TaskGroup, corio::run shutdown).
// Catch it to clean up, then rethrow; swallowing it un-cancels the task.
class CancelledError {
 public:
  CancelledError() = default;
  explicit CancelledError(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept { return message_.empty() ? "cancelled" : message_.c_str(); }
  const std::string& message() const noexcept { return message_; }

 private:
  std::string message_;
};

// Base of corio's ordinary errors.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// TimeoutError: a deadline (wait_for, timeout scope) expired.
class TimeoutError : public Error {
 public:
  TimeoutError() : Error("timeout expired") {}
  using Error::Error;
};

// InvalidStateError: an operation that the object's state does not allow,
// such as result() of a pending task or set_result() of a done future.
class InvalidStateError : public Error {
 public:
  using Error::Error;
};

// RuntimeError: a misuse of the runtime, such as awaiting a corio primitive
// outside a task, or running a loop that is already running.
class RuntimeError : public Error {
 public:
  using Error::Error;
};

// ClosedResourceError: the resource a task was waiting on was closed under
// it, e.g. a socket's IoRegistration deregistered while a task awaited its
// readiness (Trio's name for it).
class ClosedResourceError : public Error {
 public:
  using Error::Error;
};

// OSError: a system call failed; `code()` is its errno (asyncio's
// OSError). The connection errors of streams and net derive from it, so
// one `catch (const corio::OSError&)` sees every I/O failure.
class OSError : public Error {
 public:
  OSError(int code, const std::string& what) : Error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// ExceptionGroup: several tasks failed together (TaskGroup). `exceptions()`
// holds each child's exception in the order they failed.
class ExceptionGroup : public Error {
 public:
  ExceptionGroup(std::string message, std::vector<std::exception_ptr> exceptions)
      : Error(std::move(message)), exceptions_(std::move(exceptions)) {}
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }

 private:
  std::vector<std::exception_ptr> exceptions_;
};

// True when `e` holds a CancelledError.
inline bool is_cancelled_error(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace corio

#endif  // CORIO_LOOP_ERRORS_H_
