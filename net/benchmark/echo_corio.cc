// Echo server on corio sockets, single-threaded, for the echo benchmark.
//   echo_corio --port=0   (prints "listening on PORT"; SIGINT/SIGTERM stop it)
//
// With --loops=N (N >= 1) it runs corio::net::MultiLoopServer instead: N
// threads, each its own loop and SO_REUSEPORT listener on the port, each
// connection echoed by a StreamReader/StreamWriter handler (read_into up to
// 4 KiB, write, drain). --loops=1 and --loops=2 are the "several cores"
// rows of run.sh: the same code on one and on two loops.
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>

#include <csignal>
#include <cstdio>

#include "corio/loop/loop.h"
#include "corio/net/multi_loop.h"
#include "corio/net/socket.h"
#include "corio/sync/event.h"

ABSL_FLAG(int, port, 0, "port on 127.0.0.1 (0 picks one)");
ABSL_FLAG(int, loops, 0, "0: one loop on raw sockets; N >= 1: MultiLoopServer with N loops");

namespace {

corio::Task<void> echo(corio::net::Socket c) {
  char buf[4096];
  try {
    for (;;) {
      const std::size_t n = co_await c.recv(buf);
      if (n == 0) co_return;
      co_await c.send_all(std::string_view(buf, n));
    }
  } catch (const corio::net::ConnectionError&) {
  }
}

corio::Task<void> accept_loop(corio::net::Socket& l) {
  for (;;) {
    corio::net::Socket c = co_await l.accept();
    c.set_nodelay();
    corio::create_task(echo(std::move(c)));
  }
}

corio::Task<int> serve() {
  auto l = corio::net::Socket::open(AF_INET, SOCK_STREAM);
  l.set_reuse_address();
  l.bind(corio::net::SocketAddress::ip("127.0.0.1", static_cast<std::uint16_t>(absl::GetFlag(FLAGS_port))));
  l.listen(1024);
  // The handlers go in before "listening" is printed: the benchmark script
  // may send SIGTERM as soon as it reads that line.
  corio::Event stop;
  corio::current_loop().add_signal_handler(SIGINT, [&] { stop.set(); });
  corio::current_loop().add_signal_handler(SIGTERM, [&] { stop.set(); });
  std::printf("listening on %d\n", l.local_address().port());
  std::fflush(stdout);
  auto acceptor = corio::create_task(accept_loop(l));
  co_await stop.wait();
  acceptor.cancel();
  co_return 0;
}

corio::Task<void> echo_streams(corio::StreamReader& r, corio::StreamWriter& w) {
  char buf[4096];
  try {
    for (;;) {
      const std::size_t n = co_await r.read_into(buf);
      if (n == 0) co_return;
      w.write(std::string_view(buf, n));
      co_await w.drain();
    }
  } catch (const corio::net::ConnectionError&) {
  }
}

int serve_on_loops(int loops) {
  corio::net::MultiLoopOptions options;
  options.loops = static_cast<std::size_t>(loops);
  options.handle_signals = true;
  options.backlog = 1024;
  options.grace = std::chrono::seconds(1);
  corio::net::MultiLoopServer server = corio::net::MultiLoopServer::start(
      echo_streams, "127.0.0.1", static_cast<std::uint16_t>(absl::GetFlag(FLAGS_port)), options);
  std::printf("listening on %d\n", server.port());
  std::fflush(stdout);
  server.wait();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (const int loops = absl::GetFlag(FLAGS_loops); loops > 0) return serve_on_loops(loops);
  return corio::run(serve());
}
