// ReflectionService: grpc.reflection.v1.ServerReflection on a corio handler.
#include "corio/rpc/reflection.h"

#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/create_channel.h>

#include <algorithm>
#include <string>
#include <vector>

#include "corio/loop/testing/co_test.h"
#include "corio/rpc/grpc/reflection/v1/reflection.grpc.pb.h"
#include "corio/rpc/health.h"
#include "corio/rpc/testing/imports.pb.h"
#include "corio/rpc/testing/rpc_test_util.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using namespace std::chrono_literals;
using google::protobuf::FileDescriptorProto;
using grpc::reflection::v1::ServerReflection;
using grpc::reflection::v1::ServerReflectionRequest;
using grpc::reflection::v1::ServerReflectionResponse;
using testing::run_client;

class ReflectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>();
    testing::add_echo_handlers(*server_);
    health_.serve(*server_);
    reflection_.serve(*server_);
    server_->start();
    stub_ = ServerReflection::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->shutdown(1s); }

  // Sends each request on one stream and gives the answers.
  std::vector<ServerReflectionResponse> ask(std::vector<ServerReflectionRequest> requests) {
    std::vector<ServerReflectionResponse> answers;
    run_client([&]() -> Task<void> {
      auto io = co_await bidi_streaming(*stub_, &ServerReflection::Stub::PrepareAsyncServerReflectionInfo);
      for (const auto& req : requests) {
        CO_ASSERT_TRUE(co_await io.write(req));
        auto r = co_await io.read();
        CO_ASSERT_TRUE(r.has_value());
        answers.push_back(std::move(*r));
      }
      grpc::Status st = co_await io.finish();
      EXPECT_TRUE(st.ok()) << st.error_message();
    });
    return answers;
  }

  static std::vector<FileDescriptorProto> files(const ServerReflectionResponse& r) {
    std::vector<FileDescriptorProto> out;
    for (const auto& bytes : r.file_descriptor_response().file_descriptor_proto()) {
      out.emplace_back();
      EXPECT_TRUE(out.back().ParseFromString(bytes));
    }
    return out;
  }

  HealthService health_;
  ReflectionService reflection_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<ServerReflection::Stub> stub_;
};

TEST_F(ReflectionTest, ListServicesGivesEveryServiceOfTheServer) {
  ServerReflectionRequest req;
  req.set_host("localhost");
  req.set_list_services("*");
  auto answers = ask({req});
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].valid_host(), "localhost");
  EXPECT_EQ(answers[0].original_request().list_services(), "*");
  std::vector<std::string> names;
  for (const auto& s : answers[0].list_services_response().service()) names.push_back(s.name());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"corio.rpc.testing.Tester", "grpc.health.v1.Health",
                                             "grpc.reflection.v1.ServerReflection"}));
}

TEST_F(ReflectionTest, FileContainingAMethodDescribesIt) {
  ServerReflectionRequest req;
  req.set_file_containing_symbol("corio.rpc.testing.Tester.ClientStream");
  auto answers = ask({req});
  ASSERT_EQ(answers.size(), 1u);
  auto f = files(answers[0]);
  ASSERT_EQ(f.size(), 1u);  // test_service.proto imports nothing
  EXPECT_EQ(f[0].name(), "rpc/testing/test_service.proto");
  EXPECT_EQ(f[0].package(), "corio.rpc.testing");
  ASSERT_EQ(f[0].service_size(), 1);
  const auto& svc = f[0].service(0);
  EXPECT_EQ(svc.name(), "Tester");
  auto m =
      std::find_if(svc.method().begin(), svc.method().end(), [](const auto& m) { return m.name() == "ClientStream"; });
  ASSERT_NE(m, svc.method().end());
  EXPECT_EQ(m->input_type(), ".corio.rpc.testing.Msg");
  EXPECT_EQ(m->output_type(), ".corio.rpc.testing.Msg");
  EXPECT_TRUE(m->client_streaming());
  EXPECT_FALSE(m->server_streaming());
}

TEST_F(ReflectionTest, FileByFilenameComesWithEveryImport) {
  testing::Stamped linked;  // keeps imports.proto in the program's descriptor pool
  (void)linked;
  ServerReflectionRequest req;
  req.set_file_by_filename("rpc/testing/imports.proto");
  auto answers = ask({req});
  ASSERT_EQ(answers.size(), 1u);
  std::vector<std::string> names;
  for (const auto& f : files(answers[0])) names.push_back(f.name());
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names[0], "rpc/testing/imports.proto");
  std::sort(names.begin() + 1, names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"rpc/testing/imports.proto", "google/protobuf/timestamp.proto",
                                             "rpc/testing/test_service.proto"}));
}

TEST_F(ReflectionTest, UnknownNamesGetNotFoundAndTheStreamGoesOn) {
  ServerReflectionRequest missing_symbol, missing_file, list;
  missing_symbol.set_file_containing_symbol("no.such.Thing");
  missing_file.set_file_by_filename("no/such.proto");
  list.set_list_services("");
  auto answers = ask({missing_symbol, missing_file, list});
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].error_response().error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(answers[1].error_response().error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(answers[2].list_services_response().service_size(), 3);
}

}  // namespace
}  // namespace corio::rpc
