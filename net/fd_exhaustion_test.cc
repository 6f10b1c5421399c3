// Running out of file descriptors (RLIMIT_NOFILE lowered, in a process of
// its own): accept() fails with EMFILE, the server reports it through the
// loop's exception handler and backs off, the connections it already has
// are still served, and once descriptors are free again the waiting
// client is accepted and served.
//
// Under --config=asan (ASan + UBSan, g++): UBSan's vptr check, on a miss
// of its type cache, probes memory through a pipe(), which fails while no
// descriptor is free and is then reported as a bad vptr. This binary
// interposes that one handler and skips the check only while the
// descriptors are used up (a few milliseconds); everywhere else it calls
// the runtime's. ASan and TSan themselves need no descriptor.
#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/sleep.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/timeout.h"
#include "corio/net/errors.h"
#include "corio/net/socket.h"
#include "corio/net/streams.h"
#include "corio/net/testing/loopback.h"
#include "gtest/gtest.h"

namespace {
// True while FdFiller holds every descriptor.
std::atomic<bool> no_descriptor_left{false};
}  // namespace

#if defined(__SANITIZE_ADDRESS__) && !defined(__clang__)
// g++ links libubsan as a shared library: this definition, in the
// executable, takes the instrumented code's calls; RTLD_NEXT is libubsan's.
extern "C" void __ubsan_handle_dynamic_type_cache_miss_abort(void* data, std::uintptr_t pointer, std::uintptr_t hash) {
  if (no_descriptor_left.load(std::memory_order_relaxed)) return;
  using Handler = void (*)(void*, std::uintptr_t, std::uintptr_t);
  static const auto real =
      reinterpret_cast<Handler>(::dlsym(RTLD_NEXT, "__ubsan_handle_dynamic_type_cache_miss_abort"));
  if (real == nullptr) std::abort();
  real(data, pointer, hash);
}
#endif

namespace corio::net {
namespace {

using namespace std::chrono_literals;

using corio::net::testing::echo_lines;

// How many reports so far carry an OSError with EMFILE.
int emfile_reports() {
  int n = 0;
  for (const ErrorContext& c : ::corio::testing::loop_errors()) {
    try {
      if (c.exception) std::rethrow_exception(c.exception);
    } catch (const OSError& e) {
      if (e.code() == EMFILE) ++n;
    } catch (...) {
    }
  }
  return n;
}

// Uses up every descriptor under a lowered soft limit, and gives them back.
class FdFiller {
 public:
  // Lowers the soft limit to what is open now plus `headroom`, then fills
  // it all with dup()s (bounded by the limit).
  explicit FdFiller(int headroom) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit low = saved_;
    low.rlim_cur = static_cast<rlim_t>(testing::open_fd_count() + headroom + 3);
    ::setrlimit(RLIMIT_NOFILE, &low);
    no_descriptor_left = true;
    for (int fd; fillers_.size() < 100000 && (fd = ::dup(0)) >= 0;) fillers_.push_back(fd);
    full_errno_ = errno;
  }
  ~FdFiller() { release(); }
  int full_errno() const { return full_errno_; }
  // Frees one descriptor.
  void free_one() {
    ::close(fillers_.back());
    fillers_.pop_back();
  }
  void release() {
    for (int fd : fillers_) ::close(fd);
    fillers_.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved_);
    no_descriptor_left = false;
  }

 private:
  rlimit saved_{};
  std::vector<int> fillers_;
  int full_errno_ = 0;
};

CO_TEST_REAL_CLOCK(NetFdExhaustion, EmfileIsReportedOthersAreStillServedAndTheServerRecovers) {
  ::corio::testing::expect_loop_errors();
  ServerOptions options;
  options.accept_backoff = 20ms;
  Server server = co_await start_server(echo_lines, "127.0.0.1", 0, options);
  const std::uint16_t port = server.port();
  // A client accepted before the descriptors run out.
  auto [reader, writer] = co_await open_connection("127.0.0.1", port);
  writer.write("before\n");
  CO_ASSERT_EQ(co_await timeout(10s, reader.readline()), "before\n");

  FdFiller filler(16);
  CO_ASSERT_EQ(filler.full_errno(), EMFILE);
  // One descriptor for a new client: it connects (the kernel completes the
  // handshake into the backlog) but the server cannot accept it.
  filler.free_one();
  Socket late = Socket::open(AF_INET, SOCK_STREAM);
  co_await late.connect(SocketAddress::ip("127.0.0.1", port));
  for (int i = 0; i < 10000 && emfile_reports() < 2; ++i) co_await sleep(1ms);
  CO_ASSERT_GE(emfile_reports(), 2);  // reported, backed off, tried again
  CO_ASSERT_TRUE(server.is_serving());
  // The connection it already had is served all along.
  for (int i = 0; i < 20; ++i) {
    const std::string line = "during " + std::to_string(i) + "\n";
    writer.write(line);
    CO_ASSERT_EQ(co_await timeout(10s, reader.readline()), line);
  }
  filler.release();

  // After the back-off the waiting client is accepted and served.
  co_await late.send_all("after\n");
  std::string got;
  char buf[64];
  while (got.find('\n') == std::string::npos) {
    const std::size_t n = co_await timeout(10s, late.recv(buf));
    CO_ASSERT_GT(n, 0u);
    got.append(buf, n);
  }
  CO_ASSERT_EQ(got, "after\n");
  late.close();
  writer.close();
  co_await server.shutdown(5s);
}

}  // namespace
}  // namespace corio::net
