// 1,000 connections open at once on one loop, each served (in a process of
// its own: it raises the soft RLIMIT_NOFILE to the hard limit).
#include <sys/resource.h>

#include <chrono>
#include <string>
#include <vector>

#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/timeout.h"
#include "corio/net/streams.h"
#include "corio/net/testing/loopback.h"
#include "corio/sync/event.h"
#include "gtest/gtest.h"

namespace corio::net {
namespace {

using namespace std::chrono_literals;

using corio::net::testing::echo_lines;

CO_TEST_REAL_CLOCK(NetManyConnections, AThousandConcurrentConnectionsAreAllServed) {
  constexpr int kClients = 1000;
  rlimit lim;
  CO_ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  lim.rlim_cur = lim.rlim_max;
  CO_ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lim), 0);
  // Two descriptors a connection (both ends are in this process).
  CO_ASSERT_GE(lim.rlim_cur, static_cast<rlim_t>(2 * kClients + testing::open_fd_count() + 64));

  ServerOptions options;
  options.backlog = 1024;
  Server server = co_await start_server(echo_lines, "127.0.0.1", 0, options);
  const std::uint16_t port = server.port();
  int connected = 0;
  int ok = 0;
  std::size_t peak = 0;
  Event all_connected;
  auto client = [&](int i) -> Task<> {
    auto [reader, writer] = co_await open_connection("127.0.0.1", port);
    const std::string first = "client " + std::to_string(i) + " first\n";
    writer.write(first);
    co_await writer.drain();
    CO_ASSERT_EQ(co_await reader.readline(), first);
    if (++connected == kClients) {
      peak = server.active_connections();
      all_connected.set();
    }
    co_await all_connected.wait();  // every connection is open at once
    const std::string second = "client " + std::to_string(i) + " second\n";
    writer.write(second);
    co_await writer.drain();
    CO_ASSERT_EQ(co_await reader.readline(), second);
    writer.close();
    co_await writer.wait_closed();
    ++ok;
  };
  std::vector<TaskHandle<void>> tasks;
  for (int i = 0; i < kClients; ++i) tasks.push_back(create_task(client(i)));
  for (auto& t : tasks) co_await timeout(120s, t);
  CO_ASSERT_EQ(peak, static_cast<std::size_t>(kClients));
  CO_ASSERT_EQ(ok, kClients);
  co_await server.shutdown(10s);
  CO_ASSERT_EQ(server.active_connections(), 0u);
}

}  // namespace
}  // namespace corio::net
