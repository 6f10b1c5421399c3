#include "corio/rpc/health.h"

#include <utility>

#include "corio/loop/loop.h"
#include "corio/rpc/grpc/health/v1/health.grpc.pb.h"
#include "corio/sync/channel.h"
#include "corio/sync/errors.h"

namespace corio::rpc {

namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr int kServiceUnknown = HealthCheckResponse::SERVICE_UNKNOWN;

HealthCheckResponse response(int status) {
  HealthCheckResponse r;
  r.set_status(static_cast<HealthCheckResponse::ServingStatus>(status));
  return r;
}

}  // namespace

// A Watch call: the changes to its service reach it through a channel,
// which set_status may feed from any thread (under mu_, so in order).
struct HealthService::Watcher {
  std::string service;
  Channel<int>* changes;
};

class HealthService::Handlers {
 public:
  static Task<Reply<HealthCheckResponse>> check(HealthService* h, const HealthCheckRequest& req) {
    const std::optional<ServingStatus> st = h->status(req.service());
    if (!st) co_return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
    co_return response(static_cast<int>(*st));
  }

  static Task<grpc::Status> watch(HealthService* h, const HealthCheckRequest& req,
                                  ServerWriter<HealthCheckResponse>& out) {
    Channel<int> changes(current_loop());
    Watcher w{req.service(), &changes};
    int current;
    bool registered = false;
    std::list<Watcher*>::iterator it;
    {
      std::lock_guard<std::mutex> lock(h->mu_);
      auto found = h->statuses_.find(w.service);
      current = found == h->statuses_.end() ? kServiceUnknown : static_cast<int>(found->second);
      if (!h->shut_down_) {
        it = h->watchers_.insert(h->watchers_.end(), &w);
        registered = true;
      }
    }
    // Unregistered however the call ends, before the channel goes.
    struct Unregister {
      HealthService* h;
      bool registered;
      std::list<Watcher*>::iterator it;
      ~Unregister() {
        if (!registered) return;
        std::lock_guard<std::mutex> lock(h->mu_);
        h->watchers_.erase(it);
      }
    } unregister{h, registered, it};

    if (!co_await out.write(response(current))) co_return grpc::Status::CANCELLED;
    if (!registered) co_return grpc::Status(grpc::StatusCode::UNAVAILABLE, "health service shut down");
    for (;;) {
      int next = 0;
      bool closed = false;
      try {
        next = co_await changes.receive();
      } catch (const QueueShutDown&) {
        closed = true;
      }
      if (closed) co_return grpc::Status(grpc::StatusCode::UNAVAILABLE, "health service shut down");
      if (next == current) continue;
      current = next;
      if (!co_await out.write(response(current))) co_return grpc::Status::CANCELLED;
    }
  }
};

HealthService::HealthService() { statuses_.emplace("", ServingStatus::kServing); }

HealthService::~HealthService() = default;

void HealthService::serve(Server& server) {
  server.add_service<Health>();
  server.add_unary(&Health::AsyncService::RequestCheck,
                   [this](grpc::ServerContext&, const HealthCheckRequest& req) -> Task<Reply<HealthCheckResponse>> {
                     return Handlers::check(this, req);
                   });
  server.add_server_streaming(
      &Health::AsyncService::RequestWatch,
      [this](grpc::ServerContext&, const HealthCheckRequest& req,
             ServerWriter<HealthCheckResponse>& out) -> Task<grpc::Status> { return Handlers::watch(this, req, out); });
}

void HealthService::notify_locked(std::string_view service, int status) {
  for (Watcher* w : watchers_) {
    if (w->service == service) w->changes->send_nowait(status);
  }
}

void HealthService::set_status(std::string_view service, ServingStatus status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return;
  auto it = statuses_.find(service);
  if (it == statuses_.end()) {
    statuses_.emplace(std::string(service), status);
  } else if (it->second == status) {
    return;
  } else {
    it->second = status;
  }
  notify_locked(service, static_cast<int>(status));
}

void HealthService::clear_status(std::string_view service) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return;
  auto it = statuses_.find(service);
  if (it == statuses_.end()) return;
  statuses_.erase(it);
  notify_locked(service, kServiceUnknown);
}

std::optional<ServingStatus> HealthService::status(std::string_view service) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = statuses_.find(service);
  if (it == statuses_.end()) return std::nullopt;
  return it->second;
}

void HealthService::shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& [name, st] : statuses_) st = ServingStatus::kNotServing;
  for (Watcher* w : watchers_) {
    w->changes->send_nowait(static_cast<int>(ServingStatus::kNotServing));
    w->changes->close();
  }
}

}  // namespace corio::rpc
