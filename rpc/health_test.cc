// HealthService: grpc.health.v1.Health's Check and Watch on corio handlers.
#include "corio/rpc/health.h"

#include <grpcpp/create_channel.h>

#include <memory>
#include <vector>

#include "corio/loop/testing/co_test.h"
#include "corio/rpc/grpc/health/v1/health.grpc.pb.h"
#include "corio/rpc/testing/rpc_test_util.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using namespace std::chrono_literals;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using testing::run_client;

constexpr char kTester[] = "corio.rpc.testing.Tester";

HealthCheckRequest request(std::string service) {
  HealthCheckRequest r;
  r.set_service(std::move(service));
  return r;
}

// A server with the Tester service and health, on two loops, so that
// watches land on different loops.
class HealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.threads = 2;
    server_ = std::make_unique<Server>(options);
    testing::add_echo_handlers(*server_);
    health_.serve(*server_);
    server_->start();
    stub_ = Health::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->shutdown(1s); }

  HealthService health_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(HealthTest, CheckGivesEachServicesStatus) {
  health_.set_status(kTester, ServingStatus::kNotServing);
  run_client([&]() -> Task<void> {
    auto all = co_await unary(*stub_, &Health::Stub::PrepareAsyncCheck, request(""));
    CO_ASSERT_TRUE(all.ok()) << all.status().error_message();
    EXPECT_EQ(all->status(), HealthCheckResponse::SERVING);
    auto tester = co_await unary(*stub_, &Health::Stub::PrepareAsyncCheck, request(kTester));
    CO_ASSERT_TRUE(tester.ok()) << tester.status().error_message();
    EXPECT_EQ(tester->status(), HealthCheckResponse::NOT_SERVING);
    health_.set_status(kTester, ServingStatus::kServing);
    auto again = co_await unary(*stub_, &Health::Stub::PrepareAsyncCheck, request(kTester));
    CO_ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->status(), HealthCheckResponse::SERVING);
  });
}

TEST_F(HealthTest, CheckOfAnUnknownServiceIsNotFound) {
  run_client([&]() -> Task<void> {
    auto r = co_await unary(*stub_, &Health::Stub::PrepareAsyncCheck, request("no.such.Service"));
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::NOT_FOUND);
  });
}

TEST_F(HealthTest, WatchSeesStatusChangesInOrder) {
  run_client([&]() -> Task<void> {
    auto watch = co_await server_streaming(*stub_, &Health::Stub::PrepareAsyncWatch, request(kTester));
    auto first = co_await watch.read();
    CO_ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->status(), HealthCheckResponse::SERVICE_UNKNOWN);
    // From this thread, which is none of the server's loops.
    health_.set_status(kTester, ServingStatus::kServing);
    health_.set_status(kTester, ServingStatus::kNotServing);
    health_.set_status(kTester, ServingStatus::kNotServing);  // no change: no message
    health_.set_status(kTester, ServingStatus::kServing);
    health_.clear_status(kTester);
    std::vector<HealthCheckResponse::ServingStatus> seen;
    for (int i = 0; i < 4; ++i) {
      auto m = co_await watch.read();
      CO_ASSERT_TRUE(m.has_value());
      seen.push_back(m->status());
    }
    EXPECT_EQ(seen, (std::vector<HealthCheckResponse::ServingStatus>{
                        HealthCheckResponse::SERVING, HealthCheckResponse::NOT_SERVING, HealthCheckResponse::SERVING,
                        HealthCheckResponse::SERVICE_UNKNOWN}));
    watch.cancel();
  });
}

TEST_F(HealthTest, EveryWatchOnEveryLoopSeesAChange) {
  run_client([&]() -> Task<void> {
    std::vector<ClientReader<HealthCheckResponse>> watches;
    for (int i = 0; i < 8; ++i) {
      watches.push_back(co_await server_streaming(*stub_, &Health::Stub::PrepareAsyncWatch, request("")));
      auto first = co_await watches.back().read();
      CO_ASSERT_TRUE(first.has_value());
      EXPECT_EQ(first->status(), HealthCheckResponse::SERVING);
    }
    health_.set_status("", ServingStatus::kNotServing);
    for (auto& w : watches) {
      auto m = co_await w.read();
      CO_ASSERT_TRUE(m.has_value());
      EXPECT_EQ(m->status(), HealthCheckResponse::NOT_SERVING);
      w.cancel();
    }
  });
}

TEST_F(HealthTest, ShutdownSendsNotServingAndEndsTheWatch) {
  health_.set_status(kTester, ServingStatus::kServing);
  run_client([&]() -> Task<void> {
    auto watch = co_await server_streaming(*stub_, &Health::Stub::PrepareAsyncWatch, request(kTester));
    auto first = co_await watch.read();
    CO_ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->status(), HealthCheckResponse::SERVING);
    health_.shutdown();
    auto last = co_await watch.read();
    CO_ASSERT_TRUE(last.has_value());
    EXPECT_EQ(last->status(), HealthCheckResponse::NOT_SERVING);
    EXPECT_FALSE((co_await watch.read()).has_value());
    EXPECT_EQ((co_await watch.finish()).error_code(), grpc::StatusCode::UNAVAILABLE);
    // Later changes are ignored; Check tells NOT_SERVING.
    health_.set_status(kTester, ServingStatus::kServing);
    auto r = co_await unary(*stub_, &Health::Stub::PrepareAsyncCheck, request(kTester));
    CO_ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status(), HealthCheckResponse::NOT_SERVING);
  });
}

}  // namespace
}  // namespace corio::rpc
