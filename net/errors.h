// Typed errors of corio's net module: asyncio's OSError family, made from
// an errno. Each derives from corio::net::OSError (a corio::Error), which
// carries the errno.
//
//   try { co_await sock.connect(addr); }
//   catch (const corio::net::ConnectionRefusedError&) { ... }
#ifndef CORIO_NET_ERRORS_H_
#define CORIO_NET_ERRORS_H_

#include <string>

#include "corio/loop/errors.h"

namespace corio::net {

// OSError: a system call failed; `code()` is its errno.
class OSError : public Error {
 public:
  OSError(int code, const std::string& what) : Error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// ConnectionError and its kinds (asyncio's names).
class ConnectionError : public OSError {
 public:
  using OSError::OSError;
};
class ConnectionRefusedError : public ConnectionError {  // ECONNREFUSED
 public:
  using ConnectionError::ConnectionError;
};
class ConnectionResetError : public ConnectionError {  // ECONNRESET
 public:
  using ConnectionError::ConnectionError;
};
class ConnectionAbortedError : public ConnectionError {  // ECONNABORTED
 public:
  using ConnectionError::ConnectionError;
};
class BrokenPipeError : public ConnectionError {  // EPIPE, ESHUTDOWN
 public:
  using ConnectionError::ConnectionError;
};

// Name resolution failed (getaddrinfo); `code()` is its EAI_* value.
class GaiError : public OSError {
 public:
  using OSError::OSError;
};

// Throws the OSError subclass that matches `code`, with "what: strerror".
[[noreturn]] void throw_os_error(int code, const std::string& what);

}  // namespace corio::net

#endif  // CORIO_NET_ERRORS_H_
