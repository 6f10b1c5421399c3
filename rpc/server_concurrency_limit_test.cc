// ServerOptions::max_concurrency: a limit on the handlers running at once
// across all methods of a server; calls beyond it wait for a permit.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "corio/loop/loop_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/rpc/server.h"
#include "corio/rpc/testing/rpc_test_util.h"
#include "corio/sync/event.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using namespace std::chrono_literals;
using testing::make;
using testing::Msg;
using testing::run_client;
using testing::Tester;

// Polls `cond` every millisecond on the client loop, for up to 20s (a
// bound for a shared machine); true once it holds.
Task<bool> until(std::function<bool()> cond) {
  const auto bound = std::chrono::steady_clock::now() + 20s;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > bound) co_return false;
    co_await sleep(1ms);
  }
  co_return true;
}

// Handlers wait here until the test opens it. The servers of these tests
// have one loop, so every handler waits on that loop's Event.
class Gate {
 public:
  // From a handler, on the server's loop.
  [[nodiscard]] Task<void> wait() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!known_) {
        loop_ = LoopHandle::current();
        known_ = true;
      }
    }
    co_await open_.wait();
  }
  // From the test's thread, once a handler has waited.
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    ASSERT_TRUE(known_);
    loop_.call_soon_threadsafe([this] { open_.set(); });
  }

 private:
  std::mutex mu_;
  LoopHandle loop_;
  bool known_ = false;
  Event open_;  // the server loop's
};

// A Tester server on one loop with a server-wide limit: Unary and
// ServerStream handlers note that they run, then wait at the gate; with
// `count_arrivals`, an interceptor counts the calls that reached the
// limits (it calls next() at once) and those cancelled below it.
class ServerLimitTest : public ::testing::Test {
 protected:
  void start(int server_limit, int unary_limit, bool count_arrivals) {
    ServerOptions options;
    options.max_concurrency = server_limit;
    server_ = std::make_unique<Server>(options);
    if (count_arrivals) {
      server_->add_interceptor([this](CallInfo&, Next next) -> Task<grpc::Status> {
        ++arrived_;
        grpc::Status st;
        try {
          st = co_await next();
        } catch (const CancelledError&) {
          ++cancelled_;
          throw;
        }
        co_return st;
      });
    }
    server_->add_service<Tester>();
    MethodOptions unary_options;
    unary_options.max_concurrency = unary_limit;
    server_->add_unary(
        &Tester::AsyncService::RequestUnary,
        [this](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> {
          Running r(this, "u" + std::to_string(req.n()));
          ++unary_running_;
          struct Leave {
            std::atomic<int>& n;
            ~Leave() { --n; }
          } leave{unary_running_};
          co_await gate_.wait();
          co_return make("done", req.n());
        },
        "", unary_options);
    server_->add_server_streaming(
        &Tester::AsyncService::RequestServerStream,
        [this](grpc::ServerContext&, const Msg& req, ServerWriter<Msg>& out) -> Task<grpc::Status> {
          Running r(this, "s" + std::to_string(req.n()));
          co_await gate_.wait();
          co_await out.write(make("s", req.n()));
          co_return grpc::Status::OK;
        });
    server_->add_client_streaming(
        &Tester::AsyncService::RequestClientStream,
        [](grpc::ServerContext&, ServerReader<Msg>&) -> Task<Reply<Msg>> { co_return make("unused"); });
    server_->add_bidi_streaming(
        &Tester::AsyncService::RequestBidi,
        [](grpc::ServerContext&, ServerStream<Msg, Msg>&) -> Task<grpc::Status> { co_return grpc::Status::OK; });
    server_->start();
    stub_ = testing::stub_for(*server_);
  }
  void TearDown() override {
    if (server_) server_->shutdown(0s);
  }

  // Counts a running handler for its lifetime, and notes the order handlers
  // started in.
  struct Running {
    Running(ServerLimitTest* t, std::string name) : t(t) {
      {
        std::lock_guard<std::mutex> lock(t->mu_);
        t->order_.push_back(std::move(name));
      }
      ++t->started_;
      const int now = ++t->running_;
      int seen = t->max_running_.load();
      while (now > seen && !t->max_running_.compare_exchange_weak(seen, now)) {
      }
    }
    ~Running() { --t->running_; }
    ServerLimitTest* t;
  };

  std::vector<std::string> order() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }

  Task<Reply<Msg>> call_unary(int n) { return unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("u", n)); }
  // A unary call "u1" with a deadline of 300 ms, which must pass while it
  // waits for a permit.
  Task<void> call_late() {
    CallOptions options;
    options.timeout = 300ms;
    Msg req = make("late", 1);
    auto late = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, req, options);
    EXPECT_EQ(late.status().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  // A server-streaming call; its status.
  Task<grpc::Status> call_stream(int n) {
    Msg req = make("s", n);
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, req);
    while (co_await stream.read()) {
    }
    co_return co_await stream.finish();
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Tester::Stub> stub_;
  Gate gate_;
  std::atomic<int> arrived_{0}, cancelled_{0}, started_{0}, running_{0}, max_running_{0}, unary_running_{0};
  std::mutex mu_;
  std::vector<std::string> order_;  // guarded by mu_
};

TEST_F(ServerLimitTest, AtMostTheLimitRunAtOnceAcrossMethods) {
  start(/*server_limit=*/2, /*unary_limit=*/0, /*count_arrivals=*/true);
  run_client([&]() -> Task<void> {
    auto u0 = create_task(call_unary(0));
    auto s1 = create_task(call_stream(1));
    auto u2 = create_task(call_unary(2));
    auto s3 = create_task(call_stream(3));
    auto u4 = create_task(call_unary(4));
    // All five reached the limit; two run, and the three others wait (no
    // permit can free up while the two wait at the gate).
    CO_ASSERT_TRUE(co_await until([&] { return arrived_ == 5 && started_ == 2; }));
    EXPECT_EQ(running_, 2);
    gate_.open();
    for (auto* u : {&u0, &u2, &u4}) EXPECT_TRUE((co_await *u).ok());
    for (auto* s : {&s1, &s3}) EXPECT_TRUE((co_await *s).ok());
  });
  EXPECT_EQ(started_, 5);
  EXPECT_EQ(max_running_, 2);
}

TEST_F(ServerLimitTest, WaitingCallsStartInArrivalOrder) {
  start(1, 0, true);
  run_client([&]() -> Task<void> {
    std::vector<TaskHandle<Reply<Msg>>> calls;
    for (int i = 0; i < 4; ++i) {
      calls.push_back(create_task(call_unary(i)));
      CO_ASSERT_TRUE(co_await until([&] { return arrived_ == i + 1; }));
    }
    CO_ASSERT_TRUE(co_await until([&] { return started_ == 1; }));
    gate_.open();
    for (auto& c : calls) EXPECT_TRUE((co_await c).ok());
  });
  EXPECT_EQ(order(), (std::vector<std::string>{"u0", "u1", "u2", "u3"}));
  EXPECT_EQ(max_running_, 1);
}

TEST_F(ServerLimitTest, WithoutInterceptorsTheLimitHoldsToo) {
  // No interceptor: without a limit the unary calls would take the bare
  // path, which runs the handler straight from the call's task.
  start(1, 0, false);
  run_client([&]() -> Task<void> {
    auto first = create_task(call_unary(0));
    CO_ASSERT_TRUE(co_await until([&] { return started_ == 1; }));
    co_await call_late();
    // It waited its whole deadline for the permit the first one holds.
    EXPECT_EQ(started_, 1);
    gate_.open();
    EXPECT_TRUE((co_await first).ok());
  });
  EXPECT_EQ(max_running_, 1);
}

TEST_F(ServerLimitTest, ACallPastItsDeadlineWhileWaitingNeverRunsItsHandler) {
  start(1, 0, true);
  run_client([&]() -> Task<void> {
    auto first = create_task(call_unary(0));
    CO_ASSERT_TRUE(co_await until([&] { return started_ == 1; }));
    co_await call_late();
    // The server's side of the deadline reached the waiting call.
    CO_ASSERT_TRUE(co_await until([&] { return cancelled_ == 1; }));
    gate_.open();
    EXPECT_TRUE((co_await first).ok());
    // The permit went to the next call, not to the cancelled one.
    EXPECT_TRUE((co_await call_unary(2)).ok());
  });
  EXPECT_EQ(order(), (std::vector<std::string>{"u0", "u2"}));
  EXPECT_EQ(max_running_, 1);
}

TEST_F(ServerLimitTest, ACallWaitingForItsMethodsPermitHoldsNoServerPermit) {
  // Unary: one at a time; the server: two.
  start(2, 1, true);
  run_client([&]() -> Task<void> {
    auto u0 = create_task(call_unary(0));
    CO_ASSERT_TRUE(co_await until([&] { return started_ == 1; }));
    auto u1 = create_task(call_unary(1));
    auto u2 = create_task(call_unary(2));
    CO_ASSERT_TRUE(co_await until([&] { return arrived_ == 3; }));
    // Two unary calls wait for Unary's permit; the server's second permit
    // is still free for another method.
    auto s3 = create_task(call_stream(3));
    CO_ASSERT_TRUE(co_await until([&] { return started_ == 2; }));
    EXPECT_EQ(order(), (std::vector<std::string>{"u0", "s3"}));
    // Now the server is full: a fifth call waits though its method is free.
    auto s4 = create_task(call_stream(4));
    CO_ASSERT_TRUE(co_await until([&] { return arrived_ == 5; }));
    EXPECT_EQ(started_, 2);
    gate_.open();
    for (auto* u : {&u0, &u1, &u2}) EXPECT_TRUE((co_await *u).ok());
    for (auto* s : {&s3, &s4}) EXPECT_TRUE((co_await *s).ok());
  });
  EXPECT_EQ(started_, 5);
  EXPECT_EQ(max_running_, 2);
}

TEST_F(ServerLimitTest, ShutdownCancelsTheWaitingCallsWithoutRunningThem) {
  start(1, 0, true);
  std::future<void> stopped;
  run_client([&]() -> Task<void> {
    auto u0 = create_task(call_unary(0));
    CO_ASSERT_TRUE(co_await until([&] { return started_ == 1; }));
    auto u1 = create_task(call_unary(1));
    auto s2 = create_task(call_stream(2));
    CO_ASSERT_TRUE(co_await until([&] { return arrived_ == 3; }));
    // The gate stays shut: nothing ends within the grace.
    stopped = std::async(std::launch::async, [this] { server_->shutdown(100ms); });
    EXPECT_FALSE((co_await u0).ok());
    EXPECT_FALSE((co_await u1).ok());
    EXPECT_FALSE((co_await s2).ok());
  });
  ASSERT_TRUE(stopped.valid());
  if (stopped.wait_for(20s) != std::future_status::ready) {
    std::fprintf(stderr, "Server::shutdown() did not return within 20s\n");
    std::_Exit(1);
  }
  EXPECT_EQ(order(), std::vector<std::string>{"u0"});
  EXPECT_FALSE(server_->running());
}

TEST(ServerLimitSplitTest, TwoLoopsNeverRunMoreThanTheLimitBetweenThem) {
  // Two loops, three permits (two and one): whichever loops the calls land
  // on, at most three handlers run at once.
  ServerOptions options;
  options.threads = 2;
  options.max_concurrency = 3;
  Server server(options);
  testing::add_echo_handlers_but_unary(server);
  std::atomic<int> running{0}, max_running{0}, calls{0};
  server.add_unary(&Tester::AsyncService::RequestUnary, [&](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> {
    ++calls;
    const int now = ++running;
    int seen = max_running.load();
    while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
    }
    co_await sleep(5ms);
    --running;
    co_return make("done", req.n());
  });
  server.start();
  auto stub = testing::stub_for(server);
  run_client([&]() -> Task<void> {
    std::vector<TaskHandle<Reply<Msg>>> replies;
    for (int i = 0; i < 40; ++i)
      replies.push_back(create_task(unary(*stub, &Tester::Stub::PrepareAsyncUnary, make("c", i))));
    for (auto& r : replies) EXPECT_TRUE((co_await r).ok());
  });
  server.shutdown(0s);
  EXPECT_EQ(calls, 40);
  EXPECT_LE(max_running, 3);
  EXPECT_GE(max_running, 1);
}

TEST(ServerLimitApi, NegativeLimitIsRefused) {
  ServerOptions options;
  options.max_concurrency = -1;
  Server server(options);
  testing::add_echo_handlers(server);
  EXPECT_THROW(server.start(), std::invalid_argument);
}

TEST(ServerLimitApi, ALimitBelowTheLoopCountIsRefused) {
  // Split across three loops, two permits would leave one loop none.
  ServerOptions options;
  options.threads = 3;
  options.max_concurrency = 2;
  Server server(options);
  testing::add_echo_handlers(server);
  EXPECT_THROW(server.start(), std::invalid_argument);
}

}  // namespace
}  // namespace corio::rpc
