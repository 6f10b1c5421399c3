#include "corio/examples/kv/auth.h"

#include <utility>

namespace kv {

namespace {

// Equal without leaking, through the time taken, how long a prefix of the
// secret a guess got right.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i % (b.empty() ? 1 : b.size())];
  return diff == 0 && !b.empty();
}

}  // namespace

corio::rpc::Interceptor bearer_token_auth(std::string token, std::vector<std::string> open_prefixes) {
  return [token = std::move(token), open = std::move(open_prefixes)](
             corio::rpc::CallInfo& call, corio::rpc::Next next) -> corio::Task<grpc::Status> {
    for (const auto& p : open) {
      if (call.method().substr(0, p.size()) == p) co_return co_await next();
    }
    const auto& md = call.context().client_metadata();
    auto it = md.find("authorization");
    if (it == md.end()) co_return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing authorization metadata");
    const std::string_view value(it->second.data(), it->second.size());
    constexpr std::string_view kScheme = "Bearer ";
    if (value.substr(0, kScheme.size()) != kScheme || !same_secret(value.substr(kScheme.size()), token)) {
      co_return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid bearer token");
    }
    co_return co_await next();
  };
}

}  // namespace kv
