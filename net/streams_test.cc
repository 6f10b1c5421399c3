// open_connection / start_server over loopback TCP on real sockets.
#include "corio/net/streams.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <any>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "corio/loop/gather.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/timeout.h"
#include "corio/net/errors.h"
#include "corio/net/socket.h"
#include "corio/net/testing/loopback.h"
#include "corio/streams/errors.h"
#include "gtest/gtest.h"

namespace corio::net {
namespace {

using namespace std::chrono_literals;

using corio::net::testing::echo_lines;

CO_TEST_REAL_CLOCK(NetStreams, EchoRoundTripThroughStartServerAndOpenConnection) {
  Server server = co_await start_server(echo_lines, "127.0.0.1", 0);
  CO_ASSERT_NE(server.port(), 0);
  auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
  writer.write("hello\n");
  co_await writer.drain();
  CO_ASSERT_EQ(co_await reader.readline(), "hello\n");
  writer.write("second line\n");
  co_await writer.drain();
  CO_ASSERT_EQ(co_await reader.readline(), "second line\n");
  auto peer = std::any_cast<SocketAddress>(writer.get_extra_info("peername"));
  CO_ASSERT_EQ(peer.port(), server.port());
  writer.close();
  co_await writer.wait_closed();
  server.close();
  co_await server.wait_closed();
}

// One ConnectionResetError for sockets and in-memory streams: a reset
// socket's read raises corio::ConnectionResetError carrying ECONNRESET,
// the class streams code catches (it used to be a separate net:: class).
CO_TEST_REAL_CLOCK(NetStreams, PeerResetRaisesTheStreamsConnectionResetError) {
  Socket l = Socket::open(AF_INET, SOCK_STREAM);
  l.bind(SocketAddress::ip("127.0.0.1", 0));
  l.listen(8);
  auto [reader, writer] = co_await open_connection("127.0.0.1", l.local_address().port());
  Socket peer = co_await l.accept();
  linger lg{1, 0};  // close sends RST
  ::setsockopt(peer.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  peer.close();
  int code = 0;
  try {
    co_await reader.read();
  } catch (const corio::ConnectionResetError& e) {
    code = e.code();
  }
  CO_ASSERT_EQ(code, ECONNRESET);
  static_assert(std::is_same_v<corio::net::ConnectionResetError, corio::ConnectionResetError>);
}

CO_TEST_REAL_CLOCK(NetStreams, PeerHalfCloseIsSeenAsAtEof) {
  // The handler replies after reading everything, over the half-closed
  // connection.
  Server server = co_await start_server(
      [](StreamReader& r, StreamWriter& w) -> Task<> {
        std::string all = co_await r.read();
        CO_ASSERT_TRUE(r.at_eof());
        w.write("got " + std::to_string(all.size()));
        co_await w.drain();
      },
      "127.0.0.1", 0);
  auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
  writer.write("abcde");
  writer.write_eof();
  CO_ASSERT_EQ(co_await reader.read(), "got 5");
  CO_ASSERT_TRUE(reader.at_eof());
  co_await server.shutdown(1s);
}

CO_TEST_REAL_CLOCK(NetStreams, AClientThatNeverReadsMakesDrainWaitAndTheWriteBufferStaysBounded) {
  std::size_t max_buffered = 0;
  std::size_t written = 0;
  bool drain_blocked = false;
  Server server = co_await start_server(
      [&](StreamReader&, StreamWriter& w) -> Task<> {
        const std::string chunk(16 * 1024, 'x');
        for (;;) {
          w.write(chunk);
          written += chunk.size();
          max_buffered = std::max(max_buffered, w.transport().get_write_buffer_size());
          try {
            co_await timeout(std::chrono::milliseconds(200), w.drain());
          } catch (const TimeoutError&) {
            drain_blocked = true;
            co_return;
          }
        }
      },
      "127.0.0.1", 0);
  auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
  while (!drain_blocked) co_await sleep(10ms);
  // The kernel's buffers took some; the transport holds at most the
  // high-water mark plus one chunk.
  CO_ASSERT_LE(max_buffered, WriteTransport::kDefaultHighWater + 16 * 1024);
  CO_ASSERT_GT(written, max_buffered);
  co_await server.shutdown(1s);
}

// The handler task is named "<task_name>:<peer address>" (worked out when
// asked), and keeps that name after its connection is gone.
CO_TEST_REAL_CLOCK(NetStreams, TheHandlerTaskIsNamedAfterTheServerAndThePeer) {
  TaskRef handler_task;
  ServerOptions options;
  options.task_name = "echo";
  Server server = co_await start_server(
      [&](StreamReader& r, StreamWriter& w) -> Task<> {
        handler_task = current_task();
        w.write(current_task().get_name() + "\n");
        co_await r.read();
      },
      "127.0.0.1", 0, options);
  auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
  const std::any local = writer.transport().get_extra_info("sockname");
  const std::string expected = "echo:" + std::any_cast<SocketAddress>(local).to_string();
  CO_ASSERT_EQ(co_await reader.readline(), expected + "\n");
  writer.close();
  co_await timeout(5s, server.shutdown(5s));
  CO_ASSERT_TRUE(handler_task.done());
  CO_ASSERT_EQ(handler_task.get_name(), expected);
}

CO_TEST_REAL_CLOCK(NetStreams, ServerCloseWhileAClientIsConnected) {
  Server server = co_await start_server(echo_lines, "127.0.0.1", 0);
  const std::uint16_t port = server.port();
  auto [reader, writer] = co_await open_connection("127.0.0.1", port);
  writer.write("ping\n");
  CO_ASSERT_EQ(co_await reader.readline(), "ping\n");
  server.close();
  CO_ASSERT_FALSE(server.is_serving());
  CO_ASSERT_TRUE(server.sockets().empty());
  // The accepted connection still works ...
  writer.write("still here\n");
  CO_ASSERT_EQ(co_await reader.readline(), "still here\n");
  // ... new ones are refused.
  CO_ASSERT_THROW(co_await open_connection("127.0.0.1", port), ConnectionRefusedError);
  // wait_closed() returns once the handler ends with the connection.
  writer.close();
  co_await timeout(5s, server.wait_closed());
  CO_ASSERT_EQ(server.active_connections(), 0u);
}

CO_TEST_REAL_CLOCK(NetStreams, GracefulShutdownCancelsAHandlerStuckInReadAfterTheDeadline) {
  bool cancelled = false;
  bool started = false;
  Server server = co_await start_server(
      [&](StreamReader& r, StreamWriter&) -> Task<> {
        started = true;
        try {
          co_await r.read();
        } catch (const CancelledError&) {
          cancelled = true;
          throw;
        }
      },
      "127.0.0.1", 0);
  auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
  while (!started) co_await sleep(1ms);
  const auto t0 = std::chrono::steady_clock::now();
  co_await server.shutdown(50ms);
  const auto took = std::chrono::steady_clock::now() - t0;
  CO_ASSERT_TRUE(cancelled);
  CO_ASSERT_GE(took, 40ms);
  CO_ASSERT_EQ(server.active_connections(), 0u);
  // The client sees its connection aborted (EOF or reset).
  try {
    CO_ASSERT_EQ(co_await reader.read(), "");
  } catch (const ConnectionResetError&) {
  }
}

CO_TEST_REAL_CLOCK(NetStreams, GracefulShutdownLetsAHandlerFinishBeforeTheDeadline) {
  bool finished = false;
  Server server = co_await start_server(
      [&](StreamReader& r, StreamWriter& w) -> Task<> {
        co_await sleep(20ms);
        w.write("bye\n");
        finished = true;
      },
      "127.0.0.1", 0);
  auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
  co_await sleep(5ms);
  co_await server.shutdown(5s);
  CO_ASSERT_TRUE(finished);
  CO_ASSERT_EQ(co_await reader.readline(), "bye\n");
}

CO_TEST_REAL_CLOCK(NetStreams, DroppingTheLastHandlesClosesTheConnection) {
  bool started = false;
  std::string got;
  bool saw_eof = false;
  Server server = co_await start_server(
      [&](StreamReader& r, StreamWriter&) -> Task<> {
        started = true;
        got = co_await r.read();  // until end of stream
        saw_eof = r.at_eof();
      },
      "127.0.0.1", 0);
  {
    auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
    while (!started) co_await sleep(1ms);
    writer.write("bytes before the drop");
  }
  for (int i = 0; i < 5000 && !saw_eof; ++i) co_await sleep(1ms);
  CO_ASSERT_TRUE(saw_eof);
  CO_ASSERT_EQ(got, "bytes before the drop");
  co_await server.shutdown(5s);
}

// A served connection's transport, protocol and reader state are one
// block (make_streams); it is freed once the handler ended and the
// connection closed, and nothing of it is left (under asan a leak fails).
CO_TEST_REAL_CLOCK(NetStreams, AServedConnectionsObjectsAreFreedOnceItCloses) {
  std::weak_ptr<SocketTransport> served;
  Server server = co_await start_server(
      [&](StreamReader& r, StreamWriter& w) -> Task<> {
        served = dynamic_cast<SocketTransport&>(w.transport()).shared_from_this();
        w.write(co_await r.readline());
        co_await w.drain();
        co_await r.readline();  // "" at the client's EOF
      },
      "127.0.0.1", 0);
  {
    auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
    writer.write("one\n");
    CO_ASSERT_EQ(co_await reader.readline(), "one\n");
    CO_ASSERT_FALSE(served.expired());
    writer.close();
    co_await writer.wait_closed();
  }
  server.close();
  co_await timeout(5s, server.wait_closed());  // the handler has ended
  // connection_lost() comes from a loop callback after the close.
  for (int i = 0; i < 100 && !served.expired(); ++i) co_await yield_now();
  CO_ASSERT_TRUE(served.expired());
}

// A connection points at its server's state without owning it: the state
// keeps itself while it has connections, so a handler that outlives the
// Server handle (and the accept loops, which end at the close) still ends
// cleanly (under asan a use after free or a leak fails).
CO_TEST_REAL_CLOCK(NetStreams, AHandlerThatOutlivesItsServerHandleEndsCleanly) {
  bool finished = false;
  auto handler = [&](StreamReader& r, StreamWriter& w) -> Task<> {
    w.write(co_await r.readline());
    co_await w.drain();
    w.write(co_await r.readline());
    co_await w.drain();
    finished = true;
  };
  auto server = std::make_unique<Server>(co_await start_server(handler, "127.0.0.1", 0));
  auto [reader, writer] = co_await open_connection("127.0.0.1", server->port());
  writer.write("one\n");
  CO_ASSERT_EQ(co_await reader.readline(), "one\n");
  server.reset();                                     // closes it; the handler waits for its second line
  for (int i = 0; i < 10; ++i) co_await yield_now();  // the accept loops end
  writer.write("two\n");
  CO_ASSERT_EQ(co_await reader.readline(), "two\n");
  CO_ASSERT_EQ(co_await reader.readline(), "");  // the handler's end closed it
  CO_ASSERT_TRUE(finished);
}

CO_TEST_REAL_CLOCK(NetStreams, ConnectToAClosedPortIsConnectionRefused) {
  // A port that was just free: bind, note, close.
  std::uint16_t port;
  {
    Socket s = Socket::open(AF_INET, SOCK_STREAM);
    s.bind(SocketAddress::ip("127.0.0.1", 0));
    port = s.local_address().port();
  }
  CO_ASSERT_THROW(co_await open_connection("127.0.0.1", port), ConnectionRefusedError);
}

CO_TEST_REAL_CLOCK(NetStreams, TwoHundredConcurrentConnectionsAllEchoCorrectly) {
  ServerOptions options;
  options.backlog = 512;
  Server server = co_await start_server(echo_lines, "127.0.0.1", 0, options);
  const std::uint16_t port = server.port();
  int ok = 0;
  auto client = [&](int i) -> Task<> {
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    for (int k = 0; k < 3; ++k) {
      const std::string line = "client " + std::to_string(i) + " line " + std::to_string(k) + "\n";
      writer.write(line);
      co_await writer.drain();
      CO_ASSERT_EQ(co_await reader.readline(), line);
    }
    writer.close();
    co_await writer.wait_closed();
    ++ok;
  };
  std::vector<TaskHandle<void>> tasks;
  for (int i = 0; i < 200; ++i) tasks.push_back(create_task(client(i)));
  for (auto& t : tasks) co_await t;
  CO_ASSERT_EQ(ok, 200);
  co_await server.shutdown(5s);
}

CO_TEST_REAL_CLOCK(NetStreams, UnixSocketEcho) {
  // Bazel's test directory is too long for sun_path (108 bytes).
  char dir[] = "/tmp/corio-XXXXXX";
  CO_ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/s.sock";
  Server server = co_await start_unix_server(echo_lines, path);
  auto [reader, writer] = co_await open_unix_connection(path);
  writer.write("over unix\n");
  CO_ASSERT_EQ(co_await reader.readline(), "over unix\n");
  writer.close();
  co_await server.shutdown(1s);
  ::unlink(path.c_str());
  ::rmdir(dir);
}

CO_TEST_REAL_CLOCK(NetStreams, AHandlerExceptionIsReportedAndTheServerGoesOn) {
  corio::testing::expect_loop_errors();
  int calls = 0;
  Server server = co_await start_server(
      [&](StreamReader& r, StreamWriter& w) -> Task<> {
        if (++calls == 1) throw std::runtime_error("boom");
        co_await echo_lines(r, w);
      },
      "127.0.0.1", 0);
  {
    auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
    CO_ASSERT_EQ(co_await reader.read(), "");  // closed by the server
  }
  auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
  writer.write("x\n");
  CO_ASSERT_EQ(co_await reader.readline(), "x\n");
  writer.close();
  co_await server.shutdown(1s);
}

// Not under the sanitizers: UBSan's vptr check needs descriptors of its own
// (it probes memory through a pipe) and fails when none are left.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
CO_TEST_REAL_CLOCK(NetStreams, AcceptFailingWithEmfileIsReportedAndTheServerKeepsServing) {
  std::vector<std::string> reports;
  current_loop().set_exception_handler([&](EventLoop&, const ErrorContext& c) { reports.push_back(c.message); });
  ServerOptions options;
  options.accept_backoff = 20ms;
  Server server = co_await start_server(echo_lines, "127.0.0.1", 0, options);
  const std::uint16_t port = server.port();

  // Use up the descriptors (under a lowered limit), keeping one for the
  // client: the server's accept then fails with EMFILE.
  rlimit saved;
  CO_ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = std::min<rlim_t>(saved.rlim_cur, 4096);
  CO_ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers;
  for (int fd; (fd = ::dup(0)) >= 0;) fillers.push_back(fd);
  CO_ASSERT_EQ(errno, EMFILE);
  ::close(fillers.back());
  fillers.pop_back();
  Socket client = Socket::open(AF_INET, SOCK_STREAM);
  co_await client.connect(SocketAddress::ip("127.0.0.1", port));
  for (int i = 0; i < 500 && reports.empty(); ++i) co_await sleep(1ms);
  const bool reported = !reports.empty();
  for (int fd : fillers) ::close(fd);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  CO_ASSERT_TRUE(reported);
  CO_ASSERT_TRUE(server.is_serving());

  // After the back-off the same connection is accepted and served.
  co_await client.send_all("after emfile\n");
  char buf[64];
  std::string got;
  while (got.find('\n') == std::string::npos) {
    const std::size_t n = co_await timeout(5s, client.recv(buf));
    CO_ASSERT_GT(n, 0u);
    got.append(buf, n);
  }
  CO_ASSERT_EQ(got, "after emfile\n");
  client.close();
  co_await server.shutdown(1s);
}
#endif

}  // namespace
}  // namespace corio::net
