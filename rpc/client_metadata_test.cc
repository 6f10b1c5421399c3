// The corio client's view of the metadata a server sends back: initial and
// trailing metadata of unary calls (unary_with_metadata) and, through
// context(), of each kind of streaming call; read_initial_metadata().
#include <chrono>
#include <memory>
#include <string>

#include "corio/loop/loop.h"
#include "corio/rpc/client.h"
#include "corio/rpc/server.h"
#include "corio/rpc/testing/rpc_test_util.h"
#include "corio/rpc/testing/test_service.grpc.pb.h"
#include "gtest/gtest.h"

namespace corio::rpc {
namespace {

using testing::make;
using testing::Msg;
using testing::run_client;
using testing::Tester;
using namespace std::chrono_literals;

// A binary value with a NUL and bytes that are not text.
const std::string kBinary("\x00\x01\xfe\xff", 4);

// The value of `key`, or "<none>".
std::string find(const Metadata& md, const std::string& key) {
  auto it = md.find(key);
  return it == md.end() ? "<none>" : it->second;
}
std::string find(const std::multimap<grpc::string_ref, grpc::string_ref>& md, const std::string& key) {
  auto it = md.find(key);
  return it == md.end() ? "<none>" : std::string(it->second.data(), it->second.size());
}

// Echoes the client's x-token in both kinds of metadata; a binary trailer.
void add_metadata(grpc::ServerContext& ctx) {
  auto it = ctx.client_metadata().find("x-token");
  const std::string token =
      it == ctx.client_metadata().end() ? "<none>" : std::string(it->second.data(), it->second.size());
  ctx.AddInitialMetadata("x-initial", "i-" + token);
  ctx.AddTrailingMetadata("x-trailing", "t-" + token);
  ctx.AddTrailingMetadata("x-raw-bin", kBinary);
}

class ClientMetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>();
    server_->add_service<Tester>();
    server_->add_unary(&Tester::AsyncService::RequestUnary,
                       [](grpc::ServerContext& ctx, const Msg& req) -> Task<Reply<Msg>> {
                         add_metadata(ctx);
                         if (req.text() == "fail") co_return grpc::Status(grpc::StatusCode::NOT_FOUND, "none here");
                         co_return make(req.text() + "!", req.n());
                       });
    server_->add_server_streaming(
        &Tester::AsyncService::RequestServerStream,
        [](grpc::ServerContext& ctx, const Msg& req, ServerWriter<Msg>& out) -> Task<grpc::Status> {
          add_metadata(ctx);
          for (int i = 0; i < req.n(); ++i) {
            if (!co_await out.write(make("s", i))) co_return grpc::Status::CANCELLED;
          }
          co_return grpc::Status::OK;
        });
    server_->add_client_streaming(&Tester::AsyncService::RequestClientStream,
                                  [](grpc::ServerContext& ctx, ServerReader<Msg>& in) -> Task<Reply<Msg>> {
                                    add_metadata(ctx);
                                    int sum = 0;
                                    while (auto m = co_await in.read()) sum += m->n();
                                    co_return make("sum", sum);
                                  });
    server_->add_bidi_streaming(&Tester::AsyncService::RequestBidi,
                                [](grpc::ServerContext& ctx, ServerStream<Msg, Msg>& io) -> Task<grpc::Status> {
                                  add_metadata(ctx);
                                  while (auto m = co_await io.read()) {
                                    if (!co_await io.write(make(m->text() + "?", m->n()))) break;
                                  }
                                  co_return grpc::Status::OK;
                                });
    server_->start();
    stub_ = testing::stub_for(*server_);
    options_.timeout = 20s;
    options_.metadata.emplace_back("x-token", "abc");
  }
  void TearDown() override { server_->shutdown(1s); }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Tester::Stub> stub_;
  CallOptions options_;
};

TEST_F(ClientMetadataTest, UnaryGivesInitialAndTrailingMetadataWithTheReply) {
  run_client([this]() -> Task<void> {
    auto r = co_await unary_with_metadata(*stub_, &Tester::Stub::PrepareAsyncUnary, make("hi", 7), options_);
    EXPECT_TRUE(r.reply.ok()) << r.reply.status().error_message();
    if (r.reply) {
      EXPECT_EQ(r.reply->text(), "hi!");
    }
    EXPECT_EQ(find(r.initial_metadata, "x-initial"), "i-abc");
    EXPECT_EQ(find(r.trailing_metadata, "x-trailing"), "t-abc");
  });
}

TEST_F(ClientMetadataTest, UnaryBinaryTrailerArrivesByteForByte) {
  run_client([this]() -> Task<void> {
    auto r = co_await unary_with_metadata(*stub_, &Tester::Stub::PrepareAsyncUnary, make("hi"), options_);
    EXPECT_EQ(find(r.trailing_metadata, "x-raw-bin"), kBinary);
  });
}

TEST_F(ClientMetadataTest, UnaryErrorStatusStillGivesTheTrailingMetadata) {
  run_client([this]() -> Task<void> {
    auto r = co_await unary_with_metadata(*stub_, &Tester::Stub::PrepareAsyncUnary, make("fail"), options_);
    EXPECT_EQ(r.reply.status().error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(r.reply.status().error_message(), "none here");
    EXPECT_EQ(find(r.trailing_metadata, "x-trailing"), "t-abc");
  });
}

TEST_F(ClientMetadataTest, UnaryToAnUnreachableServerGivesNoMetadata) {
  run_client([]() -> Task<void> {
    // A port nobody listens on: the call fails before any metadata.
    auto channel = grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
    auto stub = Tester::NewStub(channel);
    CallOptions options;
    options.timeout = 5s;
    auto r = co_await unary_with_metadata(*stub, &Tester::Stub::PrepareAsyncUnary, make("hi"), options);
    EXPECT_EQ(r.reply.status().error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_TRUE(r.initial_metadata.empty());
    EXPECT_TRUE(r.trailing_metadata.empty());
  });
}

TEST_F(ClientMetadataTest, ServerStreamingContextHasBothAfterFinish) {
  run_client([this]() -> Task<void> {
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("s", 3), options_);
    int got = 0;
    while (auto m = co_await stream.read()) ++got;
    EXPECT_EQ(got, 3);
    grpc::Status st = co_await stream.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(find(stream.context().GetServerInitialMetadata(), "x-initial"), "i-abc");
    EXPECT_EQ(find(stream.context().GetServerTrailingMetadata(), "x-trailing"), "t-abc");
  });
}

TEST_F(ClientMetadataTest, ServerStreamingReadInitialMetadataBeforeTheFirstMessage) {
  run_client([this]() -> Task<void> {
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("s", 2), options_);
    co_await stream.read_initial_metadata();
    EXPECT_EQ(find(stream.context().GetServerInitialMetadata(), "x-initial"), "i-abc");
    auto first = co_await stream.read();
    EXPECT_TRUE(first.has_value());
    if (first) {
      EXPECT_EQ(first->n(), 0);
    }
    grpc::Status st = co_await stream.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
  });
}

TEST_F(ClientMetadataTest, ReadInitialMetadataAfterAReadIsAnError) {
  run_client([this]() -> Task<void> {
    auto stream = co_await server_streaming(*stub_, &Tester::Stub::PrepareAsyncServerStream, make("s", 2), options_);
    auto first = co_await stream.read();
    EXPECT_TRUE(first.has_value());
    bool threw = false;
    try {
      co_await stream.read_initial_metadata();
    } catch (const RuntimeError&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
    grpc::Status st = co_await stream.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
  });
}

TEST_F(ClientMetadataTest, ClientStreamingContextHasBothAfterFinish) {
  run_client([this]() -> Task<void> {
    auto up = co_await client_streaming(*stub_, &Tester::Stub::PrepareAsyncClientStream, options_);
    for (int i = 1; i <= 3; ++i) EXPECT_TRUE(co_await up.write(make("x", i)));
    auto r = co_await up.finish();
    EXPECT_TRUE(r.ok()) << r.status().error_message();
    EXPECT_EQ(find(up.context().GetServerInitialMetadata(), "x-initial"), "i-abc");
    EXPECT_EQ(find(up.context().GetServerTrailingMetadata(), "x-trailing"), "t-abc");
  });
}

TEST_F(ClientMetadataTest, BidiReadInitialMetadataThenBothAfterFinish) {
  run_client([this]() -> Task<void> {
    auto io = co_await bidi_streaming(*stub_, &Tester::Stub::PrepareAsyncBidi, options_);
    EXPECT_TRUE(co_await io.write(make("a", 1)));
    co_await io.read_initial_metadata();
    EXPECT_EQ(find(io.context().GetServerInitialMetadata(), "x-initial"), "i-abc");
    auto m = co_await io.read();
    EXPECT_TRUE(m.has_value());
    if (m) {
      EXPECT_EQ(m->text(), "a?");
    }
    grpc::Status st = co_await io.finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(find(io.context().GetServerTrailingMetadata(), "x-trailing"), "t-abc");
    EXPECT_EQ(find(io.context().GetServerTrailingMetadata(), "x-raw-bin"), kBinary);
  });
}

}  // namespace
}  // namespace corio::rpc
