// Client of the idle-connection memory benchmark: opens `--connections`
// TCP connections to 127.0.0.1:`--port` one after another (blocking), on
// each sends one line and reads the echoed line back, and keeps them all
// open and idle. Prints "ready N" once all are up, then waits until its
// stdin closes (or `--seconds` pass) and exits, closing them.
#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

ABSL_FLAG(int, port, 0, "server port on 127.0.0.1");
ABSL_FLAG(int, connections, 10000, "idle connections to open");
ABSL_FLAG(int, seconds, 600, "upper bound on how long to hold them");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  const int n = absl::GetFlag(FLAGS_connections);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(absl::GetFlag(FLAGS_port)));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(n));
  const char msg[] = "hello\n";
  for (int i = 0; i < n; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      std::perror("socket");
      return 1;
    }
    timeval tv{10, 0};  // a bound on each blocking call
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::perror("connect");
      return 1;
    }
    if (send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof msg - 1)) {
      std::perror("send");
      return 1;
    }
    char buf[64];
    std::size_t got = 0;
    while (got < sizeof msg - 1) {
      const ssize_t k = recv(fd, buf + got, sizeof buf - got, 0);
      if (k <= 0) {
        std::fprintf(stderr, "connection %d: no echo\n", i);
        return 1;
      }
      got += static_cast<std::size_t>(k);
    }
    fds.push_back(fd);
  }
  std::printf("ready %d\n", n);
  std::fflush(stdout);
  pollfd p{0, POLLIN, 0};
  poll(&p, 1, absl::GetFlag(FLAGS_seconds) * 1000);
  for (int fd : fds) close(fd);
  return 0;
}
