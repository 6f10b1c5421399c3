// The kv example's authentication: an interceptor that lets a call through
// only with the metadata "authorization: Bearer <token>" (the server's
// --token flag), and answers UNAUTHENTICATED without running the handler
// otherwise.
#ifndef CORIO_EXAMPLES_KV_AUTH_H_
#define CORIO_EXAMPLES_KV_AUTH_H_

#include <string>
#include <string_view>
#include <vector>

#include "corio/rpc/server.h"

namespace kv {

// bearer_token_auth
//
// An interceptor that checks the caller's bearer token. Methods whose full
// name starts with one of `open_prefixes` need none (by default the health
// service, so that load balancers and probes can ask without a secret).
// The token is compared in constant time.
// Errors: a call without the right token ends with UNAUTHENTICATED (the
//   reason in its message); the handler does not run.
// Thread safety: the interceptor only reads its own copy of the token; it
//   may run on every loop thread at once.
// Cancellation: it never waits before calling next(); see Next.
corio::rpc::Interceptor bearer_token_auth(std::string token,
                                          std::vector<std::string> open_prefixes = {"/grpc.health.v1.Health/"});

// The metadata value a client sends for `token`: "Bearer <token>".
inline std::string bearer(std::string_view token) { return "Bearer " + std::string(token); }

}  // namespace kv

#endif  // CORIO_EXAMPLES_KV_AUTH_H_
