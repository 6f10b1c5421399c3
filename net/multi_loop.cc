#include "corio/net/multi_loop.h"

#include <netdb.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "corio/loop/event_loop.h"
#include "corio/loop/loop_handle.h"
#include "corio/loop/run.h"
#include "corio/sync/event.h"

namespace corio::net {

namespace internal {

// Shared by the owner (MultiLoopServer) and the loop threads. The threads
// hold it too, so it outlives them; the owner joins them before it lets
// go, so the last reference always goes on the owner's thread.
struct MultiLoopState {
  explicit MultiLoopState(std::size_t loops)
      : n(loops),
        accepted(new std::atomic<std::uint64_t>[loops]),
        local_stop(loops, nullptr),
        handles(loops),
        ready(loops, false),
        failed(loops, false) {
    for (std::size_t i = 0; i < n; ++i) accepted[i].store(0, std::memory_order_relaxed);
  }

  const std::size_t n;
  std::unique_ptr<std::atomic<std::uint64_t>[]> accepted;
  // local_stop[i]: loop i's stop Event, read and written on loop i's thread
  // only (set before its handle is published, cleared before it goes).
  std::vector<Event*> local_stop;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<LoopHandle> handles;            // mu
  std::vector<bool> ready, failed;            // mu
  std::size_t reported = 0;                   // mu: loops ready or failed
  std::exception_ptr startup_error;           // mu: the first
  std::exception_ptr run_error;               // mu: the first after startup
  bool stop_requested = false;                // mu
  std::chrono::nanoseconds grace{0};          // mu: the stop request's
  std::chrono::nanoseconds default_grace{0};  // options.grace; constant
  std::vector<SocketAddress> addresses;       // mu until start() returns; then constant

  std::mutex join_mu;
  std::vector<std::thread> threads;  // join_mu

  // Asks every loop registered so far to stop; those registering later see
  // stop_requested.
  void request_stop(std::chrono::nanoseconds g) {
    std::vector<LoopHandle> hs;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stop_requested) return;
      stop_requested = true;
      grace = g;
      hs = handles;
    }
    for (std::size_t i = 0; i < hs.size(); ++i) {
      // Runs on loop i's thread, so local_stop[i] needs no lock. `this` is
      // alive there: loop i's thread holds a reference until it ends.
      hs[i].call_soon_threadsafe([this, i] {
        if (Event* ev = local_stop[i]) ev->set();
      });
    }
  }

  std::chrono::nanoseconds grace_period() const {
    std::lock_guard<std::mutex> lock(mu);
    return grace;
  }

  // Loop i listens. Returns true if a stop was already asked for.
  bool set_ready(std::size_t i, LoopHandle h, const std::vector<SocketAddress>* addrs) {
    bool stop_now;
    {
      std::lock_guard<std::mutex> lock(mu);
      handles[i] = std::move(h);
      if (addrs != nullptr) addresses = *addrs;
      ready[i] = true;
      ++reported;
      stop_now = stop_requested;
    }
    cv.notify_all();
    return stop_now;
  }

  // Loop i ended with an error (before or after it was ready).
  void set_failed(std::size_t i, std::exception_ptr e) {
    bool after_startup;
    {
      std::lock_guard<std::mutex> lock(mu);
      after_startup = ready[i];
      if (after_startup) {
        if (!run_error) run_error = e;
      } else if (!failed[i]) {
        failed[i] = true;
        ++reported;
        if (!startup_error) startup_error = e;
      }
    }
    cv.notify_all();
    // Either way the other loops are told to stop (start() tells them too,
    // when startup fails, but only once every loop has reported).
    if (after_startup) request_stop(std::chrono::nanoseconds(0));
  }

  // Blocks until `count` loops have reported; returns the startup error.
  std::exception_ptr wait_reported(std::size_t count) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return reported >= count || startup_error != nullptr; });
    return startup_error;
  }

  void join_all() {
    std::lock_guard<std::mutex> lock(join_mu);
    for (std::thread& t : threads) {
      if (t.joinable()) t.join();
    }
  }
};

}  // namespace internal

namespace {

using internal::MultiLoopState;

// The numeric host of an IP address ("127.0.0.1", "::1", "fe80::1%eth0").
std::string numeric_host(const SocketAddress& a) {
  char host[NI_MAXHOST];
  const int rc = ::getnameinfo(a.get(), a.size(), host, sizeof host, nullptr, 0, NI_NUMERICHOST);
  if (rc != 0) throw GaiError(rc, std::string("corio::net: getnameinfo: ") + ::gai_strerror(rc));
  return host;
}

constexpr int kStopSignals[] = {SIGINT, SIGTERM};

// One loop's life: bind, report, serve until told to stop, shut down.
Task<void> loop_main(std::shared_ptr<MultiLoopState> st, std::size_t i, ConnectionHandler handler, std::string host,
                     std::uint16_t port, std::vector<SocketAddress> addrs, MultiLoopOptions options) {
  EventLoop& loop = current_loop();
  Event stop;
  std::vector<Server> servers;
  bool signals = false;
  struct Unpublish {
    MultiLoopState& st;
    std::size_t i;
    ~Unpublish() { st.local_stop[i] = nullptr; }
  } unpublish{*st, i};
  try {
    if (options.on_loop_start) options.on_loop_start(i);
    options.reuse_port = true;
    if (i == 0) {
      Task<Server> t = start_server(handler, host, port, options);
      servers.push_back(co_await std::move(t));
    } else {
      // The first loop's addresses, ports included (with port 0 each of
      // its addresses may have got a different one).
      for (const SocketAddress& a : addrs) {
        std::string h = numeric_host(a);
        Task<Server> t = start_server(handler, std::move(h), a.port(), options);
        servers.push_back(co_await std::move(t));
      }
    }
    if (i == 0 && options.handle_signals) {
      MultiLoopState* raw = st.get();
      const std::chrono::nanoseconds grace = options.grace;
      signals = true;
      for (int sig : kStopSignals) loop.add_signal_handler(sig, [raw, grace] { raw->request_stop(grace); });
    }
  } catch (...) {
    if (signals) {
      for (int sig : kStopSignals) loop.remove_signal_handler(sig);
    }
    st->set_failed(i, std::current_exception());
    co_return;  // `servers` close as they go
  }

  st->local_stop[i] = &stop;
  std::vector<SocketAddress> bound;
  if (i == 0) {
    for (const Server& s : servers) {
      for (const SocketAddress& a : s.sockets()) bound.push_back(a);
    }
  }
  if (st->set_ready(i, LoopHandle(loop), i == 0 ? &bound : nullptr)) stop.set();

  co_await stop.wait();
  if (signals) {
    // A second Ctrl-C during the grace period ends the process, as usual.
    for (int sig : kStopSignals) loop.remove_signal_handler(sig);
  }
  const std::chrono::nanoseconds grace = st->grace_period();
  for (Server& s : servers) s.close();
  const auto deadline = loop.time() + grace;
  for (Server& s : servers) {
    const auto left = std::max<std::chrono::nanoseconds>(std::chrono::nanoseconds(0), deadline - loop.time());
    Task<void> t = s.shutdown(left);
    co_await std::move(t);
  }
}

// A loop thread's body.
void loop_thread(std::shared_ptr<MultiLoopState> st, std::size_t i, ConnectionHandler handler, std::string host,
                 std::uint16_t port, std::vector<SocketAddress> addrs, MultiLoopOptions options) {
  try {
    std::atomic<std::uint64_t>* counter = &st->accepted[i];
    ConnectionHandler counted = [inner = std::move(handler), counter](StreamReader& r, StreamWriter& w) {
      counter->fetch_add(1, std::memory_order_relaxed);
      return inner(r, w);
    };
    corio::run(loop_main(st, i, std::move(counted), std::move(host), port, std::move(addrs), std::move(options)));
  } catch (...) {
    st->set_failed(i, std::current_exception());
  }
}

}  // namespace

MultiLoopServer MultiLoopServer::start(ConnectionHandler handler, std::string host, std::uint16_t port,
                                       const MultiLoopOptions& options) {
  if (options.loops == 0) throw std::invalid_argument("corio::net: MultiLoopServer with 0 loops");
  if (!handler) throw std::invalid_argument("corio::net: MultiLoopServer without a handler");
  if (host.empty()) host = "0.0.0.0";
  auto st = std::make_shared<MultiLoopState>(options.loops);
  st->default_grace = options.grace;
  MultiLoopServer server(st);  // from here on, a throw stops and joins what started

  auto spawn = [&](std::size_t i, std::vector<SocketAddress> addrs) {
    std::lock_guard<std::mutex> lock(st->join_mu);
    st->threads.emplace_back(loop_thread, st, i, handler, host, port, std::move(addrs), options);
  };
  auto fail = [&](std::exception_ptr e) {
    st->request_stop(std::chrono::nanoseconds(0));
    st->join_all();
    std::rethrow_exception(e);
  };

  try {
    spawn(0, {});
  } catch (...) {
    fail(std::current_exception());
  }
  if (std::exception_ptr e = st->wait_reported(1)) fail(e);
  std::vector<SocketAddress> addrs;
  {
    std::lock_guard<std::mutex> lock(st->mu);
    addrs = st->addresses;
  }
  try {
    for (std::size_t i = 1; i < options.loops; ++i) spawn(i, addrs);
  } catch (...) {
    fail(std::current_exception());
  }
  // On an error, the loops still binding need not be waited for: one that
  // becomes ready after the stop request sees it and stops at once.
  if (std::exception_ptr e = st->wait_reported(options.loops)) fail(e);
  return server;
}

MultiLoopServer& MultiLoopServer::operator=(MultiLoopServer&& o) noexcept {
  if (this != &o) {
    if (s_) {
      stop();
      try {
        wait();
      } catch (...) {
      }
    }
    s_ = std::move(o.s_);
  }
  return *this;
}

MultiLoopServer::~MultiLoopServer() {
  if (!s_) return;
  stop();
  try {
    wait();
  } catch (...) {
  }
}

void MultiLoopServer::stop() {
  if (!s_) return;
  s_->request_stop(s_->default_grace);
}

void MultiLoopServer::stop(std::chrono::nanoseconds grace) {
  if (s_) s_->request_stop(grace);
}

bool MultiLoopServer::stopping() const {
  if (!s_) return false;
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->stop_requested;
}

void MultiLoopServer::wait() {
  if (!s_) return;
  s_->join_all();
  std::lock_guard<std::mutex> lock(s_->mu);
  if (s_->run_error) std::rethrow_exception(std::exchange(s_->run_error, nullptr));
}

std::uint16_t MultiLoopServer::port() const {
  if (!s_) return 0;
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->addresses.empty() ? 0 : s_->addresses.front().port();
}

std::vector<SocketAddress> MultiLoopServer::sockets() const {
  if (!s_) return {};
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->addresses;
}

std::size_t MultiLoopServer::loops() const { return s_ ? s_->n : 0; }

std::vector<std::uint64_t> MultiLoopServer::connections_per_loop() const {
  std::vector<std::uint64_t> out;
  if (!s_) return out;
  for (std::size_t i = 0; i < s_->n; ++i) out.push_back(s_->accepted[i].load(std::memory_order_relaxed));
  return out;
}

}  // namespace corio::net
