// The kv example's service: an in-memory ordered map (absl::btree_map, so a
// prefix is a range) with watchers, served by corio handlers.
//
// The store lives on one loop: the server runs with one loop thread, and
// every handler touches the map from that thread only.
#ifndef CORIO_EXAMPLES_KV_STORE_H_
#define CORIO_EXAMPLES_KV_STORE_H_

#include <absl/container/btree_map.h>

#include <cstdint>
#include <list>
#include <string>

#include "corio/examples/kv/kv.grpc.pb.h"
#include "corio/loop/loop.h"
#include "corio/rpc/server.h"
#include "corio/sync/queue.h"

namespace kv {

using namespace corio::examples::kv;

class Store {
 public:
  // Events a watcher may have queued before it is told it lagged.
  static constexpr std::size_t kWatchBuffer = 256;

  // Adds the KV service and its six handlers to `server`.
  void serve(corio::rpc::Server& server);

  std::int64_t put(const std::string& key, const std::string& value);
  // Returns whether the key existed.
  bool erase(const std::string& key, std::int64_t* revision);

 private:
  struct Watcher {
    std::string prefix;
    corio::Queue<Event> events{kWatchBuffer};
    std::int64_t missed = 0;
  };
  void publish(const Event& e);

  absl::btree_map<std::string, std::string> map_;
  std::int64_t revision_ = 0;
  std::list<Watcher*> watchers_;
};

}  // namespace kv

#endif  // CORIO_EXAMPLES_KV_STORE_H_
