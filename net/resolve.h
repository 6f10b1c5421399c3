// Name resolution that never blocks the loop: getaddrinfo on the loop's
// executor (asyncio's loop.getaddrinfo does the same).
//
//   auto addrs = co_await corio::net::resolve("localhost", 8080);
//
// Errors: GaiError (its code() is the EAI_* value) when the name does not
//   resolve; corio::TimeoutError when `timeout` passes first.
// Thread safety: the loop's thread.
// Cancellation: the wait ends at once; the lookup itself cannot be
//   interrupted and finishes on its worker, its result dropped.
#ifndef CORIO_NET_RESOLVE_H_
#define CORIO_NET_RESOLVE_H_

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "corio/loop/task.h"
#include "corio/net/address.h"

namespace corio::net {

// Addresses for `host` (a name or a numeric address) and `port`, in the
// order getaddrinfo gives them; `family` AF_UNSPEC for both IPv4 and IPv6,
// `socktype` SOCK_STREAM or SOCK_DGRAM.
[[nodiscard]] Task<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port, int family = AF_UNSPEC,
                                                       int socktype = SOCK_STREAM,
                                                       std::chrono::nanoseconds timeout = std::chrono::seconds(10));

}  // namespace corio::net

#endif  // CORIO_NET_RESOLVE_H_
