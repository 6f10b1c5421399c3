// asyncio's stream functions over sockets: open_connection() and
// start_server(), giving the StreamReader/StreamWriter pair of corio's
// streams module (the same two types memory_pipe() gives).
//
//   auto [reader, writer] = co_await corio::net::open_connection("localhost", 8080);
//   writer.write("ping\n");
//   co_await writer.drain();
//   std::string line = co_await reader.readline();
//
//   corio::net::Server server = co_await corio::net::start_server(
//       [](corio::StreamReader& r, corio::StreamWriter& w) -> corio::Task<> {
//         for (std::string line; !(line = co_await r.readline()).empty();) {
//           w.write(line);
//           co_await w.drain();
//         }
//       },
//       "127.0.0.1", 0);
//   std::uint16_t port = server.port();
//   ...
//   co_await server.shutdown(std::chrono::seconds(5));
//
// The options come as overloads, not default arguments: g++ 12 destroys a
// class-type default argument twice when the call is awaited in a
// coroutine (a double free under ASan).
//
// Both ends are SocketTransports (socket_transport.h) with a
// StreamReaderProtocol. Dropping the last StreamReader/StreamWriter handle
// of a connection closes it (flushing what was written first).
#ifndef CORIO_NET_STREAMS_H_
#define CORIO_NET_STREAMS_H_

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "corio/loop/task.h"
#include "corio/net/address.h"
#include "corio/net/socket.h"
#include "corio/net/socket_transport.h"
#include "corio/streams/stream_reader.h"
#include "corio/streams/stream_writer.h"

namespace corio::net {

// What every connection's streams are made with.
// Errors: none (checked where used: ValueError for low > high water).
// Thread safety: a plain value type. Cancellation: not applicable.
struct StreamOptions {
  // The StreamReader's limit.
  std::size_t limit = StreamReader::kDefaultLimit;
  // The write buffer's water marks.
  TransportOptions transport;
  // TCP_NODELAY on TCP connections (asyncio's default since 3.7).
  bool nodelay = true;
  // SO_KEEPALIVE on TCP connections (the kernel's keepalive probes find a
  // peer that vanished without a FIN or RST).
  bool keepalive = false;
};

// One connection's two streams. Copies of the handles share the
// connection; the last one gone closes it.
// Errors: see StreamReader and StreamWriter. Thread safety: the loop's
// thread. Cancellation: see StreamReader and StreamWriter (cancel safe).
struct Streams {
  StreamReader reader;
  StreamWriter writer;
};

// Wraps a connected stream socket in a SocketTransport and returns its
// streams. Errors: RuntimeError outside a loop; ValueError for a closed
// socket. Thread safety: the loop's thread. Cancellation: does not wait.
Streams make_streams(Socket sock, const StreamOptions& options = {});

// open_connection()'s options. Errors: none. Thread safety: a plain value
// type. Cancellation: not applicable.
struct ConnectOptions : StreamOptions {
  // AF_INET, AF_INET6 or AF_UNSPEC (both) for the name's addresses.
  int family = AF_UNSPEC;
  // A bound on each connection attempt; none when unset.
  std::optional<std::chrono::nanoseconds> connect_timeout = std::chrono::seconds(30);
  // A bound on the name resolution.
  std::chrono::nanoseconds resolve_timeout = std::chrono::seconds(10);
  // Happy Eyeballs (RFC 8305, happy_eyeballs.h) over the name's addresses:
  // the next address is tried this long after the previous attempt
  // started (or at once when it failed), the attempts racing; nullopt
  // tries one address at a time. asyncio's happy_eyeballs_delay.
  std::optional<std::chrono::nanoseconds> happy_eyeballs_delay = std::chrono::milliseconds(250);
  // Reorders the resolved addresses so that families alternate, this many
  // of the first family first (interleave_addresses()); 0 keeps the
  // resolver's order. asyncio's interleave.
  std::size_t interleave = 1;
};

// Resolves `host` and connects to its addresses (asyncio.open_connection):
// interleaved by family, then raced with Happy Eyeballs
// (connect_happy_eyeballs(), happy_eyeballs.h); the first to connect wins.
// Errors: GaiError when the name does not resolve; corio::TimeoutError
//   when that takes longer than resolve_timeout; when no address connects,
//   connect_happy_eyeballs()'s error: the one address's own error
//   (ConnectionRefusedError, OSError such as ENETUNREACH, corio::TimeoutError
//   after connect_timeout), or for several addresses one error naming each
//   address's failure, typed as their common failure when they all failed
//   alike, an OSError otherwise.
// Thread safety: the loop's thread.
// Cancellation: resolution and every connection attempt stop; each
//   attempt's socket is closed before the CancelledError leaves; nothing is
//   left behind.
[[nodiscard]] Task<Streams> open_connection(std::string host, std::uint16_t port, const ConnectOptions& options);
[[nodiscard]] Task<Streams> open_connection(std::string host, std::uint16_t port);
// The same over addresses the caller already has (resolved elsewhere, or
// a fixed list), raced in the given order (`options.interleave` is not
// applied; call interleave_addresses() for that; `family` and
// `resolve_timeout` do not apply). Errors, Thread safety, Cancellation: as
// above, less the resolution's.
[[nodiscard]] Task<Streams> open_connection(std::vector<SocketAddress> addresses, const ConnectOptions& options);
[[nodiscard]] Task<Streams> open_connection(std::vector<SocketAddress> addresses);
// The same over a Unix-domain stream socket at `path`. Errors: as above
// (FileNotFoundError is an OSError with ENOENT). Thread safety and
// Cancellation: as above.
[[nodiscard]] Task<Streams> open_unix_connection(std::string path, const ConnectOptions& options);
[[nodiscard]] Task<Streams> open_unix_connection(std::string path);

// What start_server() runs for each connection. Its streams stay valid
// until the returned Task finishes; the writer is then closed (flushed).
// Errors: an exception it lets out goes to the loop's exception handler.
// Thread safety: runs on the server's loop. Cancellation: Server::shutdown
// cancels it after the grace period; its connection is then aborted.
using ConnectionHandler = std::function<Task<void>(StreamReader&, StreamWriter&)>;

// start_server()'s options. Errors: none. Thread safety: a plain value
// type. Cancellation: not applicable.
struct ServerOptions : StreamOptions {
  int family = AF_UNSPEC;
  int backlog = 128;
  bool reuse_address = true;
  // SO_REUSEPORT: several servers (processes, or loops: MultiLoopServer in
  // multi_loop.h) share the port.
  bool reuse_port = false;
  // How long accepting pauses after a failure such as EMFILE.
  std::chrono::nanoseconds accept_backoff = std::chrono::milliseconds(100);
  // Each handler task is named "<task_name>:<peer address>".
  std::string task_name = "corio.net.handler";
};

namespace internal {
struct ServerState;
}  // namespace internal

// Server
//
// Listening sockets and the tasks serving their connections. Move-only;
// destroying it closes it (stops accepting: running handlers go on).
//
// Errors: none from close(); wait_closed() and shutdown() raise
//   RuntimeError outside a task.
// Thread safety: the loop's thread.
// Cancellation: wait_closed() only waits. shutdown() cancelled while
//   waiting for the handlers cancels them and raises CancelledError at
//   once (wait_closed() then tells when they have ended).
class Server {
 public:
  Server() noexcept = default;
  explicit Server(std::shared_ptr<internal::ServerState> s) noexcept : s_(std::move(s)) {}
  Server(Server&&) noexcept = default;
  Server& operator=(Server&& o) noexcept;
  ~Server();

  // Stops accepting and closes the listening sockets; connections already
  // accepted go on. Idempotent.
  void close();
  bool is_serving() const;
  // Waits until the server is closed and every handler has finished.
  [[nodiscard]] Task<void> wait_closed();
  // Serves until the server is closed (close() or shutdown() from
  // elsewhere), then returns; handlers may still be running (wait_closed()
  // tells when they are done). asyncio's Server.serve_forever, except that
  // a close() from elsewhere ends it normally rather than by cancelling it.
  // Errors: RuntimeError if the server is already closed (or empty).
  // Cancellation: a cancelled serve_forever() closes the server (stops
  //   accepting; running handlers go on) and raises CancelledError at once.
  [[nodiscard]] Task<void> serve_forever();
  // close(), then lets the running handlers finish for up to `grace`, then
  // cancels those still running (their connections are aborted) and waits
  // for them to end.
  [[nodiscard]] Task<void> shutdown(std::chrono::nanoseconds grace);

  // The listening sockets' addresses (empty once closed).
  std::vector<SocketAddress> sockets() const;
  // The first listening socket's port (for a server started on port 0).
  std::uint16_t port() const;
  // Handlers running now.
  std::size_t active_connections() const;

 private:
  std::shared_ptr<internal::ServerState> s_;
};

// Binds a listening socket to each address of `host` and serves each
// connection with `handler` as its own task (asyncio.start_server). `host`
// is a name, a numeric address, or "" for every interface of every family
// the machine has: 0.0.0.0 and :: (the IPv6 socket with IPV6_V6ONLY, so
// the two never clash), as asyncio does for host None; options.family
// AF_INET or AF_INET6 keeps one of them. With port 0 every listening
// socket gets the same port, the one the kernel picked for the first (so
// port() serves both families). The server keeps `handler` alive. When a
// handler ends its connection is closed (its buffered bytes flushed first),
// or aborted if the handler was cancelled; copies of its stream handles
// kept beyond that see a closed connection. Accept failures (EMFILE, ENFILE, ...) go to the
// loop's exception handler and pause accepting for accept_backoff; the server keeps serving. An exception escaping a
// handler goes to the loop's exception handler too. Errors: GaiError; OSError (EADDRINUSE, EACCES, ...) from
// bind/listen
//   (with port 0 and several addresses, EADDRINUSE only if the port the
//   kernel picked stayed taken on another family over several tries);
//   at the call itself, std::invalid_argument for an empty handler and
//   RuntimeError outside a running loop.
// Thread safety: the loop's thread.
// Cancellation: cancelled while resolving, nothing is bound.
[[nodiscard]] Task<Server> start_server(ConnectionHandler handler, std::string host, std::uint16_t port,
                                        const ServerOptions& options);
[[nodiscard]] Task<Server> start_server(ConnectionHandler handler, std::string host, std::uint16_t port);
// The same on a Unix-domain stream socket at `path` (an existing socket
// file there is replaced). Errors: OSError. Thread safety, Cancellation:
// as above.
[[nodiscard]] Task<Server> start_unix_server(ConnectionHandler handler, std::string path, const ServerOptions& options);
[[nodiscard]] Task<Server> start_unix_server(ConnectionHandler handler, std::string path);

}  // namespace corio::net

#endif  // CORIO_NET_STREAMS_H_
