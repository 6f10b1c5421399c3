// The interop server: bazel run //examples/interop:server -- --port=N
// Serves grpc.testing.TestService (test_service.h) until SIGINT or SIGTERM,
// then shuts down gracefully: calls in flight get up to --grace_ms to end.
// --port=0 picks a free port; the first line printed names it.
#include "corio/rpc/server.h"

#include <absl/flags/flag.h>
#include <absl/flags/parse.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>

#include "corio/examples/interop/test_service.h"
#include "corio/loop/loop.h"
#include "corio/sync/event.h"

ABSL_FLAG(int, port, 50052, "port to listen on (0 picks a free one and prints it)");
ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, threads, 2, "loop threads serving calls");
ABSL_FLAG(int, grace_ms, 2000, "how long calls in flight may run on after a shutdown signal");
// Interop runners pass it; only plaintext is served for now.
ABSL_FLAG(bool, use_tls, false, "serve TLS (not supported yet: must be false)");

corio::Task<int> serve() {
  if (absl::GetFlag(FLAGS_use_tls)) {
    std::fprintf(stderr, "interop server: --use_tls is not supported yet\n");
    co_return 2;
  }
  corio::rpc::ServerOptions options;
  options.addresses = {absl::GetFlag(FLAGS_host) + ":" + std::to_string(absl::GetFlag(FLAGS_port))};
  options.threads = absl::GetFlag(FLAGS_threads);
  corio::rpc::Server server(options);
  interop::add_test_service(server);
  server.start();
  std::printf("interop server listening on %s:%d\n", absl::GetFlag(FLAGS_host).c_str(), server.port());
  std::fflush(stdout);

  corio::Event stop;
  auto& loop = corio::current_loop();
  loop.add_signal_handler(SIGINT, [&] { stop.set(); });
  loop.add_signal_handler(SIGTERM, [&] { stop.set(); });
  co_await stop.wait();
  std::printf("shutting down\n");
  // Server::shutdown blocks until the loop threads end: off this loop.
  const auto grace = std::chrono::milliseconds(absl::GetFlag(FLAGS_grace_ms));
  co_await corio::to_thread([&server, grace] { server.shutdown(grace); });
  std::printf("stopped\n");
  co_return 0;
}

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return corio::run(serve());
}
