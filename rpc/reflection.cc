#include "corio/rpc/reflection.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <string>
#include <unordered_set>
#include <vector>

#include "corio/rpc/grpc/reflection/v1/reflection.grpc.pb.h"

namespace corio::rpc {

namespace {

namespace pb = google::protobuf;
using grpc::reflection::v1::ServerReflection;
using grpc::reflection::v1::ServerReflectionRequest;
using grpc::reflection::v1::ServerReflectionResponse;

void set_error(ServerReflectionResponse& r, grpc::StatusCode code, std::string message) {
  auto* e = r.mutable_error_response();
  e->set_error_code(static_cast<int>(code));
  e->set_error_message(std::move(message));
}

// `file`, then every file it imports, directly or not, each once.
void add_file_and_imports(const pb::FileDescriptor* file, ServerReflectionResponse& r) {
  std::unordered_set<const pb::FileDescriptor*> seen{file};
  std::vector<const pb::FileDescriptor*> todo{file};
  auto* out = r.mutable_file_descriptor_response();
  for (std::size_t i = 0; i < todo.size(); ++i) {
    pb::FileDescriptorProto proto;
    todo[i]->CopyTo(&proto);
    out->add_file_descriptor_proto(proto.SerializeAsString());
    for (int d = 0; d < todo[i]->dependency_count(); ++d) {
      const pb::FileDescriptor* dep = todo[i]->dependency(d);
      if (seen.insert(dep).second) todo.push_back(dep);
    }
  }
}

ServerReflectionResponse answer(const Server& server, const ServerReflectionRequest& req) {
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  ServerReflectionResponse r;
  r.set_valid_host(req.host());
  *r.mutable_original_request() = req;
  switch (req.message_request_case()) {
    case ServerReflectionRequest::kListServices:
      for (const std::string& name : server.service_names()) {
        r.mutable_list_services_response()->add_service()->set_name(name);
      }
      break;
    case ServerReflectionRequest::kFileByFilename:
      if (const pb::FileDescriptor* f = pool->FindFileByName(req.file_by_filename())) {
        add_file_and_imports(f, r);
      } else {
        set_error(r, grpc::StatusCode::NOT_FOUND, "file not found: " + req.file_by_filename());
      }
      break;
    case ServerReflectionRequest::kFileContainingSymbol:
      if (const pb::FileDescriptor* f = pool->FindFileContainingSymbol(req.file_containing_symbol())) {
        add_file_and_imports(f, r);
      } else {
        set_error(r, grpc::StatusCode::NOT_FOUND, "symbol not found: " + req.file_containing_symbol());
      }
      break;
    case ServerReflectionRequest::kFileContainingExtension: {
      const auto& ext = req.file_containing_extension();
      const pb::Descriptor* type = pool->FindMessageTypeByName(ext.containing_type());
      const pb::FieldDescriptor* field =
          type != nullptr ? pool->FindExtensionByNumber(type, ext.extension_number()) : nullptr;
      if (field != nullptr) {
        add_file_and_imports(field->file(), r);
      } else {
        set_error(r, grpc::StatusCode::NOT_FOUND,
                  "extension not found: " + ext.containing_type() + " " + std::to_string(ext.extension_number()));
      }
      break;
    }
    case ServerReflectionRequest::kAllExtensionNumbersOfType:
      if (const pb::Descriptor* type = pool->FindMessageTypeByName(req.all_extension_numbers_of_type())) {
        std::vector<const pb::FieldDescriptor*> extensions;
        pool->FindAllExtensions(type, &extensions);
        auto* out = r.mutable_all_extension_numbers_response();
        out->set_base_type_name(type->full_name());
        for (const auto* e : extensions) out->add_extension_number(e->number());
      } else {
        set_error(r, grpc::StatusCode::NOT_FOUND, "type not found: " + req.all_extension_numbers_of_type());
      }
      break;
    case ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      set_error(r, grpc::StatusCode::INVALID_ARGUMENT, "empty reflection request");
      break;
  }
  return r;
}

}  // namespace

void ReflectionService::serve(Server& server) {
  server.add_service<ServerReflection>();
  server_ = &server;
  server.add_bidi_streaming(
      &ServerReflection::AsyncService::RequestServerReflectionInfo,
      [this](grpc::ServerContext&,
             ServerStream<ServerReflectionRequest, ServerReflectionResponse>& io) -> Task<grpc::Status> {
        while (auto req = co_await io.read()) {
          if (!co_await io.write(answer(*server_, *req))) break;
        }
        co_return grpc::Status::OK;
      });
}

}  // namespace corio::rpc
