// corio::rpc::ReflectionService: gRPC server reflection,
// grpc.reflection.v1.ServerReflection, served by a corio handler, so that
// standard tools (grpcurl, Postman, grpcui, ...) can list a server's
// services and describe their methods and messages without the .proto
// files.
//
//   corio::rpc::ReflectionService reflection;
//   reflection.serve(server);    // before server.start()
//
// The descriptions come from protobuf's generated descriptor pool: every
// message and service compiled into the program is described.
#ifndef CORIO_RPC_REFLECTION_H_
#define CORIO_RPC_REFLECTION_H_

#include "corio/rpc/server.h"

namespace corio::rpc {

// ReflectionService
//
// Answers each request of a ServerReflectionInfo stream, in order:
//   list_services: the services added to the server (Server::service_names,
//     reflection itself included);
//   file_by_filename ("kv.proto" as compiled, e.g.
//     "examples/kv/kv.proto"), file_containing_symbol (a service, method,
//     message, enum or field by full name, e.g. "pkg.Service.Method"):
//     the file's FileDescriptorProto, followed by those of every file it
//     imports, directly or not;
//   file_containing_extension, all_extension_numbers_of_type: as the
//     protocol says, for extensions compiled into the program.
// A name that is not found gets an error_response with NOT_FOUND in the
// stream, which goes on; a request with no known field, INVALID_ARGUMENT.
//
// Errors: serve() throws as Server::add_service (RuntimeError after the
//   server started, or when called twice for one server).
// Thread safety: serve() from the thread that configures the server; the
//   handler runs on any of the server's loops (the descriptor pool is
//   thread-safe). The ReflectionService must outlive the server's calls.
// Cancellation: a stream the client cancels ends its handler at its next
//   read or write; no state is kept between requests.
class ReflectionService {
 public:
  ReflectionService() = default;
  ReflectionService(const ReflectionService&) = delete;
  ReflectionService& operator=(const ReflectionService&) = delete;

  // Adds grpc.reflection.v1.ServerReflection to `server`, describing the
  // services of that server.
  void serve(Server& server);

 private:
  const Server* server_ = nullptr;
};

}  // namespace corio::rpc

#endif  // CORIO_RPC_REFLECTION_H_
