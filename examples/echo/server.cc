// echo server: corio::net::start_server with a graceful shutdown on SIGINT
// or SIGTERM (asyncio's start_server + add_signal_handler pattern).
//
// Run it:  bazel run //examples/echo:server -- --port=8007 [--loops=2]
//          bazel run //examples/echo:client -- --port=8007 hello world
//
// Each connection gets its own task running `echo`, which sends back every
// line it reads until the client ends its side. On the first SIGINT or
// SIGTERM the server stops accepting, gives running connections --grace
// seconds (default 2) to finish, then cancels those still open.
// It prints "listening on ADDRESS" once ready (with --port=0, the port the
// system chose) and "stopped: N connections served" at the end.
//
// --loops=N (N >= 2) serves on N threads, each with its own event loop and
// its own SO_REUSEPORT listener on the same port (corio::net::
// MultiLoopServer): one loop per core. `echo` is then called on several
// threads at once, so what it shares (the counter) is atomic.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "corio/loop/loop.h"
#include "corio/net/multi_loop.h"
#include "corio/net/streams.h"

namespace {

std::atomic<int> g_served{0};

// Sends each line back until the client ends its side.
corio::Task<void> echo(corio::StreamReader& reader, corio::StreamWriter& writer) {
  ++g_served;
  for (;;) {
    std::string line = co_await reader.readline();
    if (line.empty()) break;  // end of stream
    writer.write(line);
    co_await writer.drain();
  }
}

corio::Task<int> serve(std::string host, std::uint16_t port, double grace) {
  corio::EventLoop& loop = corio::current_loop();
  corio::net::Server server = co_await corio::net::start_server(echo, host, port);
  corio::Future<int> stop(loop);
  for (int sig : {SIGINT, SIGTERM}) {
    loop.add_signal_handler(sig, [stop, sig]() mutable {
      if (!stop.done()) stop.set_result(sig);
    });
  }
  // After the handlers: whoever waits for this line may signal at once.
  std::printf("listening on %s\n", server.sockets().front().to_string().c_str());
  std::fflush(stdout);
  const int sig = co_await stop;
  std::printf("%s: shutting down (grace %.1f s, %zu connections open)\n", strsignal(sig), grace,
              server.active_connections());
  co_await server.shutdown(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(grace)));
  for (int s : {SIGINT, SIGTERM}) loop.remove_signal_handler(s);
  std::printf("stopped: %d connections served\n", g_served.load());
  co_return 0;
}

// The same on `loops` threads sharing the port; SIGINT/SIGTERM stop them.
int serve_on_loops(std::string host, std::uint16_t port, double grace, long loops) {
  corio::net::MultiLoopOptions options;
  options.loops = static_cast<std::size_t>(loops);
  options.handle_signals = true;
  options.grace = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(grace));
  corio::net::MultiLoopServer server = corio::net::MultiLoopServer::start(echo, host, port, options);
  std::printf("listening on %s\n%zu loops\n", server.sockets().front().to_string().c_str(), server.loops());
  std::fflush(stdout);
  server.wait();
  std::printf("stopped: %d connections served\n", g_served.load());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  long port = 8007;
  double grace = 2.0;
  long loops = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--port=", 0) == 0) {
      port = std::strtol(a.c_str() + 7, nullptr, 10);
    } else if (a.rfind("--host=", 0) == 0) {
      host = a.substr(7);
    } else if (a.rfind("--grace=", 0) == 0) {
      grace = std::strtod(a.c_str() + 8, nullptr);
    } else if (a.rfind("--loops=", 0) == 0) {
      loops = std::strtol(a.c_str() + 8, nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--host=ADDR] [--port=N] [--grace=SECONDS] [--loops=N]\n", argv[0]);
      return 2;
    }
  }
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "bad port %ld\n", port);
    return 2;
  }
  if (loops < 1 || loops > 1024) {
    std::fprintf(stderr, "bad --loops %ld\n", loops);
    return 2;
  }
  try {
    if (loops > 1) return serve_on_loops(host, static_cast<std::uint16_t>(port), grace, loops);
    return corio::run(serve(host, static_cast<std::uint16_t>(port), grace));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo server: %s\n", e.what());
    return 1;
  }
}
