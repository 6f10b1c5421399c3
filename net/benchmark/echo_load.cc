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
// batches, which is the tail of the latencies it reports (see the echo
// section of docs/benchmarks.md). --detail adds p90, p99.9, the maximum and the spread of
// the per-connection mean latencies (equal means: every connection is
// served alike), and the client's own load: its CPU time (user + system)
// as a share of the run and the events (epoll) or completions (io_uring)
// it handles per wait; well under 100% and small batches mean the turns
// wait in the server, not here.
// --uring drives the sockets through io_uring instead: each connection
// keeps one recv outstanding; the completions of a batch are handled in
// the order the kernel posted them (the order the replies came), each one
// records its latency and queues that connection's next send (and recv),
// and one io_uring_enter both submits them and waits for the next
// completions. About one system call per batch rather than a read and a
// send per round trip plus an epoll_wait per batch, so this client is
// cheaper per round trip than the servers it measures and the turns wait
// in the server, whose own order then decides the tail. --trace_out=PATH
// (with --uring: io_trace.so cannot see io_uring's operations) writes
// the client's side of trace.sh's records itself: a send stamped when it
// is queued for the batch's io_uring_enter, a read when its completion is
// handled, and each io_uring_enter as an epoll_wait ('W', 'w' with the
// number of completions it brought). --busy_poll (with --uring) never
// sleeps: each io_uring_enter submits and collects what has completed
// without waiting, so no reply has to wake the client (a wake-up costs
// the server's CPU as well as the client's).
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

ABSL_FLAG(int, port, 0, "server port on 127.0.0.1");
ABSL_FLAG(int, connections, 50, "concurrent connections");
ABSL_FLAG(int, size, 64, "message size in bytes");
ABSL_FLAG(long, round_trips, 200000, "round trips in total");
ABSL_FLAG(double, seconds, 30, "upper bound on the run's length");
ABSL_FLAG(bool, edge_triggered, false, "register the sockets with EPOLLET (serve replies in arrival order)");
ABSL_FLAG(bool, uring, false,
          "drive the sockets through io_uring: one recv outstanding per connection, completions handled in "
          "arrival order, one io_uring_enter per batch");
ABSL_FLAG(bool, busy_poll, false,
          "with --uring: never sleep; each io_uring_enter submits and collects what has completed, without waiting");
ABSL_FLAG(std::string, trace_out, "", "with --uring: write the client's io_trace records to this file");
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

// --trace_out's records (io_trace.c's format).
struct TraceRec {
  std::int64_t t;
  int fd;
  int ret;
  char op;
};

// --uring's user_data: the connection's index, with this bit for a send.
// Sends carry IOSQE_CQE_SKIP_SUCCESS, so a send posts a completion only
// when it failed; every other completion is a recv.
constexpr std::uint64_t kSendTag = 1ull << 63;

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
  long waits = 0, events = 0;  // for --detail
  const int one = 1;
  const bool uring = absl::GetFlag(FLAGS_uring);
  const bool busy_poll = absl::GetFlag(FLAGS_busy_poll);
  const std::string trace_out = absl::GetFlag(FLAGS_trace_out);
  if (!trace_out.empty() && !uring) {
    std::fprintf(stderr, "--trace_out needs --uring (otherwise run the client under io_trace.so)\n");
    return 2;
  }
  std::vector<TraceRec> trace;
  if (!trace_out.empty()) trace.reserve(static_cast<std::size_t>(total) * 3 + 1024);
  auto record = [&](char op, int fd, int ret, std::int64_t t) {
    if (!trace_out.empty()) trace.push_back(TraceRec{t, fd, ret, op});
  };
  io_uring ring;
  std::vector<char> rbufs;  // --uring: each connection's receive buffer
  // The ring has room for a recv and a send per connection, which is all
  // that can be queued between two enters; a full ring is a bug here.
  auto get_sqe = [&]() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (sqe == nullptr) {
      std::fprintf(stderr, "io_uring submission queue full\n");
      std::exit(1);
    }
    return sqe;
  };
  auto queue_recv = [&](std::size_t i) {
    io_uring_sqe* sqe = get_sqe();
    Conn& c = conns[i];
    io_uring_prep_recv(sqe, c.fd, rbufs.data() + i * size + c.got, size - c.got, 0);
    sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;  // the reply cannot be there yet: no first try
    io_uring_sqe_set_data64(sqe, i);
  };
  auto send_msg = [&](Conn& c) {
    c.got = 0;
    c.sent_at = now_ns();
    ++started;
    if (uring) {
      const auto i = static_cast<std::size_t>(&c - conns.data());
      queue_recv(i);
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_send(sqe, c.fd, msg.data(), size, MSG_NOSIGNAL | MSG_WAITALL);
      io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
      io_uring_sqe_set_data64(sqe, i | kSendTag);
      record('s', c.fd, static_cast<int>(size), c.sent_at);
      return;
    }
    if (send(c.fd, msg.data(), size, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) {
      std::perror("send");
      std::exit(1);
    }
  };
  if (uring) {
    // Room for a send and a recv per connection, queued between two
    // io_uring_enters. DEFER_TASKRUN: the completions are run in this
    // thread when it waits, not by interrupting it while it handles a batch.
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    const int e = io_uring_queue_init_params(static_cast<unsigned>(2 * nconn + 8), &ring, &p);
    if (e < 0) {
      std::fprintf(stderr, "io_uring_queue_init_params: %s\n", std::strerror(-e));
      return 1;
    }
    rbufs.resize(static_cast<std::size_t>(nconn) * size);
  }
  for (int i = 0; i < nconn; ++i) {
    Conn& c = conns[i];
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("connect");
      return 1;
    }
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (uring) continue;
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
  // The io_uring mode's system call: this batch's sends and recvs go in,
  // and it returns when at least one completion is there (after a second
  // at most, to check the time limit), or at once with --busy_poll (what
  // has completed so far is run and posted, FIFO).
  auto enter = [&]() {
    __kernel_timespec ts{};
    ts.tv_sec = 1;
    io_uring_cqe* cqe = nullptr;
    record('W', busy_poll ? 0 : -1, 0, now_ns());
    const int e = busy_poll ? io_uring_submit_and_get_events(&ring)
                            : io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, nullptr);
    if (e < 0 && e != -ETIME && e != -EINTR && e != -EAGAIN && e != -EBUSY) {
      std::fprintf(stderr, "io_uring_enter: %s\n", std::strerror(-e));
      std::exit(1);
    }
    ++waits;
    return now_ns();
  };
  while (uring && done < started) {
    const std::int64_t t = enter();
    if (t >= limit) break;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring, &cqe) == 0) {
      ++seen;
      const std::uint64_t tag = io_uring_cqe_get_data64(cqe);
      Conn& c = conns[tag & ~kSendTag];
      if ((tag & kSendTag) != 0 || cqe->res <= 0) {
        std::fprintf(stderr, "%s: %s\n", (tag & kSendTag) != 0 ? "send" : "recv",
                     cqe->res < 0 ? std::strerror(-cqe->res) : "connection closed by the server");
        return 1;
      }
      const int res = cqe->res;
      io_uring_cqe_seen(&ring, cqe);
      record('r', c.fd, res, t);
      c.got += static_cast<std::size_t>(res);
      if (c.got < size) {
        queue_recv(static_cast<std::size_t>(&c - conns.data()));
        continue;
      }
      const std::int64_t l = t - c.sent_at;
      lat.push_back(l);
      c.latency_sum += l;
      ++c.round_trips;
      ++done;
      if (started < total) send_msg(c);
    }
    events += seen;
    record('w', -1, static_cast<int>(seen), t);
  }
  while (!uring && done < started && now_ns() < limit) {
    const int n = epoll_wait(ep, evs, 256, 1000);
    ++waits;
    events += n > 0 ? n : 0;
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
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
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
    const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    std::printf("  client: CPU %.0f%% of the run, %.1f %s per wait (%ld waits)\n", 100.0 * cpu / secs,
                static_cast<double>(events) / static_cast<double>(std::max(1L, waits)),
                uring ? "completions" : "events", waits);
  }
  for (Conn& c : conns) close(c.fd);
  if (uring) io_uring_queue_exit(&ring);
  if (!trace_out.empty()) {
    FILE* f = std::fopen(trace_out.c_str(), "w");
    if (f == nullptr) {
      std::perror(trace_out.c_str());
      return 1;
    }
    for (const TraceRec& r : trace) std::fprintf(f, "%lld %c %d %d\n", static_cast<long long>(r.t), r.op, r.fd, r.ret);
    std::fclose(f);
  }
  return done == total ? 0 : 1;
}
