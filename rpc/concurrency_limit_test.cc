// MethodOptions::max_concurrency: a per-method limit on handlers running at
// once; calls beyond it wait for a permit.
#include <atomic>
#include <vector>

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

// A Tester server whose unary handlers hold until `open_` is set, with a
// limit of `limit` on them. With `count_cancels`, an interceptor counts the
// calls cancelled before they ended (in `cancelled_`).
class ConcurrencyLimitTest : public ::testing::Test {
 protected:
  void start(int limit, bool count_cancels = false) {
    server_ = std::make_unique<Server>();
    if (count_cancels) {
      server_->add_interceptor([this](CallInfo&, Next next) -> Task<grpc::Status> {
        try {
          co_return co_await next();
        } catch (const CancelledError&) {
          ++cancelled_;
          throw;
        }
      });
    }
    testing::add_echo_handlers_but_unary(*server_);
    server_->add_unary(
        &Tester::AsyncService::RequestUnary,
        [this](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> {
          ++started_;
          const int now = ++running_;
          int seen = max_running_.load();
          while (now > seen && !max_running_.compare_exchange_weak(seen, now)) {
          }
          struct Leave {
            std::atomic<int>& n;
            ~Leave() { --n; }
          } leave{running_};
          while (!open_) co_await sleep(1ms);
          co_return make("done", req.n());
        },
        "", MethodOptions{.max_concurrency = limit});
    server_->start();
    stub_ = testing::stub_for(*server_);
  }
  void TearDown() override {
    if (server_) server_->shutdown(1s);
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Tester::Stub> stub_;
  std::atomic<int> started_{0}, running_{0}, max_running_{0}, cancelled_{0};
  std::atomic<bool> open_{false};
};

TEST_F(ConcurrencyLimitTest, AtMostTheLimitRunAtOnceAndTheRestRunAfter) {
  start(3);
  constexpr int kCalls = 12;
  run_client([&]() -> Task<void> {
    std::vector<TaskHandle<Reply<Msg>>> calls;
    for (int i = 0; i < kCalls; ++i) {
      calls.push_back(create_task(unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("c", i))));
    }
    // Three handlers start; the others wait for permits, however long the
    // three take.
    while (started_ < 3) co_await sleep(1ms);
    co_await sleep(300ms);
    EXPECT_EQ(started_, 3);
    EXPECT_EQ(running_, 3);
    open_ = true;
    for (int i = 0; i < kCalls; ++i) {
      Reply<Msg> r = co_await calls[i];
      EXPECT_TRUE(r.ok()) << r.status().error_message();
      if (r.ok()) {
        EXPECT_EQ(r->n(), i);
      }
    }
  });
  EXPECT_EQ(started_, kCalls);
  EXPECT_EQ(max_running_, 3);
}

TEST_F(ConcurrencyLimitTest, ACallCancelledWhileWaitingNeverRunsItsHandler) {
  start(1, /*count_cancels=*/true);
  run_client([&]() -> Task<void> {
    auto first = create_task(unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("first")));
    while (started_ < 1) co_await sleep(1ms);
    CallOptions options;
    options.timeout = 200ms;
    auto second = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("second"), options);
    EXPECT_EQ(second.status().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    // The client's deadline and the server's cancel of the waiting call
    // are apart: the first handler may finish only once the server has
    // cancelled the second call (else its permit may reach that call first,
    // as a slow sanitizer build showed).
    while (cancelled_ < 1) co_await sleep(1ms);
    open_ = true;
    EXPECT_TRUE((co_await first).ok());
    // The permit goes to the next call, not to the cancelled one.
    EXPECT_TRUE((co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("third"))).ok());
  });
  EXPECT_EQ(started_, 2);
  EXPECT_EQ(max_running_, 1);
}

TEST(ConcurrencyLimitApi, NegativeLimitIsRefused) {
  Server server;
  server.add_service<Tester>();
  EXPECT_THROW(server.add_unary(
                   &Tester::AsyncService::RequestUnary,
                   [](grpc::ServerContext&, const Msg& m) -> Task<Reply<Msg>> { co_return m; }, "",
                   MethodOptions{.max_concurrency = -1}),
               std::invalid_argument);
}

}  // namespace
}  // namespace corio::rpc
