// Closed-loop load client of the echo benchmark: `--connections` sockets,
// each sends a `--size`-byte message and waits for all of it to come back
// before sending the next, until `--round_trips` in total (or
// `--seconds`). Single-threaded on epoll. Prints round trips/s, p50, p99.
// --edge_triggered registers the sockets with EPOLLET: ready sockets are
// then served in the order their replies came. Level-triggered (the
// default, as every run so far) keeps a socket it reported at its place
// in the kernel's ready list, ahead of sockets that became ready after;
// when this client holds most of the connections' turns (a server faster
// than it), the few sockets at the end of that order miss every other
// epoll_wait and their replies wait in this client for up to two of its
// batches, which is the tail of the latencies it reports (see the README's
// echo section). --detail adds p90, p99.9, the maximum and the spread of
// the per-connection mean latencies (equal means: every connection is
// served alike).
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

ABSL_FLAG(int, port, 0, "server port on 127.0.0.1");
ABSL_FLAG(int, connections, 50, "concurrent connections");
ABSL_FLAG(int, size, 64, "message size in bytes");
ABSL_FLAG(long, round_trips, 200000, "round trips in total");
ABSL_FLAG(double, seconds, 30, "upper bound on the run's length");
ABSL_FLAG(bool, edge_triggered, false, "register the sockets with EPOLLET (serve replies in arrival order)");
ABSL_FLAG(bool, detail, false, "also print p90, p99.9, max and the per-connection mean latencies");

namespace {

std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct Conn {
  int fd;
  std::size_t got = 0;
  std::int64_t sent_at = 0;
  std::int64_t latency_sum = 0;  // for --detail
  long round_trips = 0;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int nconn = absl::GetFlag(FLAGS_connections);
  const std::size_t size = static_cast<std::size_t>(absl::GetFlag(FLAGS_size));
  const long total = absl::GetFlag(FLAGS_round_trips);
  const std::string msg(size, 'x');
  std::vector<char> buf(1 << 16);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(absl::GetFlag(FLAGS_port)));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int ep = epoll_create1(0);
  std::vector<Conn> conns(nconn);
  std::vector<std::int64_t> lat;
  lat.reserve(static_cast<std::size_t>(total));
  long started = 0, done = 0;
  const int one = 1;
  auto send_msg = [&](Conn& c) {
    c.got = 0;
    c.sent_at = now_ns();
    ++started;
    if (send(c.fd, msg.data(), size, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) {
      std::perror("send");
      std::exit(1);
    }
  };
  for (int i = 0; i < nconn; ++i) {
    Conn& c = conns[i];
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("connect");
      return 1;
    }
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    epoll_event ev{};
    ev.events = EPOLLIN | (absl::GetFlag(FLAGS_edge_triggered) ? EPOLLET : 0u);
    ev.data.u32 = static_cast<std::uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  }
  const std::int64_t t0 = now_ns();
  const std::int64_t limit = t0 + static_cast<std::int64_t>(absl::GetFlag(FLAGS_seconds) * 1e9);
  for (Conn& c : conns) {
    if (started < total) send_msg(c);
  }
  epoll_event evs[256];
  while (done < started && now_ns() < limit) {
    const int n = epoll_wait(ep, evs, 256, 1000);
    for (int i = 0; i < n; ++i) {
      Conn& c = conns[evs[i].data.u32];
      const ssize_t r = read(c.fd, buf.data(), buf.size());
      if (r <= 0) {
        std::fprintf(stderr, "connection closed by the server\n");
        return 1;
      }
      c.got += static_cast<std::size_t>(r);
      if (c.got >= size) {
        const std::int64_t l = now_ns() - c.sent_at;
        lat.push_back(l);
        c.latency_sum += l;
        ++c.round_trips;
        ++done;
        if (started < total) send_msg(c);
      }
    }
  }
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) {
    return lat.empty()
               ? 0.0
               : static_cast<double>(lat[std::min(lat.size() - 1, static_cast<std::size_t>(q * lat.size()))]) / 1e3;
  };
  std::printf("%ld round trips in %.3f s: %.0f round trips/s, p50 %.1f us, p99 %.1f us\n", done, secs,
              static_cast<double>(done) / secs, pct(0.50), pct(0.99));
  if (absl::GetFlag(FLAGS_detail) && !lat.empty()) {
    std::vector<double> means;
    for (const Conn& c : conns) {
      if (c.round_trips > 0)
        means.push_back(static_cast<double>(c.latency_sum) / static_cast<double>(c.round_trips) / 1e3);
    }
    std::sort(means.begin(), means.end());
    std::printf("  p90 %.1f us, p99.9 %.1f us, max %.1f us; per-connection mean min %.1f / median %.1f / max %.1f us\n",
                pct(0.90), pct(0.999), static_cast<double>(lat.back()) / 1e3, means.front(), means[means.size() / 2],
                means.back());
  }
  for (Conn& c : conns) close(c.fd);
  return done == total ? 0 : 1;
}
