// SocketTransport against a recording protocol, over a socketpair.
#include "corio/net/socket_transport.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "corio/loop/run.h"
#include "corio/loop/sleep.h"
#include "corio/loop/testing/co_test.h"
#include "corio/net/socket.h"
#include "gtest/gtest.h"

namespace corio::net {
namespace {

using namespace std::chrono_literals;

// Records every call, in order.
struct Recorder : Protocol {
  std::vector<std::string> calls;
  std::string data;
  bool keep_open_on_eof = false;
  BaseTransport* transport = nullptr;
  void connection_made(BaseTransport& t) override {
    transport = &t;
    calls.push_back("made");
  }
  void data_received(std::string_view d) override {
    if (calls.back() != "data") calls.push_back("data");
    data += d;
  }
  bool eof_received() override {
    calls.push_back("eof");
    return keep_open_on_eof;
  }
  void pause_writing() override { calls.push_back("pause"); }
  void resume_writing() override { calls.push_back("resume"); }
  void connection_lost(std::exception_ptr e) override {
    calls.push_back(e ? "lost:error" : "lost");
    transport = nullptr;
  }
};

std::pair<Socket, Socket> socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    throw std::runtime_error("socketpair");
  return {Socket::adopt(fds[0], Readiness{Readiness::kWritable}),
          Socket::adopt(fds[1], Readiness{Readiness::kWritable})};
}

CO_TEST_REAL_CLOCK(SocketTransport, DataThenEofThenConnectionLostExactlyOnceLast) {
  auto [a, b] = socket_pair();
  auto rec = std::make_shared<Recorder>();
  auto t = SocketTransport::create(std::move(a), rec);
  co_await b.send_all("hello");
  b.shutdown_write();
  for (int i = 0; i < 5000 && rec->calls.back() != "lost"; ++i) co_await sleep(1ms);
  CO_ASSERT_EQ(rec->data, "hello");
  CO_ASSERT_EQ(rec->calls, (std::vector<std::string>{"made", "data", "eof", "lost"}));
  CO_ASSERT_TRUE(t->connection_lost_called());
}

CO_TEST_REAL_CLOCK(SocketTransport, EofKeptOpenStillWrites) {
  auto [a, b] = socket_pair();
  auto rec = std::make_shared<Recorder>();
  rec->keep_open_on_eof = true;
  auto t = SocketTransport::create(std::move(a), rec);
  b.shutdown_write();
  for (int i = 0; i < 5000 && rec->calls.back() != "eof"; ++i) co_await sleep(1ms);
  CO_ASSERT_FALSE(t->is_closing());
  t->write("reply");
  t->close();
  char buf[16];
  std::string got;
  for (;;) {
    const std::size_t n = co_await b.recv(buf);
    if (n == 0) break;
    got.append(buf, n);
  }
  CO_ASSERT_EQ(got, "reply");
  for (int i = 0; i < 5000 && rec->calls.back() != "lost"; ++i) co_await sleep(1ms);
  CO_ASSERT_EQ(rec->calls.back(), "lost");
}

CO_TEST_REAL_CLOCK(SocketTransport, WriteBufferPausesAboveHighWaterAndResumesAtLowWater) {
  auto [a, b] = socket_pair();
  auto rec = std::make_shared<Recorder>();
  auto t = SocketTransport::create(std::move(a), rec, TransportOptions{.high_water = 8192, .low_water = 1024});
  const std::string chunk(4096, 'y');
  std::size_t written = 0;
  while (std::find(rec->calls.begin(), rec->calls.end(), "pause") == rec->calls.end()) {
    t->write(chunk);
    written += chunk.size();
    CO_ASSERT_LT(written, std::size_t{64} << 20);
  }
  CO_ASSERT_GT(t->get_write_buffer_size(), 8192u);
  CO_ASSERT_LE(t->get_write_buffer_size(), 8192u + chunk.size());
  // Reading on the far end lets the buffer drain.
  std::size_t got = 0;
  char buf[65536];
  while (got < written) got += co_await b.recv(buf);
  CO_ASSERT_EQ(t->get_write_buffer_size(), 0u);
  CO_ASSERT_NE(std::find(rec->calls.begin(), rec->calls.end(), "resume"), rec->calls.end());
  t->abort();
  co_await sleep(0ms);
  CO_ASSERT_EQ(rec->calls.back(), "lost");
}

CO_TEST_REAL_CLOCK(SocketTransport, CloseFlushesTheBufferBeforeClosing) {
  auto [a, b] = socket_pair();
  auto rec = std::make_shared<Recorder>();
  auto t = SocketTransport::create(std::move(a), rec);
  const std::string big(1 << 20, 'z');  // more than the socket takes at once
  t->write(big);
  CO_ASSERT_GT(t->get_write_buffer_size(), 0u);
  t->close();
  CO_ASSERT_TRUE(t->is_closing());
  std::size_t got = 0;
  char buf[65536];
  for (;;) {
    const std::size_t n = co_await b.recv(buf);
    if (n == 0) break;
    got += n;
  }
  CO_ASSERT_EQ(got, big.size());
  for (int i = 0; i < 5000 && rec->calls.back() != "lost"; ++i) co_await sleep(1ms);
  CO_ASSERT_EQ(rec->calls.back(), "lost");
}

CO_TEST_REAL_CLOCK(SocketTransport, PeerResetIsConnectionLostWithAnError) {
  auto [a, b] = socket_pair();
  auto rec = std::make_shared<Recorder>();
  auto t = SocketTransport::create(std::move(a), rec);
  b.close();
  // Writing to a peer that is gone fails the connection (EPIPE), or the
  // read sees EOF first; either way connection_lost comes once, last.
  for (int i = 0; i < 100 && !t->is_closing(); ++i) {
    t->write(std::string(4096, 'q'));
    co_await sleep(1ms);
  }
  for (int i = 0; i < 5000 && !t->connection_lost_called(); ++i) co_await sleep(1ms);
  CO_ASSERT_TRUE(t->connection_lost_called());
  CO_ASSERT_EQ(std::count_if(rec->calls.begin(), rec->calls.end(), [](auto& c) { return c.starts_with("lost"); }), 1);
  CO_ASSERT_TRUE(rec->calls.back().starts_with("lost"));
}

CO_TEST_REAL_CLOCK(SocketTransport, PausedReadingDeliversNothingUntilResumed) {
  auto [a, b] = socket_pair();
  auto rec = std::make_shared<Recorder>();
  auto t = SocketTransport::create(std::move(a), rec);
  t->pause_reading();
  CO_ASSERT_FALSE(t->is_reading());
  co_await b.send_all("held back");
  co_await sleep(20ms);
  CO_ASSERT_EQ(rec->data, "");
  t->resume_reading();
  CO_ASSERT_EQ(rec->data, "");  // from the loop, not from inside resume_reading()
  for (int i = 0; i < 5000 && rec->data.size() < 9; ++i) co_await sleep(1ms);
  CO_ASSERT_EQ(rec->data, "held back");
  t->close();
  co_await sleep(0ms);
  CO_ASSERT_EQ(rec->calls.back(), "lost");
}

CO_TEST_REAL_CLOCK(SocketTransport, ExtraInfo) {
  auto [a, b] = socket_pair();
  const int fd = a.fd();
  auto rec = std::make_shared<Recorder>();
  auto t = SocketTransport::create(std::move(a), rec);
  CO_ASSERT_EQ(std::any_cast<int>(t->get_extra_info("socket")), fd);
  CO_ASSERT_EQ(std::any_cast<SocketAddress>(t->get_extra_info("sockname")).family(), AF_UNIX);
  CO_ASSERT_FALSE(t->get_extra_info("nonsense").has_value());
  t->close();
  co_await sleep(0ms);
}

// The addresses are asked of the socket, not kept per connection; closing
// keeps them, so they stay readable after connection_lost().
CO_TEST_REAL_CLOCK(SocketTransport, AddressesStayReadableAfterTheConnectionIsLost) {
  Socket l = Socket::open(AF_INET, SOCK_STREAM);
  l.bind(SocketAddress::ip("127.0.0.1", 0));
  l.listen();
  Socket c = Socket::open(AF_INET, SOCK_STREAM);
  co_await c.connect(l.local_address());
  Socket peer = co_await l.accept();
  const std::uint16_t client_port = c.local_address().port();
  auto rec = std::make_shared<Recorder>();
  auto t = SocketTransport::create(std::move(peer), rec);
  CO_ASSERT_EQ(std::any_cast<SocketAddress>(t->get_extra_info("peername")).port(), client_port);
  t->close();
  co_await sleep(0ms);
  CO_ASSERT_EQ(rec->calls.back(), "lost");
  CO_ASSERT_FALSE(t->get_extra_info("socket").has_value());
  CO_ASSERT_EQ(std::any_cast<SocketAddress>(t->get_extra_info("peername")).port(), client_port);
  CO_ASSERT_EQ(std::any_cast<SocketAddress>(t->get_extra_info("sockname")).port(), l.local_address().port());
}

// Reading is driven by the reactor: no task per transport (one per loop
// stands for all of them at shutdown).
CO_TEST_REAL_CLOCK(SocketTransport, ReadingTransportsShareOneTaskPerLoop) {
  const std::size_t before = current_loop().pending_task_count();
  std::vector<std::shared_ptr<SocketTransport>> ts;
  std::vector<Socket> peers;
  for (int i = 0; i < 3; ++i) {
    auto [a, b] = socket_pair();
    ts.push_back(SocketTransport::create(std::move(a), std::make_shared<Recorder>()));
    peers.push_back(std::move(b));
  }
  CO_ASSERT_EQ(current_loop().pending_task_count(), before + 1);
  for (auto& t : ts) t->close();
  for (int i = 0; i < 5000 && current_loop().pending_task_count() != before; ++i) co_await sleep(1ms);
  CO_ASSERT_EQ(current_loop().pending_task_count(), before);  // the last one gone, the guard ends
}

// As asyncio's transports: nobody need hold it while it reads.
CO_TEST_REAL_CLOCK(SocketTransport, ATransportNobodyHoldsReadsUntilTheConnectionEnds) {
  auto [a, b] = socket_pair();
  auto rec = std::make_shared<Recorder>();
  std::weak_ptr<SocketTransport> weak = SocketTransport::create(std::move(a), rec);
  CO_ASSERT_FALSE(weak.expired());
  co_await b.send_all("still here");
  b.shutdown_write();
  for (int i = 0; i < 5000 && rec->calls.back() != "lost"; ++i) co_await sleep(1ms);
  CO_ASSERT_EQ(rec->data, "still here");
  CO_ASSERT_EQ(rec->calls, (std::vector<std::string>{"made", "data", "eof", "lost"}));
  co_await sleep(0ms);
  CO_ASSERT_TRUE(weak.expired());
}

// The loop's shutdown (cancel every task) reaches a transport that waits
// for data, as it reached its read task: the connection is aborted.
TEST(SocketTransportShutdown, TheLoopShutdownAbortsATransportStillReading) {
  auto rec = std::make_shared<Recorder>();
  int peer = -1;  // a duplicate, so the peer stays open past its Socket (which the loop's end closes)
  auto body = [&]() -> Task<void> {
    auto [a, b] = socket_pair();
    peer = ::dup(b.fd());
    auto t = SocketTransport::create(std::move(a), rec);
    co_return;
  };
  corio::run(body());
  ::close(peer);
  EXPECT_EQ(rec->calls, (std::vector<std::string>{"made", "lost"}));
}

// Data that arrived while paused, with no report to come (edge-triggered),
// is still read once reading resumes.
CO_TEST_REAL_CLOCK(SocketTransport, ResumingReadsDataThatArrivedWhilePausedWithoutNewData) {
  auto [a, b] = socket_pair();
  auto rec = std::make_shared<Recorder>();
  auto t = SocketTransport::create(std::move(a), rec);
  co_await sleep(5ms);  // the reactor has reported the socket writable
  t->pause_reading();
  co_await b.send_all("one");
  co_await sleep(20ms);  // reported while paused: not read
  CO_ASSERT_EQ(rec->data, "");
  t->resume_reading();
  for (int i = 0; i < 5000 && rec->data.size() < 3; ++i) co_await sleep(1ms);
  CO_ASSERT_EQ(rec->data, "one");
  co_await b.send_all("two");  // and later data goes on coming
  for (int i = 0; i < 5000 && rec->data.size() < 6; ++i) co_await sleep(1ms);
  CO_ASSERT_EQ(rec->data, "onetwo");
  t->close();
  co_await sleep(0ms);
}

}  // namespace
}  // namespace corio::net
