#include "corio/net/streams.h"

#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <any>
#include <cerrno>
#include <exception>
#include <memory>
#include <new>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/timeout.h"
#include "corio/net/happy_eyeballs.h"
#include "corio/net/resolve.h"
#include "corio/streams/stream_protocol.h"
#include "corio/sync/errors.h"
#include "corio/sync/event.h"

namespace corio::net {

namespace {

bool is_tcp(int family) { return family == AF_INET || family == AF_INET6; }

// Held by a connection's stream handles; the last one gone closes it.
struct ConnectionOwner {
  std::shared_ptr<SocketTransport> transport;
  EventLoop* loop;
  ConnectionOwner(std::shared_ptr<SocketTransport> t, EventLoop* l) noexcept : transport(std::move(t)), loop(l) {}
  ConnectionOwner(const ConnectionOwner&) = delete;
  ConnectionOwner& operator=(const ConnectionOwner&) = delete;
  ~ConnectionOwner() {
    if (EventLoop::current() == loop) transport->close();
  }
};

void set_tcp_options(Socket& s, int family, const StreamOptions& options) {
  if (!is_tcp(family)) return;
  if (options.nodelay) s.set_nodelay();
  if (options.keepalive) s.set_keepalive();
}

Task<Streams> connect_each(std::vector<SocketAddress> addrs, ConnectOptions options) {
  HappyEyeballsOptions he;
  he.attempt_delay = options.happy_eyeballs_delay;
  he.connect_timeout = options.connect_timeout;
  Socket s = co_await connect_happy_eyeballs(std::move(addrs), he);
  set_tcp_options(s, s.local_address().family(), options);
  co_return make_streams(std::move(s), options);
}

}  // namespace

namespace internal {

// One connection's transport, protocol and reader state in one allocation
// (with one control block) instead of three. The protocol is a member, so
// the transport holds it without owning it; the protocol's own reader
// handle names the state without owning it either (the three live and die
// together). The stream handles given out own the block through aliases.
// A served connection's block is a ServerConnection, which adds the
// server's record of it to the same allocation.
class StreamTransport : public SocketTransport {
 public:
  StreamTransport(Socket sock, std::size_t limit) noexcept
      : SocketTransport(std::move(sock), protocol_),
        state_(limit),
        protocol_(
            StreamReader(std::shared_ptr<corio::internal::ReaderState>(std::shared_ptr<void>(), &state_), nullptr)) {}

  // A T (StreamTransport or a class derived from it) made with `args`
  // after the socket and the reader's limit, started.
  template <class T = StreamTransport, class... Args>
  static std::shared_ptr<T> create(Socket sock, const StreamOptions& options, Args&&... args) {
    if (options.limit == 0) throw ValueError("corio: StreamReader limit must be positive");
    const std::size_t low = checked_low_water(options.transport);
    auto t = std::make_shared<T>(std::move(sock), options.limit, std::forward<Args>(args)...);
    t->start(options.transport.high_water, low);
    return t;
  }

  corio::internal::ReaderState state_;
  StreamReaderProtocol protocol_;
};

}  // namespace internal

using internal::StreamTransport;

namespace {

// The streams over `transport`, owned through `owner` (which holds the
// transport): every handle is an alias of it, so none needs a second
// pointer pair or a block of its own.
Streams streams_of(StreamTransport& transport, const std::shared_ptr<ConnectionOwner>& owner) {
  std::shared_ptr<corio::internal::ReaderState> state(owner, &transport.state_);
  std::shared_ptr<StreamReaderProtocol> protocol(owner, &transport.protocol_);
  std::shared_ptr<WriteTransport> wt(owner, static_cast<WriteTransport*>(&transport));
  StreamReader reader(std::move(state), nullptr);
  StreamWriter writer(std::move(wt), std::move(protocol), reader);
  return Streams{std::move(reader), std::move(writer)};
}

}  // namespace

Streams make_streams(Socket sock, const StreamOptions& options) {
  EventLoop& loop = current_loop();
  if (!sock.is_open()) throw ValueError("corio::net: SocketTransport over a closed socket");
  const std::shared_ptr<StreamTransport> transport = StreamTransport::create(std::move(sock), options);
  const auto owner = std::make_shared<ConnectionOwner>(transport, &loop);
  return streams_of(*transport, owner);
}

// The public functions below are plain functions that hand named values to
// coroutines; options come by const reference and are copied (see the
// header on g++ 12 and default arguments).
namespace {

Task<Streams> open_connection_impl(std::string host, std::uint16_t port, ConnectOptions options) {
  std::vector<SocketAddress> addrs =
      co_await resolve(std::move(host), port, options.family, SOCK_STREAM, options.resolve_timeout);
  addrs = interleave_addresses(std::move(addrs), options.interleave);
  co_return co_await connect_each(std::move(addrs), std::move(options));
}

}  // namespace

Task<Streams> open_connection(std::string host, std::uint16_t port, const ConnectOptions& options) {
  return open_connection_impl(std::move(host), port, options);
}

Task<Streams> open_connection(std::string host, std::uint16_t port) {
  return open_connection_impl(std::move(host), port, ConnectOptions());
}

Task<Streams> open_connection(std::vector<SocketAddress> addresses, const ConnectOptions& options) {
  return connect_each(std::move(addresses), options);
}

Task<Streams> open_connection(std::vector<SocketAddress> addresses) {
  return connect_each(std::move(addresses), ConnectOptions());
}

Task<Streams> open_unix_connection(std::string path) { return open_unix_connection(std::move(path), ConnectOptions()); }

Task<Streams> open_unix_connection(std::string path, const ConnectOptions& options) {
  std::vector<SocketAddress> addrs{SocketAddress::unix_path(path)};
  return connect_each(std::move(addrs), options);
}

// ---- Server ----

namespace internal {

struct ServerState;

// One accepted connection: its transport, protocol and reader state (the
// StreamTransport it is), its streams (which the handler gets by
// reference), a link in the server's list, and the handler task's done
// hook, all in one allocation. The streams own the block they are in, so
// it stays while the handler runs; the handler task's end runs the cleanup
// serve_one's frame used to do (close the writer, or abort it for a
// cancelled handler; report an escaped exception) from the hook, and lets
// the streams go, so a connection holds no coroutine frame of the server's
// own and no map entry. The block itself goes once the transport has
// closed and nobody else holds a handle.
// Its link in the server's list and the task's done hook are bases, so
// each finds the connection without a pointer to it.
struct ServerLink : corio::internal::ListNode {};
struct ServerDone : corio::internal::DoneWaiter {};
class ServerConnection final : public StreamTransport,
                               public ServerLink,
                               public ServerDone,
                               public corio::internal::TaskNameSource {
 public:
  ServerConnection(Socket sock, std::size_t limit, ServerState* s) noexcept
      : StreamTransport(std::move(sock), limit), st(s) {
    on_done = &ServerConnection::done;
  }
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;
  // The streams are gone by now: let_go() took them (they own this block).
  ~ServerConnection() override {}

  // Makes the streams over this block (after make_shared: they hold it).
  // Call it once, and let_go() once after it.
  void make_streams_here(const std::shared_ptr<ServerConnection>& self) {
    std::shared_ptr<corio::internal::ReaderState> state(self, &state_);
    std::shared_ptr<StreamReaderProtocol> protocol(self, &protocol_);
    std::shared_ptr<WriteTransport> wt(self, static_cast<WriteTransport*>(this));
    new (&reader) StreamReader(std::move(state), nullptr);
    try {
      new (&writer) StreamWriter(std::move(wt), std::move(protocol), reader);
    } catch (...) {
      std::destroy_at(&reader);
      throw;
    }
  }
  // Drops the streams (and with them this block's hold on itself): `this`
  // may be gone when it returns.
  void let_go() noexcept {
    StreamReader r = std::move(reader);
    StreamWriter w = std::move(writer);
    std::destroy_at(&writer);
    std::destroy_at(&reader);
    // r and w go last.
  }

  static void done(corio::internal::DoneWaiter* w) noexcept;
  // "<task_name>:<peer address>", asked of the socket when someone wants
  // it (a debug report, a task listing), not built for every connection.
  std::string task_name() const override;

  // The server, kept alive while it has connections (ServerState::self):
  // a plain pointer here rather than a pointer pair in every connection.
  // Null once done() ran.
  ServerState* st;
  // Made by make_streams_here(), ended by let_go().
  union {
    StreamReader reader;
  };
  union {
    StreamWriter writer;
  };
  TaskRef task;
};

struct ServerState : std::enable_shared_from_this<ServerState> {
  ConnectionHandler handler;
  ServerOptions options;
  EventLoop* loop = nullptr;
  std::vector<Socket> listeners;
  std::vector<SocketAddress> addresses;
  corio::internal::IntrusiveList<ServerLink> connections;
  // The state itself while `connections` is not empty: the connections
  // point at it without owning it (ServerConnection::st).
  std::shared_ptr<ServerState> self;
  bool serving = true;
  Event idle;    // set once closed with no handler running
  Event closed;  // set by close()

  void update_idle() {
    if (!serving && connections.empty()) idle.set();
  }

  void close() {
    if (!serving) return;
    serving = false;
    for (Socket& l : listeners) l.close();  // accept loops wake and end
    addresses.clear();
    closed.set();
    update_idle();
  }

  // Cancels every running handler.
  void cancel_handlers(const std::string& message) {
    std::vector<TaskRef> tasks;
    tasks.reserve(connections.size());
    connections.for_each([&](ServerLink* c) { tasks.push_back(static_cast<ServerConnection*>(c)->task); });
    for (TaskRef& t : tasks) t.cancel(message);
  }

  void report(std::string message, std::exception_ptr e, std::string task_name = {}) {
    loop->call_exception_handler(ErrorContext{std::move(message), std::move(e), std::move(task_name)});
  }

  // Serves `sock`, accepted by a listener of address family `family`.
  void spawn(Socket sock, int family);
};

std::string ServerConnection::task_name() const {
  std::string name = st->options.task_name;
  const std::any peer = get_extra_info("peername");
  if (const auto* a = std::any_cast<SocketAddress>(&peer)) name += ":" + a->to_string();
  return name;
}

void ServerConnection::done(corio::internal::DoneWaiter* w) noexcept {
  ServerConnection* c = static_cast<ServerConnection*>(static_cast<ServerDone*>(w));
  try {
    if (c->task.cancelled()) {
      c->abort();
    } else if (std::exception_ptr e = c->task.exception()) {
      c->st->report("corio::net: unhandled exception in a connection handler", e, c->task.get_name());
      c->writer.close();
    } else {
      c->writer.close();
    }
  } catch (...) {
    // No memory to report or close gracefully: the streams' last handles
    // go below, which closes the connection anyway.
  }
  // The task may outlive this record (someone holds a handle to it): it
  // keeps its name as a string from here on.
  try {
    c->task.set_name(c->task_name());
  } catch (...) {
  }
  c->task.base()->set_name_source(nullptr);
  c->task = TaskRef();
  ServerState* st = c->st;
  c->st = nullptr;
  st->connections.erase(c);
  // The last connection lets the state go, once done with it here.
  std::shared_ptr<ServerState> keep = st->connections.empty() ? std::move(st->self) : nullptr;
  c->let_go();  // `c` may be gone from here on
  st->update_idle();
}

}  // namespace internal

namespace {

using internal::ServerConnection;
using internal::ServerState;

Task<void> accept_loop(std::shared_ptr<ServerState> st, std::size_t i) {
  const int family = st->addresses[i].family();  // an accepted socket's too: no getsockname per connection
  while (st->serving) {
    Socket conn;
    try {
      conn = co_await st->listeners[i].accept();
    } catch (const ClosedResourceError&) {
      co_return;  // the server was closed
    } catch (const OSError&) {
      // EMFILE, ENFILE, ENOBUFS, ...: report, breathe, go on.
      st->report("corio::net: accept failed; pausing before accepting again", std::current_exception());
      conn = Socket();
    }
    if (!conn.is_open()) {
      co_await sleep(st->options.accept_backoff);
      continue;
    }
    if (!st->serving) co_return;
    st->spawn(std::move(conn), family);
  }
}

}  // namespace

void internal::ServerState::spawn(Socket sock, int family) {
  try {
    set_tcp_options(sock, family, options);
  } catch (const OSError&) {
    // The peer already left; the handler will find out.
  }
  // A served connection's handles own its block directly, with no
  // ConnectionOwner (48 bytes) to close it when the last one goes: the
  // handler's end closes it (ServerConnection::done), and so does the
  // catch below when the handler never starts.
  std::shared_ptr<ServerConnection> c;
  bool streams_made = false;
  try {
    c = StreamTransport::create<ServerConnection>(std::move(sock), options, this);
    c->make_streams_here(c);
    streams_made = true;
    TaskHandle<void> h = create_task(*loop, handler(c->reader, c->writer));
    c->task = h;
    h.base()->set_name_source(c.get());
  } catch (...) {
    // The handler threw before its coroutine started, or no memory: this
    // connection is dropped, the others go on.
    if (c) {
      c->abort();
      c->task = TaskRef();
      c->st = nullptr;
      if (streams_made) c->let_go();
    }
    report("corio::net: could not start a connection handler", std::current_exception());
    return;
  }
  c->task.base()->add_waiter(static_cast<ServerDone*>(c.get()));
  if (!self) self = shared_from_this();  // no allocation: a count
  connections.push_back(c.get());
}

namespace {

Task<void> wait_idle(std::shared_ptr<ServerState> st) { co_await st->idle.wait(); }

void set_v6only(Socket& s) { s.set_option(IPPROTO_IPV6, IPV6_V6ONLY, 1); }

// `a` with its port set to `port` (an IP address).
SocketAddress with_port(SocketAddress a, std::uint16_t port) {
  if (a.family() == AF_INET) reinterpret_cast<sockaddr_in*>(a.get())->sin_port = htons(port);
  if (a.family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(a.get())->sin6_port = htons(port);
  return a;
}

// Whether `e`, binding the IPv6 wildcard address for host "", means the
// machine has no IPv6: that family is then left out, as getaddrinfo's
// AI_ADDRCONFIG would.
bool no_ipv6(const OSError& e) { return e.code() == EAFNOSUPPORT || e.code() == EADDRNOTAVAIL; }

// Binds and listens on each address. With port 0 and several addresses,
// the second and later ones take the port the kernel gave the first.
void bind_all(ServerState& st, const std::vector<SocketAddress>& addrs, bool ipv6_optional) {
  std::uint16_t shared_port = 0;
  for (const SocketAddress& requested : addrs) {
    const bool tcp = is_tcp(requested.family());
    const SocketAddress a = tcp && shared_port != 0 ? with_port(requested, shared_port) : requested;
    Socket s;
    try {
      s = Socket::open(a.family(), SOCK_STREAM);
      if (tcp) {
        if (st.options.reuse_address) s.set_reuse_address();
        if (st.options.reuse_port) s.set_reuse_port();
        if (a.family() == AF_INET6) set_v6only(s);
      }
      s.bind(a);
    } catch (const OSError& e) {
      if (ipv6_optional && a.family() == AF_INET6 && no_ipv6(e)) continue;
      throw;
    }
    s.listen(st.options.backlog);
    SocketAddress bound = s.local_address();
    if (tcp && requested.port() == 0 && shared_port == 0) shared_port = bound.port();
    st.addresses.push_back(bound);
    st.listeners.push_back(std::move(s));
  }
}

Server start_listening(std::shared_ptr<ServerState> st, const std::vector<SocketAddress>& addrs,
                       bool ipv6_optional = false) {
  // The port the kernel picks for the first socket may be taken on
  // another family: pick again, a few times.
  const bool shared_pick = addrs.size() > 1 && addrs.front().port() == 0;
  constexpr int kTries = 8;
  for (int attempt = 1;; ++attempt) {
    try {
      bind_all(*st, addrs, ipv6_optional);
      break;
    } catch (const OSError& e) {
      st->listeners.clear();  // closes what was bound
      st->addresses.clear();
      if (!(shared_pick && e.code() == EADDRINUSE && attempt < kTries)) throw;
    }
  }
  if (st->listeners.empty()) throw OSError(EADDRNOTAVAIL, "corio::net: start_server: no address to listen on");
  Server server(st);  // closes the listeners if what follows throws
  for (std::size_t i = 0; i < st->listeners.size(); ++i) {
    create_task(*st->loop, accept_loop(st, i), st->options.task_name + ".accept");
  }
  return server;
}

// Host "": the wildcard address of each family `family` allows.
std::vector<SocketAddress> wildcard_addresses(int family, std::uint16_t port) {
  std::vector<SocketAddress> out;
  if (family == AF_UNSPEC || family == AF_INET) out.push_back(SocketAddress::ip("0.0.0.0", port));
  if (family == AF_UNSPEC || family == AF_INET6) out.push_back(SocketAddress::ip("::", port));
  if (out.empty())
    throw std::invalid_argument("corio::net: start_server: family is not AF_INET, AF_INET6 or AF_UNSPEC");
  return out;
}

std::shared_ptr<ServerState> new_state(ConnectionHandler handler, const ServerOptions& options) {
  if (!handler) throw std::invalid_argument("corio::net: start_server without a handler");
  auto st = std::make_shared<ServerState>();
  st->handler = std::move(handler);
  st->options = options;
  st->loop = &current_loop();
  return st;
}

}  // namespace

namespace {

Task<Server> start_server_impl(std::shared_ptr<ServerState> st, std::string host, std::uint16_t port) {
  if (host.empty()) {
    // Leave IPv6 out when the machine has none, unless asked for it alone.
    co_return start_listening(st, wildcard_addresses(st->options.family, port), st->options.family == AF_UNSPEC);
  }
  std::vector<SocketAddress> addrs =
      co_await resolve(std::move(host), port, st->options.family, SOCK_STREAM, std::chrono::seconds(10));
  co_return start_listening(std::move(st), addrs);
}

Task<Server> start_unix_server_impl(std::shared_ptr<ServerState> st, std::string path) {
  struct stat sb;
  if (::stat(path.c_str(), &sb) == 0 && S_ISSOCK(sb.st_mode)) ::unlink(path.c_str());
  co_return start_listening(std::move(st), {SocketAddress::unix_path(path)});
}

}  // namespace

Task<Server> start_server(ConnectionHandler handler, std::string host, std::uint16_t port,
                          const ServerOptions& options) {
  auto st = new_state(std::move(handler), options);
  return start_server_impl(std::move(st), std::move(host), port);
}

Task<Server> start_server(ConnectionHandler handler, std::string host, std::uint16_t port) {
  return start_server(std::move(handler), std::move(host), port, ServerOptions());
}

Task<Server> start_unix_server(ConnectionHandler handler, std::string path) {
  return start_unix_server(std::move(handler), std::move(path), ServerOptions());
}

Task<Server> start_unix_server(ConnectionHandler handler, std::string path, const ServerOptions& options) {
  auto st = new_state(std::move(handler), options);
  return start_unix_server_impl(std::move(st), std::move(path));
}

Server& Server::operator=(Server&& o) noexcept {
  if (this != &o) {
    if (s_ && EventLoop::current() == s_->loop) s_->close();
    s_ = std::move(o.s_);
  }
  return *this;
}

Server::~Server() {
  if (s_ && EventLoop::current() == s_->loop) s_->close();
}

void Server::close() {
  if (s_) s_->close();
}

bool Server::is_serving() const { return s_ && s_->serving; }

Task<void> Server::wait_closed() {
  if (!s_) co_return;
  co_await wait_idle(s_);
}

Task<void> Server::shutdown(std::chrono::nanoseconds grace) {
  if (!s_) co_return;
  std::shared_ptr<ServerState> st = s_;
  st->close();
  bool expired = false;
  try {
    co_await timeout(grace, wait_idle(st));
  } catch (const TimeoutError&) {
    expired = true;
  } catch (const CancelledError&) {
    st->cancel_handlers({});
    throw;
  }
  if (!expired) co_return;
  st->cancel_handlers("server shutdown");
  co_await wait_idle(st);
}

Task<void> Server::serve_forever() {
  if (!s_ || !s_->serving) throw RuntimeError("corio::net: serve_forever() on a closed server");
  std::shared_ptr<ServerState> st = s_;
  try {
    co_await st->closed.wait();
  } catch (const CancelledError&) {
    st->close();
    throw;
  }
}

std::vector<SocketAddress> Server::sockets() const { return s_ ? s_->addresses : std::vector<SocketAddress>{}; }

std::uint16_t Server::port() const { return s_ && !s_->addresses.empty() ? s_->addresses.front().port() : 0; }

std::size_t Server::active_connections() const { return s_ ? s_->connections.size() : 0; }

}  // namespace corio::net
