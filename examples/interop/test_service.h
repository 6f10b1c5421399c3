// grpc.testing.TestService, the service gRPC's interoperability tests drive
// (grpc/grpc's doc/interop-test-descriptions.md, "Server"), with corio
// handlers. Its protos are Debian's /usr/share/grpc-proto/grpc/testing/*.proto,
// so any standard interop client can drive a server that has it.
//
//   corio::rpc::Server server(options);
//   interop::add_test_service(server);
//   server.start();
//
// Server features, as the descriptions name them:
//   EmptyCall            the empty message.
//   UnaryCall            a payload of `response_size` zero bytes (type
//                        COMPRESSABLE, the only one the proto has; any other
//                        type or a negative size is INVALID_ARGUMENT).
//   CacheableUnaryCall   the current time in nanoseconds, as ASCII decimal,
//                        with "cache-control: max-age=60, public".
//   StreamingOutputCall  one response per ResponseParameters, in order.
//   StreamingInputCall   the sum of the request payload sizes, at half-close.
//   FullDuplexCall       each request answered as it arrives, as above.
//   HalfDuplexCall       every request read first, then answered in order.
//   UnimplementedCall    UNIMPLEMENTED (the server has a handler for it
//                        because corio::rpc::Server wants one for every
//                        method; the client sees what an absent one gives).
//   Echo Status          a request with `response_status` of a non-zero code
//                        ends the call with that code and message; later
//                        messages of the stream are not processed.
//   Echo Metadata        "x-grpc-test-echo-initial" comes back in the initial
//                        metadata, "x-grpc-test-echo-trailing-bin" in the
//                        trailing metadata, on every method.
//   interval_us          a sleep (corio::sleep) before that response.
//   CompressedResponse   `response_compressed` (unary) and
//                        ResponseParameters.compressed (streams) send the
//                        response gzip-compressed; otherwise uncompressed.
// Not implemented: CompressedRequest (`expect_compressed` is accepted but
// not checked: C++ gRPC tells a handler whether a request arrived compressed
// only through test-only internals), the auth echoes (fill_username,
// fill_oauth_scope: no authentication here), and the xDS/ORCA fields.
//
// Thread safety: the handlers keep no state; the server may run any number
//   of loop threads.
// Cancellation: a call the client cancels, or whose deadline passes, cancels
//   its handler wherever it waits (a read, a write, an interval's sleep).
#ifndef CORIO_EXAMPLES_INTEROP_TEST_SERVICE_H_
#define CORIO_EXAMPLES_INTEROP_TEST_SERVICE_H_

#include "corio/examples/interop/grpc/testing/test.grpc.pb.h"
#include "corio/rpc/server.h"

namespace interop {

// Metadata keys the server echoes (Echo Metadata).
inline constexpr char kEchoInitialKey[] = "x-grpc-test-echo-initial";
inline constexpr char kEchoTrailingKey[] = "x-grpc-test-echo-trailing-bin";

// Adds grpc.testing.TestService and a handler for each of its methods to
// `server`. Before server.start().
// Errors: RuntimeError if the server has started.
void add_test_service(corio::rpc::Server& server);

}  // namespace interop

#endif  // CORIO_EXAMPLES_INTEROP_TEST_SERVICE_H_
