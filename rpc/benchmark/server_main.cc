// One server of the rpc benchmark, for an external load generator:
//   bazel run -c opt //rpc/benchmark:server -- --kind=corio --port=50061 --threads=1
// Prints "listening on PORT" and serves until SIGINT/SIGTERM.
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>

#include <csignal>
#include <cstdio>

#include "corio/rpc/benchmark/servers.h"

ABSL_FLAG(std::string, kind, "corio", "corio, cq (plain completion queue) or callback");
ABSL_FLAG(int, port, 0, "port on 127.0.0.1 (0 picks one)");
ABSL_FLAG(int, threads, 1, "server threads");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // every thread after this one too
  auto server = corio::rpc::bench::start_server(absl::GetFlag(FLAGS_kind), absl::GetFlag(FLAGS_port),
                                                absl::GetFlag(FLAGS_threads));
  std::printf("listening on %d\n", server->port());
  std::fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  server->shutdown();
  return 0;
}
