// Sockets over loopback: TCP, Unix, UDP, resolution, and the typed errors.
#include "corio/net/socket.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/net/resolve.h"
#include "gtest/gtest.h"

namespace corio::net {
namespace {

using namespace std::chrono_literals;

Socket listener(const SocketAddress& at) {
  Socket s = Socket::open(at.family(), SOCK_STREAM);
  s.set_reuse_address();
  s.bind(at);
  s.listen();
  return s;
}

Task<std::string> read_all(Socket& s) {
  std::string out;
  char buf[7];  // small, so reads are both full and short
  for (;;) {
    const std::size_t n = co_await s.recv(buf);
    if (n == 0) co_return out;
    out.append(buf, n);
  }
}

CO_TEST(Socket, TcpConnectAcceptAndEchoOverLoopback) {
  Socket l = listener(SocketAddress::ip("127.0.0.1", 0));
  const SocketAddress at = l.local_address();
  EXPECT_NE(at.port(), 0);
  auto server = create_task([](Socket& l) -> Task<std::string> {
    Socket c = co_await l.accept();
    std::string got = co_await read_all(c);
    co_await c.send_all(got + "!");
    co_return got;
  }(l));
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(at);
  co_await c.send_all("hello, corio");
  c.shutdown_write();
  EXPECT_EQ(co_await read_all(c), "hello, corio!");
  EXPECT_EQ(co_await server, "hello, corio");
}

CO_TEST(Socket, Ipv6LoopbackWorks) {
  Socket l = listener(SocketAddress::ip("::1", 0));
  auto server = create_task([](Socket& l) -> Task<void> {
    Socket c = co_await l.accept();
    co_await c.send_all("v6");
  }(l));
  Socket c = Socket::open(AF_INET6, SOCK_STREAM);
  co_await c.connect(l.local_address());
  EXPECT_EQ(co_await read_all(c), "v6");
  co_await server;
}

CO_TEST(Socket, ConnectToAClosedPortIsConnectionRefused) {
  // A port that was just free: bind, note it, close.
  SocketAddress at;
  {
    Socket probe = listener(SocketAddress::ip("127.0.0.1", 0));
    at = probe.local_address();
  }
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  bool refused = false;
  try {
    co_await c.connect(at);
  } catch (const ConnectionRefusedError& e) {
    refused = e.code() == ECONNREFUSED;
  }
  EXPECT_TRUE(refused);
}

CO_TEST(Socket, PeerResetInTheMiddleOfAReadIsConnectionReset) {
  Socket l = listener(SocketAddress::ip("127.0.0.1", 0));
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  Socket peer = co_await l.accept();
  co_await peer.send_all("partial");
  // SO_LINGER 0: close sends RST, with unread data on our side too.
  linger lg{1, 0};
  ::setsockopt(peer.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  char unread = 'x';
  ::send(c.fd(), &unread, 1, MSG_NOSIGNAL);
  peer.close();
  bool reset = false;
  try {
    co_await read_all(c);
  } catch (const ConnectionResetError&) {
    reset = true;
  }
  EXPECT_TRUE(reset);
}

CO_TEST(Socket, WritingToAPeerThatWentAwayIsBrokenPipeNotSigpipe) {
  Socket l = listener(SocketAddress::ip("127.0.0.1", 0));
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  {
    Socket peer = co_await l.accept();
    linger lg{1, 0};
    ::setsockopt(peer.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }  // closed with RST
  co_await sleep(10ms);
  bool broken = false;
  try {
    const std::string chunk(64 * 1024, 'x');
    for (int i = 0; i < 100; ++i) co_await c.send_all(chunk);
  } catch (const ConnectionError&) {  // EPIPE or ECONNRESET, by timing
    broken = true;
  }
  EXPECT_TRUE(broken);
}

CO_TEST(Socket, HalfCloseLetsThePeerStillWrite) {
  Socket l = listener(SocketAddress::ip("127.0.0.1", 0));
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  Socket peer = co_await l.accept();
  c.shutdown_write();
  EXPECT_EQ(co_await read_all(peer), "");  // end of stream seen by the peer
  co_await peer.send_all("still here");
  peer.close();
  EXPECT_EQ(co_await read_all(c), "still here");
}

CO_TEST(Socket, CloseWhileATaskWaitsInRecvRaisesClosedResourceError) {
  Socket l = listener(SocketAddress::ip("127.0.0.1", 0));
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  Socket peer = co_await l.accept();
  auto reader = create_task([](Socket& s) -> Task<bool> {
    char b[16];
    try {
      co_await s.recv(b);
    } catch (const ClosedResourceError&) {
      co_return true;
    }
    co_return false;
  }(c));
  co_await sleep(10ms);
  c.close();
  EXPECT_TRUE(co_await reader);
}

CO_TEST(Socket, CancellingAnAcceptTakesNoConnection) {
  Socket l = listener(SocketAddress::ip("127.0.0.1", 0));
  // accept() is an awaiter, not a coroutine: a task of its own wraps it.
  auto waiting = create_task(co_invoke([&l]() -> Task<Socket> { co_return co_await l.accept(); }));
  co_await sleep(10ms);
  waiting.cancel();
  bool cancelled = false;
  try {
    co_await std::move(waiting);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  EXPECT_TRUE(cancelled);
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  Socket got = co_await l.accept();  // the connection is still there to take
  EXPECT_TRUE(got.is_open());
}

// recv, send, send_all and accept are awaiters (no coroutine frame): the
// cases below pin their waiting, cancelling and partial-write behaviour.

CO_TEST(Socket, CancellingARecvThatWaitsLosesNoByte) {
  Socket l = listener(SocketAddress::ip("127.0.0.1", 0));
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  Socket peer = co_await l.accept();
  char buf[16];
  auto waiting = create_task(co_invoke([&c, &buf]() -> Task<std::size_t> { co_return co_await c.recv(buf); }));
  co_await sleep(10ms);
  waiting.cancel();
  bool cancelled = false;
  try {
    co_await std::move(waiting);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  EXPECT_TRUE(cancelled);
  co_await peer.send_all("after");
  peer.close();
  EXPECT_EQ(co_await read_all(c), "after");
}

CO_TEST_REAL_CLOCK(Socket, ARecvThatCanFinishAtOnceReturnsItsBytesDespiteAPendingCancel) {
  Socket l = listener(SocketAddress::ip("127.0.0.1", 0));
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  Socket peer = co_await l.accept();
  co_await peer.send_all("ready");
  for (int i = 0; i < 5000 && !c.registration().readiness().readable(); ++i) co_await sleep(1ms);
  CO_ASSERT_TRUE(c.registration().readiness().readable());
  auto t = create_task(co_invoke([&c]() -> Task<std::string> {
    current_task().cancel();  // pending: raised at the next suspension point
    char buf[16];
    const std::size_t n = co_await c.recv(buf);
    co_return std::string(buf, n);
  }));
  EXPECT_EQ(co_await std::move(t), "ready");
}

CO_TEST(Socket, SendAllOfMoreThanTheSocketTakesWaitsForThePeerToRead) {
  Socket l = listener(SocketAddress::ip("127.0.0.1", 0));
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  Socket peer = co_await l.accept();
  std::string big(8 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>('a' + i % 26);
  auto reader = create_task(read_all(peer));
  co_await c.send_all(big);
  c.shutdown_write();
  EXPECT_TRUE(co_await std::move(reader) == big);
}

// A task in recv and another in send_all on one socket, both waiting: a
// report for both directions serves each (the reactor's two-waiter path).
CO_TEST(Socket, ARecvAndASendAllWaitingOnOneSocketBothFinish) {
  Socket l = listener(SocketAddress::ip("127.0.0.1", 0));
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  Socket peer = co_await l.accept();
  const std::string big(16 * 1024 * 1024, 'y');
  auto receiving = create_task(co_invoke([&c]() -> Task<std::string> {
    char buf[16];
    const std::size_t n = co_await c.recv(buf);
    co_return std::string(buf, n);
  }));
  auto sending = create_task(co_invoke([&c, &big]() -> Task<void> {
    co_await c.send_all(big);
    c.shutdown_write();
  }));
  co_await sleep(0ms);  // both tasks run to their waits
  EXPECT_FALSE(receiving.done());
  EXPECT_FALSE(sending.done());
  co_await peer.send_all("ping");
  auto draining = create_task(read_all(peer));
  EXPECT_EQ(co_await std::move(receiving), "ping");
  co_await std::move(sending);
  EXPECT_TRUE(co_await std::move(draining) == big);
}

CO_TEST(Socket, CancellingASendAllThatWaitsForRoomRaisesCancelledError) {
  Socket l = listener(SocketAddress::ip("127.0.0.1", 0));
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  Socket peer = co_await l.accept();  // never reads
  const std::string big(64 * 1024 * 1024, 'x');
  auto sending = create_task(co_invoke([&c, &big]() -> Task<void> { co_await c.send_all(big); }));
  co_await sleep(10ms);
  sending.cancel();
  bool cancelled = false;
  try {
    co_await std::move(sending);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(c.is_open());  // a prefix went out; the socket is still usable
}

CO_TEST(Socket, EmptyBuffersFinishAtOnceWithoutASystemCall) {
  Socket s = Socket::open(AF_INET, SOCK_STREAM);  // not even connected
  EXPECT_EQ(co_await s.recv(std::span<char>()), 0u);
  EXPECT_EQ(co_await s.send(std::span<const char>()), 0u);
  co_await s.send_all("");
}

CO_TEST(Socket, UnixDomainStreamSocket) {
  // Bazel's test directory is too long for sun_path (108 bytes).
  char dir[] = "/tmp/corio-XXXXXX";
  EXPECT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/s.sock";
  Socket l = listener(SocketAddress::unix_path(path));
  auto server = create_task([](Socket& l) -> Task<void> {
    Socket c = co_await l.accept();
    co_await c.send_all("over unix");
  }(l));
  Socket c = Socket::open(AF_UNIX, SOCK_STREAM);
  co_await c.connect(SocketAddress::unix_path(path));
  EXPECT_EQ(co_await read_all(c), "over unix");
  co_await server;
  ::unlink(path.c_str());
  ::rmdir(dir);
}

CO_TEST(Socket, UdpSendToAndRecvFrom) {
  Socket a = Socket::open(AF_INET, SOCK_DGRAM);
  a.bind(SocketAddress::ip("127.0.0.1", 0));
  Socket b = Socket::open(AF_INET, SOCK_DGRAM);
  b.bind(SocketAddress::ip("127.0.0.1", 0));
  const std::string msg = "datagram";
  co_await a.send_to(std::span<const char>(msg.data(), msg.size()), b.local_address());
  char buf[64];
  SocketAddress from;
  const std::size_t n = co_await b.recv_from(buf, &from);
  EXPECT_EQ(std::string(buf, n), "datagram");
  EXPECT_EQ(from.port(), a.local_address().port());
}

CO_TEST(Socket, OperationsOnAClosedSocketRaiseClosedResourceError) {
  Socket s = Socket::open(AF_INET, SOCK_STREAM);
  s.close();
  EXPECT_THROW(s.listen(), ClosedResourceError);
  char b[4];
  bool raised = false;
  try {
    co_await s.recv(b);
  } catch (const ClosedResourceError&) {
    raised = true;
  }
  EXPECT_TRUE(raised);
}

CO_TEST(Resolve, LocalhostResolvesToLoopback) {
  auto addrs = co_await resolve("localhost", 80, AF_INET);
  EXPECT_FALSE(addrs.empty());
  if (!addrs.empty()) {
    EXPECT_EQ(addrs.front().to_string(), "127.0.0.1:80");
  }
}

CO_TEST(Resolve, AnUnknownNameIsAGaiError) {
  bool failed = false;
  try {
    co_await resolve("no-such-host.invalid", 80);
  } catch (const GaiError& e) {
    failed = e.code() != 0;
  }
  EXPECT_TRUE(failed);
}

TEST(SocketAddress, ParsesAndPrintsIpv4Ipv6AndUnix) {
  EXPECT_EQ(SocketAddress::ip("10.1.2.3", 8080).to_string(), "10.1.2.3:8080");
  EXPECT_EQ(SocketAddress::ip("::1", 443).to_string(), "[::1]:443");
  EXPECT_EQ(SocketAddress::ip("[::1]", 443).port(), 443);
  EXPECT_EQ(SocketAddress::unix_path("/tmp/x.sock").to_string(), "/tmp/x.sock");
  EXPECT_THROW(SocketAddress::ip("example.com", 80), std::invalid_argument);
  EXPECT_THROW(SocketAddress::unix_path(std::string(200, 'x')), std::invalid_argument);
}

}  // namespace
}  // namespace corio::net
