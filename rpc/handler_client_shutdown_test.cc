// Shutting a server down while its handlers are themselves client calls
// to another server that never answers: shutdown ends within its grace
// (plus a bound for a shared machine), cancels those calls, and does not
// crash.
#include <grpcpp/create_channel.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

#include "corio/loop/co_invoke.h"
#include "corio/loop/loop.h"
#include "corio/rpc/client.h"
#include "corio/rpc/server.h"
#include "corio/rpc/testing/rpc_test_util.h"
#include "corio/rpc/testing/test_service.grpc.pb.h"
#include "corio/sync/event.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using namespace std::chrono_literals;
using corio::rpc::testing::Msg;
using corio::rpc::testing::Tester;
using testing::add_echo_handlers_but_unary;
using testing::eventually;
using testing::make;
using testing::run_client;
using testing::stub_for;

// Runs server.shutdown(grace) and fails the whole test binary if it has not
// returned after `bound`: a hang must not hang the test run.
void shutdown_within(Server& server, std::chrono::milliseconds grace, std::chrono::seconds bound) {
  auto done = std::async(std::launch::async, [&] { server.shutdown(grace); });
  if (done.wait_for(bound) != std::future_status::ready) {
    std::fprintf(stderr, "Server::shutdown() did not return within %llds\n", static_cast<long long>(bound.count()));
    std::_Exit(1);
  }
  done.get();
}

class HandlerClientShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The backend: Unary counts the call, then waits until it is cancelled.
    backend_ = std::make_unique<Server>();
    add_echo_handlers_but_unary(*backend_);
    backend_->add_unary(&Tester::AsyncService::RequestUnary,
                        [this](grpc::ServerContext&, const Msg&) -> Task<Reply<Msg>> {
                          ++backend_calls_;
                          Event never;
                          co_await never.wait();
                          co_return make("never");
                        });
    backend_->start();
    backend_stub_ = stub_for(*backend_);
  }
  void TearDown() override {
    if (client_.joinable()) client_.join();
    shutdown_within(*backend_, 0ms, 20s);
  }
  // The front server's Unary is `handler`; then one client call to it from
  // a thread of its own, whose status lands in client_status_.
  template <class H>
  void start_front(H handler) {
    front_ = std::make_unique<Server>();
    add_echo_handlers_but_unary(*front_);
    front_->add_unary(&Tester::AsyncService::RequestUnary, std::move(handler));
    front_->start();
    client_ = std::thread([this] {
      auto stub = stub_for(*front_);
      run_client([&]() -> Task<void> {
        auto r = co_await unary(*stub, &Tester::Stub::PrepareAsyncUnary, make("hi"));
        client_code_ = r.status().error_code();
        client_done_ = true;
      });
    });
  }

  std::unique_ptr<Server> backend_, front_;
  std::unique_ptr<Tester::Stub> backend_stub_;
  std::atomic<int> backend_calls_{0};
  std::thread client_;
  std::atomic<bool> client_done_{false};
  std::atomic<grpc::StatusCode> client_code_{grpc::StatusCode::OK};
};

TEST_F(HandlerClientShutdownTest, AHandlerWaitingOnItsOwnClientCallIsCancelledAndShutdownEnds) {
  std::atomic<bool> handler_cancelled{false};
  start_front([&](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> {
    try {
      co_return co_await unary(*backend_stub_, &Tester::Stub::PrepareAsyncUnary, req);
    } catch (const CancelledError&) {
      handler_cancelled = true;
      throw;
    }
  });
  ASSERT_TRUE(eventually([&] { return backend_calls_.load() == 1; }));
  shutdown_within(*front_, 100ms, 20s);
  EXPECT_TRUE(handler_cancelled.load());
  ASSERT_TRUE(eventually([&] { return client_done_.load(); }));
  EXPECT_NE(client_code_.load(), grpc::StatusCode::OK);
}

TEST_F(HandlerClientShutdownTest, AClientCallLeftRunningInABackgroundTaskIsCancelledAndShutdownEnds) {
  // The handler answers at once and leaves a task behind that is still in
  // its client call when the server shuts down: its operation holds the
  // loop's completion queue open until it is cancelled.
  std::atomic<bool> background_cancelled{false};
  start_front([&](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> {
    create_task(co_invoke([&, m = req]() -> Task<void> {
      try {
        (void)co_await unary(*backend_stub_, &Tester::Stub::PrepareAsyncUnary, m);
      } catch (const CancelledError&) {
        background_cancelled = true;
        throw;
      }
    }));
    co_return make("answered");
  });
  ASSERT_TRUE(eventually([&] { return backend_calls_.load() == 1 && client_done_.load(); }));
  EXPECT_EQ(client_code_.load(), grpc::StatusCode::OK);
  shutdown_within(*front_, 100ms, 20s);
  EXPECT_TRUE(background_cancelled.load());
}

// A task that goes on using a call after its loop's queue was shut down
// (as one that caught the cancel of a server's shutdown might) gets a
// RuntimeError; gRPC itself would abort the process.
TEST_F(HandlerClientShutdownTest, AnOperationAfterTheQueueIsShutDownIsARuntimeError) {
  bool refused = false;
  run_client([&]() -> Task<void> {
    CallOptions options;
    auto s = co_await bidi_streaming(*backend_stub_, &Tester::Stub::PrepareAsyncBidi, options);
    Msg first = make("one");
    EXPECT_TRUE(co_await s.write(first));
    EXPECT_TRUE((co_await s.read()).has_value());
    static_cast<internal::CqDriver*>(current_loop().event_source())->shutdown();
    Msg second = make("two");
    try {
      co_await s.write(second);
    } catch (const RuntimeError&) {
      refused = true;
    }
  });
  EXPECT_TRUE(refused);
}

}  // namespace
}  // namespace corio::rpc
