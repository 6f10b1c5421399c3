// One-command demo of corio's gRPC support: starts the kv server in this
// process on a free port, then drives every kind of RPC through corio's
// client calls from a second loop, printing what happens, and exits 0.
//   bazel run //examples/kv:demo
#include <grpcpp/create_channel.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "corio/examples/kv/kv.grpc.pb.h"
#include "corio/examples/kv/store.h"
#include "corio/loop/loop.h"
#include "corio/rpc/client.h"
#include "corio/rpc/server.h"

using namespace corio::examples::kv;
using namespace std::chrono_literals;

namespace {

Entry entry(std::string k, std::string v) {
  Entry e;
  e.set_key(std::move(k));
  e.set_value(std::move(v));
  return e;
}

corio::Task<int> demo(int port) {
  corio::rpc::ClientQueue queue;
  auto stub = KV::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  int failures = 0;
  auto check = [&](bool ok, const char* what) {
    std::printf("  %s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) ++failures;
  };

  // A watcher on "color/" runs concurrently in its own task.
  std::printf("watch color/ (server streaming, in a task of its own)\n");
  WatchRequest wr;
  wr.set_prefix("color/");
  auto watch = co_await corio::rpc::server_streaming(*stub, &KV::Stub::PrepareAsyncWatch, wr);
  auto watcher = corio::create_task(
      [](corio::rpc::ClientReader<Event>& stream) -> corio::Task<int> {
        int seen = 0;
        while (auto ev = co_await stream.read()) {
          std::printf("    [watch] %s %s=%s rev %lld\n", ev->kind() == Event::PUT ? "put" : "delete", ev->key().c_str(),
                      ev->value().c_str(), static_cast<long long>(ev->revision()));
          if (++seen == 4) break;
        }
        co_return seen;
      }(watch),
      "watcher");
  co_await corio::sleep(100ms);  // let the watch reach the server

  std::printf("put / get / delete (unary)\n");
  auto p = co_await corio::rpc::unary(*stub, &KV::Stub::PrepareAsyncPut, entry("color/sky", "blue"));
  check(p.ok() && p->revision() == 1, "put color/sky=blue -> revision 1");
  Key k;
  k.set_key("color/sky");
  auto g = co_await corio::rpc::unary(*stub, &KV::Stub::PrepareAsyncGet, k);
  check(g.ok() && g->found() && g->value() == "blue", "get color/sky -> blue");
  auto bad = co_await corio::rpc::unary(*stub, &KV::Stub::PrepareAsyncPut, entry("", "x"));
  check(!bad.ok() && bad.status().error_code() == grpc::StatusCode::INVALID_ARGUMENT,
        "put with an empty key -> INVALID_ARGUMENT");

  std::printf("putmany (client streaming)\n");
  auto up = co_await corio::rpc::client_streaming(*stub, &KV::Stub::PrepareAsyncPutMany);
  co_await up.write(entry("color/grass", "green"));
  co_await up.write(entry("shape/ball", "round"));
  auto pm = co_await up.finish();
  check(pm.ok() && pm->count() == 2, "putmany of 2 entries -> count 2");

  std::printf("session (bidirectional: each command answered in order)\n");
  auto session = co_await corio::rpc::bidi_streaming(*stub, &KV::Stub::PrepareAsyncSession);
  Command c1;
  c1.mutable_get()->set_key("shape/ball");
  co_await session.write(c1);
  auto r1 = co_await session.read();
  check(r1 && r1->ok() && r1->value() == "round", "session get shape/ball -> round");
  Command c2;
  c2.mutable_delete_()->set_key("color/sky");
  co_await session.write(c2);
  auto r2 = co_await session.read();
  check(r2 && r2->ok(), "session delete color/sky -> deleted");
  grpc::Status st = co_await session.finish();
  check(st.ok(), "session closed cleanly");

  auto d = co_await corio::rpc::unary(*stub, &KV::Stub::PrepareAsyncDelete, k);
  check(d.ok() && !d->existed(), "delete color/sky again -> not found");

  std::printf("deadline: a watch on a quiet prefix with a 200 ms deadline\n");
  corio::rpc::CallOptions tight;
  tight.timeout = 200ms;
  WatchRequest quiet;
  quiet.set_prefix("nobody/writes/here/");
  auto timed = co_await corio::rpc::server_streaming(*stub, &KV::Stub::PrepareAsyncWatch, quiet, tight);
  grpc::Status timed_status = co_await timed.finish();
  check(timed_status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED,
        "-> DEADLINE_EXCEEDED (and the server cancelled its handler task)");

  // The watcher saw put sky, put grass, delete sky (shape/ is not watched)
  // and... one more: put it now.
  co_await corio::rpc::unary(*stub, &KV::Stub::PrepareAsyncPut, entry("color/rose", "red"));
  const int seen = co_await corio::wait_for(std::move(watcher), 5s);
  check(seen == 4, "the watcher saw the 4 changes under color/, in order");
  watch.cancel();

  std::printf(failures == 0 ? "demo finished: every RPC kind worked\n" : "demo finished with %d failures\n", failures);
  co_return failures == 0 ? 0 : 1;
}

}  // namespace

int main() {
  kv::Store store;
  corio::rpc::ServerOptions options;
  options.addresses = {"127.0.0.1:0"};
  corio::rpc::Server server(options);
  store.serve(server);
  server.start();
  std::printf("kv server on 127.0.0.1:%d (its own loop thread)\n", server.port());
  const int rc = corio::run(demo(server.port()));
  server.shutdown(1s);
  std::printf("server shut down\n");
  return rc;
}
