// Helpers for rpc's own tests: messages of the test service, a client loop,
// and plain handlers of each kind.
#ifndef CORIO_RPC_TESTING_RPC_TEST_UTIL_H_
#define CORIO_RPC_TESTING_RPC_TEST_UTIL_H_

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "corio/loop/loop.h"
#include "corio/rpc/client.h"
#include "corio/rpc/server.h"
#include "corio/rpc/testing/test_service.grpc.pb.h"

namespace corio::rpc::testing {

inline Msg make(std::string text, int n = 0) {
  Msg m;
  m.set_text(std::move(text));
  m.set_n(n);
  return m;
}

// Runs `body` (a callable returning Task<void>) on a fresh loop with a
// client queue, to its end.
template <class F>
void run_client(F body) {
  corio::run([](F body) -> Task<void> {
    ClientQueue queue;
    co_await body();
  }(std::move(body)));
}

inline std::unique_ptr<Tester::Stub> stub_for(const Server& server) {
  return Tester::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(server.port()), grpc::InsecureChannelCredentials()));
}

// Polls `cond` every millisecond for up to `bound` (generous: the machines
// are shared); true once it holds.
inline bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds bound = std::chrono::seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Adds the Tester service with echo handlers for every method but Unary:
// server streaming sends n messages, client streaming sums their n, bidi
// answers each message with text + "?".
inline void add_echo_handlers_but_unary(Server& server) {
  server.add_service<Tester>();
  server.add_server_streaming(&Tester::AsyncService::RequestServerStream,
                              [](grpc::ServerContext&, const Msg& req, ServerWriter<Msg>& out) -> Task<grpc::Status> {
                                for (int i = 0; i < req.n(); ++i) {
                                  if (!co_await out.write(make(req.text(), i))) co_return grpc::Status::CANCELLED;
                                }
                                co_return grpc::Status::OK;
                              });
  server.add_client_streaming(&Tester::AsyncService::RequestClientStream,
                              [](grpc::ServerContext&, ServerReader<Msg>& in) -> Task<Reply<Msg>> {
                                int sum = 0;
                                while (auto m = co_await in.read()) sum += m->n();
                                co_return make("sum", sum);
                              });
  server.add_bidi_streaming(&Tester::AsyncService::RequestBidi,
                            [](grpc::ServerContext&, ServerStream<Msg, Msg>& io) -> Task<grpc::Status> {
                              while (auto m = co_await io.read()) {
                                if (!co_await io.write(make(m->text() + "?", m->n()))) break;
                              }
                              co_return grpc::Status::OK;
                            });
}

// As add_echo_handlers_but_unary, and Unary answers text + "!", n + 1.
inline void add_echo_handlers(Server& server) {
  add_echo_handlers_but_unary(server);
  server.add_unary(&Tester::AsyncService::RequestUnary, [](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> {
    co_return make(req.text() + "!", req.n() + 1);
  });
}

}  // namespace corio::rpc::testing

#endif  // CORIO_RPC_TESTING_RPC_TEST_UTIL_H_
