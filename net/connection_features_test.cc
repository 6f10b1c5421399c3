// open_connection and start_server options over loopback: dual-stack
// listening on host "", a given address list, keepalive, serve_forever.
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <vector>

#include "corio/loop/sleep.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/timeout.h"
#include "corio/net/errors.h"
#include "corio/net/streams.h"
#include "corio/net/testing/loopback.h"
#include "gtest/gtest.h"

namespace corio::net {
namespace {

using namespace std::chrono_literals;
using testing::has_ipv6_loopback;
using testing::refusing_address;

// Replies with the family the connection arrived on, then the line.
Task<void> tell_family(StreamReader& r, StreamWriter& w) {
  auto local = std::any_cast<SocketAddress>(w.get_extra_info("sockname"));
  std::string line = co_await r.readline();
  w.write((local.family() == AF_INET6 ? "v6 " : "v4 ") + line);
  co_await w.drain();
}

Task<std::string> ask(std::string host, std::uint16_t port) {
  auto [reader, writer] = co_await open_connection(std::move(host), port);
  writer.write("hello\n");
  co_await writer.drain();
  std::string reply = co_await timeout(10s, reader.readline());
  writer.close();
  co_return reply;
}

CO_TEST_REAL_CLOCK(NetServer, EmptyHostListensOnEveryFamilyOnOnePort) {
  Server server = co_await start_server(tell_family, "", 0);
  const std::uint16_t port = server.port();
  CO_ASSERT_NE(port, 0);
  std::vector<int> families;
  for (const SocketAddress& a : server.sockets()) {
    families.push_back(a.family());
    CO_ASSERT_EQ(a.port(), port);  // one port for both
  }
  CO_ASSERT_EQ(co_await ask("127.0.0.1", port), "v4 hello\n");
  if (has_ipv6_loopback()) {
    CO_ASSERT_EQ(families, (std::vector<int>{AF_INET, AF_INET6}));
    CO_ASSERT_EQ(co_await ask("::1", port), "v6 hello\n");
  } else {
    CO_ASSERT_EQ(families, (std::vector<int>{AF_INET}));
  }
  co_await server.shutdown(5s);
}

CO_TEST_REAL_CLOCK(NetServer, TheIpv6ListenerIsV6OnlySoIpv4IsServedByItsOwnSocket) {
  if (!has_ipv6_loopback()) {
    // Nothing IPv6 to check: the v4 socket alone must serve.
    Server server = co_await start_server(tell_family, "", 0);
    CO_ASSERT_EQ(server.sockets().size(), 1u);
    CO_ASSERT_EQ(co_await ask("127.0.0.1", server.port()), "v4 hello\n");
    co_return;
  }
  ServerOptions options;
  options.family = AF_INET6;
  Server server = co_await start_server(tell_family, "", 0, options);
  CO_ASSERT_EQ(server.sockets().size(), 1u);
  CO_ASSERT_EQ(co_await ask("::1", server.port()), "v6 hello\n");
  // IPV6_V6ONLY: the :: socket does not take IPv4 connections.
  CO_ASSERT_THROW(co_await ask("127.0.0.1", server.port()), ConnectionRefusedError);
  co_await server.shutdown(5s);
}

CO_TEST_REAL_CLOCK(NetServer, FamilyInetOnEmptyHostListensOnIpv4Only) {
  ServerOptions options;
  options.family = AF_INET;
  Server server = co_await start_server(tell_family, "", 0, options);
  CO_ASSERT_EQ(server.sockets().size(), 1u);
  CO_ASSERT_EQ(server.sockets().front().to_string(), "0.0.0.0:" + std::to_string(server.port()));
  CO_ASSERT_EQ(co_await ask("127.0.0.1", server.port()), "v4 hello\n");
  co_await server.shutdown(5s);
}

CO_TEST_REAL_CLOCK(NetServer, ServeForeverReturnsWhenTheServerIsClosedElsewhere) {
  Server server = co_await start_server(tell_family, "127.0.0.1", 0);
  TaskHandle<void> serving = create_task(server.serve_forever());
  co_await sleep(0ms);
  CO_ASSERT_FALSE(serving.done());
  CO_ASSERT_EQ(co_await ask("127.0.0.1", server.port()), "v4 hello\n");
  server.close();
  co_await timeout(5s, serving);
  CO_ASSERT_FALSE(server.is_serving());
}

CO_TEST_REAL_CLOCK(NetServer, CancellingServeForeverClosesTheServer) {
  Server server = co_await start_server(tell_family, "127.0.0.1", 0);
  const std::uint16_t port = server.port();
  TaskHandle<void> serving = create_task(server.serve_forever());
  co_await sleep(0ms);
  serving.cancel();
  CO_ASSERT_THROW(co_await serving, CancelledError);
  CO_ASSERT_FALSE(server.is_serving());
  CO_ASSERT_THROW(co_await ask("127.0.0.1", port), ConnectionRefusedError);
}

CO_TEST_REAL_CLOCK(NetServer, ServeForeverOnAClosedServerIsRuntimeError) {
  Server server = co_await start_server(tell_family, "127.0.0.1", 0);
  server.close();
  CO_ASSERT_THROW(co_await server.serve_forever(), RuntimeError);
}

CO_TEST_REAL_CLOCK(NetConnect, OpenConnectionOverAGivenAddressListSkipsARefusingOne) {
  Server server = co_await start_server(tell_family, "127.0.0.1", 0);
  std::vector<SocketAddress> addrs{refusing_address(AF_INET), SocketAddress::ip("127.0.0.1", server.port())};
  auto [reader, writer] = co_await open_connection(addrs);
  writer.write("listed\n");
  CO_ASSERT_EQ(co_await timeout(10s, reader.readline()), "v4 listed\n");
  writer.close();
  co_await server.shutdown(5s);
}

int sockopt(const StreamWriter& w, int level, int name) {
  const int fd = std::any_cast<int>(w.get_extra_info("socket"));
  int v = -1;
  socklen_t len = sizeof v;
  ::getsockopt(fd, level, name, &v, &len);
  return v;
}

CO_TEST_REAL_CLOCK(NetConnect, KeepaliveOptionSetsSoKeepaliveAndIsOffByDefault) {
  Server server = co_await start_server(tell_family, "127.0.0.1", 0);
  {
    auto [reader, writer] = co_await open_connection("127.0.0.1", server.port());
    CO_ASSERT_EQ(sockopt(writer, SOL_SOCKET, SO_KEEPALIVE), 0);
  }
  ConnectOptions options;
  options.keepalive = true;
  auto [reader, writer] = co_await open_connection("127.0.0.1", server.port(), options);
  CO_ASSERT_NE(sockopt(writer, SOL_SOCKET, SO_KEEPALIVE), 0);
  writer.close();
  co_await server.shutdown(5s);
}

}  // namespace
}  // namespace corio::net
