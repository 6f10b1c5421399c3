// corio::rpc::HealthService: the standard gRPC health service,
// grpc.health.v1.Health (Check and Watch), served by corio handlers on the
// server's own loops, so load balancers, Kubernetes probes and
// grpc_health_probe can ask whether the server and its services are up.
//
//   corio::rpc::HealthService health;            // must outlive the server's calls
//   health.serve(server);                        // before server.start()
//   server.start();
//   health.set_status("kv.KV", corio::rpc::ServingStatus::kServing);
//   ...
//   health.shutdown();                           // NOT_SERVING; Watch calls end
//   server.shutdown(grace);
//
// This is not gRPC's own default health service (which runs on gRPC's
// callback threads): keep grpc::EnableDefaultHealthCheckService at its
// default, false, or the two would claim the same service name.
#ifndef CORIO_RPC_HEALTH_H_
#define CORIO_RPC_HEALTH_H_

#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "corio/rpc/server.h"

namespace corio::rpc {

// The serving status of a service, as grpc.health.v1 spells it.
enum class ServingStatus { kUnknown = 0, kServing = 1, kNotServing = 2 };

// HealthService
//
// Keeps a serving status per service name ("" is the server as a whole,
// kServing from construction, as gRPC's default service does) and serves
// them as grpc.health.v1.Health:
//   Check(service): the status; NOT_FOUND for a service never set.
//   Watch(service): the status at once, then one message per change, in
//     order, until the client cancels or shutdown(); SERVICE_UNKNOWN while
//     the service has no status (the call stays open, and a later
//     set_status is sent).
//
// Errors: serve() throws as Server::add_service (RuntimeError after the
//   server started, or when called twice on the same server).
// Thread safety: set_status, clear_status, status and shutdown may be
//   called from any thread, the server's loop threads included, at any
//   time; the changes reach Watch calls on every loop of the server in the
//   order they were made. serve() from the thread that configures the
//   server. The HealthService must outlive the server's calls (destroy it
//   after Server::shutdown() returned).
// Cancellation: a Watch call the client cancels (or whose deadline passes)
//   ends at once and unregisters; Check never waits.
class HealthService {
 public:
  HealthService();
  ~HealthService();
  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;

  // Adds grpc.health.v1.Health to `server`, with its two handlers.
  void serve(Server& server);

  // Sets the status of `service` ("" for the whole server) and tells the
  // Watch calls on it, if it changed. Ignored after shutdown().
  // Errors: std::bad_alloc.
  void set_status(std::string_view service, ServingStatus status);
  // Forgets `service`: Check gives NOT_FOUND again and Watch calls on it
  // get SERVICE_UNKNOWN. Ignored after shutdown().
  void clear_status(std::string_view service);
  // The status of `service`, or nullopt if it has none.
  std::optional<ServingStatus> status(std::string_view service) const;

  // For a graceful stop, before Server::shutdown(): every service becomes
  // kNotServing, Watch calls are sent that and then end (UNAVAILABLE, so
  // that clients retry elsewhere), later set_status calls are ignored, and
  // a later Watch gets the status and ends at once. Idempotent.
  void shutdown();

 private:
  struct Watcher;
  class Handlers;
  // mu_ held: sends `status` (a grpc.health.v1 ServingStatus value) to
  // every watcher of `service`.
  void notify_locked(std::string_view service, int status);

  mutable std::mutex mu_;
  std::map<std::string, ServingStatus, std::less<>> statuses_;
  std::list<Watcher*> watchers_;
  bool shut_down_ = false;
};

}  // namespace corio::rpc

#endif  // CORIO_RPC_HEALTH_H_
