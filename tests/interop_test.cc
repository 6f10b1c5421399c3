// gRPC's interoperability test cases (grpc/grpc's
// doc/interop-test-descriptions.md, "Client"), one TEST each, run through
// corio's client calls against the corio interop server
// (//examples/interop:test_service) started in this process on loopback.
// Each asserts what the description's "Client asserts" lists.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "corio/examples/interop/grpc/testing/test.grpc.pb.h"
#include "corio/examples/interop/test_service.h"
#include "corio/loop/loop.h"
#include "corio/rpc/client.h"
#include "corio/rpc/server.h"
#include "gtest/gtest.h"

namespace {

using namespace std::chrono_literals;
using corio::Task;
using corio::rpc::CallOptions;
using grpc::testing::Empty;
using grpc::testing::SimpleRequest;
using grpc::testing::SimpleResponse;
using grpc::testing::StreamingInputCallRequest;
using grpc::testing::StreamingInputCallResponse;
using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;
using grpc::testing::TestService;
using grpc::testing::UnimplementedService;

constexpr int kLargeRequestSize = 271828;
constexpr int kLargeResponseSize = 314159;
const std::vector<int> kRequestSizes = {27182, 8, 1828, 45904};
const std::vector<int> kResponseSizes = {31415, 9, 2653, 58979};
constexpr char kInitialValue[] = "test_initial_metadata_value";
const std::string kTrailingValue = "\xab\xab\xab";

std::string zeros(int n) { return std::string(static_cast<std::size_t>(n), '\0'); }

// A request for one response of `response_size` bytes, carrying
// `payload_size` bytes.
StreamingOutputCallRequest output_request(int response_size, int payload_size) {
  StreamingOutputCallRequest req;
  req.add_response_parameters()->set_size(response_size);
  req.mutable_payload()->set_body(zeros(payload_size));
  return req;
}

SimpleRequest large_unary_request() {
  SimpleRequest req;
  req.set_response_size(kLargeResponseSize);
  req.mutable_payload()->set_body(zeros(kLargeRequestSize));
  return req;
}

// The value of `key` in gRPC's metadata map, if there is one.
std::optional<std::string> find(const std::multimap<grpc::string_ref, grpc::string_ref>& md, const std::string& key) {
  auto it = md.find(key);
  if (it == md.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

class InteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    corio::rpc::ServerOptions options;
    options.addresses = {"127.0.0.1:0"};
    options.threads = 2;
    server_ = std::make_unique<corio::rpc::Server>(options);
    interop::add_test_service(*server_);
    server_->start();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
    stub_ = TestService::NewStub(channel_);
  }
  void TearDown() override { server_->shutdown(1s); }

  // Runs `body` as the main task of a fresh client loop.
  template <class F>
  void client(F body) {
    corio::run([](F body) -> Task<void> {
      corio::rpc::ClientQueue queue;
      co_await body();
    }(std::move(body)));
  }

  // The cases set no deadline; this one only turns a hang into a failure.
  static CallOptions bounded() {
    CallOptions o;
    o.timeout = 30s;
    return o;
  }

  std::unique_ptr<corio::rpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<TestService::Stub> stub_;
};

TEST_F(InteropTest, EmptyUnary) {
  client([this]() -> Task<void> {
    auto r = co_await corio::rpc::unary(*stub_, &TestService::Stub::PrepareAsyncEmptyCall, Empty(), bounded());
    EXPECT_TRUE(r.ok()) << r.status().error_message();  // successful, with a (non-null) reply
  });
}

TEST_F(InteropTest, LargeUnary) {
  client([this]() -> Task<void> {
    auto r =
        co_await corio::rpc::unary(*stub_, &TestService::Stub::PrepareAsyncUnaryCall, large_unary_request(), bounded());
    EXPECT_TRUE(r.ok()) << r.status().error_message();
    if (!r.ok()) co_return;
    EXPECT_EQ(r->payload().body().size(), static_cast<std::size_t>(kLargeResponseSize));
    EXPECT_EQ(r->payload().body(), zeros(kLargeResponseSize));
    EXPECT_EQ(r->payload().type(), grpc::testing::COMPRESSABLE);
  });
}

TEST_F(InteropTest, ClientStreaming) {
  client([this]() -> Task<void> {
    auto up =
        co_await corio::rpc::client_streaming(*stub_, &TestService::Stub::PrepareAsyncStreamingInputCall, bounded());
    for (int size : kRequestSizes) {
      StreamingInputCallRequest req;
      req.mutable_payload()->set_body(zeros(size));
      EXPECT_TRUE(co_await up.write(req)) << "write of " << size;
    }
    auto r = co_await up.finish();  // half-closes
    EXPECT_TRUE(r.ok()) << r.status().error_message();
    if (r.ok()) {
      EXPECT_EQ(r->aggregated_payload_size(), 74922);
    }
  });
}

TEST_F(InteropTest, ServerStreaming) {
  client([this]() -> Task<void> {
    StreamingOutputCallRequest req;
    for (int size : kResponseSizes) req.add_response_parameters()->set_size(size);
    auto down = co_await corio::rpc::server_streaming(*stub_, &TestService::Stub::PrepareAsyncStreamingOutputCall, req,
                                                      bounded());
    std::vector<int> sizes;
    while (auto m = co_await down.read()) {
      EXPECT_EQ(m->payload().body(), zeros(static_cast<int>(m->payload().body().size())));
      sizes.push_back(static_cast<int>(m->payload().body().size()));
    }
    grpc::Status st = co_await down.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(sizes, kResponseSizes);  // exactly four, in order
  });
}

TEST_F(InteropTest, PingPong) {
  client([this]() -> Task<void> {
    auto io = co_await corio::rpc::bidi_streaming(*stub_, &TestService::Stub::PrepareAsyncFullDuplexCall, bounded());
    for (std::size_t i = 0; i < kRequestSizes.size(); ++i) {
      EXPECT_TRUE(co_await io.write(output_request(kResponseSizes[i], kRequestSizes[i])));
      auto m = co_await io.read();  // the reply, before the next request
      EXPECT_TRUE(m.has_value()) << "no reply to request " << i;
      if (!m) break;
      EXPECT_EQ(m->payload().body(), zeros(kResponseSizes[i]));
    }
    co_await io.writes_done();
    auto extra = co_await io.read();
    EXPECT_FALSE(extra.has_value()) << "more than four responses";
    grpc::Status st = co_await io.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
  });
}

TEST_F(InteropTest, EmptyStream) {
  client([this]() -> Task<void> {
    auto io = co_await corio::rpc::bidi_streaming(*stub_, &TestService::Stub::PrepareAsyncFullDuplexCall, bounded());
    co_await io.writes_done();
    auto m = co_await io.read();
    EXPECT_FALSE(m.has_value()) << "expected zero responses";
    grpc::Status st = co_await io.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
  });
}

TEST_F(InteropTest, CancelAfterBegin) {
  client([this]() -> Task<void> {
    auto up =
        co_await corio::rpc::client_streaming(*stub_, &TestService::Stub::PrepareAsyncStreamingInputCall, bounded());
    up.cancel();  // before any payload
    auto r = co_await up.finish();
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::CANCELLED) << r.status().error_message();
  });
}

TEST_F(InteropTest, CancelAfterFirstResponse) {
  client([this]() -> Task<void> {
    auto io = co_await corio::rpc::bidi_streaming(*stub_, &TestService::Stub::PrepareAsyncFullDuplexCall, bounded());
    EXPECT_TRUE(co_await io.write(output_request(31415, 27182)));
    auto m = co_await io.read();
    EXPECT_TRUE(m.has_value());
    io.cancel();
    grpc::Status st = co_await io.finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::CANCELLED) << st.error_message();
  });
}

TEST_F(InteropTest, TimeoutOnSleepingServer) {
  client([this]() -> Task<void> {
    CallOptions options;
    options.timeout = 1ms;
    auto io = co_await corio::rpc::bidi_streaming(*stub_, &TestService::Stub::PrepareAsyncFullDuplexCall, options);
    StreamingOutputCallRequest req;
    req.mutable_payload()->set_body(zeros(27182));
    co_await io.write(req);  // may already fail: the deadline is that close
    // The client waits: reading until the call ends, without half-closing.
    while (co_await io.read()) {
    }
    grpc::Status st = co_await io.finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
  });
}

TEST_F(InteropTest, StatusCodeAndMessage) {
  client([this]() -> Task<void> {
    SimpleRequest req;
    req.mutable_response_status()->set_code(2);
    req.mutable_response_status()->set_message("test status message");
    auto r = co_await corio::rpc::unary(*stub_, &TestService::Stub::PrepareAsyncUnaryCall, req, bounded());
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::UNKNOWN);
    EXPECT_EQ(r.status().error_message(), "test status message");

    auto io = co_await corio::rpc::bidi_streaming(*stub_, &TestService::Stub::PrepareAsyncFullDuplexCall, bounded());
    StreamingOutputCallRequest sreq;
    sreq.mutable_response_status()->set_code(2);
    sreq.mutable_response_status()->set_message("test status message");
    EXPECT_TRUE(co_await io.write(sreq));
    grpc::Status st = co_await io.finish();  // half-closes first
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNKNOWN);
    EXPECT_EQ(st.error_message(), "test status message");
  });
}

TEST_F(InteropTest, SpecialStatusMessage) {
  client([this]() -> Task<void> {
    // Tabs, CR/LF, U+263A (BMP) and U+1F608 (non-BMP), in UTF-8.
    const std::string message =
        "\t\ntest with whitespace\r\nand Unicode BMP \xE2\x98\xBA and non-BMP \xF0\x9F\x98\x88\t\n";
    SimpleRequest req;
    req.mutable_response_status()->set_code(2);
    req.mutable_response_status()->set_message(message);
    auto r = co_await corio::rpc::unary(*stub_, &TestService::Stub::PrepareAsyncUnaryCall, req, bounded());
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::UNKNOWN);
    EXPECT_EQ(r.status().error_message(), message);
  });
}

TEST_F(InteropTest, CustomMetadata) {
  client([this]() -> Task<void> {
    CallOptions options = bounded();
    options.metadata = {{interop::kEchoInitialKey, kInitialValue}, {interop::kEchoTrailingKey, kTrailingValue}};

    // Step 1, UnaryCall, through corio with the metadata the server sent.
    auto r = co_await corio::rpc::unary_with_metadata(*stub_, &TestService::Stub::PrepareAsyncUnaryCall,
                                                      large_unary_request(), options);
    EXPECT_TRUE(r.reply.ok()) << r.reply.status().error_message();
    auto initial = r.initial_metadata.find(interop::kEchoInitialKey);
    auto trailing = r.trailing_metadata.find(interop::kEchoTrailingKey);
    EXPECT_TRUE(initial != r.initial_metadata.end() && initial->second == kInitialValue);
    EXPECT_TRUE(trailing != r.trailing_metadata.end() && trailing->second == kTrailingValue);

    // Step 2, FullDuplexCall, through corio: the stream's context() has
    // the metadata once finish() returned.
    auto io = co_await corio::rpc::bidi_streaming(*stub_, &TestService::Stub::PrepareAsyncFullDuplexCall, options);
    EXPECT_TRUE(co_await io.write(output_request(kLargeResponseSize, kLargeRequestSize)));
    co_await io.writes_done();
    auto m = co_await io.read();
    EXPECT_TRUE(m.has_value());
    if (m) {
      EXPECT_EQ(m->payload().body().size(), static_cast<std::size_t>(kLargeResponseSize));
    }
    grpc::Status st = co_await io.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(find(io.context().GetServerInitialMetadata(), interop::kEchoInitialKey), kInitialValue);
    EXPECT_EQ(find(io.context().GetServerTrailingMetadata(), interop::kEchoTrailingKey), kTrailingValue);
  });
}

TEST_F(InteropTest, UnimplementedMethod) {
  client([this]() -> Task<void> {
    auto r = co_await corio::rpc::unary(*stub_, &TestService::Stub::PrepareAsyncUnimplementedCall, Empty(), bounded());
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::UNIMPLEMENTED) << r.status().error_message();
  });
}

TEST_F(InteropTest, UnimplementedService) {
  client([this]() -> Task<void> {
    // grpc.testing.UnimplementedService, which the server does not have.
    auto other = UnimplementedService::NewStub(channel_);
    auto r = co_await corio::rpc::unary(*other, &UnimplementedService::Stub::PrepareAsyncUnimplementedCall, Empty(),
                                        bounded());
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::UNIMPLEMENTED) << r.status().error_message();
  });
}

// Server features the cases above do not reach.

TEST_F(InteropTest, HalfDuplexAnswersOnlyAfterHalfClose) {
  client([this]() -> Task<void> {
    auto io = co_await corio::rpc::bidi_streaming(*stub_, &TestService::Stub::PrepareAsyncHalfDuplexCall, bounded());
    // A reader task notes whether the client had half-closed when the first
    // response arrived. (A timed read would not do: cancelling a read
    // cancels the call.)
    bool half_closed = false;
    bool first_after_half_close = false;
    std::vector<int> sizes;
    auto read_all = [&]() -> Task<void> {
      while (auto m = co_await io.read()) {
        if (sizes.empty()) first_after_half_close = half_closed;
        sizes.push_back(static_cast<int>(m->payload().body().size()));
      }
    };
    auto reader = corio::create_task(read_all(), "reader");
    for (std::size_t i = 0; i < kRequestSizes.size(); ++i) {
      EXPECT_TRUE(co_await io.write(output_request(kResponseSizes[i], kRequestSizes[i])));
    }
    co_await corio::sleep(100ms);  // a full-duplex server would answer meanwhile
    half_closed = true;
    co_await io.writes_done();
    co_await reader;
    grpc::Status st = co_await io.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(sizes, kResponseSizes);
    EXPECT_TRUE(first_after_half_close);
  });
}

TEST_F(InteropTest, IntervalUsDelaysEachResponse) {
  client([this]() -> Task<void> {
    StreamingOutputCallRequest req;
    for (int i = 0; i < 3; ++i) {
      auto* p = req.add_response_parameters();
      p->set_size(10);
      p->set_interval_us(50'000);
    }
    const auto start = std::chrono::steady_clock::now();
    auto down = co_await corio::rpc::server_streaming(*stub_, &TestService::Stub::PrepareAsyncStreamingOutputCall, req,
                                                      bounded());
    int n = 0;
    while (co_await down.read()) ++n;
    grpc::Status st = co_await down.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(n, 3);
    // Each interval is a sleep before its response, so they add up.
    EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  });
}

TEST_F(InteropTest, UnsupportedResponseTypeIsInvalidArgument) {
  client([this]() -> Task<void> {
    SimpleRequest req;
    req.set_response_type(static_cast<grpc::testing::PayloadType>(1));  // not in the proto
    req.set_response_size(10);
    auto r = co_await corio::rpc::unary(*stub_, &TestService::Stub::PrepareAsyncUnaryCall, req, bounded());
    EXPECT_EQ(r.status().error_code(), grpc::StatusCode::INVALID_ARGUMENT) << r.status().error_message();
  });
}

}  // namespace
