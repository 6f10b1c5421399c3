// Happy Eyeballs over loopback: blackholed (full-backlog) listeners stand
// in for unreachable addresses, closed ports for refusing ones.
#include "corio/net/happy_eyeballs.h"

#include <sys/socket.h>

#include <chrono>
#include <string>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/net/errors.h"
#include "corio/net/testing/loopback.h"
#include "gtest/gtest.h"

namespace corio::net {
namespace {

using namespace std::chrono_literals;
using testing::blackhole;
using testing::Blackhole;
using testing::loopback_listener;
using testing::open_fd_count;
using testing::refusing_address;

std::vector<std::string> names(const std::vector<SocketAddress>& addrs) {
  std::vector<std::string> out;
  for (const SocketAddress& a : addrs) out.push_back(a.to_string());
  return out;
}

TEST(InterleaveAddresses, AlternatesFamiliesStartingWithTheFirstOne) {
  std::vector<SocketAddress> addrs{SocketAddress::ip("::1", 1), SocketAddress::ip("::2", 1),
                                   SocketAddress::ip("::3", 1), SocketAddress::ip("10.0.0.1", 1),
                                   SocketAddress::ip("10.0.0.2", 1)};
  EXPECT_EQ(names(interleave_addresses(addrs, 1)),
            (std::vector<std::string>{"[::1]:1", "10.0.0.1:1", "[::2]:1", "10.0.0.2:1", "[::3]:1"}));
}

TEST(InterleaveAddresses, AFirstFamilyCountAboveOneLeadsWithThatMany) {
  std::vector<SocketAddress> addrs{SocketAddress::ip("::1", 1), SocketAddress::ip("::2", 1),
                                   SocketAddress::ip("::3", 1), SocketAddress::ip("10.0.0.1", 1),
                                   SocketAddress::ip("10.0.0.2", 1)};
  EXPECT_EQ(names(interleave_addresses(addrs, 2)),
            (std::vector<std::string>{"[::1]:1", "[::2]:1", "10.0.0.1:1", "[::3]:1", "10.0.0.2:1"}));
}

TEST(InterleaveAddresses, ZeroKeepsTheOrder) {
  std::vector<SocketAddress> addrs{SocketAddress::ip("::1", 1), SocketAddress::ip("::2", 1),
                                   SocketAddress::ip("10.0.0.1", 1)};
  EXPECT_EQ(names(interleave_addresses(addrs, 0)), names(addrs));
}

// Seconds since `t0` on the loop's clock.
double since(TimePoint t0) { return std::chrono::duration<double>(current_loop().time() - t0).count(); }

CO_TEST_REAL_CLOCK(HappyEyeballs, ABlackholedFirstAddressFallsBackAfterTheAttemptDelay) {
  Blackhole bh = co_await blackhole(AF_INET);
  Socket good = loopback_listener(AF_INET);
  const SocketAddress good_at = good.local_address();
  std::vector<SocketAddress> addrs{bh.address, good_at};
  HappyEyeballsOptions options;
  options.attempt_delay = 200ms;
  options.connect_timeout = 60s;
  const int fds_before = open_fd_count();
  const auto t0 = current_loop().time();
  Socket s = co_await connect_happy_eyeballs(addrs, options);
  const double took = since(t0);
  CO_ASSERT_EQ(s.peer_address().to_string(), good_at.to_string());
  CO_ASSERT_GE(took, 0.2);   // the second attempt waited for the delay
  CO_ASSERT_LT(took, 30.0);  // and did not wait for the first's timeout
  // The blackholed attempt was cancelled and its socket closed: only the
  // winner is new.
  CO_ASSERT_EQ(open_fd_count(), fds_before + 1);
}

CO_TEST_REAL_CLOCK(HappyEyeballs, ARefusingFirstAddressFallsBackAtOnce) {
  Socket good = loopback_listener(AF_INET);
  const SocketAddress good_at = good.local_address();
  std::vector<SocketAddress> addrs{refusing_address(AF_INET), good_at};
  HappyEyeballsOptions options;
  options.attempt_delay = 60s;  // only the failure can start the second attempt in time
  const auto t0 = current_loop().time();
  Socket s = co_await connect_happy_eyeballs(addrs, options);
  CO_ASSERT_LT(since(t0), 30.0);
  CO_ASSERT_EQ(s.peer_address().to_string(), good_at.to_string());
}

CO_TEST_REAL_CLOCK(HappyEyeballs, WithoutADelayTheNextAddressWaitsForThePreviousTimeout) {
  Blackhole bh = co_await blackhole(AF_INET);
  Socket good = loopback_listener(AF_INET);
  const SocketAddress good_at = good.local_address();
  std::vector<SocketAddress> addrs{bh.address, good_at};
  HappyEyeballsOptions options;
  options.attempt_delay = std::nullopt;
  options.connect_timeout = 300ms;
  const auto t0 = current_loop().time();
  Socket s = co_await connect_happy_eyeballs(addrs, options);
  CO_ASSERT_GE(since(t0), 0.3);
  CO_ASSERT_EQ(s.peer_address().to_string(), good_at.to_string());
}

CO_TEST_REAL_CLOCK(HappyEyeballs, WhenEveryAddressRefusesTheErrorIsConnectionRefusedNamingEach) {
  const SocketAddress a = refusing_address(AF_INET);
  const SocketAddress b = refusing_address(AF_INET);
  std::vector<SocketAddress> addrs{a, b};
  HappyEyeballsOptions options;
  std::string what;
  int code = 0;
  try {
    co_await connect_happy_eyeballs(addrs, options);
  } catch (const ConnectionRefusedError& e) {
    what = e.what();
    code = e.code();
  }
  CO_ASSERT_EQ(code, ECONNREFUSED);
  CO_ASSERT_NE(what.find(a.to_string()), std::string::npos) << what;
  CO_ASSERT_NE(what.find(b.to_string()), std::string::npos) << what;
}

CO_TEST_REAL_CLOCK(HappyEyeballs, WhenEveryAddressTimesOutTheErrorIsTimeoutError) {
  Blackhole bh1 = co_await blackhole(AF_INET);
  Blackhole bh2 = co_await blackhole(AF_INET);
  std::vector<SocketAddress> addrs{bh1.address, bh2.address};
  HappyEyeballsOptions options;
  options.attempt_delay = 50ms;
  options.connect_timeout = 200ms;
  std::string what;
  try {
    co_await connect_happy_eyeballs(addrs, options);
  } catch (const TimeoutError& e) {
    what = e.what();
  }
  CO_ASSERT_NE(what.find(bh1.address.to_string()), std::string::npos) << what;
  CO_ASSERT_NE(what.find(bh2.address.to_string()), std::string::npos) << what;
}

CO_TEST_REAL_CLOCK(HappyEyeballs, MixedFailuresAreAnOSErrorWithTheFirstAddressErrno) {
  const SocketAddress refusing = refusing_address(AF_INET);
  Blackhole bh = co_await blackhole(AF_INET);
  std::vector<SocketAddress> addrs{refusing, bh.address};
  HappyEyeballsOptions options;
  options.connect_timeout = 200ms;
  std::string what;
  int code = 0;
  bool typed_as_refused = false;
  try {
    co_await connect_happy_eyeballs(addrs, options);
  } catch (const OSError& e) {
    what = e.what();
    code = e.code();
    typed_as_refused = dynamic_cast<const ConnectionRefusedError*>(&e) != nullptr;
  }
  CO_ASSERT_EQ(code, ECONNREFUSED);
  CO_ASSERT_FALSE(typed_as_refused);
  CO_ASSERT_NE(what.find("timed out"), std::string::npos) << what;
  CO_ASSERT_NE(what.find(refusing.to_string()), std::string::npos) << what;
}

CO_TEST_REAL_CLOCK(HappyEyeballs, ASingleAddressFailsWithItsOwnError) {
  std::vector<SocketAddress> addrs{refusing_address(AF_INET)};
  HappyEyeballsOptions options;
  CO_ASSERT_THROW(co_await connect_happy_eyeballs(addrs, options), ConnectionRefusedError);
}

CO_TEST_REAL_CLOCK(HappyEyeballs, AnEmptyListIsAnOSError) {
  std::vector<SocketAddress> addrs;
  HappyEyeballsOptions options;
  int code = 0;
  try {
    co_await connect_happy_eyeballs(addrs, options);
  } catch (const OSError& e) {
    code = e.code();
  }
  CO_ASSERT_EQ(code, EADDRNOTAVAIL);
}

CO_TEST_REAL_CLOCK(HappyEyeballs, CancellingMidRaceClosesEveryAttemptSocket) {
  Blackhole bh1 = co_await blackhole(AF_INET);
  Blackhole bh2 = co_await blackhole(AF_INET);
  std::vector<SocketAddress> addrs{bh1.address, bh2.address};
  HappyEyeballsOptions options;
  options.attempt_delay = 20ms;
  options.connect_timeout = 60s;
  const int fds_before = open_fd_count();
  TaskHandle<Socket> racing = create_task(connect_happy_eyeballs(addrs, options));
  // Both attempts under way: two more sockets open (bounded wait).
  for (int i = 0; i < 5000 && open_fd_count() < fds_before + 2; ++i) co_await sleep(1ms);
  CO_ASSERT_EQ(open_fd_count(), fds_before + 2);
  racing.cancel();
  CO_ASSERT_THROW(co_await std::move(racing), CancelledError);
  // Nothing left open once the cancelled call has returned.
  CO_ASSERT_EQ(open_fd_count(), fds_before);
}

}  // namespace
}  // namespace corio::net
