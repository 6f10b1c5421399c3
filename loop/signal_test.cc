// Tests for POSIX signal handling on the loop: add_signal_handler runs the
// handler on the loop thread, remove_signal_handler restores what was there.
// Each test sends the signal to this very process.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/future.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/testing/co_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

// Lets the loop poll I/O (and so the signal pipe) a few times.
Task<> let_io_happen() {
  for (int i = 0; i < 3; ++i) co_await sleep(1ms);
}

using SigHandler = void (*)(int);

SigHandler current_disposition(int sig) {
  struct sigaction sa {};
  ::sigaction(sig, nullptr, &sa);
  return sa.sa_handler;
}

// A plain process-level handler that counts, to stand for "what was there
// before" the loop took the signal.
std::atomic<int> g_plain_count{0};
extern "C" void plain_handler(int) { g_plain_count.fetch_add(1, std::memory_order_relaxed); }

// Installs `plain_handler` for `sig` and puts the default back afterwards.
class PlainHandlerScope {
 public:
  explicit PlainHandlerScope(int sig) : sig_(sig) {
    struct sigaction sa {};
    sa.sa_handler = &plain_handler;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig_, &sa, nullptr);
    g_plain_count.store(0);
  }
  ~PlainHandlerScope() { ::signal(sig_, SIG_DFL); }

 private:
  int sig_;
};

CO_TEST_REAL_CLOCK(Signals, HandlerRunsOnTheLoopThread) {
  EventLoop& loop = current_loop();
  Future<std::thread::id> ran_on(loop);
  loop.add_signal_handler(SIGUSR1, [&] { ran_on.set_result(std::this_thread::get_id()); });
  EXPECT_EQ(::kill(::getpid(), SIGUSR1), 0);
  EXPECT_EQ(co_await ran_on, std::this_thread::get_id());
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
}

CO_TEST_REAL_CLOCK(Signals, SignalCaughtOnAnotherThreadRunsTheHandlerOnTheLoopThread) {
  EventLoop& loop = current_loop();
  Future<std::thread::id> ran_on(loop);
  loop.add_signal_handler(SIGUSR1, [&] { ran_on.set_result(std::this_thread::get_id()); });
  // raise() on a thread delivers the signal to that thread.
  std::thread other([] { ::raise(SIGUSR1); });
  const std::thread::id other_id = other.get_id();
  other.join();
  const std::thread::id got = co_await ran_on;
  EXPECT_EQ(got, std::this_thread::get_id());
  EXPECT_NE(got, other_id);
  loop.remove_signal_handler(SIGUSR1);
}

CO_TEST_REAL_CLOCK(Signals, HandlerIsNotRunInsideTheSignalHandler) {
  // The handler may do what a signal handler may not (allocate, lock): it
  // runs as a loop callback, after the raise() has returned.
  EventLoop& loop = current_loop();
  std::vector<std::string> log;
  Future<> done(loop);
  loop.add_signal_handler(SIGUSR1, [&] {
    log.push_back("handler");
    done.set_result();
  });
  ::raise(SIGUSR1);
  log.push_back("raised");
  co_await done;
  EXPECT_THAT(log, ::testing::ElementsAre("raised", "handler"));
  loop.remove_signal_handler(SIGUSR1);
}

CO_TEST_REAL_CLOCK(Signals, EachSignalRunsTheHandlerOnce) {
  EventLoop& loop = current_loop();
  int calls = 0;
  Future<> two(loop);
  loop.add_signal_handler(SIGUSR2, [&] {
    if (++calls == 2) two.set_result();
  });
  ::raise(SIGUSR2);
  ::raise(SIGUSR2);
  co_await two;
  co_await let_io_happen();
  EXPECT_EQ(calls, 2);
  loop.remove_signal_handler(SIGUSR2);
}

CO_TEST_REAL_CLOCK(Signals, SigtermCanBeHandled) {
  EventLoop& loop = current_loop();
  Future<int> got(loop);
  loop.add_signal_handler(SIGTERM, [&] { got.set_result(SIGTERM); });
  ::raise(SIGTERM);  // would end the process if the loop had not taken it
  EXPECT_EQ(co_await got, SIGTERM);
  EXPECT_TRUE(loop.remove_signal_handler(SIGTERM));
  EXPECT_EQ(current_disposition(SIGTERM), SIG_DFL);
}

CO_TEST_REAL_CLOCK(Signals, AddingAgainReplacesTheHandler) {
  EventLoop& loop = current_loop();
  std::vector<std::string> log;
  Future<> done(loop);
  loop.add_signal_handler(SIGUSR1, [&] { log.push_back("first"); });
  loop.add_signal_handler(SIGUSR1, [&] {
    log.push_back("second");
    done.set_result();
  });
  ::raise(SIGUSR1);
  co_await done;
  co_await let_io_happen();
  EXPECT_THAT(log, ::testing::ElementsAre("second"));
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
  EXPECT_FALSE(loop.remove_signal_handler(SIGUSR1));  // only one to remove
}

CO_TEST_REAL_CLOCK(Signals, RemoveRestoresThePreviousDisposition) {
  PlainHandlerScope plain(SIGUSR2);
  EventLoop& loop = current_loop();
  Future<> corio_ran(loop);
  loop.add_signal_handler(SIGUSR2, [&] { corio_ran.set_result(); });
  EXPECT_NE(current_disposition(SIGUSR2), &plain_handler);
  ::raise(SIGUSR2);
  co_await corio_ran;
  EXPECT_EQ(g_plain_count.load(), 0);

  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR2));
  EXPECT_EQ(current_disposition(SIGUSR2), &plain_handler);
  ::raise(SIGUSR2);
  EXPECT_EQ(g_plain_count.load(), 1);
}

CO_TEST_REAL_CLOCK(Signals, SignalStillInThePipeWhenRemovedIsDropped) {
  EventLoop& loop = current_loop();
  int calls = 0;
  loop.add_signal_handler(SIGUSR1, [&] { ++calls; });
  ::raise(SIGUSR1);  // a byte is in the loop's pipe, not yet read
  EXPECT_TRUE(loop.remove_signal_handler(SIGUSR1));
  co_await let_io_happen();
  EXPECT_EQ(calls, 0);
}

CO_TEST_REAL_CLOCK(Signals, HandlerThatThrowsGoesToTheExceptionHandler) {
  EventLoop& loop = current_loop();
  Future<std::string> reported(loop);
  loop.set_exception_handler([&](EventLoop&, const ErrorContext& ctx) {
    try {
      std::rethrow_exception(ctx.exception);
    } catch (const std::exception& e) {
      reported.set_result(e.what());
    }
  });
  loop.add_signal_handler(SIGUSR1, [] { throw std::runtime_error("from handler"); });
  ::raise(SIGUSR1);
  EXPECT_EQ(co_await reported, "from handler");
  loop.remove_signal_handler(SIGUSR1);
}

TEST(Signals, InvalidSignalsThrowInvalidArgument) {
  EventLoop loop;
  EXPECT_THROW(loop.add_signal_handler(SIGKILL, [] {}), std::invalid_argument);
  EXPECT_THROW(loop.add_signal_handler(SIGSTOP, [] {}), std::invalid_argument);
  EXPECT_THROW(loop.add_signal_handler(0, [] {}), std::invalid_argument);
  EXPECT_THROW(loop.add_signal_handler(-1, [] {}), std::invalid_argument);
  EXPECT_THROW(loop.add_signal_handler(NSIG, [] {}), std::invalid_argument);
  EXPECT_THROW(loop.add_signal_handler(SIGUSR1, std::function<void()>()), std::invalid_argument);
  EXPECT_EQ(current_disposition(SIGUSR1), SIG_DFL);  // nothing was installed
}

TEST(Signals, RemoveWithoutAHandlerReturnsFalse) {
  EventLoop loop;
  EXPECT_FALSE(loop.remove_signal_handler(SIGUSR1));
  EXPECT_FALSE(loop.remove_signal_handler(SIGKILL));
  EXPECT_FALSE(loop.remove_signal_handler(-3));
  EXPECT_FALSE(loop.remove_signal_handler(NSIG + 10));
}

TEST(Signals, TwoLoopsCannotHandleTheSameSignal) {
  EventLoop first;
  EventLoop second;
  first.add_signal_handler(SIGUSR1, [] {});
  EXPECT_THROW(second.add_signal_handler(SIGUSR1, [] {}), RuntimeError);
  second.add_signal_handler(SIGUSR2, [] {});  // another signal is fine
  EXPECT_TRUE(first.remove_signal_handler(SIGUSR1));
  second.add_signal_handler(SIGUSR1, [] {});  // free again
  EXPECT_TRUE(second.remove_signal_handler(SIGUSR1));
  EXPECT_TRUE(second.remove_signal_handler(SIGUSR2));
}

TEST(Signals, DestroyingTheLoopRestoresTheDisposition) {
  PlainHandlerScope plain(SIGUSR1);
  {
    EventLoop loop;
    loop.add_signal_handler(SIGUSR1, [] {});
    EXPECT_NE(current_disposition(SIGUSR1), &plain_handler);
  }
  EXPECT_EQ(current_disposition(SIGUSR1), &plain_handler);
  // And the slot is free for the next loop.
  EventLoop next;
  next.add_signal_handler(SIGUSR1, [] {});
  EXPECT_TRUE(next.remove_signal_handler(SIGUSR1));
}

}  // namespace
}  // namespace corio
