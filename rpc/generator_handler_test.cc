// Server-streaming handlers written as AsyncGenerator<Resp>: the replies in
// order, flow control (the generator runs no further ahead than gRPC takes
// messages), an exception becoming INTERNAL, and cancellation (client cancel,
// deadline) ending the generator with its cleanup.
#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "corio/loop/loop.h"
#include "corio/rpc/client.h"
#include "corio/rpc/server.h"
#include "corio/rpc/testing/rpc_test_util.h"
#include "corio/rpc/testing/test_service.grpc.pb.h"
#include "corio/streams/async_generator.h"
#include "corio/streams/errors.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using testing::eventually;
using testing::make;
using testing::Msg;
using testing::run_client;
using testing::Tester;
using namespace std::chrono_literals;

// Sets a flag when destroyed: the generator's RAII cleanup.
struct SetOnExit {
  std::atomic<bool>* flag;
  ~SetOnExit() { *flag = true; }
};

// What the generator handler of the fixture went through; written on the
// server's loop thread, read by the test.
struct Seen {
  std::atomic<int> yielded{0};
  std::atomic<bool> destroyed{false};        // its locals' destructors ran
  std::atomic<bool> cancelled{false};        // CancelledError at its own await
  std::atomic<bool> closed_at_yield{false};  // GeneratorExit at a co_yield
  std::atomic<bool> cleanup_awaited{false};  // it awaited during its cleanup
  std::atomic<bool> sleeping{false};         // "idle" reached its long sleep
};

// The request's text picks the generator's behaviour:
//   "count": n messages, n = 0..n-1, with a real suspension between them;
//   "throw": two messages, then throws;
//   "idle": one message, then waits an hour;
//   "flood": 64 KiB messages for ever, never suspending but at co_yield.
AsyncGenerator<Msg> generate(const Msg& req, Seen* seen) {
  SetOnExit on_exit{&seen->destroyed};
  const std::string kind = req.text();
  if (kind == "count") {
    for (int i = 0; i < req.n(); ++i) {
      co_await sleep(0s);
      ++seen->yielded;
      co_yield make("count", i);
    }
  } else if (kind == "throw") {
    co_yield make("before", 0);
    co_yield make("before", 1);
    throw std::runtime_error("generator blew up");
  } else if (kind == "idle") {
    co_yield make("first", 0);
    seen->sleeping = true;
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      seen->cancelled = true;
      throw;
    }
  } else if (kind == "flood") {
    const std::string big(64 * 1024, 'x');
    std::exception_ptr exit;
    try {
      for (int i = 0;; ++i) {
        ++seen->yielded;
        co_yield make(big, i);
      }
    } catch (const GeneratorExit&) {
      seen->closed_at_yield = true;
      exit = std::current_exception();
    }
    // Asynchronous cleanup on the way out, as aclose() allows.
    co_await sleep(0s);
    seen->cleanup_awaited = true;
    std::rethrow_exception(exit);
  }
}

// The client's side of "idle": once the first message came, waits (on its
// own loop) until the server's generator has gone on to its long sleep. A
// cancel that came earlier, while the write of the first message was still
// being completed on the server, would close the generator at its co_yield
// (GeneratorExit, as write_all documents) instead of cancelling its sleep:
// a different path, which these tests do not mean to race with.
Task<void> until_sleeping(const Seen& seen) {
  for (int i = 0; i < 20000 && !seen.sleeping.load(); ++i) co_await sleep(1ms);
  EXPECT_TRUE(seen.sleeping.load());
}

class GeneratorHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>();
    server_->add_service<Tester>();
    Seen* seen = &seen_;
    server_->add_server_streaming(
        &Tester::AsyncService::RequestServerStream,
        [seen](grpc::ServerContext&, const Msg& req) -> AsyncGenerator<Msg> { return generate(req, seen); });
    server_->add_unary(
        &Tester::AsyncService::RequestUnary,
        [](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> { co_return make(req.text(), req.n()); });
    server_->add_client_streaming(&Tester::AsyncService::RequestClientStream,
                                  [](grpc::ServerContext&, ServerReader<Msg>&) -> Task<Reply<Msg>> {
                                    co_return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
                                  });
    server_->add_bidi_streaming(&Tester::AsyncService::RequestBidi,
                                [](grpc::ServerContext&, ServerStream<Msg, Msg>&) -> Task<grpc::Status> {
                                  co_return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
                                });
    server_->start();
    stub_ = testing::stub_for(*server_);
  }
  void TearDown() override { server_->shutdown(1s); }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Tester::Stub> stub_;
  Seen seen_;
};

TEST_F(GeneratorHandlerTest, YieldedMessagesArriveInOrderThenOk) {
  run_client([this]() -> Task<void> {
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("count", 50));
    int expected = 0;
    while (auto m = co_await stream.read()) {
      EXPECT_EQ(m->n(), expected);
      ++expected;
    }
    EXPECT_EQ(expected, 50);
    grpc::Status st = co_await stream.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
  });
  EXPECT_TRUE(eventually([&] { return seen_.destroyed.load(); }));
}

TEST_F(GeneratorHandlerTest, AnEmptyGeneratorEndsTheCallWithOk) {
  run_client([this]() -> Task<void> {
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("count", 0));
    auto m = co_await stream.read();
    EXPECT_FALSE(m.has_value());
    grpc::Status st = co_await stream.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
  });
}

TEST_F(GeneratorHandlerTest, AnExceptionAfterSomeMessagesBecomesInternal) {
  run_client([this]() -> Task<void> {
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("throw"));
    int got = 0;
    while (auto m = co_await stream.read()) {
      EXPECT_EQ(m->n(), got);
      ++got;
    }
    EXPECT_EQ(got, 2);
    grpc::Status st = co_await stream.finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(st.error_message(), "generator blew up");
  });
  EXPECT_TRUE(eventually([&] { return seen_.destroyed.load(); }));
}

TEST_F(GeneratorHandlerTest, ClientCancelRaisesCancelledErrorInsideTheGenerator) {
  run_client([this]() -> Task<void> {
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("idle"));
    auto first = co_await stream.read();
    EXPECT_TRUE(first.has_value());
    co_await until_sleeping(seen_);
    stream.cancel();
    grpc::Status st = co_await stream.finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::CANCELLED);
  });
  EXPECT_TRUE(eventually([&] { return seen_.cancelled.load(); }));
  EXPECT_TRUE(eventually([&] { return seen_.destroyed.load(); }));
}

TEST_F(GeneratorHandlerTest, DeadlineRaisesCancelledErrorInsideTheGenerator) {
  run_client([this]() -> Task<void> {
    CallOptions options;
    options.timeout = 1s;
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("idle"), options);
    auto first = co_await stream.read();
    EXPECT_TRUE(first.has_value());
    grpc::Status st = co_await stream.finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  });
  EXPECT_TRUE(eventually([&] { return seen_.cancelled.load(); }));
  EXPECT_TRUE(eventually([&] { return seen_.destroyed.load(); }));
}

// The client side of the same: a ClientReader dropped while its call is
// still open (no read in flight, no finish) cancels the call, so the
// server's generator hears of it.
TEST_F(GeneratorHandlerTest, DroppingAnUnfinishedClientReaderCancelsTheCall) {
  run_client([this]() -> Task<void> {
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("idle"));
    auto first = co_await stream.read();
    EXPECT_TRUE(first.has_value());
    co_await until_sleeping(seen_);
  });
  EXPECT_TRUE(eventually([&] { return seen_.cancelled.load(); }));
  EXPECT_TRUE(eventually([&] { return seen_.destroyed.load(); }));
}

// A generator that never suspends but at co_yield still stops when the
// client stops reading: each co_yield waits for gRPC to take the previous
// message, so once flow control holds the writes back the call's cancel
// gets through, and the generator is closed at its co_yield.
TEST_F(GeneratorHandlerTest, FlowControlHoldsAFloodingGeneratorAndCancelClosesIt) {
  run_client([this]() -> Task<void> {
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("flood"));
    for (int i = 0; i < 3; ++i) {
      auto m = co_await stream.read();
      EXPECT_TRUE(m.has_value());
      if (m) {
        EXPECT_EQ(m->n(), i);
      }
    }
    // Not reading for a while: the server fills the windows, then waits.
    co_await sleep(300ms);
    const int yielded = seen_.yielded.load();
    // Bounded by the HTTP/2 windows and socket buffers (a few MiB of
    // 64 KiB messages), not by how long the client waited.
    EXPECT_LT(yielded, 2000);
    EXPECT_FALSE(seen_.destroyed.load());
    stream.cancel();
    grpc::Status st = co_await stream.finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::CANCELLED);
  });
  EXPECT_TRUE(eventually([&] { return seen_.closed_at_yield.load(); }));
  EXPECT_TRUE(eventually([&] { return seen_.cleanup_awaited.load(); }));
  EXPECT_TRUE(eventually([&] { return seen_.destroyed.load(); }));
}

}  // namespace
}  // namespace corio::rpc
