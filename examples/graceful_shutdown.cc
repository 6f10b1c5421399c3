// graceful_shutdown: a long-running service that stops cleanly on SIGINT or
// SIGTERM (asyncio's loop.add_signal_handler + "await stop event" pattern).
//
// Run it:  bazel run //examples:graceful_shutdown              # stops after 3 s
//          bazel run //examples:graceful_shutdown -- --seconds 10
//
// The service is a ticker and two workers that pull jobs. main() waits on a
// Future that the signal handlers complete; then it cancels the tasks, waits
// for their cleanup (catch CancelledError, RAII) and prints a summary.
// So that the program also ends on its own, it sends itself SIGTERM after
// --seconds N (default 3): the shutdown always goes through the signal path.
// Press Ctrl-C earlier to stop it by hand.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "corio/loop/loop.h"

using namespace std::chrono_literals;

namespace {

corio::TimePoint g_start;

double elapsed() { return std::chrono::duration<double>(corio::current_loop().time() - g_start).count(); }

// A resource a worker holds for its whole life: released by its destructor
// however the worker ends, including by cancellation.
class Connection {
 public:
  explicit Connection(std::string owner) : owner_(std::move(owner)) {
    std::printf("[%.2fs] %s: connection opened\n", elapsed(), owner_.c_str());
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { std::printf("[%.2fs] %s: connection closed (RAII)\n", elapsed(), owner_.c_str()); }

 private:
  std::string owner_;
};

struct WorkerStats {
  std::string name;
  int jobs_done = 0;
  bool interrupted_mid_job = false;
};

// Processes jobs until cancelled. On cancellation it finishes the clean-up
// that needs to await (C++ forbids co_await inside a catch block, so the
// handler only records the error), then re-raises CancelledError, as an
// asyncio worker does with `except CancelledError: ...; raise`.
corio::Task<void> worker(WorkerStats* stats, std::chrono::milliseconds job_time) {
  Connection conn(stats->name);
  std::exception_ptr cancelled;
  try {
    for (;;) {
      stats->interrupted_mid_job = true;
      co_await corio::sleep(job_time);  // "process a job"
      stats->interrupted_mid_job = false;
      ++stats->jobs_done;
    }
  } catch (const corio::CancelledError&) {
    cancelled = std::current_exception();
  }
  std::printf("[%.2fs] %s: cancelled%s, flushing state...\n", elapsed(), stats->name.c_str(),
              stats->interrupted_mid_job ? " mid-job" : "");
  co_await corio::sleep(50ms);  // async clean-up: ack in-flight work, flush
  std::printf("[%.2fs] %s: flushed (jobs done: %d)\n", elapsed(), stats->name.c_str(), stats->jobs_done);
  std::rethrow_exception(cancelled);
}

corio::Task<void> ticker(int* ticks) {
  for (;;) {
    co_await corio::sleep(400ms);
    ++*ticks;
    std::printf("[%.2fs] tick %d\n", elapsed(), *ticks);
  }
}

corio::Task<int> serve(double seconds) {
  corio::EventLoop& loop = corio::current_loop();
  g_start = loop.time();

  // stop = loop.create_future()
  // for sig in (SIGINT, SIGTERM): loop.add_signal_handler(sig, stop.set_result, sig)
  corio::Future<int> stop(loop);
  for (int sig : {SIGINT, SIGTERM}) {
    loop.add_signal_handler(sig, [stop, sig]() mutable {
      if (!stop.done()) stop.set_result(sig);  // a second signal while stopping is ignored
    });
  }

  // Stand-in for the operator: SIGTERM to ourselves after `seconds`.
  auto delay = std::chrono::duration_cast<corio::Duration>(std::chrono::duration<double>(seconds));
  corio::TimerHandle self_kill = loop.call_later(delay, [] {
    std::printf("[%.2fs] (sending SIGTERM to self)\n", elapsed());
    ::kill(::getpid(), SIGTERM);
  });

  WorkerStats a{"worker-a"}, b{"worker-b"};
  int ticks = 0;
  std::vector<corio::TaskHandle<void>> tasks{
      corio::create_task(ticker(&ticks), "ticker"),
      corio::create_task(worker(&a, 350ms), "worker-a"),
      corio::create_task(worker(&b, 800ms), "worker-b"),
  };
  std::printf("[%.2fs] service running (pid %d); stopping on SIGINT/SIGTERM or after %.1f s\n", elapsed(),
              static_cast<int>(::getpid()), seconds);

  int sig = co_await stop;  // the service runs until a signal arrives
  std::printf("[%.2fs] received %s, shutting down\n", elapsed(), sig == SIGINT ? "SIGINT" : "SIGTERM");

  // for t in tasks: t.cancel()
  // await asyncio.gather(*tasks, return_exceptions=True)
  for (corio::TaskHandle<void>& t : tasks) t.cancel("shutdown");
  std::vector<corio::Outcome<void>> outcomes = co_await corio::gather(corio::return_exceptions, tasks);
  int cancelled = 0;
  for (const corio::Outcome<void>& o : outcomes) cancelled += o.cancelled() ? 1 : 0;

  for (int s : {SIGINT, SIGTERM}) loop.remove_signal_handler(s);
  self_kill.cancel();  // no-op if it already fired; matters after a real Ctrl-C

  std::printf("[%.2fs] summary: up %.2f s, %d ticks, %s did %d jobs, %s did %d jobs, %d/%zu tasks cancelled\n",
              elapsed(), elapsed(), ticks, a.name.c_str(), a.jobs_done, b.name.c_str(), b.jobs_done, cancelled,
              tasks.size());
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::strtod(argv[++i], nullptr);
    } else {
      std::fprintf(stderr, "usage: %s [--seconds N]\n", argv[0]);
      return 2;
    }
  }
  return corio::run(serve(seconds));
}
