// Server of the idle-connection memory benchmark (run.sh, "memory per idle
// connection"), on corio's start_server: each connection does one
// exchange (readline, write, drain) and then waits in readline for a line
// that never comes.
//   idle_corio --port=0   (prints "listening on PORT"; SIGINT/SIGTERM stop it)
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "corio/loop/loop.h"
#include "corio/net/streams.h"
#include "corio/sync/event.h"

ABSL_FLAG(int, port, 0, "port on 127.0.0.1 (0 picks one)");

namespace {

// One short exchange, then idle in readline until the peer goes.
corio::Task<void> handle(corio::StreamReader& reader, corio::StreamWriter& writer) {
  std::string line = co_await reader.readline();
  if (line.empty()) co_return;
  writer.write(line);
  co_await writer.drain();
  line = co_await reader.readline();  // idle here
}

corio::Task<int> serve() {
  corio::net::ServerOptions options;
  options.backlog = 4096;
  corio::net::Server server = co_await corio::net::start_server(
      &handle, "127.0.0.1", static_cast<std::uint16_t>(absl::GetFlag(FLAGS_port)), options);
  corio::Event stop;
  corio::current_loop().add_signal_handler(SIGINT, [&] { stop.set(); });
  corio::current_loop().add_signal_handler(SIGTERM, [&] { stop.set(); });
  std::printf("listening on %d\n", server.port());  // after the handlers: a stop may follow at once
  std::fflush(stdout);
  co_await stop.wait();
  server.close();
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  return corio::run(serve());
}
