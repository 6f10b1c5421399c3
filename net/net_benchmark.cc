// Benchmarks of corio's net module beside Boost.Asio 1.81 (C++20
// coroutines, use_awaitable): connections made, accepted and closed per
// second over 127.0.0.1, both single-threaded, in one binary.
//
//   bazel run -c opt //net:net_benchmark -- --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
//       --benchmark_enable_random_interleaving=true
//
// Scenarios (one connection per iteration, items/s = connections/s):
//  1. Socket level: a client socket connects, the listener accepts it, the
//     accepted socket is closed, then the client. One driver coroutine does
//     the four steps in turn.
//     BM_Socket_ConnectAcceptClose   corio::net::Socket open/connect,
//                                    listener accept(), close()
//     BM_Asio_ConnectAcceptClose     tcp::socket async_connect,
//                                    tcp::acceptor async_accept, close()
//  2. Server level: a server with a handler that returns at once, and a
//     client that connects and reads until the server's end of stream.
//     BM_Server_ConnectAcceptClose   corio::net::start_server (accept loop,
//                                    a named task per connection with its
//                                    StreamReader/StreamWriter); the client
//                                    a Socket
//     BM_Asio_ServerConnectAcceptClose  an acceptor loop that co_spawns a
//                                    session coroutine per connection that
//                                    returns at once (closing its socket);
//                                    the client a tcp::socket
//
// The accepted side closes first, so TIME_WAIT falls on the server's side
// and the client's ephemeral ports are not used up over a run.
//
// Conventions as loop/loop_benchmark.cc: one loop or io_context per run
// (concurrency hint 1 for Asio), the timing loop inside one driver
// coroutine, the real clock. TCP_NODELAY is not set on either side (no data
// is sent).
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>

#include "corio/loop/loop.h"
#include "corio/net/socket.h"
#include "corio/net/streams.h"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// Runs an Asio driver coroutine on `ctx` to completion, rethrowing failures.
void AsioRun(asio::io_context& ctx, asio::awaitable<void> driver) {
  std::exception_ptr failure;
  asio::co_spawn(ctx, std::move(driver), [&failure, &ctx](std::exception_ptr e) {
    failure = e;
    ctx.stop();  // the server's accept loop would keep run() going
  });
  ctx.run();
  ctx.restart();
  if (failure) std::rethrow_exception(failure);
}

// ---------------------------------------------------------------------------
// 1. Socket level.

corio::Task<void> SocketDriver(benchmark::State& state) {
  corio::net::Socket listener = corio::net::Socket::open(AF_INET, SOCK_STREAM);
  listener.set_reuse_address();
  listener.bind(corio::net::SocketAddress::ip("127.0.0.1", 0));
  listener.listen(1024);
  const corio::net::SocketAddress addr = listener.local_address();
  for (auto _ : state) {
    corio::net::Socket client = corio::net::Socket::open(AF_INET, SOCK_STREAM);
    co_await client.connect(addr);
    corio::net::Socket accepted = co_await listener.accept();
    accepted.close();
    client.close();
  }
}

void BM_Socket_ConnectAcceptClose(benchmark::State& state) {
  corio::EventLoop loop;
  corio::run_until_complete(loop, SocketDriver(state));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Socket_ConnectAcceptClose)->Unit(benchmark::kMicrosecond);

asio::awaitable<void> AsioSocketDriver(benchmark::State& state) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(ex, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  acceptor.listen(1024);
  const tcp::endpoint ep = acceptor.local_endpoint();
  for (auto _ : state) {
    tcp::socket client(ex);
    co_await client.async_connect(ep, asio::use_awaitable);
    tcp::socket accepted = co_await acceptor.async_accept(asio::use_awaitable);
    accepted.close();
    client.close();
  }
}

void BM_Asio_ConnectAcceptClose(benchmark::State& state) {
  asio::io_context ctx(1);
  AsioRun(ctx, AsioSocketDriver(state));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Asio_ConnectAcceptClose)->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------
// 2. Server level.

corio::Task<void> ReturnAtOnce(corio::StreamReader&, corio::StreamWriter&) { co_return; }

// Connects and reads until the server's end of stream.
corio::Task<void> ConnectUntilEof(const corio::net::SocketAddress& addr) {
  corio::net::Socket client = corio::net::Socket::open(AF_INET, SOCK_STREAM);
  co_await client.connect(addr);
  char buf[16];
  while (co_await client.recv(buf) != 0) {
  }
}

corio::Task<void> ServerDriver(benchmark::State& state) {
  corio::net::ServerOptions options;
  options.backlog = 1024;
  options.nodelay = false;
  corio::net::Server server = co_await corio::net::start_server(ReturnAtOnce, "127.0.0.1", 0, options);
  const corio::net::SocketAddress addr = server.sockets().front();
  for (auto _ : state) {
    co_await ConnectUntilEof(addr);
  }
  server.close();
  co_await server.wait_closed();
}

void BM_Server_ConnectAcceptClose(benchmark::State& state) {
  corio::EventLoop loop;
  corio::run_until_complete(loop, ServerDriver(state));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Server_ConnectAcceptClose)->Unit(benchmark::kMicrosecond);

asio::awaitable<void> AsioSession(tcp::socket s) { co_return; }

asio::awaitable<void> AsioAcceptLoop(tcp::acceptor& acceptor) {
  for (;;) {
    tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), AsioSession(std::move(s)), asio::detached);
  }
}

asio::awaitable<void> AsioServerDriver(benchmark::State& state, tcp::acceptor& acceptor) {
  auto ex = co_await asio::this_coro::executor;
  const tcp::endpoint ep = acceptor.local_endpoint();
  char buf[16];
  for (auto _ : state) {
    tcp::socket client(ex);
    co_await client.async_connect(ep, asio::use_awaitable);
    try {
      for (;;) co_await client.async_read_some(asio::buffer(buf), asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
      if (e.code() != asio::error::eof) throw;
    }
  }
}

void BM_Asio_ServerConnectAcceptClose(benchmark::State& state) {
  asio::io_context ctx(1);
  tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  acceptor.listen(1024);
  asio::co_spawn(ctx, AsioAcceptLoop(acceptor), asio::detached);
  AsioRun(ctx, AsioServerDriver(state, acceptor));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Asio_ServerConnectAcceptClose)->Unit(benchmark::kMicrosecond);

}  // namespace
