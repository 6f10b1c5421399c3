// Happy Eyeballs (RFC 8305): connect to the first of several addresses
// that accepts, starting the attempts staggered rather than one after the
// other's timeout (asyncio's happy_eyeballs_delay and interleave).
//
//   std::vector<corio::net::SocketAddress> addrs = co_await corio::net::resolve("example.org", 80);
//   corio::net::HappyEyeballsOptions options;      // 250 ms between attempts
//   corio::net::Socket s = co_await corio::net::connect_happy_eyeballs(
//       corio::net::interleave_addresses(std::move(addrs), 1), options);
//
// open_connection() (streams.h) does this for every name it resolves.
#ifndef CORIO_NET_HAPPY_EYEBALLS_H_
#define CORIO_NET_HAPPY_EYEBALLS_H_

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

#include "corio/loop/task.h"
#include "corio/net/address.h"
#include "corio/net/socket.h"

namespace corio::net {

// How connect_happy_eyeballs() staggers its attempts.
// Errors: none. Thread safety: a plain value type. Cancellation: not
// applicable.
struct HappyEyeballsOptions {
  // The "Connection Attempt Delay" of RFC 8305: how long an attempt runs
  // alone before the next address is tried too. An attempt that fails
  // starts the next one at once. nullopt: one attempt at a time, the next
  // only when the previous failed (asyncio's default, and corio's before
  // Happy Eyeballs).
  std::optional<std::chrono::nanoseconds> attempt_delay = std::chrono::milliseconds(250);
  // A bound on each attempt (a blackholed address then fails with
  // corio::TimeoutError); none when unset.
  std::optional<std::chrono::nanoseconds> connect_timeout = std::chrono::seconds(30);
};

// Reorders `addrs` so that address families alternate, as RFC 8305 section
// 4 and asyncio's _interleave_addrinfos do: the first `first_family_count`
// addresses of the first family seen, then one of each family in turn (in
// the order the families first appear), each family keeping its own order.
// 0 returns `addrs` unchanged.
// Errors: std::bad_alloc only. Thread safety: a pure function.
// Cancellation: not applicable.
std::vector<SocketAddress> interleave_addresses(std::vector<SocketAddress> addrs, std::size_t first_family_count);

// Connects a stream socket to the first address of `addrs` that accepts,
// trying them in the given order: the first at once, each next one after
// `attempt_delay` or as soon as an earlier attempt fails, all running
// attempts racing. The first to connect wins; the others are cancelled
// and their sockets closed before this returns.
//
// Errors: when every attempt fails, one error that names each address and
//   its failure in its what():
//   - all failed the same way (the same errno, or all timed out): that
//     error's type, e.g. ConnectionRefusedError when every address refused
//     (a single address: its own error, unchanged);
//   - mixed failures: an OSError whose code() is the first address's errno
//     (ETIMEDOUT if that one timed out).
//   OSError(EADDRNOTAVAIL) for an empty list; OSError from socket() (EMFILE,
//   ...) counts as that address's failure.
// Thread safety: the loop's thread.
// Cancellation: every attempt is cancelled and awaited before the
//   CancelledError leaves: no socket is left open and no task left running.
//   A connection won at the same moment is closed.
[[nodiscard]] Task<Socket> connect_happy_eyeballs(std::vector<SocketAddress> addrs,
                                                  const HappyEyeballsOptions& options);

}  // namespace corio::net

#endif  // CORIO_NET_HAPPY_EYEBALLS_H_
