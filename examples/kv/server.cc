// The kv example server: bazel run //examples/kv:server -- --port=50051
// Serves until SIGINT or SIGTERM, then shuts down gracefully: calls in
// flight get up to --grace_ms to finish, watches are cancelled.
//
// Also serves grpc.health.v1.Health (the kv service is SERVING once the
// server has started, NOT_SERVING from the shutdown signal on) and server
// reflection, so standard tools can list and describe it. With
// --token=SECRET every kv call needs the metadata
// "authorization: Bearer SECRET" (the client's --token); health stays open.
#include "corio/rpc/server.h"

#include <absl/flags/flag.h>
#include <absl/flags/parse.h>

#include <chrono>
#include <csignal>
#include <cstdio>

#include "corio/examples/kv/auth.h"
#include "corio/examples/kv/store.h"
#include "corio/loop/loop.h"
#include "corio/rpc/health.h"
#include "corio/rpc/reflection.h"
#include "corio/sync/event.h"

ABSL_FLAG(int, port, 50051, "port to listen on (0 picks a free one and prints it)");
ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, grace_ms, 2000, "how long calls in flight may run on after a shutdown signal");
ABSL_FLAG(std::string, token, "", "if set, kv calls need the metadata 'authorization: Bearer <token>'");

corio::Task<int> serve() {
  kv::Store store;
  corio::rpc::ServerOptions options;
  options.addresses = {absl::GetFlag(FLAGS_host) + ":" + std::to_string(absl::GetFlag(FLAGS_port))};
  options.threads = 1;  // the store lives on one loop
  // Both outlive the server's calls: the server is destroyed first.
  corio::rpc::HealthService health;
  corio::rpc::ReflectionService reflection;
  corio::rpc::Server server(options);
  if (!absl::GetFlag(FLAGS_token).empty()) server.add_interceptor(kv::bearer_token_auth(absl::GetFlag(FLAGS_token)));
  store.serve(server);
  health.serve(server);
  reflection.serve(server);
  server.start();
  health.set_status(kv::KV::service_full_name(), corio::rpc::ServingStatus::kServing);
  std::printf("kv server listening on %s:%d\n", absl::GetFlag(FLAGS_host).c_str(), server.port());
  std::fflush(stdout);

  corio::Event stop;
  auto& loop = corio::current_loop();
  loop.add_signal_handler(SIGINT, [&] { stop.set(); });
  loop.add_signal_handler(SIGTERM, [&] { stop.set(); });
  co_await stop.wait();
  std::printf("shutting down\n");
  // Health checkers learn first, and health watches end.
  health.shutdown();
  // gRPC's Shutdown blocks: run it off this loop.
  const auto grace = std::chrono::milliseconds(absl::GetFlag(FLAGS_grace_ms));
  co_await corio::to_thread([&server, grace] { server.shutdown(grace); });
  std::printf("stopped\n");
  co_return 0;
}

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return corio::run(serve());
}
