// Unary load for the client side of the rpc benchmark: the same
// Tester.Unary calls (100-byte text) with `--concurrency` calls in flight
// on one channel and one thread, made either by corio's client
// (corio::rpc::unary on a loop with a ClientQueue) or by a plain gRPC
// completion-queue client (the fastest direct use of gRPC C++'s async
// client: each completion starts the next call). The two drive the same
// server in turn; the ratio of their rates is the client's overhead.
//
//   unary_load --client=corio|cq --server=127.0.0.1:PORT --requests=200000 --concurrency=50
// Prints "<client> <requests> calls in <s> s: <rate> calls/s, <bad> bad"; exit 1 if
// any call failed or the run went past --timeout_s.
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/rpc/client.h"
#include "corio/rpc/testing/test_service.grpc.pb.h"

ABSL_FLAG(std::string, client, "corio", "corio or cq");
ABSL_FLAG(std::string, server, "127.0.0.1:50061", "server address");
ABSL_FLAG(int, requests, 200000, "calls in all");
ABSL_FLAG(int, concurrency, 50, "calls in flight");
ABSL_FLAG(int, timeout_s, 300, "bound on the whole run");

namespace {

using corio::rpc::testing::Msg;
using corio::rpc::testing::Tester;

struct Result {
  long ok = 0;
  long bad = 0;
};

Msg request() {
  Msg m;
  m.set_text(std::string(100, 'x'));
  m.set_n(1);
  return m;
}

// ---- corio's client ----
corio::Task<void> corio_worker(Tester::Stub& stub, long& remaining, Result& r) {
  const Msg req = request();
  while (remaining > 0) {
    --remaining;
    corio::rpc::Reply<Msg> reply = co_await corio::rpc::unary(stub, &Tester::Stub::PrepareAsyncUnary, std::cref(req));
    ++(reply.ok() && reply->n() == 2 ? r.ok : r.bad);
  }
}

corio::Task<void> corio_all(Tester::Stub& stub, long& remaining, int concurrency, Result& r) {
  std::vector<corio::Task<void>> workers;
  for (int i = 0; i < concurrency; ++i) workers.push_back(corio_worker(stub, remaining, r));
  co_await corio::gather(std::move(workers));
}

Result run_corio(Tester::Stub& stub, long n, int concurrency, std::chrono::seconds bound) {
  Result r;
  corio::run(
      [](Tester::Stub& stub, long n, int concurrency, std::chrono::seconds bound, Result& r) -> corio::Task<void> {
        corio::rpc::ClientQueue queue;
        long remaining = n;
        try {
          // One timer bounds the run (cancelling the calls still in flight),
          // so that the calls themselves carry no deadline, as the CQ client's.
          co_await corio::timeout(bound, corio_all(stub, remaining, concurrency, r));
        } catch (const corio::TimeoutError&) {
          r.bad += n - r.ok - r.bad;
        }
      }(stub, n, concurrency, bound, r));
  return r;
}

// ---- plain completion-queue client ----
struct CqCall {
  grpc::ClientContext ctx;
  Msg reply;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Msg>> reader;
};

Result run_cq(Tester::Stub& stub, long n, int concurrency, std::chrono::system_clock::time_point until) {
  Result r;
  grpc::CompletionQueue cq;
  const Msg req = request();
  long started = 0;
  auto start = [&] {
    auto* c = new CqCall;
    c->reader = stub.PrepareAsyncUnary(&c->ctx, req, &cq);
    c->reader->StartCall();
    c->reader->Finish(&c->reply, &c->status, c);
    ++started;
  };
  for (int i = 0; i < concurrency && started < n; ++i) start();
  long in_flight = started;
  void* tag;
  bool ok;
  while (in_flight > 0 && cq.AsyncNext(&tag, &ok, until) == grpc::CompletionQueue::GOT_EVENT) {
    auto* c = static_cast<CqCall*>(tag);
    ++(ok && c->status.ok() && c->reply.n() == 2 ? r.ok : r.bad);
    delete c;
    --in_flight;
    if (started < n) {
      start();
      ++in_flight;
    }
  }
  r.bad += in_flight;  // past the bound: counted as failed (their tags are drained below)
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) delete static_cast<CqCall*>(tag);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string kind = absl::GetFlag(FLAGS_client);
  const long n = absl::GetFlag(FLAGS_requests);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  auto stub = Tester::NewStub(grpc::CreateChannel(absl::GetFlag(FLAGS_server), grpc::InsecureChannelCredentials()));
  const auto t0 = std::chrono::steady_clock::now();
  const auto until = std::chrono::system_clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_timeout_s));
  Result r;
  if (kind == "corio") {
    r = run_corio(*stub, n, concurrency, std::chrono::seconds(absl::GetFlag(FLAGS_timeout_s)));
  } else if (kind == "cq") {
    r = run_cq(*stub, n, concurrency, until);
  } else {
    std::fprintf(stderr, "--client: corio or cq\n");
    return 2;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%-6s %ld calls in %.3f s: %.0f calls/s, %ld bad\n", kind.c_str(), r.ok + r.bad, secs,
              static_cast<double>(r.ok) / secs, r.bad);
  return r.bad == 0 && r.ok == n ? 0 : 1;
}
