// Echo server on Boost.Asio 1.81 with C++20 coroutines, single-threaded:
// the peer of the echo benchmark.
//   echo_asio [port]   (prints "listening on PORT"; SIGINT/SIGTERM stop it)
#include <boost/asio.hpp>
#include <cstdio>
#include <cstdlib>

namespace asio = boost::asio;
using asio::ip::tcp;

static asio::awaitable<void> echo(tcp::socket s) {
  char buf[4096];
  try {
    for (;;) {
      std::size_t n = co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
      co_await asio::async_write(s, asio::buffer(buf, n), asio::use_awaitable);
    }
  } catch (const std::exception&) {
  }
}

static asio::awaitable<void> listener(tcp::acceptor& a) {
  for (;;) {
    tcp::socket s = co_await a.async_accept(asio::use_awaitable);
    s.set_option(tcp::no_delay(true));
    asio::co_spawn(a.get_executor(), echo(std::move(s)), asio::detached);
  }
}

int main(int argc, char** argv) {
  asio::io_context io(1);
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                    static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 0)));
  std::printf("listening on %d\n", a.local_endpoint().port());
  std::fflush(stdout);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, auto) { io.stop(); });
  asio::co_spawn(io, listener(a), asio::detached);
  io.run();
  return 0;
}
