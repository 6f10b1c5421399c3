// Robustness over real loopback sockets (the list in issue 18): each
// misbehaving peer or failure gets a typed error or a clean close, never a
// crash, hang, leak or unbounded buffer, and never delays other clients.
// Items the older tests already cover are not repeated here:
//   client that never reads   streams_test AClientThatNeverReadsMakesDrain...
//   handler cancelled mid-read streams_test GracefulShutdownCancelsAHandler...
//   server close with clients  streams_test ServerCloseWhileAClientIsConnected
//   connect to a closed port   streams_test, socket_test ConnectToAClosedPort...
//   client half-close          streams_test PeerHalfCloseIsSeenAsAtEof
// Running out of descriptors and 1,000 connections change RLIMIT_NOFILE and
// have binaries of their own (fd_exhaustion_test, many_connections_test).
#include <sys/socket.h>

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/executor.h"
#include "corio/loop/future.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/timeout.h"
#include "corio/net/errors.h"
#include "corio/net/resolve.h"
#include "corio/net/socket.h"
#include "corio/net/streams.h"
#include "corio/net/testing/loopback.h"
#include "corio/streams/errors.h"
#include "gtest/gtest.h"

namespace corio::net {
namespace {

using namespace std::chrono_literals;
using testing::blackhole;
using testing::Blackhole;
using testing::open_fd_count;

double since(TimePoint t0) { return std::chrono::duration<double>(current_loop().time() - t0).count(); }

using corio::net::testing::echo_lines;

// A connection error, from the socket or from a writer whose connection is
// gone (one class for both).
bool is_connection_error(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const ConnectionError&) {
    return true;
  } catch (...) {
    return false;
  }
}

// Closes `s` with an RST rather than a FIN (SO_LINGER 0).
void reset(Socket& s) {
  linger lg{1, 0};
  ::setsockopt(s.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  s.close();
}

// Waits (bounded) until `cond` holds.
template <class F>
Task<bool> eventually(F cond, std::chrono::milliseconds limit = 10s) {
  const auto t0 = current_loop().time();
  while (!cond()) {
    if (current_loop().time() - t0 > limit) co_return false;
    co_await sleep(1ms);
  }
  co_return true;
}

// A raw client connected to `port` on 127.0.0.1.
Task<Socket> raw_client(std::uint16_t port) {
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(SocketAddress::ip("127.0.0.1", port));
  co_return c;
}

// Checks that `server` still echoes a line for a new client.
Task<void> assert_still_serving(std::uint16_t port) {
  auto [reader, writer] = co_await open_connection("127.0.0.1", port);
  writer.write("still serving\n");
  co_await writer.drain();
  CO_ASSERT_EQ(co_await timeout(10s, reader.readline()), "still serving\n");
  writer.close();
}

CO_TEST_REAL_CLOCK(NetRobustness, PeerResetMidReadIsAConnectionErrorInTheHandler) {
  std::exception_ptr seen;
  std::string partial;
  bool reading = false;
  bool done = false;
  int connections = 0;
  Server server = co_await start_server(
      [&](StreamReader& r, StreamWriter& w) -> Task<> {
        if (++connections > 1) co_return co_await echo_lines(r, w);  // assert_still_serving
        reading = true;
        try {
          co_await r.readexactly(100);
        } catch (const IncompleteReadError& e) {
          partial = e.partial();
          seen = std::current_exception();
        } catch (...) {
          seen = std::current_exception();
        }
        done = true;
      },
      "127.0.0.1", 0);
  Socket c = co_await raw_client(server.port());
  CO_ASSERT_TRUE(co_await eventually([&] { return reading; }));
  co_await c.send_all("ten bytes!");
  reset(c);
  CO_ASSERT_TRUE(co_await eventually([&] { return done; }));
  CO_ASSERT_TRUE(is_connection_error(seen));
  CO_ASSERT_NO_FATAL_FAILURE(co_await assert_still_serving(server.port()));
  co_await server.shutdown(5s);
}

CO_TEST_REAL_CLOCK(NetRobustness, PeerResetMidWriteIsAConnectionErrorFromDrain) {
  std::exception_ptr seen;
  bool blocked = false;
  bool done = false;
  int connections = 0;
  Server server = co_await start_server(
      [&](StreamReader& r, StreamWriter& w) -> Task<> {
        if (++connections > 1) co_return co_await echo_lines(r, w);  // assert_still_serving
        const std::string chunk(16 * 1024, 'w');
        try {
          // Bounded: the peer reads nothing, so drain() blocks long before.
          for (int i = 0; i < 100000; ++i) {
            w.write(chunk);
            if (w.transport().get_write_buffer_size() > 0) blocked = true;
            co_await w.drain();
          }
        } catch (...) {
          seen = std::current_exception();
        }
        done = true;
      },
      "127.0.0.1", 0);
  Socket c = co_await raw_client(server.port());
  CO_ASSERT_TRUE(co_await eventually([&] { return blocked; }));
  reset(c);
  CO_ASSERT_TRUE(co_await eventually([&] { return done; }));
  CO_ASSERT_TRUE(is_connection_error(seen));
  CO_ASSERT_NO_FATAL_FAILURE(co_await assert_still_serving(server.port()));
  co_await server.shutdown(5s);
}

CO_TEST_REAL_CLOCK(NetRobustness, ServerHalfCloseLetsTheClientStillWrite) {
  std::string got_after_eof;
  bool handler_done = false;
  Server server = co_await start_server(
      [&](StreamReader& r, StreamWriter& w) -> Task<> {
        w.write("bye");
        w.write_eof();                      // the server is done writing, not reading
        got_after_eof = co_await r.read();  // until the client's EOF
        handler_done = true;
      },
      "127.0.0.1", 0);
  auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
  CO_ASSERT_EQ(co_await reader.read(), "bye");  // up to the server's EOF
  CO_ASSERT_TRUE(reader.at_eof());
  CO_ASSERT_FALSE(writer.is_closing());
  writer.write("late words");
  co_await writer.drain();
  writer.write_eof();
  CO_ASSERT_TRUE(co_await eventually([&] { return handler_done; }));
  CO_ASSERT_EQ(got_after_eof, "late words");
  co_await server.shutdown(5s);
}

CO_TEST_REAL_CLOCK(NetRobustness, ALineLongerThanTheLimitIsLimitOverrunAndTheConnectionGoesOn) {
  ServerOptions options;
  options.limit = 64;
  Server server = co_await start_server(
      [](StreamReader& r, StreamWriter& w) -> Task<> {
        for (;;) {
          std::string line;
          bool overrun = false;
          try {
            line = co_await r.readline();
          } catch (const LimitOverrunError&) {
            overrun = true;
          }
          if (overrun) {
            w.write("overrun\n");
          } else if (line.empty()) {
            break;
          } else {
            w.write("line:" + line);
          }
          co_await w.drain();
        }
      },
      "127.0.0.1", 0, options);
  auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
  const std::string request = std::string(1000, 'a') + "\nshort\n";
  writer.write(request);
  co_await writer.drain();
  CO_ASSERT_EQ(co_await timeout(10s, reader.readline()), "overrun\n");
  CO_ASSERT_EQ(co_await timeout(10s, reader.readline()), "line:short\n");
  writer.close();
  co_await server.shutdown(5s);
}

CO_TEST_REAL_CLOCK(NetRobustness, SilentAndOneByteASecondClientsDelayNoOne) {
  ServerOptions options;
  Server server = co_await start_server(echo_lines, "127.0.0.1", 0, options);
  const std::uint16_t port = server.port();
  // A client that connects and sends nothing.
  auto silent = co_await open_connection("127.0.0.1", port);
  // A client that sends "slow\n" one byte a second (about 5 s).
  bool slow_done = false;
  std::string slow_echo;
  auto slow = [&]() -> Task<> {
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    for (char ch : std::string("slow\n")) {
      writer.write(std::string(1, ch));
      co_await writer.drain();
      co_await sleep(1s);
    }
    slow_echo = co_await timeout(10s, reader.readline());
    slow_done = true;
  };
  TaskHandle<void> slow_task = create_task(slow());
  CO_ASSERT_TRUE(co_await eventually([&] { return server.active_connections() == 2; }));
  // Meanwhile a normal client gets 100 round trips done long before the
  // slow one has sent its line.
  const auto t0 = current_loop().time();
  auto [reader, writer] = co_await open_connection("127.0.0.1", port);
  for (int i = 0; i < 100; ++i) {
    const std::string line = "round trip " + std::to_string(i) + "\n";
    writer.write(line);
    co_await writer.drain();
    CO_ASSERT_EQ(co_await timeout(10s, reader.readline()), line);
  }
  const double took = since(t0);
  CO_ASSERT_FALSE(slow_done);
  CO_ASSERT_LT(took, 3.0);                        // generous: it takes milliseconds
  CO_ASSERT_EQ(server.active_connections(), 3u);  // the silent one is still there
  co_await timeout(20s, slow_task);
  CO_ASSERT_EQ(slow_echo, "slow\n");
  silent.writer.close();
  writer.close();
  co_await server.shutdown(5s);
}

CO_TEST_REAL_CLOCK(NetRobustness, AClientThatNeverReadsKeepsTheServerBufferAtTheWaterMarks) {
  // Small water marks: the handler's buffer never holds more than the
  // high-water mark plus the one write that crossed it.
  ServerOptions options;
  options.transport.high_water = 32 * 1024;
  options.transport.low_water = 8 * 1024;
  constexpr std::size_t kChunk = 4 * 1024;
  std::size_t max_buffered = 0;
  std::size_t written = 0;
  bool stuck = false;
  Server server = co_await start_server(
      [&](StreamReader&, StreamWriter& w) -> Task<> {
        const std::string chunk(kChunk, 'x');
        for (int i = 0; i < 100000; ++i) {
          w.write(chunk);
          written += chunk.size();
          max_buffered = std::max(max_buffered, w.transport().get_write_buffer_size());
          try {
            co_await timeout(300ms, w.drain());
          } catch (const TimeoutError&) {
            stuck = true;
            co_return;
          }
        }
      },
      "127.0.0.1", 0, options);
  Socket c = co_await raw_client(server.port());
  CO_ASSERT_TRUE(co_await eventually([&] { return stuck; }, 30s));
  CO_ASSERT_LE(max_buffered, 32u * 1024 + kChunk);
  CO_ASSERT_GT(written, max_buffered);  // the kernel took the rest
  co_await server.shutdown(5s);
}

CO_TEST_REAL_CLOCK(NetRobustness, CancellingAHandlerMidDrainAbortsItsConnection) {
  bool blocked = false;
  bool cancelled_in_drain = false;
  Server server = co_await start_server(
      [&](StreamReader&, StreamWriter& w) -> Task<> {
        const std::string chunk(16 * 1024, 'd');
        for (int i = 0; i < 100000; ++i) {
          w.write(chunk);
          if (w.transport().get_write_buffer_size() > 0) blocked = true;
          try {
            co_await w.drain();
          } catch (const CancelledError&) {
            cancelled_in_drain = true;
            throw;
          }
        }
      },
      "127.0.0.1", 0);
  const int fds_before = open_fd_count();
  Socket c = co_await raw_client(server.port());
  CO_ASSERT_TRUE(co_await eventually([&] { return blocked; }));
  co_await server.shutdown(50ms);  // the handler does not finish: cancelled
  CO_ASSERT_TRUE(cancelled_in_drain);
  CO_ASSERT_EQ(server.active_connections(), 0u);
  // The connection was aborted: the client reads what was sent, then an
  // end (EOF or reset), never a hang.
  char buf[64 * 1024];
  bool ended = false;
  try {
    for (int i = 0; i < 100000 && !ended; ++i) ended = co_await timeout(10s, c.recv(buf)) == 0;
  } catch (const net::ConnectionResetError&) {
    ended = true;
  }
  CO_ASSERT_TRUE(ended);
  c.close();
  // The server's side of the connection is closed: only its listener is
  // gone too (shutdown closed it), so fewer than before.
  CO_ASSERT_EQ(open_fd_count(), fds_before - 1);
}

CO_TEST_REAL_CLOCK(NetRobustness, ConnectToABlackholedAddressTimesOut) {
  Blackhole bh = co_await blackhole(AF_INET);
  ConnectOptions options;
  options.connect_timeout = 200ms;
  const int fds_before = open_fd_count();
  const auto t0 = current_loop().time();
  CO_ASSERT_THROW(co_await open_connection("127.0.0.1", bh.address.port(), options), TimeoutError);
  CO_ASSERT_GE(since(t0), 0.2);
  CO_ASSERT_LT(since(t0), 30.0);
  CO_ASSERT_EQ(open_fd_count(), fds_before);  // the attempt's socket is closed
}

CO_TEST_REAL_CLOCK(NetRobustness, AnUnresolvableNameIsAGaiErrorFromOpenConnection) {
  int code = 0;
  try {
    co_await open_connection("no-such-host.invalid", 80);
  } catch (const GaiError& e) {
    code = e.code();
  }
  CO_ASSERT_NE(code, 0);
}

// Resolution runs on the loop's executor. With its one worker held by
// another job, the lookup cannot start, so the resolve timeout expires
// deterministically whatever the machine's resolver does.
CO_TEST_REAL_CLOCK(NetRobustness, ResolutionThatTakesTooLongIsTimeoutError) {
  current_loop().set_default_executor_workers(1);
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  auto hold = [released] { released.wait(); };
  Future<void> held = to_thread(hold);
  ConnectOptions options;
  options.resolve_timeout = 100ms;
  const auto t0 = current_loop().time();
  CO_ASSERT_THROW(co_await open_connection("localhost", 80, options), TimeoutError);
  CO_ASSERT_GE(since(t0), 0.1);
  release->set_value();
  co_await held;
}

CO_TEST_REAL_CLOCK(NetRobustness, ServerShutdownWithManyClientsConnectedEndsEveryConnection) {
  Server server = co_await start_server(echo_lines, "127.0.0.1", 0);
  std::vector<Streams> clients;
  for (int i = 0; i < 20; ++i) {
    Streams s = co_await open_connection("127.0.0.1", server.port());
    s.writer.write("hi\n");
    CO_ASSERT_EQ(co_await timeout(10s, s.reader.readline()), "hi\n");
    clients.push_back(std::move(s));
  }
  CO_ASSERT_EQ(server.active_connections(), 20u);
  co_await server.shutdown(50ms);  // the handlers wait in readline: cancelled
  CO_ASSERT_EQ(server.active_connections(), 0u);
  for (Streams& s : clients) {
    bool ended = false;
    try {
      ended = (co_await timeout(10s, s.reader.read())).empty();
    } catch (const net::ConnectionResetError&) {
      ended = true;
    }
    CO_ASSERT_TRUE(ended);
  }
}

}  // namespace
}  // namespace corio::net
