// MultiLoopServer: several loops on several threads sharing one port.
// The server side runs on the server's own threads; the tests drive it
// from the test thread with blocking sockets (or a client loop of their
// own), so they also check that nothing (thread, fd, signal handler) is
// left behind.
#include "corio/net/multi_loop.h"

#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/net/socket.h"
#include "corio/net/streams.h"
#include "corio/net/testing/loopback.h"
#include "gtest/gtest.h"

namespace {

using corio::StreamReader;
using corio::StreamWriter;
using corio::Task;
using corio::net::MultiLoopOptions;
using corio::net::MultiLoopServer;
using namespace std::chrono_literals;

// Entries in a /proc/self directory (fds or threads); the same bias every
// call (the directory's own fd while it is read).
std::size_t count_entries(const char* dir) {
  DIR* d = ::opendir(dir);
  if (d == nullptr) return 0;
  std::size_t n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}
std::size_t open_fds() { return count_entries("/proc/self/fd"); }
std::size_t threads() { return count_entries("/proc/self/task"); }

std::uint64_t sum(const std::vector<std::uint64_t>& v) { return std::accumulate(v.begin(), v.end(), std::uint64_t{0}); }

using corio::net::testing::echo_lines;

MultiLoopOptions loops(std::size_t n) {
  MultiLoopOptions o;
  o.loops = n;
  return o;
}

// A blocking client socket connected to 127.0.0.1:port (-1 on failure).
int connect_blocking(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};  // a bound on every read: a broken server fails, not hangs
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads until `n` bytes or end of stream / error; returns what came.
std::string read_blocking(int fd, std::size_t n) {
  std::string out;
  char buf[256];
  while (out.size() < n) {
    const ssize_t k = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (k <= 0) break;
    out.append(buf, static_cast<std::size_t>(k));
  }
  return out;
}

// One client on the client loop: connect, send a line, read it back.
Task<bool> echo_once(std::uint16_t port, int i) {
  corio::net::Socket s = corio::net::Socket::open(AF_INET, SOCK_STREAM);
  const corio::net::SocketAddress addr = corio::net::SocketAddress::ip("127.0.0.1", port);
  co_await s.connect(addr);
  const std::string line = "hello " + std::to_string(i) + "\n";
  co_await s.send_all(line);
  std::string got;
  char buf[64];
  while (got.size() < line.size()) {
    const std::size_t n = co_await s.recv(buf);
    if (n == 0) break;
    got.append(buf, n);
  }
  co_return got == line;
}

// `total` clients, `batch` at a time; the number answered correctly.
Task<int> echo_many(std::uint16_t port, int total, int batch) {
  int ok = 0;
  for (int start = 0; start < total; start += batch) {
    std::vector<Task<bool>> clients;
    for (int i = start; i < std::min(total, start + batch); ++i) clients.push_back(echo_once(port, i));
    std::vector<bool> results = co_await corio::gather(std::move(clients));
    for (bool r : results) ok += r ? 1 : 0;
  }
  co_return ok;
}

TEST(MultiLoopServerTest, TwoLoopsAnswerEveryConnection) {
  MultiLoopServer server = MultiLoopServer::start(echo_lines, "127.0.0.1", 0, loops(2));
  ASSERT_EQ(server.loops(), 2u);
  const int answered = corio::run(echo_many(server.port(), 200, 50));
  EXPECT_EQ(answered, 200);
  server.stop();
  server.wait();
  // Every connection was taken by exactly one loop.
  EXPECT_EQ(sum(server.connections_per_loop()), 200u);
}

TEST(MultiLoopServerTest, EveryLoopAcceptsOnTheSharedPort) {
  // Port 0: the first loop picks the port, the others bind it. The kernel
  // spreads connections by a hash of their addresses; over 150 connections
  // a loop that listens on the port gets some (the odds of one getting none
  // are about 1e-26).
  MultiLoopServer server = MultiLoopServer::start(echo_lines, "127.0.0.1", 0, loops(3));
  ASSERT_NE(server.port(), 0);
  ASSERT_EQ(server.sockets().size(), 1u);
  EXPECT_EQ(server.sockets().front().port(), server.port());
  EXPECT_EQ(corio::run(echo_many(server.port(), 150, 50)), 150);
  server.stop();
  server.wait();
  const std::vector<std::uint64_t> per_loop = server.connections_per_loop();
  ASSERT_EQ(per_loop.size(), 3u);
  for (std::size_t i = 0; i < per_loop.size(); ++i) EXPECT_GT(per_loop[i], 0u) << "loop " << i;
}

TEST(MultiLoopServerTest, StopFromAnotherThreadLeavesNoThreadOrFd) {
  const std::size_t fds0 = open_fds();
  const std::size_t threads0 = threads();
  {
    MultiLoopOptions options = loops(2);
    options.grace = 50ms;
    MultiLoopServer server = MultiLoopServer::start(echo_lines, "127.0.0.1", 0, options);
    EXPECT_GE(threads(), threads0 + 2);  // the loops (and their executors' workers)
    const int c = connect_blocking(server.port());
    ASSERT_GE(c, 0);
    ASSERT_EQ(::send(c, "a\n", 2, MSG_NOSIGNAL), 2);
    EXPECT_EQ(read_blocking(c, 2), "a\n");
    std::thread stopper([&server] { server.stop(); });
    server.wait();
    stopper.join();
    EXPECT_TRUE(server.stopping());
    // The handler, suspended in readline, was cancelled when the grace
    // period ran out, and its connection closed.
    EXPECT_EQ(read_blocking(c, 1), "");
    ::close(c);
    EXPECT_EQ(threads(), threads0);
  }
  EXPECT_EQ(open_fds(), fds0);
  EXPECT_EQ(threads(), threads0);
}

TEST(MultiLoopServerTest, StopLetsARunningHandlerFinish) {
  std::promise<void> started;
  std::future<void> handler_started = started.get_future();
  std::atomic<bool> once{false};
  auto slow_echo = [&started, &once](StreamReader& r, StreamWriter& w) -> Task<void> {
    std::string line = co_await r.readline();
    if (!once.exchange(true)) started.set_value();
    co_await corio::sleep(100ms);  // still running when stop() comes
    w.write(line);
    co_await w.drain();
  };
  MultiLoopOptions options = loops(2);
  options.grace = 30s;
  MultiLoopServer server = MultiLoopServer::start(slow_echo, "127.0.0.1", 0, options);
  const int c = connect_blocking(server.port());
  ASSERT_GE(c, 0);
  ASSERT_EQ(::send(c, "late\n", 5, MSG_NOSIGNAL), 5);
  handler_started.wait();
  server.stop();
  EXPECT_EQ(read_blocking(c, 5), "late\n");
  EXPECT_EQ(read_blocking(c, 1), "");  // then the server closes it
  server.wait();
  ::close(c);
}

TEST(MultiLoopServerTest, StopCancelsHandlersStillRunningAfterTheGracePeriod) {
  std::promise<void> started;
  std::future<void> handler_started = started.get_future();
  std::atomic<int> cancelled{0};
  auto waits_forever = [&started, &cancelled](StreamReader& r, StreamWriter& w) -> Task<void> {
    started.set_value();
    try {
      co_await r.readline();  // the client sends nothing
    } catch (const corio::CancelledError&) {
      cancelled.fetch_add(1);
      throw;
    }
  };
  MultiLoopServer server = MultiLoopServer::start(waits_forever, "127.0.0.1", 0, loops(2));
  const int c = connect_blocking(server.port());
  ASSERT_GE(c, 0);
  handler_started.wait();
  server.stop(10ms);
  server.wait();
  EXPECT_EQ(cancelled.load(), 1);
  EXPECT_EQ(read_blocking(c, 1), "");  // aborted
  ::close(c);
}

TEST(MultiLoopServerTest, SigtermStopsEveryLoopAndRestoresTheDisposition) {
  const std::size_t threads0 = threads();
  MultiLoopOptions options = loops(2);
  options.handle_signals = true;
  MultiLoopServer server = MultiLoopServer::start(echo_lines, "127.0.0.1", 0, options);
  EXPECT_FALSE(server.stopping());
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  server.wait();
  EXPECT_TRUE(server.stopping());
  EXPECT_EQ(threads(), threads0);
  struct sigaction now {};
  ASSERT_EQ(::sigaction(SIGTERM, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

TEST(MultiLoopServerTest, BindFailureIsATypedErrorAndLeavesNothing) {
  // A listener without SO_REUSEPORT holds the port: the first loop's bind fails.
  const int blocker = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(blocker, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(blocker, 1), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(blocker, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::uint16_t port = ntohs(a.sin_port);

  const std::size_t fds0 = open_fds();
  const std::size_t threads0 = threads();
  try {
    MultiLoopServer server = MultiLoopServer::start(echo_lines, "127.0.0.1", port, loops(2));
    FAIL() << "start() on a taken port returned";
  } catch (const corio::net::OSError& e) {
    EXPECT_EQ(e.code(), EADDRINUSE) << e.what();
  }
  EXPECT_EQ(threads(), threads0);
  EXPECT_EQ(open_fds(), fds0);
  ::close(blocker);
}

TEST(MultiLoopServerTest, AFailingSecondLoopStopsTheFirst) {
  const std::size_t fds0 = open_fds();
  const std::size_t threads0 = threads();
  MultiLoopOptions options = loops(3);
  options.on_loop_start = [](std::size_t i) {
    if (i == 1) throw std::runtime_error("loop 1 cannot start");
  };
  EXPECT_THROW(MultiLoopServer::start(echo_lines, "127.0.0.1", 0, options), std::runtime_error);
  EXPECT_EQ(threads(), threads0);
  EXPECT_EQ(open_fds(), fds0);  // loop 0's listener is closed too
}

TEST(MultiLoopServerTest, OnLoopStartRunsOnEachLoopsOwnThread) {
  std::mutex mu;
  std::vector<std::pair<std::size_t, std::thread::id>> seen;
  MultiLoopOptions options = loops(2);
  options.on_loop_start = [&](std::size_t i) {
    ASSERT_NE(corio::EventLoop::current(), nullptr);
    std::lock_guard<std::mutex> lock(mu);
    seen.emplace_back(i, std::this_thread::get_id());
  };
  MultiLoopServer server = MultiLoopServer::start(echo_lines, "127.0.0.1", 0, options);
  server.stop();
  server.wait();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_NE(seen[0].first, seen[1].first);
  EXPECT_NE(seen[0].second, seen[1].second);
  EXPECT_NE(seen[0].second, std::this_thread::get_id());
}

TEST(MultiLoopServerTest, AHandlerCanStopTheServer) {
  std::atomic<MultiLoopServer*> self{nullptr};
  auto stopper = [&self](StreamReader& r, StreamWriter& w) -> Task<void> {
    co_await r.readline();
    self.load()->stop();
  };
  MultiLoopServer server = MultiLoopServer::start(stopper, "127.0.0.1", 0, loops(2));
  self.store(&server);
  const int c = connect_blocking(server.port());
  ASSERT_GE(c, 0);
  ASSERT_EQ(::send(c, "stop\n", 5, MSG_NOSIGNAL), 5);
  server.wait();
  EXPECT_TRUE(server.stopping());
  ::close(c);
}

// After startup, a loop that ends with an error (here: a handler stopped
// its loop under the server) stops the other loops too, wait() rethrows
// that error, and no thread or socket is left behind.
TEST(MultiLoopServerTest, ALoopFailingAfterStartupStopsTheOthersAndWaitRethrows) {
  const std::size_t fds0 = open_fds();
  const std::size_t threads0 = threads();
  auto breaker = [](StreamReader& r, StreamWriter& w) -> Task<void> {
    co_await r.readline();
    corio::current_loop().stop();  // corio::run on this thread then fails
  };
  MultiLoopServer server = MultiLoopServer::start(breaker, "127.0.0.1", 0, loops(2));
  const int c = connect_blocking(server.port());
  ASSERT_GE(c, 0);
  ASSERT_EQ(::send(c, "break\n", 6, MSG_NOSIGNAL), 6);
  EXPECT_THROW(server.wait(), corio::RuntimeError);
  EXPECT_TRUE(server.stopping());
  server.wait();  // the error was reported once; waiting again is quiet
  ::close(c);
  EXPECT_EQ(threads(), threads0);
  EXPECT_EQ(open_fds(), fds0);
}

TEST(MultiLoopServerTest, BadArgumentsAreRejected) {
  EXPECT_THROW(MultiLoopServer::start(echo_lines, "127.0.0.1", 0, loops(0)), std::invalid_argument);
  EXPECT_THROW(MultiLoopServer::start(corio::net::ConnectionHandler(), "127.0.0.1", 0, loops(2)),
               std::invalid_argument);
}

TEST(MultiLoopServerTest, AnEmptyServerDoesNothing) {
  MultiLoopServer server;
  server.stop();
  server.wait();
  EXPECT_EQ(server.loops(), 0u);
  EXPECT_EQ(server.port(), 0);
  EXPECT_FALSE(server.stopping());
}

// start_server's own reuse_port option, which MultiLoopServer sets.
CO_TEST_REAL_CLOCK(StartServerReusePortTest, TwoServersShareAPortWithReusePort) {
  corio::net::ServerOptions options;
  options.reuse_port = true;
  corio::net::Server a = co_await corio::net::start_server(echo_lines, "127.0.0.1", 0, options);
  corio::net::Server b = co_await corio::net::start_server(echo_lines, "127.0.0.1", a.port(), options);
  CO_ASSERT_EQ(b.port(), a.port());
}

CO_TEST_REAL_CLOCK(StartServerReusePortTest, WithoutReusePortTheSecondBindFails) {
  corio::net::Server a = co_await corio::net::start_server(echo_lines, "127.0.0.1", 0);
  CO_ASSERT_THROW(co_await corio::net::start_server(echo_lines, "127.0.0.1", a.port()), corio::net::OSError);
}

}  // namespace
