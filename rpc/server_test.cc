// End-to-end tests of corio::rpc::Server with the corio client, over
// loopback: each kind of RPC, errors, deadlines, cancellation, shutdown.
#include "corio/rpc/server.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "corio/loop/loop.h"
#include "corio/rpc/client.h"
#include "corio/rpc/testing/test_service.grpc.pb.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using testing::Msg;
using testing::Tester;
using namespace std::chrono_literals;

Msg make(std::string text, int n = 0) {
  Msg m;
  m.set_text(std::move(text));
  m.set_n(n);
  return m;
}

Task<bool> write_one(ServerWriter<Msg>& out, Msg m) { co_return co_await out.write(m); }

// Records whether write() refused with RuntimeError.
Task<void> write_refused(ServerWriter<Msg>& out, std::atomic<bool>* refused) {
  try {
    const Msg m = make("second");
    co_await out.write(m);
  } catch (const RuntimeError&) {
    *refused = true;
  }
}

// A server with one handler of each kind; the handlers' behaviour is
// picked by the request text.
class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.addresses = {"127.0.0.1:0"};
    options.threads = 1;
    server_ = std::make_unique<Server>(options);
    server_->add_service<Tester>();
    server_->add_unary(
        &Tester::AsyncService::RequestUnary,
        [this](grpc::ServerContext& ctx, const Msg& req) -> Task<Reply<Msg>> {
          if (req.text() == "name") co_return make(current_task().get_name());
          if (req.text() == "fail") co_return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such thing");
          if (req.text() == "throw") throw std::runtime_error("handler blew up");
          if (req.text() == "sleep") {
            try {
              co_await sleep(1h);
            } catch (const CancelledError&) {
              handler_cancelled_ = true;
              throw;
            }
          }
          if (req.text() == "metadata") {
            auto it = ctx.client_metadata().find("x-token");
            ctx.AddTrailingMetadata("x-echo", it == ctx.client_metadata().end()
                                                  ? std::string("none")
                                                  : std::string(it->second.data(), it->second.size()));
          }
          co_await sleep(1ms);  // a real suspension inside the handler
          co_return make(req.text() + "!", req.n() + 1);
        },
        "Tester/Unary");
    server_->add_server_streaming(
        &Tester::AsyncService::RequestServerStream,
        [this](grpc::ServerContext&, const Msg& req, ServerWriter<Msg>& out) -> Task<grpc::Status> {
          if (req.text() == "name") {
            const Msg name = make(current_task().get_name());
            co_await out.write(name);
            co_return grpc::Status::OK;
          }
          if (req.text() == "overlap") {
            // Two tasks that write at once: both are ready in the same loop
            // turn, so the second calls write() while the first's is still
            // in flight (its tag cannot come back before the loop polls).
            auto first = create_task(write_one(out, make("first")));
            auto second = create_task(write_refused(out, &second_write_refused_));
            co_await first;
            co_await second;
            co_return grpc::Status::OK;
          }
          for (int i = 0; i < req.n(); ++i) {
            if (!co_await out.write(make(req.text(), i))) co_return grpc::Status::CANCELLED;
          }
          co_return grpc::Status::OK;
        });
    server_->add_client_streaming(&Tester::AsyncService::RequestClientStream,
                                  [](grpc::ServerContext&, ServerReader<Msg>& in) -> Task<Reply<Msg>> {
                                    int sum = 0;
                                    std::string all;
                                    while (auto m = co_await in.read()) {
                                      sum += m->n();
                                      all += m->text();
                                    }
                                    co_return make(all, sum);
                                  });
    server_->add_bidi_streaming(&Tester::AsyncService::RequestBidi,
                                [](grpc::ServerContext&, ServerStream<Msg, Msg>& io) -> Task<grpc::Status> {
                                  while (auto m = co_await io.read()) {
                                    if (!co_await io.write(make(m->text() + "?", m->n() * 2))) break;
                                  }
                                  co_return grpc::Status::OK;
                                });
    server_->start();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
    stub_ = Tester::NewStub(channel_);
  }
  void TearDown() override { server_->shutdown(1s); }

  // Runs `body` on a fresh loop with a client queue.
  template <class F>
  void client(F body) {
    corio::run([](F body) -> Task<void> {
      ClientQueue queue;
      co_await body();
    }(std::move(body)));
  }

  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Tester::Stub> stub_;
  std::atomic<bool> handler_cancelled_{false};
  std::atomic<bool> second_write_refused_{false};
};

TEST_F(RpcTest, UnaryReturnsTheHandlersReply) {
  client([this]() -> Task<void> {
    auto r = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("hi", 41));
    EXPECT_TRUE(r.ok()) << r.status().error_message();
    EXPECT_EQ(r->text(), "hi!");
    EXPECT_EQ(r->n(), 42);
  });
}

// unary() serializes the request when it is called, so the request may
// change or go before the call is awaited.
TEST_F(RpcTest, UnaryRequestNeedNotOutliveTheUnaryCall) {
  client([this]() -> Task<void> {
    auto request = std::make_unique<Msg>(make("early", 1));
    Task<Reply<Msg>> call = unary(*stub_, &Tester::Stub::PrepareAsyncUnary, *request);
    request->set_text("late");
    request.reset();
    auto r = co_await call;
    EXPECT_TRUE(r.ok()) << r.status().error_message();
    EXPECT_EQ(r->text(), "early!");
    EXPECT_EQ(r->n(), 2);
  });
}

// With std::cref the request is the caller's, read when the call starts:
// a change made before then is what the server gets.
TEST_F(RpcTest, UnaryWithCrefReadsTheCallersRequestWhenTheCallStarts) {
  client([this]() -> Task<void> {
    Msg request = make("before", 1);
    Task<Reply<Msg>> call = unary(*stub_, &Tester::Stub::PrepareAsyncUnary, std::cref(request));
    request.set_text("at start");
    auto r = co_await call;
    EXPECT_TRUE(r.ok()) << r.status().error_message();
    EXPECT_EQ(r->text(), "at start!");
  });
}

// A unary call made and dropped before it is awaited was prepared but
// never started: dropping it frees it (asan would report a leak) and the
// channel keeps serving the next call.
TEST_F(RpcTest, UnaryCallDroppedBeforeItIsAwaitedEndsCleanly) {
  client([this]() -> Task<void> {
    { Task<Reply<Msg>> dropped = unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("dropped", 1)); }
    auto r = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("next", 5));
    EXPECT_TRUE(r.ok()) << r.status().error_message();
    EXPECT_EQ(r->text(), "next!");
  });
}

TEST_F(RpcTest, HandlerTaskIsNamedWithTheNameGivenToAddUnary) {
  client([this]() -> Task<void> {
    auto r = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("name"));
    EXPECT_TRUE(r.ok()) << r.status().error_message();
    if (r.ok()) {
      EXPECT_EQ(r->text(), "Tester/Unary");
    }
  });
}

TEST_F(RpcTest, HandlerTaskIsNamedAfterTheFullMethodNameByDefault) {
  // gRPC's blocking client: no loop needed on this side.
  grpc::ClientContext ctx;
  const Msg req = make("name");
  auto stream = stub_->ServerStream(&ctx, req);
  Msg m;
  EXPECT_TRUE(stream->Read(&m));
  EXPECT_EQ(m.text(), "/corio.rpc.testing.Tester/ServerStream");
  EXPECT_FALSE(stream->Read(&m));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(RpcTest, UnaryStatusFromTheHandlerReachesTheClient) {
  client([this]() -> Task<void> {
    auto r = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("fail"));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(r.status().error_message(), "no such thing");
  });
}

TEST_F(RpcTest, HandlerExceptionBecomesInternalAndServerKeepsServing) {
  client([this]() -> Task<void> {
    auto r = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("throw"));
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(r.status().error_message(), "handler blew up");
    auto again = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("ok"));
    EXPECT_TRUE(again.ok());
  });
}

TEST_F(RpcTest, DeadlineCancelsTheHandlerTask) {
  client([this]() -> Task<void> {
    CallOptions options;
    options.timeout = 200ms;
    auto r = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("sleep"), options);
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  });
  // The handler's cancellation arrives through the server's loop.
  for (int i = 0; i < 500 && !handler_cancelled_; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(handler_cancelled_);
}

TEST_F(RpcTest, CancellingTheCallingTaskCancelsTheHandler) {
  client([this]() -> Task<void> {
    auto call = create_task(unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("sleep")));
    co_await sleep(200ms);
    call.cancel();
    bool cancelled = false;
    try {
      co_await call;
    } catch (const CancelledError&) {
      cancelled = true;
    }
    EXPECT_TRUE(cancelled);
  });
  for (int i = 0; i < 500 && !handler_cancelled_; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(handler_cancelled_);
}

TEST_F(RpcTest, MetadataGoesInAndTrailingMetadataComesBack) {
  client([this]() -> Task<void> {
    CallOptions options;
    options.metadata.emplace_back("x-token", "abc");
    auto r = co_await unary_with_metadata(*stub_, &Tester::Stub::PrepareAsyncUnary, make("metadata"), options);
    EXPECT_TRUE(r.reply.ok());
    auto it = r.trailing_metadata.find("x-echo");
    EXPECT_NE(it, r.trailing_metadata.end());
    if (it != r.trailing_metadata.end()) {
      EXPECT_EQ(it->second, "abc");
    }
  });
}

TEST_F(RpcTest, ServerStreamingDeliversEveryMessageInOrder) {
  client([this]() -> Task<void> {
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("s", 100));
    int expected = 0;
    while (auto m = co_await stream.read()) {
      EXPECT_EQ(m->n(), expected);
      ++expected;
    }
    EXPECT_EQ(expected, 100);
    grpc::Status st = co_await stream.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
  });
}

TEST_F(RpcTest, ASecondWriteWhileOneIsInFlightRaisesRuntimeErrorAndTheFirstArrives) {
  client([this]() -> Task<void> {
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("overlap"));
    auto m = co_await stream.read();
    EXPECT_TRUE(m.has_value());
    if (m) {
      EXPECT_EQ(m->text(), "first");
    }
    auto end = co_await stream.read();
    EXPECT_FALSE(end.has_value());
    grpc::Status st = co_await stream.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
  });
  EXPECT_TRUE(second_write_refused_.load());
}

TEST_F(RpcTest, ClientStreamingSumsEveryMessage) {
  client([this]() -> Task<void> {
    auto up = co_await client_streaming(*stub_, &Tester::Stub::PrepareAsyncClientStream);
    for (int i = 1; i <= 10; ++i) EXPECT_TRUE(co_await up.write(make("x", i)));
    auto r = co_await up.finish();
    EXPECT_TRUE(r.ok()) << r.status().error_message();
    EXPECT_EQ(r->n(), 55);
    EXPECT_EQ(r->text(), "xxxxxxxxxx");
  });
}

TEST_F(RpcTest, BidiAnswersEachMessageInOrder) {
  client([this]() -> Task<void> {
    auto io = co_await bidi_streaming(*stub_, &Tester::Stub::PrepareAsyncBidi);
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE(co_await io.write(make("q", i)));
      auto m = co_await io.read();
      EXPECT_TRUE(m.has_value());
      if (m) {
        EXPECT_EQ(m->text(), "q?");
        EXPECT_EQ(m->n(), i * 2);
      }
    }
    grpc::Status st = co_await io.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
  });
}

TEST_F(RpcTest, ManyConcurrentUnaryCallsAllComplete) {
  client([this]() -> Task<void> {
    std::vector<Task<Reply<Msg>>> calls;
    for (int i = 0; i < 200; ++i) calls.push_back(unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("c", i)));
    auto replies = co_await gather(std::move(calls));
    for (int i = 0; i < 200; ++i) EXPECT_EQ(replies[i]->n(), i + 1);
  });
}

TEST(RpcServer, MethodWithoutHandlerIsRefusedAtStart) {
  Server server;
  server.add_service<Tester>();
  server.add_unary(&Tester::AsyncService::RequestUnary,
                   [](grpc::ServerContext&, const Msg& m) -> Task<Reply<Msg>> { co_return m; });
  EXPECT_THROW(server.start(), std::invalid_argument);
}

TEST(RpcServer, ShutdownWithoutStartIsANoOp) {
  Server server;
  server.shutdown();
  SUCCEED();
}

}  // namespace
}  // namespace corio::rpc
