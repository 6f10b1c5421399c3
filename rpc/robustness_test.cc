// The server under load, at shutdown and against misbehaving peers and
// handlers: many streams at once, shutdown with calls of every kind in
// flight, handlers that throw, clients that cancel, oversize messages.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "corio/loop/testing/co_test.h"
#include "corio/rpc/server.h"
#include "corio/rpc/testing/rpc_test_util.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::make;
using testing::Msg;
using testing::run_client;
using testing::Tester;

// Counts a handler's run from its start to its end, however it ends.
struct Tracked {
  Tracked(std::atomic<int>& started, std::atomic<int>& ended) : ended_(ended) { ++started; }
  ~Tracked() { ++ended_; }
  std::atomic<int>& ended_;
};

TEST(RpcRobustness, AThousandConcurrentServerStreamsAllComplete) {
  ServerOptions options;
  options.threads = 2;
  Server server(options);
  testing::add_echo_handlers(server);
  server.start();
  auto stub = testing::stub_for(server);
  constexpr int kStreams = 1000, kMessages = 5;
  std::atomic<int> complete{0};
  run_client([&]() -> Task<void> {
    auto one = [&](int i) -> Task<void> {
      auto s = co_await server_streaming(*stub, &Tester::Stub::PrepareAsyncServerStream, make("s", kMessages));
      int n = 0;
      while (auto m = co_await s.read()) {
        EXPECT_EQ(m->n(), n);
        ++n;
      }
      grpc::Status st = co_await s.finish();
      EXPECT_TRUE(st.ok()) << "stream " << i << ": " << st.error_message();
      if (st.ok() && n == kMessages) ++complete;
    };
    std::vector<Task<void>> streams;
    for (int i = 0; i < kStreams; ++i) streams.push_back(one(i));
    co_await gather(std::move(streams));
  });
  EXPECT_EQ(complete, kStreams);
  server.shutdown(1s);
}

// Handlers of every kind that run until they are cancelled.
class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.threads = 2;
    server_ = std::make_unique<Server>(options);
    server_->add_service<Tester>();
    server_->add_unary(&Tester::AsyncService::RequestUnary,
                       [this](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> {
                         Tracked t(started_, ended_);
                         co_await sleep(1h);
                         co_return req;
                       });
    server_->add_server_streaming(
        &Tester::AsyncService::RequestServerStream,
        [this](grpc::ServerContext&, const Msg&, ServerWriter<Msg>& out) -> Task<grpc::Status> {
          Tracked t(started_, ended_);
          for (int i = 0;; ++i) {
            if (!co_await out.write(make("tick", i))) co_return grpc::Status::CANCELLED;
            co_await sleep(5ms);
          }
        });
    server_->add_client_streaming(&Tester::AsyncService::RequestClientStream,
                                  [this](grpc::ServerContext&, ServerReader<Msg>& in) -> Task<Reply<Msg>> {
                                    Tracked t(started_, ended_);
                                    while (co_await in.read()) {
                                    }
                                    co_return make("done");
                                  });
    server_->add_bidi_streaming(&Tester::AsyncService::RequestBidi,
                                [this](grpc::ServerContext&, ServerStream<Msg, Msg>& io) -> Task<grpc::Status> {
                                  Tracked t(started_, ended_);
                                  while (auto m = co_await io.read()) {
                                    if (!co_await io.write(*m)) break;
                                  }
                                  co_return grpc::Status::OK;
                                });
    server_->start();
    stub_ = testing::stub_for(*server_);
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Tester::Stub> stub_;
  std::atomic<int> started_{0}, ended_{0};
};

TEST_F(ShutdownTest, WithCallsOfEveryKindInFlightEndsWithinTheGrace) {
  constexpr int kEach = 3;
  std::atomic<int> client_calls_ended{0};
  // The clients run on their own thread, until the shutdown ends their calls.
  std::thread clients([&] {
    run_client([&]() -> Task<void> {
      auto unary_call = [&]() -> Task<void> {
        auto r = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("u"));
        EXPECT_FALSE(r.ok());
        ++client_calls_ended;
      };
      auto server_stream = [&]() -> Task<void> {
        auto s = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("s"));
        while (co_await s.read()) {
        }
        EXPECT_FALSE((co_await s.finish()).ok());
        ++client_calls_ended;
      };
      auto client_stream = [&]() -> Task<void> {
        auto w = co_await client_streaming(*stub_, &Tester::Stub::PrepareAsyncClientStream);
        for (int i = 0; co_await w.write(make("c", i)); ++i) co_await sleep(5ms);
        EXPECT_FALSE((co_await w.finish()).ok());
        ++client_calls_ended;
      };
      auto bidi = [&]() -> Task<void> {
        auto io = co_await bidi_streaming(*stub_, &Tester::Stub::PrepareAsyncBidi);
        for (int i = 0; co_await io.write(make("b", i)); ++i) {
          if (!co_await io.read()) break;
        }
        while (co_await io.read()) {
        }
        (void)co_await io.finish();
        ++client_calls_ended;
      };
      std::vector<Task<void>> calls;
      for (int i = 0; i < kEach; ++i) {
        calls.push_back(unary_call());
        calls.push_back(server_stream());
        calls.push_back(client_stream());
        calls.push_back(bidi());
      }
      co_await gather(std::move(calls));
    });
  });
  ASSERT_TRUE(eventually([&] { return started_ == 4 * kEach; })) << started_ << " handlers started";
  const auto grace = 300ms;
  const auto begin = std::chrono::steady_clock::now();
  server_->shutdown(grace);
  const auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_LT(took, grace + 20s) << "a generous margin: the machine is shared";
  // Every handler was cancelled or finished: none is left running.
  EXPECT_EQ(ended_, started_);
  clients.join();
  EXPECT_EQ(client_calls_ended, 4 * kEach);
}

// Streaming handlers that throw after one message.
class ThrowingHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>();
    server_->add_service<Tester>();
    server_->add_unary(&Tester::AsyncService::RequestUnary,
                       [](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> { co_return req; });
    server_->add_server_streaming(&Tester::AsyncService::RequestServerStream,
                                  [](grpc::ServerContext&, const Msg&, ServerWriter<Msg>& out) -> Task<grpc::Status> {
                                    co_await out.write(make("one"));
                                    throw std::runtime_error("server stream blew up");
                                  });
    server_->add_client_streaming(&Tester::AsyncService::RequestClientStream,
                                  [](grpc::ServerContext&, ServerReader<Msg>& in) -> Task<Reply<Msg>> {
                                    co_await in.read();
                                    throw std::runtime_error("client stream blew up");
                                  });
    server_->add_bidi_streaming(&Tester::AsyncService::RequestBidi,
                                [](grpc::ServerContext&, ServerStream<Msg, Msg>& io) -> Task<grpc::Status> {
                                  auto m = co_await io.read();
                                  if (m) co_await io.write(*m);
                                  throw std::runtime_error("bidi blew up");
                                });
    server_->start();
    stub_ = testing::stub_for(*server_);
  }
  void TearDown() override { server_->shutdown(1s); }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Tester::Stub> stub_;
};

TEST_F(ThrowingHandlersTest, ServerStreamingGivesInternal) {
  run_client([&]() -> Task<void> {
    auto s = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("x"));
    auto first = co_await s.read();
    EXPECT_TRUE(first.has_value());
    grpc::Status st = co_await s.finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(st.error_message(), "server stream blew up");
  });
}

TEST_F(ThrowingHandlersTest, ClientStreamingGivesInternal) {
  run_client([&]() -> Task<void> {
    auto w = co_await client_streaming(*stub_, &Tester::Stub::PrepareAsyncClientStream);
    co_await w.write(make("x"));
    auto r = co_await w.finish();
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(r.status().error_message(), "client stream blew up");
  });
}

TEST_F(ThrowingHandlersTest, BidiGivesInternal) {
  run_client([&]() -> Task<void> {
    auto io = co_await bidi_streaming(*stub_, &Tester::Stub::PrepareAsyncBidi);
    co_await io.write(make("x"));
    auto echo = co_await io.read();
    EXPECT_TRUE(echo.has_value());
    grpc::Status st = co_await io.finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(st.error_message(), "bidi blew up");
  });
}

TEST(RpcRobustness, AClientCancellingABidiStreamMidwayCancelsTheHandler) {
  std::atomic<int> handled{0};
  std::atomic<bool> cancelled{false};
  // A bidi handler that notices its cancellation.
  Server watched;
  watched.add_service<Tester>();
  watched.add_unary(&Tester::AsyncService::RequestUnary,
                    [](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> { co_return req; });
  watched.add_server_streaming(
      &Tester::AsyncService::RequestServerStream,
      [](grpc::ServerContext&, const Msg&, ServerWriter<Msg>&) -> Task<grpc::Status> { co_return grpc::Status::OK; });
  watched.add_client_streaming(
      &Tester::AsyncService::RequestClientStream,
      [](grpc::ServerContext&, ServerReader<Msg>&) -> Task<Reply<Msg>> { co_return make(""); });
  watched.add_bidi_streaming(&Tester::AsyncService::RequestBidi,
                             [&](grpc::ServerContext&, ServerStream<Msg, Msg>& io) -> Task<grpc::Status> {
                               try {
                                 while (auto m = co_await io.read()) {
                                   ++handled;
                                   if (!co_await io.write(*m)) break;
                                 }
                               } catch (const CancelledError&) {
                                 cancelled = true;
                                 throw;
                               }
                               co_return grpc::Status::OK;
                             });
  watched.start();
  auto stub = testing::stub_for(watched);
  run_client([&]() -> Task<void> {
    auto io = co_await bidi_streaming(*stub, &Tester::Stub::PrepareAsyncBidi);
    for (int i = 0; i < 3; ++i) {
      CO_ASSERT_TRUE(co_await io.write(make("m", i)));
      CO_ASSERT_TRUE((co_await io.read()).has_value());
    }
    io.cancel();
    EXPECT_EQ((co_await io.finish()).error_code(), grpc::StatusCode::CANCELLED);
  });
  EXPECT_TRUE(eventually([&] { return cancelled.load(); }));
  EXPECT_EQ(handled, 3);
  watched.shutdown(1s);
}

// A server that takes messages of at most 1 KiB.
class MessageSizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.max_receive_message_size = 1024;
    server_ = std::make_unique<Server>(options);
    testing::add_echo_handlers_but_unary(*server_);
    server_->add_unary(&Tester::AsyncService::RequestUnary,
                       [this](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> {
                         ++unary_runs_;
                         co_return make("ok", static_cast<int>(req.text().size()));
                       });
    server_->start();
    stub_ = testing::stub_for(*server_);
  }
  void TearDown() override { server_->shutdown(1s); }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Tester::Stub> stub_;
  std::atomic<int> unary_runs_{0};
};

TEST_F(MessageSizeTest, AnOversizeUnaryRequestGetsResourceExhausted) {
  run_client([&]() -> Task<void> {
    auto small = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make(std::string(100, 'x')));
    EXPECT_TRUE(small.ok()) << small.status().error_message();
    auto big = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make(std::string(4096, 'x')));
    EXPECT_EQ(big.status().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << big.status().error_message();
  });
  EXPECT_EQ(unary_runs_, 1);
}

TEST_F(MessageSizeTest, AnOversizeStreamedMessageGetsResourceExhausted) {
  run_client([&]() -> Task<void> {
    auto w = co_await client_streaming(*stub_, &Tester::Stub::PrepareAsyncClientStream);
    co_await w.write(make("small", 1));
    co_await w.write(make(std::string(4096, 'x'), 2));
    auto r = co_await w.finish();
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << r.status().error_message();
  });
}

}  // namespace
}  // namespace corio::rpc
