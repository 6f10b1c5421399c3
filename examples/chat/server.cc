// A line-based chat server: every line a client sends goes to every
// connected client, through one corio::Broadcast (examples/chat/chat_room.h).
//
//   bazel run //examples/chat:server -- --port=7000
//   nc 127.0.0.1 7000        # in two or more terminals; type lines
//
// A client that falls behind is told how many lines it missed; one that
// stops reading is dropped after --drain_timeout_ms; neither slows the
// others. SIGINT/SIGTERM shut it down gracefully.
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "corio/examples/chat/chat_room.h"
#include "corio/loop/loop.h"
#include "corio/net/streams.h"

ABSL_FLAG(int, port, 7000, "port to listen on (0 picks a free one and prints it)");
ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, history, 256, "lines kept for clients that are behind");
ABSL_FLAG(int, drain_timeout_ms, 5000, "a client that reads nothing for this long is dropped");
ABSL_FLAG(int, grace_ms, 1000, "how long connections may run on after a shutdown signal");

namespace {

corio::Task<int> serve() {
  corio::EventLoop& loop = corio::current_loop();
  corio::ChatOptions options;
  options.history = static_cast<std::size_t>(absl::GetFlag(FLAGS_history));
  options.drain_timeout = std::chrono::milliseconds(absl::GetFlag(FLAGS_drain_timeout_ms));
  corio::ChatRoom room(options);
  corio::net::Server server = co_await corio::net::start_server(
      [&room](corio::StreamReader& r, corio::StreamWriter& w) { return room.serve(r, w); }, absl::GetFlag(FLAGS_host),
      static_cast<std::uint16_t>(absl::GetFlag(FLAGS_port)));
  std::printf("chat server listening on %s\n", server.sockets().front().to_string().c_str());
  std::fflush(stdout);

  corio::Future<int> stop(loop);
  for (int sig : {SIGINT, SIGTERM}) {
    loop.add_signal_handler(sig, [stop, sig]() mutable {
      if (!stop.done()) stop.set_result(sig);
    });
  }
  const int sig = co_await stop;
  std::printf("%s: shutting down (%zu clients connected, %zu dropped so far)\n", strsignal(sig), room.members(),
              room.dropped());
  co_await server.shutdown(std::chrono::milliseconds(absl::GetFlag(FLAGS_grace_ms)));
  for (int s : {SIGINT, SIGTERM}) loop.remove_signal_handler(s);
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_history) < 1) {
    std::fprintf(stderr, "--history must be at least 1\n");
    return 2;
  }
  return corio::run(serve());
}
