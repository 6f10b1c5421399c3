// echo client: corio::net::open_connection, one line per argument.
//
// Run it:  bazel run //examples/echo:client -- --port=8007 hello world
//
// Sends each argument as a line, prints each reply, then half-closes (the
// server sees end of stream and ends the connection). Exits 0 when every
// reply matched what was sent, 1 otherwise, printing "all N lines echoed".

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/net/streams.h"

namespace {

corio::Task<int> talk(std::string host, std::uint16_t port, std::vector<std::string> lines) {
  auto [reader, writer] = co_await corio::net::open_connection(host, port);
  int ok = 0;
  for (const std::string& l : lines) {
    writer.write(l + "\n");
    co_await writer.drain();
    std::string reply = co_await reader.readline();
    std::printf("reply: %s", reply.c_str());
    if (reply == l + "\n") ++ok;
  }
  writer.write_eof();
  const bool clean_end = (co_await reader.read()).empty();  // the server closes after our EOF
  writer.close();
  co_await writer.wait_closed();
  if (ok != static_cast<int>(lines.size()) || !clean_end) {
    std::printf("only %d of %zu lines echoed\n", ok, lines.size());
    co_return 1;
  }
  std::printf("all %d lines echoed\n", ok);
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  long port = 8007;
  std::vector<std::string> lines;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--port=", 0) == 0) {
      port = std::strtol(a.c_str() + 7, nullptr, 10);
    } else if (a.rfind("--host=", 0) == 0) {
      host = a.substr(7);
    } else {
      lines.push_back(a);
    }
  }
  if (lines.empty()) lines = {"hello", "corio"};
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "bad port %ld\n", port);
    return 2;
  }
  try {
    return corio::run(talk(host, static_cast<std::uint16_t>(port), lines));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo client: %s\n", e.what());
    return 1;
  }
}
