// The kv example's bearer-token interceptor, on a kv server.
#include "corio/examples/kv/auth.h"

#include <grpcpp/create_channel.h>

#include <atomic>
#include <optional>

#include "corio/examples/kv/kv.grpc.pb.h"
#include "corio/examples/kv/store.h"
#include "corio/loop/loop.h"
#include "corio/rpc/client.h"
#include "corio/rpc/grpc/health/v1/health.grpc.pb.h"
#include "corio/rpc/health.h"
#include "corio/rpc/server.h"
#include "gtest/gtest.h"

namespace kv {
namespace {

using namespace std::chrono_literals;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<corio::rpc::Server>();
    server_->add_interceptor(bearer_token_auth("s3cret"));
    // Counts the calls that got past authentication.
    server_->add_interceptor([this](corio::rpc::CallInfo&, corio::rpc::Next next) -> corio::Task<grpc::Status> {
      ++admitted_;
      co_return co_await next();
    });
    store_.serve(*server_);
    health_.serve(*server_);
    server_->start();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
  }
  void TearDown() override { server_->shutdown(1s); }

  // A Put with `authorization` as its metadata, if given.
  grpc::Status put(std::optional<std::string> authorization) {
    grpc::Status st;
    auto stub = KV::NewStub(channel_);
    corio::run([&]() -> corio::Task<void> {
      corio::rpc::ClientQueue queue;
      corio::rpc::CallOptions options;
      if (authorization) options.metadata.emplace_back("authorization", *authorization);
      Entry e;
      e.set_key("k");
      e.set_value("v");
      auto r = co_await corio::rpc::unary(*stub, &KV::Stub::PrepareAsyncPut, e, options);
      st = r.status();
    }());
    return st;
  }

  Store store_;
  corio::rpc::HealthService health_;
  std::unique_ptr<corio::rpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::atomic<int> admitted_{0};
};

TEST_F(AuthTest, TheRightTokenGetsThrough) {
  EXPECT_TRUE(put(bearer("s3cret")).ok());
  EXPECT_EQ(admitted_, 1);
}

TEST_F(AuthTest, NoTokenIsUnauthenticatedAndTheHandlerNeverRuns) {
  grpc::Status st = put(std::nullopt);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(admitted_, 0);
}

TEST_F(AuthTest, AWrongTokenIsUnauthenticated) {
  EXPECT_EQ(put(bearer("s3cre")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(put(bearer("s3cretx")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(put("Basic s3cret").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(admitted_, 0);
}

TEST_F(AuthTest, HealthNeedsNoToken) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::Status st;
  corio::run([&]() -> corio::Task<void> {
    corio::rpc::ClientQueue queue;
    auto r = co_await corio::rpc::unary(*stub, &grpc::health::v1::Health::Stub::PrepareAsyncCheck,
                                        grpc::health::v1::HealthCheckRequest());
    st = r.status();
  }());
  EXPECT_TRUE(st.ok()) << st.error_message();
}

}  // namespace
}  // namespace kv
