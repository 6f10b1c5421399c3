// Proves the corio_cc_grpc_library macro: messages round-trip through the
// wire format and the generated service stub links against system gRPC.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "corio/tests/echo.grpc.pb.h"
#include "corio/tests/echo.pb.h"
#include "gtest/gtest.h"

namespace {

TEST(ProtoMacro, MessageRoundTripsThroughWireFormat) {
  corio::tests::EchoRequest request;
  request.set_message("hello");
  std::string wire;
  ASSERT_TRUE(request.SerializeToString(&wire));
  corio::tests::EchoRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_EQ(parsed.message(), "hello");
}

TEST(ProtoMacro, GeneratedStubReportsUnavailableWithoutServer) {
  // Port 1 on loopback has no server: the call must fail with a status, not
  // hang (bounded by the deadline) or crash.
  auto channel = grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
  auto stub = corio::tests::Echo::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  corio::tests::EchoRequest request;
  corio::tests::EchoReply reply;
  grpc::Status status = stub->Say(&context, request, &reply);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
              status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
}

}  // namespace
