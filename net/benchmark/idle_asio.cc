// Server of the idle-connection memory benchmark on Boost.Asio 1.81 with
// C++20 coroutines, the peer of idle_corio: async_read_until on a
// dynamic_buffer, async_write, then async_read_until again (idle).
//   idle_asio [port]   (prints "listening on PORT"; SIGINT/SIGTERM stop it)
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace asio = boost::asio;
using asio::ip::tcp;

static asio::awaitable<void> handle(tcp::socket s) {
  std::string buf;
  try {
    std::size_t n = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), '\n', asio::use_awaitable);
    co_await asio::async_write(s, asio::buffer(buf.data(), n), asio::use_awaitable);
    buf.erase(0, n);
    co_await asio::async_read_until(s, asio::dynamic_buffer(buf), '\n', asio::use_awaitable);  // idle here
  } catch (const std::exception&) {
  }
}

static asio::awaitable<void> listener(tcp::acceptor& a) {
  for (;;) {
    tcp::socket s = co_await a.async_accept(asio::use_awaitable);
    s.set_option(tcp::no_delay(true));
    asio::co_spawn(a.get_executor(), handle(std::move(s)), asio::detached);
  }
}

int main(int argc, char** argv) {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  asio::io_context io(1);
  tcp::acceptor a(io);
  const tcp::endpoint at(asio::ip::make_address("127.0.0.1"),
                         static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 0));
  a.open(at.protocol());
  a.set_option(tcp::acceptor::reuse_address(true));
  a.bind(at);
  a.listen(4096);
  std::printf("listening on %d\n", a.local_endpoint().port());
  std::fflush(stdout);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, auto) { io.stop(); });
  asio::co_spawn(io, listener(a), asio::detached);
  io.run();
  return 0;
}
