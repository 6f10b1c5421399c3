// Load for the server-streaming row of the rpc benchmark: `--streams`
// threads, each running one Tester.ServerStream call of `--messages`
// messages with gRPC's own synchronous client (neutral to the servers
// compared), and the total rate printed.
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "corio/rpc/testing/test_service.grpc.pb.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50061", "server address");
ABSL_FLAG(int, streams, 4, "concurrent streams (one thread each)");
ABSL_FLAG(int, messages, 200000, "messages per stream");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using corio::rpc::testing::Msg;
  using corio::rpc::testing::Tester;
  auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_server), grpc::InsecureChannelCredentials());
  auto stub = Tester::NewStub(channel);
  const int n = absl::GetFlag(FLAGS_messages);
  std::atomic<long> received{0};
  std::atomic<int> bad{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int s = 0; s < absl::GetFlag(FLAGS_streams); ++s) {
    threads.emplace_back([&] {
      grpc::ClientContext ctx;
      Msg req;
      req.set_text(std::string(100, 'x'));
      req.set_n(n);
      auto reader = stub->ServerStream(&ctx, req);
      Msg m;
      long got = 0;
      while (reader->Read(&m)) ++got;
      if (!reader->Finish().ok() || got != n) ++bad;
      received += got;
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%ld messages in %.3f s: %.0f messages/s, %d bad streams\n", received.load(), secs,
              static_cast<double>(received.load()) / secs, bad.load());
  return bad.load() == 0 ? 0 : 1;
}
