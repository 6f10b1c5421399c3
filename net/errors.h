// Typed errors of corio's net module: asyncio's OSError family, made from
// an errno. They are the classes of loop/errors.h (OSError) and
// streams/errors.h (ConnectionError and its kinds), named here too, so a
// reset socket and a reset in-memory stream are caught by one clause:
//
//   try { co_await sock.connect(addr); }
//   catch (const corio::net::ConnectionRefusedError&) { ... }
//   // the same type as corio::ConnectionRefusedError
#ifndef CORIO_NET_ERRORS_H_
#define CORIO_NET_ERRORS_H_

#include <string>

#include "corio/loop/errors.h"
#include "corio/streams/errors.h"

namespace corio::net {

// OSError: a system call failed; `code()` is its errno.
using OSError = corio::OSError;
// ConnectionError and its kinds (asyncio's names): ECONNREFUSED,
// ECONNRESET, ECONNABORTED, EPIPE/ESHUTDOWN.
using ConnectionError = corio::ConnectionError;
using ConnectionRefusedError = corio::ConnectionRefusedError;
using ConnectionResetError = corio::ConnectionResetError;
using ConnectionAbortedError = corio::ConnectionAbortedError;
using BrokenPipeError = corio::BrokenPipeError;

// Name resolution failed (getaddrinfo); `code()` is its EAI_* value.
class GaiError : public OSError {
 public:
  using OSError::OSError;
};

// Throws the OSError subclass that matches `code`, with "what: strerror".
[[noreturn]] void throw_os_error(int code, const std::string& what);

}  // namespace corio::net

#endif  // CORIO_NET_ERRORS_H_
