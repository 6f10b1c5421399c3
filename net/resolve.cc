#include "corio/net/resolve.h"

#include <netdb.h>

#include <utility>

#include "corio/loop/executor.h"
#include "corio/loop/timeout.h"
#include "corio/net/errors.h"

namespace corio::net {

namespace {

// The lookup's outcome, made on the worker thread.
struct Lookup {
  int rc = 0;
  std::vector<SocketAddress> addrs;
};

Lookup lookup(const std::string& host, std::uint16_t port, int family, int socktype) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  Lookup out;
  out.rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (out.rc == 0) {
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) out.addrs.emplace_back(ai->ai_addr, ai->ai_addrlen);
    ::freeaddrinfo(res);
  }
  return out;
}

}  // namespace

Task<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port, int family, int socktype,
                                         std::chrono::nanoseconds timeout) {
  auto job = [host, port, family, socktype] { return lookup(host, port, family, socktype); };
  Lookup r = co_await wait_for(to_thread(std::move(job)), timeout);
  if (r.rc != 0) throw GaiError(r.rc, "corio::net: cannot resolve '" + host + "': " + ::gai_strerror(r.rc));
  if (r.addrs.empty()) throw GaiError(EAI_NONAME, "corio::net: no address for '" + host + "'");
  co_return std::move(r.addrs);
}

}  // namespace corio::net
