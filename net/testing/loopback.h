// Test helpers for net: loopback listeners that refuse, blackhole or
// accept, and counts of the process's file descriptors.
//
//   corio::net::testing::Blackhole bh = co_await corio::net::testing::blackhole(AF_INET);
//   // a connect to bh.address now hangs until its timeout
//
// Errors: OSError from the socket calls; RuntimeError from blackhole() if
//   the kernel keeps accepting connections (no backlog limit).
// Thread safety: the loop's thread.
// Cancellation: blackhole() cancelled closes what it opened.
#ifndef CORIO_NET_TESTING_LOOPBACK_H_
#define CORIO_NET_TESTING_LOOPBACK_H_

#include <dirent.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/task.h"
#include "corio/loop/timeout.h"
#include "corio/net/address.h"
#include "corio/net/socket.h"
#include "corio/streams/stream_reader.h"
#include "corio/streams/stream_writer.h"

namespace corio::net::testing {

// "127.0.0.1" or "::1".
inline const char* loopback_host(int family) { return family == AF_INET6 ? "::1" : "127.0.0.1"; }

// A listening socket on the loopback address of `family`, port 0.
inline Socket loopback_listener(int family, int backlog = 128) {
  Socket s = Socket::open(family, SOCK_STREAM);
  s.set_reuse_address();
  s.bind(SocketAddress::ip(loopback_host(family), 0));
  s.listen(backlog);
  return s;
}

// A loopback address on which nothing listens: connects there are refused.
inline SocketAddress refusing_address(int family) {
  Socket probe = Socket::open(family, SOCK_STREAM);
  probe.bind(SocketAddress::ip(loopback_host(family), 0));
  return probe.local_address();  // the port is free again once probe closes
}

// A listener whose accept queue is full and that never accepts: Linux
// drops further SYNs, so a connect to `address` neither succeeds nor fails
// (an unreachable or blackholed address, offline). Keep it alive while in
// use.
struct Blackhole {
  Socket listener;
  std::vector<Socket> fillers;
  SocketAddress address;
};

// Fills the queue with connections until one does not complete within
// 100 ms (proof that SYNs are dropped now).
inline Task<Blackhole> blackhole(int family) {
  Blackhole b;
  b.listener = loopback_listener(family, 0);
  b.address = b.listener.local_address();
  for (int i = 0; i < 32; ++i) {
    Socket c = Socket::open(family, SOCK_STREAM);
    try {
      co_await timeout(std::chrono::milliseconds(100), c.connect(b.address));
    } catch (const TimeoutError&) {
      co_return b;
    }
    b.fillers.push_back(std::move(c));
  }
  throw RuntimeError("corio::net::testing::blackhole: the listener's backlog never filled");
}

// The process's open file descriptors (entries of /proc/self/fd, less
// the one used to list them).
inline int open_fd_count() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;
}

// Whether the machine has an IPv6 loopback address (::1 on lo).
inline bool has_ipv6_loopback() {
  std::ifstream in("/proc/net/if_inet6");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("00000000000000000000000000000001", 0) == 0) return true;
  }
  return false;
}

// A connection handler that echoes each line back until the peer ends its
// side (the server most of net's tests run).
inline Task<void> echo_lines(StreamReader& r, StreamWriter& w) {
  for (;;) {
    std::string line = co_await r.readline();
    if (line.empty()) co_return;
    w.write(line);
    co_await w.drain();
  }
}

}  // namespace corio::net::testing

#endif  // CORIO_NET_TESTING_LOOPBACK_H_
