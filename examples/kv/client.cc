// The kv example's command-line client:
//   bazel run //examples/kv:client -- --server=127.0.0.1:50051 put color blue
//   ... get color | delete color | watch prefix | putmany k1 v1 k2 v2 ...
//   --token=SECRET for a server started with --token=SECRET
#include "corio/rpc/client.h"

#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <grpcpp/create_channel.h>

#include <cstdio>
#include <string>
#include <vector>

#include "corio/examples/kv/kv.grpc.pb.h"
#include "corio/loop/loop.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "the kv server's address");
ABSL_FLAG(int, timeout_ms, 5000, "deadline of each unary call");
ABSL_FLAG(std::string, token, "", "bearer token, for a server started with --token");

using namespace corio::examples::kv;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: client [--server=host:port] get KEY | put KEY VALUE | delete KEY | watch PREFIX | "
               "putmany K V [K V ...]\n");
  return 2;
}

corio::Task<int> run(std::vector<std::string> args) {
  corio::rpc::ClientQueue queue;
  auto stub = KV::NewStub(grpc::CreateChannel(absl::GetFlag(FLAGS_server), grpc::InsecureChannelCredentials()));
  corio::rpc::CallOptions opts;
  if (!absl::GetFlag(FLAGS_token).empty()) {
    opts.metadata.emplace_back("authorization", "Bearer " + absl::GetFlag(FLAGS_token));
  }
  corio::rpc::CallOptions watch_opts = opts;  // a watch has no deadline
  opts.timeout = std::chrono::milliseconds(absl::GetFlag(FLAGS_timeout_ms));
  const std::string& cmd = args[0];
  auto fail = [](const grpc::Status& st) {
    std::fprintf(stderr, "error: %s (code %d)\n", st.error_message().c_str(), static_cast<int>(st.error_code()));
    return 1;
  };
  if (cmd == "get" && args.size() == 2) {
    Key k;
    k.set_key(args[1]);
    auto r = co_await corio::rpc::unary(*stub, &KV::Stub::PrepareAsyncGet, k, opts);
    if (!r) co_return fail(r.status());
    if (!r->found()) {
      std::printf("(not found)\n");
      co_return 1;
    }
    std::printf("%s\n", r->value().c_str());
    co_return 0;
  }
  if (cmd == "put" && args.size() == 3) {
    Entry e;
    e.set_key(args[1]);
    e.set_value(args[2]);
    auto r = co_await corio::rpc::unary(*stub, &KV::Stub::PrepareAsyncPut, e, opts);
    if (!r) co_return fail(r.status());
    std::printf("ok, revision %lld\n", static_cast<long long>(r->revision()));
    co_return 0;
  }
  if (cmd == "delete" && args.size() == 2) {
    Key k;
    k.set_key(args[1]);
    auto r = co_await corio::rpc::unary(*stub, &KV::Stub::PrepareAsyncDelete, k, opts);
    if (!r) co_return fail(r.status());
    std::printf(r->existed() ? "deleted\n" : "(not found)\n");
    co_return 0;
  }
  if (cmd == "putmany" && args.size() >= 3 && args.size() % 2 == 1) {
    auto up = co_await corio::rpc::client_streaming(*stub, &KV::Stub::PrepareAsyncPutMany, opts);
    for (std::size_t i = 1; i + 1 < args.size(); i += 2) {
      Entry e;
      e.set_key(args[i]);
      e.set_value(args[i + 1]);
      if (!co_await up.write(e)) break;
    }
    auto r = co_await up.finish();
    if (!r) co_return fail(r.status());
    std::printf("ok, %lld puts, revision %lld\n", static_cast<long long>(r->count()),
                static_cast<long long>(r->revision()));
    co_return 0;
  }
  if (cmd == "watch" && args.size() == 2) {
    WatchRequest w;
    w.set_prefix(args[1]);
    auto stream = co_await corio::rpc::server_streaming(*stub, &KV::Stub::PrepareAsyncWatch, w, watch_opts);
    while (auto ev = co_await stream.read()) {
      if (ev->kind() == Event::LAGGED) {
        std::printf("(lagged: %lld events missed)\n", static_cast<long long>(ev->missed()));
      } else {
        std::printf("%s %s %s (revision %lld)\n", ev->kind() == Event::PUT ? "put" : "delete", ev->key().c_str(),
                    ev->value().c_str(), static_cast<long long>(ev->revision()));
      }
      std::fflush(stdout);
    }
    grpc::Status st = co_await stream.finish();
    co_return st.ok() ? 0 : fail(st);
  }
  co_return usage();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() < 2) return usage();
  return corio::run(run(std::vector<std::string>(rest.begin() + 1, rest.end())));
}
