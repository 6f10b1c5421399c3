#include "corio/examples/chat/chat_room.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/net/streams.h"
#include "corio/streams/memory_pipe.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

// One member of the room over an in-memory connection: the server end runs
// room.serve(), the test reads and writes the client end.
struct Member {
  std::unique_ptr<MemoryStream> server;
  std::unique_ptr<MemoryStream> client;
  std::optional<TaskHandle<void>> session;
};

Member join(ChatRoom& room, const MemoryPipeOptions& options = {}) {
  auto [a, b] = memory_stream_pair(options);
  Member m;
  m.server = std::make_unique<MemoryStream>(std::move(a));
  m.client = std::make_unique<MemoryStream>(std::move(b));
  m.session = create_task(room.serve(m.server->reader, m.server->writer), "chat member");
  return m;
}

// A member whose connection buffers almost nothing: it is stuck as soon
// as it stops reading.
MemoryPipeOptions tiny_buffers() {
  MemoryPipeOptions o;
  o.pipe_capacity = 64;
  o.limit = 64;
  o.high_water = 64;
  return o;
}

Task<std::vector<std::string>> read_lines(StreamReader& r, int n) {
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) lines.push_back(co_await r.readline());
  co_return lines;
}

Task<> send(StreamWriter& w, std::string_view text) {
  w.write(text);
  co_await w.drain();
}

CO_TEST(ChatRoom, AMemberIsWelcomedAndSeesItsOwnJoin) {
  ChatRoom room;
  Member a = join(room);
  {
    const std::vector<std::string> want{"* welcome guest1\n", "* guest1 joined\n"};
    const std::vector<std::string> got = co_await read_lines(a.client->reader, 2);
    EXPECT_EQ(got, want);
  }
  EXPECT_EQ(room.members(), 1u);
  a.client->writer.close();
  co_await *a.session;
}

CO_TEST(ChatRoom, LinesReachEveryMemberInOrder) {
  ChatRoom room;
  Member a = join(room);
  (void)co_await read_lines(a.client->reader, 2);
  Member b = join(room);
  {
    const std::vector<std::string> want{"* guest2 joined\n"};
    const std::vector<std::string> got = co_await read_lines(a.client->reader, 1);
    EXPECT_EQ(got, want);
  }
  {
    const std::vector<std::string> want{"* welcome guest2\n", "* guest2 joined\n"};
    const std::vector<std::string> got = co_await read_lines(b.client->reader, 2);
    EXPECT_EQ(got, want);
  }
  co_await send(a.client->writer, "hi\nthere\n");
  const std::vector<std::string> expected{"guest1: hi\n", "guest1: there\n"};
  const std::vector<std::string> got_a = co_await read_lines(a.client->reader, 2);
  EXPECT_EQ(got_a, expected);
  const std::vector<std::string> got_b = co_await read_lines(b.client->reader, 2);
  EXPECT_EQ(got_b, expected);
  a.client->writer.close();
  b.client->writer.close();
  co_await *a.session;
  co_await *b.session;
}

CO_TEST(ChatRoom, AHangUpIsAnnouncedToTheOthers) {
  ChatRoom room;
  Member a = join(room);
  Member b = join(room);
  (void)co_await read_lines(a.client->reader, 3);  // welcome, guest1 joined, guest2 joined
  b.client->writer.close();
  co_await *b.session;
  {
    const std::vector<std::string> want{"* guest2 left\n"};
    const std::vector<std::string> got = co_await read_lines(a.client->reader, 1);
    EXPECT_EQ(got, want);
  }
  EXPECT_EQ(room.members(), 1u);
  a.client->writer.close();
  co_await *a.session;
}

// A member that reads nothing fills its small buffers, its forwarder
// waits in drain() past the drain timeout, and it is dropped; the member
// that reads gets every line, in order, and then the notice.
CO_TEST(ChatRoom, AMemberThatStopsReadingIsDroppedWithoutDelayingTheOthers) {
  ChatOptions options;
  options.drain_timeout = 1s;  // virtual time
  options.history = 1000;
  ChatRoom room(options);
  Member a = join(room);
  (void)co_await read_lines(a.client->reader, 2);
  Member stuck = join(room, tiny_buffers());
  (void)co_await read_lines(a.client->reader, 1);  // guest2 joined
  std::string burst;
  for (int i = 0; i < 100; ++i) burst += "line " + std::to_string(i) + "\n";
  co_await send(a.client->writer, burst);
  const TimePoint start = current_loop().time();
  for (int i = 0; i < 100; ++i) {
    CO_ASSERT_EQ(co_await a.client->reader.readline(), "guest1: line " + std::to_string(i) + "\n");
  }
  EXPECT_LT(current_loop().time() - start, 1s) << "the stuck member delayed the reader";
  EXPECT_EQ(co_await a.client->reader.readline(), "* guest2 dropped (not reading)\n");
  co_await *stuck.session;
  EXPECT_EQ(room.dropped(), 1u);
  EXPECT_EQ(room.members(), 1u);
  a.client->writer.close();
  co_await *a.session;
}

// A member that falls more than `history` lines behind (here: stuck in
// drain() for a while) is told how many it missed, and every line is
// either received or counted as missed.
CO_TEST(ChatRoom, ALaggingMemberIsToldHowManyLinesItMissed) {
  ChatOptions options;
  options.history = 4;
  options.drain_timeout = 1h;
  ChatRoom room(options);
  Member a = join(room);
  (void)co_await read_lines(a.client->reader, 2);
  Member slow = join(room, tiny_buffers());
  (void)co_await read_lines(a.client->reader, 1);
  // One line at a time, each read back by its sender, so the sender never
  // falls behind itself.
  for (int i = 0; i < 40; ++i) {
    co_await send(a.client->writer, std::to_string(i) + "\n");
    CO_ASSERT_EQ(co_await a.client->reader.readline(), "guest1: " + std::to_string(i) + "\n");
  }
  // Now the slow member reads: its own welcome and join, then the lines.
  {
    const std::vector<std::string> want{"* welcome guest2\n", "* guest2 joined\n"};
    const std::vector<std::string> got = co_await read_lines(slow.client->reader, 2);
    EXPECT_EQ(got, want);
  }
  std::uint64_t missed = 0;
  int received = 0;
  int last = -1;
  bool told = false;
  while (last != 39) {
    const std::string line = co_await slow.client->reader.readline();
    if (line.rfind("* you missed ", 0) == 0) {
      CO_ASSERT_FALSE(told) << "told twice";
      told = true;
      missed = std::stoull(line.substr(13));
      continue;
    }
    CO_ASSERT_EQ(line.rfind("guest1: ", 0), 0u) << line;
    const int n = std::stoi(line.substr(8));
    if (!told) {
      EXPECT_EQ(n, last + 1) << "a gap without a notice";
    }
    last = n;
    ++received;
  }
  EXPECT_TRUE(told);
  EXPECT_EQ(received + missed, 40u) << "received " << received << ", told it missed " << missed;
  slow.client->writer.close();
  a.client->writer.close();
  co_await *slow.session;
  co_await *a.session;
}

// The same room behind a real server, over loopback.
CO_TEST_REAL_CLOCK(ChatRoom, ServesClientsOverTcp) {
  ChatRoom room;
  net::Server server = co_await net::start_server(
      [&room](StreamReader& r, StreamWriter& w) { return room.serve(r, w); }, "127.0.0.1", 0);
  net::Streams a = co_await net::open_connection("127.0.0.1", server.port());
  {
    const std::vector<std::string> want{"* welcome guest1\n", "* guest1 joined\n"};
    const std::vector<std::string> got = co_await read_lines(a.reader, 2);
    EXPECT_EQ(got, want);
  }
  net::Streams b = co_await net::open_connection("127.0.0.1", server.port());
  {
    const std::vector<std::string> want{"* welcome guest2\n", "* guest2 joined\n"};
    const std::vector<std::string> got = co_await read_lines(b.reader, 2);
    EXPECT_EQ(got, want);
  }
  co_await send(a.writer, "hello\n");
  {
    const std::vector<std::string> want{"guest1: hello\n"};
    const std::vector<std::string> got = co_await read_lines(b.reader, 1);
    EXPECT_EQ(got, want);
  }
  a.writer.close();
  {
    const std::vector<std::string> want{"* guest1 left\n"};
    const std::vector<std::string> got = co_await read_lines(b.reader, 1);
    EXPECT_EQ(got, want);
  }
  b.writer.close();
  co_await server.shutdown(5s);
  EXPECT_EQ(room.members(), 0u);
}

}  // namespace
}  // namespace corio
