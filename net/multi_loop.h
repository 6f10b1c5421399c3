// MultiLoopServer: one event loop per thread, all serving one port
// (SO_REUSEPORT), for using several cores. Tokio users know this as one
// current-thread runtime per core on a shared port; asyncio users as
// several processes each calling start_server(..., reuse_port=True).
//
//   corio::net::MultiLoopOptions options;
//   options.loops = 2;
//   options.handle_signals = true;  // SIGINT/SIGTERM stop every loop
//   corio::net::MultiLoopServer server =
//       corio::net::MultiLoopServer::start(handle_client, "127.0.0.1", 0, options);
//   std::printf("listening on %u\n", server.port());
//   server.wait();  // returns once every loop has stopped
//
// Each loop runs its own start_server() (streams.h) with its own listening
// socket; the kernel spreads incoming connections over the sockets (by a
// hash of the connection's addresses), and a connection is served to its
// end by the loop that accepted it. Nothing is shared between the loops
// apart from what the handler shares itself.
//
// See examples/echo/server.cc (--loops=N) and net/benchmark/echo_corio.cc.
#ifndef CORIO_NET_MULTI_LOOP_H_
#define CORIO_NET_MULTI_LOOP_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "corio/net/address.h"
#include "corio/net/streams.h"

namespace corio::net {

// MultiLoopServer::start()'s options: start_server()'s (reuse_port is
// forced on) and the loops'.
// Errors: none (checked by start(): std::invalid_argument for loops == 0).
// Thread safety: a plain value type. Cancellation: not applicable.
struct MultiLoopOptions : ServerOptions {
  // How many loops (threads). The machine's core count is the usual choice.
  std::size_t loops = 2;
  // Stop every loop (as stop() does) on SIGINT or SIGTERM. The first loop
  // handles the two signals while the server runs and restores their
  // previous handling when it ends.
  bool handle_signals = false;
  // stop()'s grace period: how long running handlers may go on after the
  // listeners are closed before they are cancelled.
  std::chrono::nanoseconds grace = std::chrono::seconds(5);
  // Called on each loop's thread, inside its running loop, before it binds:
  // to name or pin the thread, install an exception handler, make per-loop
  // state. `loop_index` is 0 to loops - 1. An exception it throws fails
  // start() as a bind failure does.
  std::function<void(std::size_t loop_index)> on_loop_start;
};

namespace internal {
struct MultiLoopState;
}  // namespace internal

// MultiLoopServer
//
// N threads, each running its own EventLoop with its own SO_REUSEPORT
// listener on the same address and port. The handler runs on whichever
// loop accepted the connection; each loop holds its own copy of it.
//
// Startup: start() blocks until every loop listens. With port 0 the first
// loop binds and picks the port; the others then bind the addresses the
// first one got. The first loop resolves `host` (once); so a name with
// several addresses gets the same addresses on every loop.
//
// Stopping (stop(), a signal with handle_signals, or the destructor) is
// graceful and happens on every loop at once: each closes its listeners,
// lets its running handlers finish for up to the grace period, cancels
// those still running (their connections are aborted), cancels any task
// left on the loop (as corio::run does) and ends its thread. wait() joins
// the threads.
//
// Errors: start() throws what the failing loop's startup threw: GaiError
//   when `host` does not resolve, OSError (EADDRINUSE, EACCES, ...) from
//   bind/listen, RuntimeError from handle_signals when another loop of the
//   process already handles SIGINT or SIGTERM, or what on_loop_start threw;
//   the loops already started are then stopped and joined first, so no
//   thread or socket is left behind. std::invalid_argument for loops == 0
//   or an empty handler. std::system_error if a thread cannot be made.
//   wait() rethrows the first error that ended a loop after startup (an
//   exception a handler lets out does not: it goes to that loop's
//   exception handler, as with start_server).
// Thread safety: stop(), stopping(), port(), sockets(), loops() and
//   connections_per_loop() may be called from any thread, including a
//   loop's own (a handler may call stop()). start() and wait() block: call
//   them from a thread that runs no loop (a loop calling them would stall
//   for as long as they block; wait() from a loop thread of this server
//   would never return). wait() from one thread at a time; destroying the
//   server runs stop() then wait() (so not from one of its loops either).
//   The handler is called on N threads at once: each loop has its own copy
//   of the std::function, but whatever the copies share (captured pointers,
//   shared_ptrs) must be thread-safe.
// Cancellation: start() and wait() are blocking calls, not awaitables; a
//   handler is cancelled as with Server::shutdown.
class MultiLoopServer {
 public:
  // An empty server: loops() is 0; stop() and wait() do nothing.
  MultiLoopServer() noexcept = default;
  MultiLoopServer(MultiLoopServer&&) noexcept = default;
  MultiLoopServer& operator=(MultiLoopServer&& o) noexcept;
  MultiLoopServer(const MultiLoopServer&) = delete;
  MultiLoopServer& operator=(const MultiLoopServer&) = delete;
  // stop(), then wait() (an error it would rethrow is dropped).
  ~MultiLoopServer();

  // Starts options.loops loops serving `handler` on `host` and `port` (0
  // picks a free port, shared by all the loops). Returns once all listen.
  static MultiLoopServer start(ConnectionHandler handler, std::string host, std::uint16_t port,
                               const MultiLoopOptions& options);

  // Asks every loop to stop gracefully (options.grace, or `grace`); returns
  // at once. Idempotent: the first request's grace period counts.
  void stop();
  void stop(std::chrono::nanoseconds grace);
  // True once stop() was called or a stopping signal arrived.
  bool stopping() const;
  // Blocks until every loop has ended and joins their threads. Rethrows
  // the first error that ended a loop after startup.
  void wait();

  // The port every loop listens on.
  std::uint16_t port() const;
  // The addresses the loops listen on (each loop has a socket on each).
  std::vector<SocketAddress> sockets() const;
  std::size_t loops() const;
  // Connections each loop has accepted (handlers started) so far; index
  // i is loop i. Their sum is every connection served.
  std::vector<std::uint64_t> connections_per_loop() const;

 private:
  explicit MultiLoopServer(std::shared_ptr<internal::MultiLoopState> s) noexcept : s_(std::move(s)) {}
  std::shared_ptr<internal::MultiLoopState> s_;
};

}  // namespace corio::net

#endif  // CORIO_NET_MULTI_LOOP_H_
