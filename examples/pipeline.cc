// A pipeline of async generators over a connection: the server turns the
// lines a client sends into a generator, drops comments and blank lines
// (filter), parses each into a reading (map), groups them into batches of
// at most 10 or whatever arrived within 100 ms (batch), and answers one
// summary line per batch. Nothing is read ahead of what the next stage
// asks for, so memory stays bounded however fast the client sends.
//
//   bazel run //examples:pipeline
//
// The client, in the same program, sends 25 readings at once, pauses (the
// pending batch of 5 goes out on its 100 ms timer), sends 3 more and hangs
// up (the last batch goes out at the end of the stream).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/net/streams.h"
#include "corio/streams/async_generator.h"
#include "corio/streams/combinators.h"

namespace {

using namespace std::chrono_literals;

struct Reading {
  std::string sensor;
  double value = 0;
};

// The connection's lines, without their '\n', until the client hangs up.
corio::AsyncGenerator<std::string> lines(corio::StreamReader& reader) {
  for (;;) {
    std::string line = co_await reader.readline();
    if (line.empty()) co_return;  // end of stream
    if (line.back() == '\n') line.pop_back();
    co_yield std::move(line);
  }
}

// "sensor value" -> Reading.
Reading parse(const std::string& line) {
  const std::size_t space = line.find(' ');
  return Reading{line.substr(0, space), space == std::string::npos ? 0.0 : std::stod(line.substr(space + 1))};
}

corio::Task<void> summarize(corio::StreamReader& reader, corio::StreamWriter& writer) {
  auto data = corio::filter(lines(reader), [](const std::string& l) { return !l.empty() && l[0] != '#'; });
  auto readings = corio::map(std::move(data), parse);
  auto batches = corio::batch(std::move(readings), 10, 100ms);
  int n = 0;
  while (std::optional<std::vector<Reading>> b = co_await batches.next()) {
    double sum = 0;
    for (const Reading& r : *b) sum += r.value;
    const auto top =
        std::max_element(b->begin(), b->end(), [](const Reading& x, const Reading& y) { return x.value < y.value; });
    writer.write("batch " + std::to_string(++n) + ": " + std::to_string(b->size()) + " readings, mean " +
                 std::to_string(sum / static_cast<double>(b->size())) + ", highest " + top->sensor + "\n");
    co_await writer.drain();
  }
}

corio::Task<int> run() {
  corio::net::Server server = co_await corio::net::start_server(summarize, "127.0.0.1", 0);
  corio::net::Streams conn = co_await corio::net::open_connection("127.0.0.1", server.port());

  std::string first;
  for (int i = 0; i < 25; ++i) {
    if (i % 7 == 0) first += "# a comment, skipped\n\n";
    first += "sensor" + std::to_string(i % 4) + " " + std::to_string(20 + i % 6) + "\n";
  }
  conn.writer.write(first);
  co_await conn.writer.drain();
  co_await corio::sleep(1s);  // the batch of 5 still pending goes out on its timer
  conn.writer.write("sensor1 30\nsensor2 31\nsensor3 29\n");
  conn.writer.write_eof();  // the last batch goes out at the end of the stream

  int batches = 0;
  std::size_t readings = 0;
  for (;;) {
    std::string line = co_await conn.reader.readline();
    if (line.empty()) break;
    std::printf("%s", line.c_str());
    ++batches;
    readings += std::stoul(line.substr(line.find(':') + 2));
  }
  std::printf("processed %zu readings in %d batches\n", readings, batches);
  conn.writer.close();
  co_await server.shutdown(1s);
  co_return readings == 28 ? 0 : 1;
}

}  // namespace

int main() { return corio::run(run()); }
