#include "corio/examples/interop/test_service.h"

#include <grpc/compression.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/loop.h"

namespace interop {
namespace {

using corio::Task;
using corio::rpc::Reply;
using corio::rpc::ServerReader;
using corio::rpc::ServerStream;
using corio::rpc::ServerWriter;
using grpc::testing::EchoStatus;
using grpc::testing::Empty;
using grpc::testing::Payload;
using grpc::testing::PayloadType;
using grpc::testing::SimpleRequest;
using grpc::testing::SimpleResponse;
using grpc::testing::StreamingInputCallRequest;
using grpc::testing::StreamingInputCallResponse;
using grpc::testing::StreamingOutputCallRequest;
using grpc::testing::StreamingOutputCallResponse;
using grpc::testing::TestService;

// Echo Metadata. Before anything is sent: initial metadata leaves with the
// first message or with the status, trailing metadata with the status.
void echo_metadata(grpc::ServerContext& ctx) {
  const auto& md = ctx.client_metadata();
  for (auto [it, end] = md.equal_range(kEchoInitialKey); it != end; ++it) {
    ctx.AddInitialMetadata(kEchoInitialKey, std::string(it->second.data(), it->second.size()));
  }
  // A "-bin" value arrives decoded and is encoded again on the way out.
  for (auto [it, end] = md.equal_range(kEchoTrailingKey); it != end; ++it) {
    ctx.AddTrailingMetadata(kEchoTrailingKey, std::string(it->second.data(), it->second.size()));
  }
}

// Echo Status: a non-zero code asks the call to end with it.
bool wants_status(bool has, const EchoStatus& s) { return has && s.code() != 0; }

grpc::Status to_status(const EchoStatus& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

// Fills `out` with `size` zero bytes of type `type`; INVALID_ARGUMENT if
// this server cannot make such a payload.
grpc::Status make_payload(PayloadType type, std::int32_t size, Payload* out) {
  if (type != grpc::testing::COMPRESSABLE) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "unsupported response_type " + std::to_string(static_cast<int>(type)));
  }
  if (size < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "negative response size " + std::to_string(size));
  }
  out->set_type(type);
  out->set_body(std::string(static_cast<std::size_t>(size), '\0'));
  return grpc::Status::OK;
}

// The answers of StreamingOutputCall, FullDuplexCall and HalfDuplexCall to
// their requests, on one call.
class Responder {
 public:
  explicit Responder(grpc::ServerContext& ctx) : ctx_(ctx) {}

  // Writes the responses `req` asks for, each after its interval. Gives OK
  // to go on, or the status to end the call with: the echoed one,
  // INVALID_ARGUMENT for a payload it cannot make, CANCELLED if the client
  // has gone.
  Task<grpc::Status> answer(const StreamingOutputCallRequest& req, ServerWriter<StreamingOutputCallResponse>& out) {
    if (wants_status(req.has_response_status(), req.response_status())) co_return to_status(req.response_status());
    if (!started_) {
      // Compression is chosen in the initial metadata, which leaves with the
      // first response: gzip for the call if the first request wants any
      // response compressed; each response then opts out or in.
      started_ = true;
      for (const auto& p : req.response_parameters()) {
        if (p.compressed().value()) {
          ctx_.set_compression_algorithm(GRPC_COMPRESS_GZIP);
          break;
        }
      }
    }
    for (const auto& p : req.response_parameters()) {
      if (p.interval_us() > 0) co_await corio::sleep(std::chrono::microseconds(p.interval_us()));
      StreamingOutputCallResponse resp;
      grpc::Status st = make_payload(req.response_type(), p.size(), resp.mutable_payload());
      if (!st.ok()) co_return st;
      grpc::WriteOptions options;
      if (!p.compressed().value()) options.set_no_compression();
      if (!co_await out.write(resp, options)) co_return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
    }
    co_return grpc::Status::OK;
  }

 private:
  grpc::ServerContext& ctx_;
  bool started_ = false;
};

Task<Reply<Empty>> empty_call(grpc::ServerContext& ctx, const Empty&) {
  echo_metadata(ctx);
  co_return Empty();
}

Task<Reply<SimpleResponse>> unary_call(grpc::ServerContext& ctx, const SimpleRequest& req) {
  echo_metadata(ctx);
  if (wants_status(req.has_response_status(), req.response_status())) co_return to_status(req.response_status());
  SimpleResponse resp;
  grpc::Status st = make_payload(req.response_type(), req.response_size(), resp.mutable_payload());
  if (!st.ok()) co_return st;
  if (req.response_compressed().value()) ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  co_return resp;
}

Task<Reply<SimpleResponse>> cacheable_unary_call(grpc::ServerContext& ctx, const SimpleRequest&) {
  echo_metadata(ctx);
  ctx.AddInitialMetadata("cache-control", "max-age=60, public");
  const auto now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
  SimpleResponse resp;
  resp.mutable_payload()->set_type(grpc::testing::COMPRESSABLE);
  resp.mutable_payload()->set_body(std::to_string(now.count()));
  co_return resp;
}

Task<grpc::Status> streaming_output_call(grpc::ServerContext& ctx, const StreamingOutputCallRequest& req,
                                         ServerWriter<StreamingOutputCallResponse>& out) {
  echo_metadata(ctx);
  Responder responder(ctx);
  co_return co_await responder.answer(req, out);
}

Task<Reply<StreamingInputCallResponse>> streaming_input_call(grpc::ServerContext& ctx,
                                                             ServerReader<StreamingInputCallRequest>& in) {
  echo_metadata(ctx);
  std::int64_t total = 0;
  while (auto req = co_await in.read()) total += static_cast<std::int64_t>(req->payload().body().size());
  StreamingInputCallResponse resp;
  resp.set_aggregated_payload_size(static_cast<std::int32_t>(total));
  co_return resp;
}

Task<grpc::Status> full_duplex_call(grpc::ServerContext& ctx,
                                    ServerStream<StreamingOutputCallRequest, StreamingOutputCallResponse>& io) {
  echo_metadata(ctx);
  Responder responder(ctx);
  while (auto req = co_await io.read()) {
    grpc::Status st = co_await responder.answer(*req, io);
    if (!st.ok()) co_return st;
  }
  co_return grpc::Status::OK;
}

Task<grpc::Status> half_duplex_call(grpc::ServerContext& ctx,
                                    ServerStream<StreamingOutputCallRequest, StreamingOutputCallResponse>& io) {
  echo_metadata(ctx);
  std::vector<StreamingOutputCallRequest> requests;
  while (auto req = co_await io.read()) requests.push_back(std::move(*req));
  Responder responder(ctx);
  for (const auto& req : requests) {
    grpc::Status st = co_await responder.answer(req, io);
    if (!st.ok()) co_return st;
  }
  co_return grpc::Status::OK;
}

Task<Reply<Empty>> unimplemented_call(grpc::ServerContext& ctx, const Empty&) {
  echo_metadata(ctx);
  co_return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "grpc.testing.TestService/UnimplementedCall");
}

}  // namespace

void add_test_service(corio::rpc::Server& server) {
  using Async = TestService::AsyncService;
  server.add_service<TestService>();
  server.add_unary(&Async::RequestEmptyCall, empty_call, "grpc.testing.TestService/EmptyCall");
  server.add_unary(&Async::RequestUnaryCall, unary_call, "grpc.testing.TestService/UnaryCall");
  server.add_unary(&Async::RequestCacheableUnaryCall, cacheable_unary_call,
                   "grpc.testing.TestService/CacheableUnaryCall");
  server.add_server_streaming(&Async::RequestStreamingOutputCall, streaming_output_call,
                              "grpc.testing.TestService/StreamingOutputCall");
  server.add_client_streaming(&Async::RequestStreamingInputCall, streaming_input_call,
                              "grpc.testing.TestService/StreamingInputCall");
  server.add_bidi_streaming(&Async::RequestFullDuplexCall, full_duplex_call, "grpc.testing.TestService/FullDuplexCall");
  server.add_bidi_streaming(&Async::RequestHalfDuplexCall, half_duplex_call, "grpc.testing.TestService/HalfDuplexCall");
  server.add_unary(&Async::RequestUnimplementedCall, unimplemented_call, "grpc.testing.TestService/UnimplementedCall");
}

}  // namespace interop
