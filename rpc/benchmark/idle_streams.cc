// Memory per idle streaming RPC, for the rpc benchmark: opens `--streams`
// Watch-style Tester.ServerStream calls (text "idle": one message, then
// nothing until cancelled) spread over `--channels` connections, waits until
// each has received its one message, and reports how much the server's
// resident memory (VmRSS of --server_pid) grew per stream. A warm-up round of
// `--warmup` streams, opened and cancelled first, takes the one-time
// allocations out of the figure. The load is gRPC's own async client on one
// completion queue (neutral to the servers compared); every wait is bounded.
//
//   idle_streams --server=127.0.0.1:PORT --server_pid=PID --streams=10000
// Prints: "<streams> idle streams: server RSS +<KiB> KiB, <bytes> bytes/stream"
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "corio/rpc/benchmark/servers.h"
#include "corio/rpc/testing/test_service.grpc.pb.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50061", "server address");
ABSL_FLAG(int, server_pid, 0, "the server's process id, for its VmRSS");
ABSL_FLAG(int, streams, 10000, "idle streams to open");
ABSL_FLAG(int, channels, 10, "connections to spread them over");
ABSL_FLAG(int, warmup, 200, "streams opened and cancelled before the measurement");
ABSL_FLAG(int, settle_ms, 1000, "wait before reading the RSS once every stream is idle");
ABSL_FLAG(int, timeout_s, 120, "bound on each phase");

namespace {

using corio::rpc::testing::Msg;
using corio::rpc::testing::Tester;

long rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (f >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      f >> kib;
      return kib;
    }
    std::getline(f, key);
  }
  return -1;
}

struct Stream;
struct Tag {
  Stream* stream;
  enum Kind { kStarted, kRead, kFinished } kind;
};
struct Stream {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientAsyncReader<Msg>> reader;
  Msg msg;
  grpc::Status status;
  Tag started{this, Tag::kStarted}, read{this, Tag::kRead}, finished{this, Tag::kFinished};
};

class Load {
 public:
  Load(const std::string& server, int channels) {
    for (int i = 0; i < channels; ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection each
      args.SetInt("corio.bench.channel", i);
      stubs_.push_back(Tester::NewStub(grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args)));
    }
  }
  // Opens n streams; true once each has its first message.
  bool open(int n) {
    Msg req;
    req.set_text(corio::rpc::bench::kIdle);
    for (int i = 0; i < n; ++i) {
      auto s = std::make_unique<Stream>();
      s->ctx.set_wait_for_ready(true);
      s->reader = stubs_[streams_.size() % stubs_.size()]->PrepareAsyncServerStream(&s->ctx, req, &cq_);
      s->reader->StartCall(&s->started);
      streams_.push_back(std::move(s));
    }
    int got = 0, failed = 0;
    const bool in_time = drain([&](Tag* t, bool ok) {
      if (t->kind == Tag::kStarted) {
        if (ok) {
          t->stream->reader->Read(&t->stream->msg, &t->stream->read);
        } else {
          ++failed;
        }
      } else if (t->kind == Tag::kRead) {
        ++(ok ? got : failed);
      }
      return got + failed == n;
    });
    return in_time && failed == 0;
  }
  // Cancels every open stream and waits for their statuses.
  bool close_all() {
    for (auto& s : streams_) {
      s->ctx.TryCancel();
      s->reader->Finish(&s->status, &s->finished);
    }
    const std::size_t n = streams_.size();
    std::size_t done = 0;
    const bool in_time = drain([&](Tag* t, bool) { return t->kind == Tag::kFinished && ++done == n; });
    if (in_time) streams_.clear();  // else gRPC may still hold their tags: leave them
    return in_time;
  }
  ~Load() {
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

 private:
  template <class F>
  bool drain(F on_event) {
    const auto until = std::chrono::system_clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_timeout_s));
    void* tag;
    bool ok;
    while (true) {
      switch (cq_.AsyncNext(&tag, &ok, until)) {
        case grpc::CompletionQueue::GOT_EVENT:
          if (on_event(static_cast<Tag*>(tag), ok)) return true;
          break;
        case grpc::CompletionQueue::TIMEOUT:
        case grpc::CompletionQueue::SHUTDOWN:
          return false;
      }
    }
  }

  std::vector<std::unique_ptr<Tester::Stub>> stubs_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Stream>> streams_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int pid = absl::GetFlag(FLAGS_server_pid);
  const int n = absl::GetFlag(FLAGS_streams);
  if (pid <= 0 || rss_kib(pid) < 0) {
    std::fprintf(stderr, "--server_pid: no such process\n");
    return 2;
  }
  if (n < 1) {
    std::fprintf(stderr, "--streams: at least 1\n");
    return 2;
  }
  Load load(absl::GetFlag(FLAGS_server), absl::GetFlag(FLAGS_channels));
  if (!load.open(absl::GetFlag(FLAGS_warmup)) || !load.close_all()) {
    std::fprintf(stderr, "warm-up streams failed or timed out\n");
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(absl::GetFlag(FLAGS_settle_ms)));
  const long before = rss_kib(pid);
  if (!load.open(n)) {
    std::fprintf(stderr, "opening %d streams failed or timed out\n", n);
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(absl::GetFlag(FLAGS_settle_ms)));
  const long after = rss_kib(pid);
  const bool closed = load.close_all();
  std::printf("%d idle streams: server RSS %ld -> %ld KiB, +%ld KiB, %.0f bytes/stream\n", n, before, after,
              after - before, (after - before) * 1024.0 / n);
  return closed ? 0 : 1;
}
