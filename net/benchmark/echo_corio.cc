// Echo server on corio sockets, single-threaded, for the echo benchmark.
//   echo_corio --port=0   (prints "listening on PORT"; SIGINT/SIGTERM stop it)
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>

#include <csignal>
#include <cstdio>

#include "corio/loop/loop.h"
#include "corio/net/socket.h"
#include "corio/sync/event.h"

ABSL_FLAG(int, port, 0, "port on 127.0.0.1 (0 picks one)");

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
  std::printf("listening on %d\n", l.local_address().port());
  std::fflush(stdout);
  corio::Event stop;
  corio::current_loop().add_signal_handler(SIGINT, [&] { stop.set(); });
  corio::current_loop().add_signal_handler(SIGTERM, [&] { stop.set(); });
  auto acceptor = corio::create_task(accept_loop(l));
  co_await stop.wait();
  acceptor.cancel();
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return corio::run(serve());
}
