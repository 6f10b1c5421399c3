// Server::shutdown() while handlers are still running on calls that gRPC
// already considers over (cancelled by the client, past their deadline):
// their completion queue must stay up for every operation they can still
// start, such as the Finish of a handler that returns after its call was
// cancelled. gRPC aborts the process when an operation starts on a queue
// that has been shut down.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "corio/loop/loop.h"
#include "corio/rpc/client.h"
#include "corio/rpc/server.h"
#include "corio/rpc/testing/test_service.grpc.pb.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using testing::Msg;
using testing::Tester;
using namespace std::chrono_literals;

// Every method of Tester needs a handler; these three are not called.
void add_other_handlers(Server& server) {
  server.add_unary(&Tester::AsyncService::RequestUnary,
                   [](grpc::ServerContext&, const Msg& m) -> Task<Reply<Msg>> { co_return m; });
  server.add_server_streaming(
      &Tester::AsyncService::RequestServerStream,
      [](grpc::ServerContext&, const Msg&, ServerWriter<Msg>&) -> Task<grpc::Status> { co_return grpc::Status::OK; });
  server.add_bidi_streaming(
      &Tester::AsyncService::RequestBidi,
      [](grpc::ServerContext&, ServerStream<Msg, Msg>&) -> Task<grpc::Status> { co_return grpc::Status::OK; });
}

TEST(ServerShutdown, WaitsForAHandlerThatFinishesAfterItsCallWasCancelled) {
  std::atomic<bool> started{false};
  std::atomic<bool> reads_ended{false};
  std::atomic<bool> handler_returned{false};
  Server server;
  server.add_service<Tester>();
  add_other_handlers(server);
  server.add_client_streaming(
      &Tester::AsyncService::RequestClientStream,
      [&](grpc::ServerContext&, ServerReader<Msg>& in) -> Task<Reply<Msg>> {
        started = true;
        // Until the call ends, and then 200 ms of cleanup that cancellation
        // does not cut short, then a reply: the server Finishes a call the
        // client cancelled long ago.
        try {
          while (co_await in.read()) {
          }
        } catch (const CancelledError&) {
        }
        reads_ended = true;
        const auto until = std::chrono::steady_clock::now() + 200ms;
        while (std::chrono::steady_clock::now() < until) {
          try {
            co_await sleep(until - std::chrono::steady_clock::now());
          } catch (const CancelledError&) {
          }
        }
        handler_returned = true;
        co_return Msg();
      },
      "Tester/ClientStream");
  server.start();
  auto stub = Tester::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(server.port()), grpc::InsecureChannelCredentials()));

  corio::run([](Tester::Stub& stub, std::atomic<bool>& started) -> Task<void> {
    ClientQueue queue;
    auto up = co_await client_streaming<Tester::Stub, Msg>(stub, &Tester::Stub::PrepareAsyncClientStream);
    EXPECT_TRUE(co_await up.write(Msg()));
    for (int i = 0; i < 500 && !started; ++i) co_await sleep(10ms);
    EXPECT_TRUE(started) << "the handler never started";
    up.cancel();
    auto r = co_await up.finish();
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::CANCELLED);
  }(*stub, started));
  for (int i = 0; i < 500 && !reads_ended; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(reads_ended) << "the handler never saw its call end";

  server.shutdown(0s);  // the handler is still in its cleanup
  EXPECT_TRUE(handler_returned) << "shutdown() returned before the handler did";
}

}  // namespace
}  // namespace corio::rpc
