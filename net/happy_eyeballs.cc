#include "corio/net/happy_eyeballs.h"

#include <cerrno>
#include <cstring>
#include <exception>
#include <string>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/timeout.h"
#include "corio/loop/wait.h"
#include "corio/net/errors.h"

namespace corio::net {

std::vector<SocketAddress> interleave_addresses(std::vector<SocketAddress> addrs, std::size_t first_family_count) {
  if (first_family_count == 0 || addrs.empty()) return addrs;
  // The addresses of each family, families in the order they first appear.
  std::vector<std::vector<SocketAddress>> by_family;
  std::vector<int> families;
  for (SocketAddress& a : addrs) {
    std::size_t f = 0;
    while (f < families.size() && families[f] != a.family()) ++f;
    if (f == families.size()) {
      families.push_back(a.family());
      by_family.emplace_back();
    }
    by_family[f].push_back(std::move(a));
  }
  std::vector<SocketAddress> out;
  out.reserve(addrs.size());
  std::vector<std::size_t> next(by_family.size(), 0);
  // The first family's extra addresses first (asyncio: count - 1 of them;
  // its zip then takes one more).
  for (; next[0] + 1 < first_family_count && next[0] < by_family[0].size(); ++next[0]) {
    out.push_back(std::move(by_family[0][next[0]]));
  }
  for (bool any = true; any;) {
    any = false;
    for (std::size_t f = 0; f < by_family.size(); ++f) {
      if (next[f] < by_family[f].size()) {
        out.push_back(std::move(by_family[f][next[f]++]));
        any = true;
      }
    }
  }
  return out;
}

namespace {

// One attempt: its socket, connected, or the reason it failed (thrown).
Task<Socket> attempt(SocketAddress a, std::optional<std::chrono::nanoseconds> connect_timeout) {
  Socket s = Socket::open(a.family(), SOCK_STREAM);
  if (connect_timeout) {
    co_await timeout(*connect_timeout, s.connect(a));
  } else {
    co_await s.connect(a);
  }
  co_return s;
}

// How an attempt failed, for the combined error.
struct Failure {
  std::exception_ptr error;
  int code = 0;  // errno; ETIMEDOUT for a timeout
  bool timed_out = false;
  std::string text;
};

// The failure of a finished attempt, or nullopt if it is not one of the
// expected connect failures (then it is rethrown by the caller).
std::optional<Failure> classify(std::exception_ptr e) {
  Failure f;
  f.error = e;
  try {
    std::rethrow_exception(e);
  } catch (const OSError& x) {
    f.code = x.code();
    f.text = std::strerror(x.code());
  } catch (const TimeoutError&) {
    f.code = ETIMEDOUT;
    f.timed_out = true;
    f.text = "timed out";
  } catch (...) {
    return std::nullopt;
  }
  return f;
}

[[noreturn]] void throw_combined(const std::vector<SocketAddress>& addrs, const std::vector<Failure>& failures) {
  if (failures.size() == 1) std::rethrow_exception(failures.front().error);
  bool same = true;
  for (const Failure& f : failures) {
    same = same && f.code == failures.front().code && f.timed_out == failures.front().timed_out;
  }
  std::string what = "connect: all " + std::to_string(addrs.size()) + " addresses failed (";
  for (std::size_t i = 0; i < failures.size(); ++i) {
    if (i > 0) what += "; ";
    what += addrs[i].to_string() + ": " + failures[i].text;
  }
  what += ")";
  if (same && failures.front().timed_out) throw TimeoutError("corio::net: " + what);
  if (same) throw_os_error(failures.front().code, what);
  throw OSError(failures.front().code, "corio::net: " + what);
}

// Cancels every attempt still running, waits for them to end and drops
// what they leave (a socket won at the same moment is closed). Each
// outcome is retrieved, so none is reported as never retrieved.
Task<void> stop_all(std::vector<TaskHandle<Socket>> running) {
  std::vector<TaskHandle<Socket>> pending;
  for (TaskHandle<Socket>& h : running) {
    h.cancel("corio::net: another address connected first");
    if (!h.done()) pending.push_back(h);
  }
  if (!pending.empty()) co_await wait(std::move(pending), ReturnWhen::kAllCompleted);
  for (TaskHandle<Socket>& h : running) {
    if (!h.done() || h.cancelled()) continue;
    if (!h.exception()) (void)h.take_result();
  }
}

}  // namespace

namespace {

Task<Socket> race(std::vector<SocketAddress> addrs, HappyEyeballsOptions options) {
  if (addrs.empty()) throw OSError(EADDRNOTAVAIL, "corio::net: connect: no address to connect to");
  const std::size_t n = addrs.size();
  std::vector<std::optional<Failure>> failures(n);
  std::vector<TaskHandle<Socket>> running;
  std::vector<std::size_t> running_index;
  std::size_t next = 0;
  std::optional<Socket> winner;
  std::exception_ptr abort;  // cancelled, or an unexpected error
  try {
    for (;;) {
      if (next < n) {
        running.push_back(
            create_task(attempt(addrs[next], options.connect_timeout), "corio.net.connect:" + addrs[next].to_string()));
        running_index.push_back(next);
        ++next;
      }
      if (running.empty()) break;  // every address failed
      std::optional<Delay> limit;
      if (next < n && options.attempt_delay) limit = *options.attempt_delay;
      std::vector<TaskHandle<Socket>> watched = running;
      co_await wait(std::move(watched), ReturnWhen::kFirstCompleted, limit);
      // Take every finished attempt, in the order they were started.
      std::size_t kept = 0;
      for (std::size_t k = 0; k < running.size(); ++k) {
        TaskHandle<Socket>& h = running[k];
        if (!h.done()) {
          running[kept] = h;
          running_index[kept] = running_index[k];
          ++kept;
          continue;
        }
        if (std::exception_ptr e = h.exception()) {
          std::optional<Failure> f = classify(e);
          if (!f) std::rethrow_exception(e);
          failures[running_index[k]] = std::move(f);
        } else if (!winner) {
          winner = h.take_result();
        } else {
          (void)h.take_result();  // a second winner in the same step: closed
        }
      }
      running.resize(kept);
      running_index.resize(kept);
      if (winner) break;
    }
  } catch (...) {
    abort = std::current_exception();
  }
  if (!running.empty()) co_await stop_all(std::move(running));
  if (abort) std::rethrow_exception(abort);
  if (winner) co_return std::move(*winner);
  std::vector<Failure> all;
  for (std::optional<Failure>& f : failures) all.push_back(std::move(*f));
  throw_combined(addrs, all);
}

}  // namespace

Task<Socket> connect_happy_eyeballs(std::vector<SocketAddress> addrs, const HappyEyeballsOptions& options) {
  return race(std::move(addrs), options);
}

}  // namespace corio::net
