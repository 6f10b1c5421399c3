// Interceptors: coroutines around every handler of a server.
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "corio/rpc/server.h"
#include "corio/rpc/testing/rpc_test_util.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using namespace std::chrono_literals;
using testing::make;
using testing::Msg;
using testing::run_client;
using testing::Tester;

// A Tester server with `interceptors`, whose unary handler fails, throws or
// sleeps when asked to by the request text, and counts its runs.
class InterceptorTest : public ::testing::Test {
 protected:
  void start(std::vector<Interceptor> interceptors) {
    server_ = std::make_unique<Server>();
    for (auto& i : interceptors) server_->add_interceptor(std::move(i));
    server_->add_service<Tester>();
    server_->add_unary(&Tester::AsyncService::RequestUnary,
                       [this](grpc::ServerContext&, const Msg& req) -> Task<Reply<Msg>> {
                         ++handler_runs_;
                         if (req.text() == "fail") co_return grpc::Status(grpc::StatusCode::NOT_FOUND, "nope");
                         if (req.text() == "throw") throw std::runtime_error("handler blew up");
                         if (req.text() == "sleep") co_await sleep(1h);
                         co_return make(req.text() + "!", req.n() + 1);
                       });
    server_->add_server_streaming(
        &Tester::AsyncService::RequestServerStream,
        [this](grpc::ServerContext&, const Msg& req, ServerWriter<Msg>& out) -> Task<grpc::Status> {
          ++handler_runs_;
          for (int i = 0; i < req.n(); ++i) co_await out.write(make("s", i));
          if (req.text() == "throw") throw std::runtime_error("stream blew up");
          co_return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "stream over");
        });
    server_->add_client_streaming(&Tester::AsyncService::RequestClientStream,
                                  [](grpc::ServerContext&, ServerReader<Msg>& in) -> Task<Reply<Msg>> {
                                    while (co_await in.read()) {
                                    }
                                    co_return make("done");
                                  });
    server_->add_bidi_streaming(
        &Tester::AsyncService::RequestBidi,
        [](grpc::ServerContext&, ServerStream<Msg, Msg>&) -> Task<grpc::Status> { co_return grpc::Status::OK; });
    server_->start();
    stub_ = testing::stub_for(*server_);
  }
  void TearDown() override {
    if (server_) server_->shutdown(1s);
  }

  Reply<Msg> call_unary(std::string text) {
    std::optional<Reply<Msg>> out;
    run_client(
        [&]() -> Task<void> { out.emplace(co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make(text, 1))); });
    return std::move(*out);
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Tester::Stub> stub_;
  std::atomic<int> handler_runs_{0};
};

TEST_F(InterceptorTest, SeesTheMethodNameKindAndMetadata) {
  // Written on the server's thread, read on this one: the reply that orders
  // the two travels through gRPC and a socket, which TSan cannot see.
  std::mutex mu;
  std::string method, token;
  MethodKind kind{};
  start({[&](CallInfo& call, Next next) -> Task<grpc::Status> {
    {
      std::lock_guard<std::mutex> lock(mu);
      method = call.method();
      kind = call.kind();
      auto it = call.context().client_metadata().find("x-token");
      if (it != call.context().client_metadata().end()) token.assign(it->second.data(), it->second.size());
    }
    co_return co_await next();
  }});
  run_client([&]() -> Task<void> {
    CallOptions options;
    options.metadata.emplace_back("x-token", "abc");
    auto r = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("hi", 1), options);
    EXPECT_TRUE(r.ok()) << r.status().error_message();
  });
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(method, "/corio.rpc.testing.Tester/Unary");
  EXPECT_EQ(kind, MethodKind::kUnary);
  EXPECT_EQ(token, "abc");
}

TEST_F(InterceptorTest, PassingTheHandlersStatusOnSendsItsReply) {
  start({[](CallInfo&, Next next) -> Task<grpc::Status> { co_return co_await next(); }});
  auto r = call_unary("hi");
  ASSERT_TRUE(r.ok()) << r.status().error_message();
  EXPECT_EQ(r->text(), "hi!");
  EXPECT_EQ(r->n(), 2);
}

TEST_F(InterceptorTest, RejectingWithoutNextEndsTheCallAndTheHandlerNeverRuns) {
  start({[](CallInfo&, Next) -> Task<grpc::Status> {
    co_return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "go away");
  }});
  auto r = call_unary("hi");
  EXPECT_EQ(r.status().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(r.status().error_message(), "go away");
  EXPECT_EQ(handler_runs_, 0);
}

TEST_F(InterceptorTest, ComposeInRegistrationOrderFirstOutermost) {
  std::mutex mu;
  std::vector<std::string> trace;
  auto tracer = [&](std::string name) {
    return [&, name](CallInfo&, Next next) -> Task<grpc::Status> {
      {
        std::lock_guard<std::mutex> lock(mu);
        trace.push_back(name + ">");
      }
      grpc::Status st = co_await next();
      std::lock_guard<std::mutex> lock(mu);
      trace.push_back("<" + name);
      co_return st;
    };
  };
  start({tracer("a"), tracer("b"), tracer("c")});
  EXPECT_TRUE(call_unary("hi").ok());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(trace, (std::vector<std::string>{"a>", "b>", "c>", "<c", "<b", "<a"}));
}

TEST_F(InterceptorTest, SeesTheHandlersErrorStatus) {
  std::mutex mu;  // seen is written on the server's thread
  grpc::Status seen;
  start({[&](CallInfo&, Next next) -> Task<grpc::Status> {
    grpc::Status st = co_await next();
    std::lock_guard<std::mutex> lock(mu);
    seen = st;
    co_return st;
  }});
  auto r = call_unary("fail");
  EXPECT_EQ(r.status().error_code(), grpc::StatusCode::NOT_FOUND);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(seen.error_message(), "nope");
}

TEST_F(InterceptorTest, SeesAHandlersExceptionAsInternal) {
  std::mutex mu;  // seen is written on the server's thread
  grpc::Status seen;
  start({[&](CallInfo&, Next next) -> Task<grpc::Status> {
    grpc::Status st = co_await next();
    std::lock_guard<std::mutex> lock(mu);
    seen = st;
    co_return st;
  }});
  auto r = call_unary("throw");
  EXPECT_EQ(r.status().error_code(), grpc::StatusCode::INTERNAL);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(seen.error_message(), "handler blew up");
}

TEST_F(InterceptorTest, SeesAStreamingHandlersFinalStatus) {
  std::vector<grpc::StatusCode> seen;
  std::mutex mu;
  start({[&](CallInfo&, Next next) -> Task<grpc::Status> {
    grpc::Status st = co_await next();
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(st.error_code());
    co_return st;
  }});
  run_client([&]() -> Task<void> {
    auto s = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("ok", 3));
    int n = 0;
    while (co_await s.read()) ++n;
    EXPECT_EQ(n, 3);
    EXPECT_EQ((co_await s.finish()).error_code(), grpc::StatusCode::OUT_OF_RANGE);
    auto t = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("throw", 1));
    EXPECT_EQ((co_await t.finish()).error_code(), grpc::StatusCode::INTERNAL);
  });
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, (std::vector<grpc::StatusCode>{grpc::StatusCode::OUT_OF_RANGE, grpc::StatusCode::INTERNAL}));
}

TEST_F(InterceptorTest, CanReplaceAnOkStatusAndTheReplyIsDropped) {
  start({[](CallInfo&, Next next) -> Task<grpc::Status> {
    co_await next();
    co_return grpc::Status(grpc::StatusCode::ABORTED, "changed my mind");
  }});
  auto r = call_unary("hi");
  EXPECT_EQ(r.status().error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(handler_runs_, 1);
}

TEST_F(InterceptorTest, OkAfterAFailedHandlerSendsTheHandlersStatus) {
  start({[](CallInfo&, Next next) -> Task<grpc::Status> {
    co_await next();
    co_return grpc::Status::OK;
  }});
  EXPECT_EQ(call_unary("fail").status().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(InterceptorTest, OkWithoutNextOnAUnaryCallIsInternal) {
  start({[](CallInfo&, Next) -> Task<grpc::Status> { co_return grpc::Status::OK; }});
  auto r = call_unary("hi");
  EXPECT_EQ(r.status().error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(handler_runs_, 0);
}

TEST_F(InterceptorTest, AnInterceptorThatThrowsGivesInternal) {
  start({[](CallInfo&, Next) -> Task<grpc::Status> {
    throw std::runtime_error("interceptor blew up");
    co_return grpc::Status::OK;
  }});
  auto r = call_unary("hi");
  EXPECT_EQ(r.status().error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(r.status().error_message(), "interceptor blew up");
}

TEST_F(InterceptorTest, NextAwaitedTwiceThrowsAndRunsTheHandlerOnce) {
  std::atomic<bool> threw{false};
  start({[&](CallInfo&, Next next) -> Task<grpc::Status> {
    grpc::Status first = co_await next();
    try {
      co_await next();
    } catch (const RuntimeError&) {
      threw = true;
    }
    co_return first;
  }});
  EXPECT_TRUE(call_unary("hi").ok());
  EXPECT_EQ(handler_runs_, 1);
  EXPECT_TRUE(threw);
}

TEST_F(InterceptorTest, ACancelledCallRaisesCancelledErrorThroughTheInterceptor) {
  std::atomic<bool> saw_cancel{false};
  start({[&](CallInfo&, Next next) -> Task<grpc::Status> {
    try {
      co_return co_await next();
    } catch (const CancelledError&) {
      saw_cancel = true;
      throw;
    }
  }});
  run_client([&]() -> Task<void> {
    CallOptions options;
    options.timeout = 200ms;
    auto r = co_await unary(*stub_, &Tester::Stub::PrepareAsyncUnary, make("sleep"), options);
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  });
  EXPECT_TRUE(testing::eventually([&] { return saw_cancel.load(); }));
}

TEST(InterceptorApi, EmptyFunctionIsRefused) {
  Server server;
  EXPECT_THROW(server.add_interceptor(Interceptor()), std::invalid_argument);
}

}  // namespace
}  // namespace corio::rpc
