// The three servers of the rpc benchmark, all serving Tester.Unary (echo,
// n + 1) and Tester.ServerStream (n messages) on `threads` threads:
//   * corio: corio::rpc::Server with coroutine handlers;
//   * cq: a plain gRPC async completion-queue server, one queue and thread
//     each, several requests posted per method (the fastest direct use of
//     gRPC C++);
//   * callback: gRPC's callback API.
// A ServerStream request whose text is kIdle gets one message, then none
// until the client cancels.
#ifndef CORIO_RPC_BENCHMARK_SERVERS_H_
#define CORIO_RPC_BENCHMARK_SERVERS_H_

#include <memory>
#include <string>

namespace corio::rpc::bench {

// A ServerStream request with this text is Watch-style: the server sends
// one message, then nothing until the client cancels (for the memory per
// idle stream).
inline constexpr char kIdle[] = "idle";

class BenchServer {
 public:
  virtual ~BenchServer() = default;
  virtual int port() const = 0;
  // Graceful, then at once.
  virtual void shutdown() = 0;
};

// kind: "corio", "cq" or "callback". Binds 127.0.0.1:port (0: any).
std::unique_ptr<BenchServer> start_server(const std::string& kind, int port, int threads);

}  // namespace corio::rpc::bench

#endif  // CORIO_RPC_BENCHMARK_SERVERS_H_
