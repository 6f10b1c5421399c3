// Tests for IoRegistration: a persistent, edge-triggered registration of an
// fd with cached per-direction readiness, over AF_UNIX socketpairs and
// pipes. Waits, clearing, hang-ups, deregistration, cancellation, misuse,
// moves, fd reuse, the virtual clock, and a cancel/teardown sweep.
#include "corio/loop/io_registration.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/cancel_sweep.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/testing/fds.h"
#include "corio/loop/testing/threads.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::drain;
using ::testing::ElementsAre;
using testing::fill;
using testing::LiveCounter;
using testing::Pipe;
using testing::read_some;
using testing::SocketPair;
using testing::write_byte;

// Lets the loop poll I/O at least once. (A task waiting on a registration
// holds the virtual clock back, so this is one real millisecond then.)
Task<> let_io_happen() { co_await sleep(1ms); }

// Waits in `dir` on `reg` and says how it ended: "ready", or the error.
Task<std::string> wait_outcome(IoRegistration& reg, Interest dir, std::vector<std::string>* log = nullptr) {
  if (log != nullptr) log->push_back("waiting");
  std::string out;
  try {
    if (dir == Interest::kReadable) {
      co_await reg.readable();
    } else {
      co_await reg.writable();
    }
    out = "ready";
  } catch (const ClosedResourceError&) {
    out = "ClosedResourceError";
  } catch (const RuntimeError&) {
    out = "RuntimeError";
  } catch (const CancelledError&) {
    out = "CancelledError";
  }
  if (log != nullptr) log->push_back(out);
  co_return out;
}

Task<std::string> wait_readable_outcome(int fd) {
  try {
    co_await wait_readable(fd);
    co_return "ready";
  } catch (const RuntimeError&) {
    co_return "RuntimeError";
  }
}

Task<> log_step(std::vector<std::string>& log, std::string tag) {
  log.push_back(std::move(tag));
  co_return;
}

Task<> sleep_and_log(Duration d, std::vector<std::string>& log, std::string tag) {
  co_await sleep(d);
  log.push_back(std::move(tag));
}

// ---- Waiting and the readiness cache ----

CO_TEST(IoRegistration, ReadableWakesWhenThePeerWrites) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  std::vector<std::string> log;
  auto reader = create_task(wait_outcome(reg, Interest::kReadable, &log));
  co_await let_io_happen();
  EXPECT_FALSE(reader.done());
  log.push_back("write");
  write_byte(sp.b);
  co_await reader;
  EXPECT_THAT(log, ElementsAre("waiting", "write", "ready"));
  EXPECT_TRUE(reg.readiness().readable());
  EXPECT_EQ(read_some(sp.a), 1);
}

CO_TEST(IoRegistration, AwaitReturnsTheCachedReadiness) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  write_byte(sp.b);
  const Readiness r = co_await reg.readable();
  EXPECT_TRUE(r.readable());
  EXPECT_FALSE(r.read_closed());
  EXPECT_EQ(r.bits, reg.readiness().bits);
}

CO_TEST(IoRegistration, ASecondWaitWithoutClearingReturnsAtOnceWithoutSuspending) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  write_byte(sp.b);
  co_await reg.readable();  // learnt from the reactor
  std::vector<std::string> log;
  auto other = create_task(log_step(log, "other task ran"));
  co_await reg.readable();  // known readable: no suspension, so `other` has not run
  log.push_back("second wait returned");
  co_await other;
  EXPECT_THAT(log, ElementsAre("second wait returned", "other task ran"));
}

CO_TEST(IoRegistration, AfterClearReadableAWaitSuspendsUntilNewData) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  write_byte(sp.b);
  co_await reg.readable();
  EXPECT_EQ(read_some(sp.a), 1);
  reg.clear_readable();
  EXPECT_FALSE(reg.readiness().readable());
  std::vector<std::string> log;
  auto reader = create_task(wait_outcome(reg, Interest::kReadable, &log));
  co_await let_io_happen();
  co_await let_io_happen();
  EXPECT_FALSE(reader.done());
  log.push_back("write");
  write_byte(sp.b);
  EXPECT_EQ(co_await reader, "ready");
  EXPECT_THAT(log, ElementsAre("waiting", "write", "ready"));
}

CO_TEST(IoRegistration, ClearReadableLeavesTheWritableBit) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  write_byte(sp.b);
  co_await reg.readable();
  co_await reg.writable();
  reg.clear_readable();
  EXPECT_FALSE(reg.readiness().readable());
  EXPECT_TRUE(reg.readiness().writable());
  reg.clear_writable();
  EXPECT_FALSE(reg.readiness().writable());
}

CO_TEST(IoRegistration, WritableIsReportedForAFreshSocket) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  const Readiness r = co_await reg.writable();
  EXPECT_TRUE(r.writable());
  EXPECT_FALSE(r.readable());
  EXPECT_TRUE(reg.readiness().writable());
}

CO_TEST(IoRegistration, WritableWakesOnceAFullSocketIsDrained) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  co_await reg.writable();
  fill(sp.a);
  reg.clear_writable();
  std::vector<std::string> log;
  auto writer = create_task(wait_outcome(reg, Interest::kWritable, &log));
  co_await let_io_happen();
  co_await let_io_happen();
  EXPECT_FALSE(writer.done());
  log.push_back("drain");
  drain(sp.b);
  EXPECT_EQ(co_await writer, "ready");
  EXPECT_THAT(log, ElementsAre("waiting", "drain", "ready"));
}

CO_TEST(IoRegistration, AssumedReadinessSatisfiesAWaitUntilCleared) {
  SocketPair sp;
  IoRegistration reg(sp.a, Readiness{Readiness::kWritable});
  EXPECT_TRUE(reg.readiness().writable());
  std::vector<std::string> log;
  auto other = create_task(log_step(log, "other task ran"));
  co_await reg.writable();  // no suspension
  log.push_back("writable");
  co_await other;
  EXPECT_THAT(log, ElementsAre("writable", "other task ran"));
}

CO_TEST(IoRegistration, OneReaderAndOneWriterMayWaitAtOnce) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  co_await reg.writable();
  fill(sp.a);
  reg.clear_writable();
  auto reader = create_task(wait_outcome(reg, Interest::kReadable));
  auto writer = create_task(wait_outcome(reg, Interest::kWritable));
  co_await let_io_happen();
  EXPECT_FALSE(reader.done());
  EXPECT_FALSE(writer.done());
  write_byte(sp.b);
  EXPECT_EQ(co_await reader, "ready");
  EXPECT_FALSE(writer.done());
  drain(sp.b);
  EXPECT_EQ(co_await writer, "ready");
}

// ---- Hang-ups ----

CO_TEST(IoRegistration, PeerCloseWakesAReadableWaitWithReadClosed) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  auto reader = create_task(wait_outcome(reg, Interest::kReadable));
  co_await let_io_happen();
  EXPECT_FALSE(reader.done());
  sp.close_b();
  EXPECT_EQ(co_await reader, "ready");
  EXPECT_TRUE(reg.readiness().read_closed());
  EXPECT_EQ(read_some(sp.a), 0);  // end of file
}

CO_TEST(IoRegistration, ReadClosedStaysAfterClearReadable) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  sp.close_b();
  co_await reg.readable();
  EXPECT_EQ(read_some(sp.a), 0);
  reg.clear_readable();
  EXPECT_TRUE(reg.readiness().read_closed());
  std::vector<std::string> log;
  auto other = create_task(log_step(log, "other task ran"));
  co_await reg.readable();  // the hang-up still satisfies it, at once
  log.push_back("readable");
  co_await other;
  EXPECT_THAT(log, ElementsAre("readable", "other task ran"));
}

CO_TEST(IoRegistration, PipeReadEndWakesWhenWritten) {
  Pipe p;
  IoRegistration reg(p.r);
  auto reader = create_task(wait_outcome(reg, Interest::kReadable));
  co_await let_io_happen();
  EXPECT_FALSE(reader.done());
  write_byte(p.w);
  EXPECT_EQ(co_await reader, "ready");
  EXPECT_TRUE(reg.readiness().readable());
  EXPECT_EQ(read_some(p.r), 1);
}

CO_TEST(IoRegistration, PipeWriterCloseWakesTheReaderWithReadClosed) {
  Pipe p;
  IoRegistration reg(p.r);
  auto reader = create_task(wait_outcome(reg, Interest::kReadable));
  co_await let_io_happen();
  p.close_w();
  EXPECT_EQ(co_await reader, "ready");
  EXPECT_TRUE(reg.readiness().read_closed());
  EXPECT_EQ(read_some(p.r), 0);
}

CO_TEST(IoRegistration, PipeReaderCloseWakesABlockedWriterWithAnError) {
  Pipe p;
  IoRegistration reg(p.w);
  co_await reg.writable();
  fill(p.w);
  reg.clear_writable();
  auto writer = create_task(wait_outcome(reg, Interest::kWritable));
  co_await let_io_happen();
  EXPECT_FALSE(writer.done());
  p.close_r();
  EXPECT_EQ(co_await writer, "ready");
  EXPECT_TRUE(reg.readiness().error());
}

// ---- Deregistration ----

CO_TEST(IoRegistration, DeregisterWhileATaskWaitsRaisesClosedResourceErrorInIt) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  auto reader = create_task(wait_outcome(reg, Interest::kReadable));
  co_await let_io_happen();
  reg.deregister();
  EXPECT_FALSE(reg.registered());
  EXPECT_EQ(reg.fd(), -1);
  EXPECT_EQ(co_await reader, "ClosedResourceError");
}

CO_TEST(IoRegistration, DeregisterWakesBothDirections) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  co_await reg.writable();
  fill(sp.a);
  reg.clear_writable();
  auto reader = create_task(wait_outcome(reg, Interest::kReadable));
  auto writer = create_task(wait_outcome(reg, Interest::kWritable));
  co_await let_io_happen();
  reg.deregister();
  EXPECT_EQ(co_await reader, "ClosedResourceError");
  EXPECT_EQ(co_await writer, "ClosedResourceError");
}

CO_TEST(IoRegistration, AnAwaiterKeptPastDeregisterRaisesClosedResourceError) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  write_byte(sp.b);
  co_await reg.readable();  // readable is cached: a live registration would not even suspend
  auto awaiter = reg.readable();
  reg.deregister();
  bool closed = false;
  try {
    co_await awaiter;
  } catch (const ClosedResourceError&) {
    closed = true;
  }
  EXPECT_TRUE(closed);
}

CO_TEST(IoRegistration, DeregisterLeavesTheFdOpenAndIsIdempotent) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  reg.deregister();
  reg.deregister();
  EXPECT_EQ(reg.readiness().bits, 0);
  write_byte(sp.b);
  co_await wait_readable(sp.a);  // the fd is open and free for the one-shot waits again
  EXPECT_EQ(read_some(sp.a), 1);
}

// ---- Cancellation ----

CO_TEST(IoRegistration, CancelWhileWaitingRaisesCancelledErrorAndALaterWaitSeesDataThatArrivedMeanwhile) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  auto reader = create_task(wait_outcome(reg, Interest::kReadable));
  co_await let_io_happen();
  reader.cancel();
  EXPECT_EQ(co_await reader, "CancelledError");
  write_byte(sp.b);
  co_await let_io_happen();  // the loop learns of the data with nobody waiting
  EXPECT_TRUE(reg.readiness().readable());
  std::vector<std::string> log;
  auto other = create_task(log_step(log, "other task ran"));
  co_await reg.readable();
  log.push_back("readable");
  co_await other;
  EXPECT_THAT(log, ElementsAre("readable", "other task ran"));
  EXPECT_EQ(read_some(sp.a), 1);
}

CO_TEST(IoRegistration, ACancelledWaiterLeavesTheDirectionFreeForAnotherTask) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  auto first = create_task(wait_outcome(reg, Interest::kReadable));
  co_await let_io_happen();
  first.cancel();
  EXPECT_EQ(co_await first, "CancelledError");
  auto second = create_task(wait_outcome(reg, Interest::kReadable));
  co_await let_io_happen();
  EXPECT_FALSE(second.done());
  write_byte(sp.b);
  EXPECT_EQ(co_await second, "ready");
}

// The wake and the cancel in one poll batch: the registration's event
// first (it woke the reader), then a pipe whose add_reader callback
// cancels the reader before the reader's step runs. The reader still gets
// CancelledError, and the readiness stays cached for the next wait.
CO_TEST(IoRegistration, ACancelAfterTheWakeStillRaisesAndKeepsTheReadiness) {
  EventLoop& loop = current_loop();
  SocketPair sp;
  Pipe trigger;
  IoRegistration reg(sp.a);
  auto reader = create_task(wait_outcome(reg, Interest::kReadable));
  co_await let_io_happen();
  loop.add_reader(trigger.r, [&] {
    reader.cancel();
    loop.remove_reader(trigger.r);
  });
  write_byte(sp.b);       // ready first ...
  write_byte(trigger.w);  // ... then the callback that cancels
  EXPECT_EQ(co_await reader, "CancelledError");
  EXPECT_TRUE(reg.readiness().readable());
  co_await reg.readable();
  EXPECT_EQ(read_some(sp.a), 1);
}

// ---- Misuse ----

CO_TEST(IoRegistration, TwoTasksWaitingReadableRaiseRuntimeErrorInTheSecond) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  auto first = create_task(wait_outcome(reg, Interest::kReadable));
  co_await let_io_happen();
  auto second = create_task(wait_outcome(reg, Interest::kReadable));
  EXPECT_EQ(co_await second, "RuntimeError");
  EXPECT_FALSE(first.done());
  write_byte(sp.b);
  EXPECT_EQ(co_await first, "ready");  // the first one was not disturbed
}

CO_TEST(IoRegistration, TwoTasksWaitingWritableRaiseRuntimeErrorInTheSecond) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  co_await reg.writable();
  fill(sp.a);
  reg.clear_writable();
  auto first = create_task(wait_outcome(reg, Interest::kWritable));
  co_await let_io_happen();
  auto second = create_task(wait_outcome(reg, Interest::kWritable));
  EXPECT_EQ(co_await second, "RuntimeError");
  drain(sp.b);
  EXPECT_EQ(co_await first, "ready");
}

CO_TEST(IoRegistration, WaitReadableOrWritableOnARegisteredFdRaisesRuntimeError) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  EXPECT_EQ(co_await wait_readable_outcome(sp.a), "RuntimeError");
  bool raised = false;
  try {
    co_await wait_writable(sp.a);
  } catch (const RuntimeError&) {
    raised = true;
  }
  EXPECT_TRUE(raised);
  // The registration itself is untouched.
  write_byte(sp.b);
  co_await reg.readable();
  EXPECT_EQ(read_some(sp.a), 1);
}

CO_TEST(IoRegistration, AddReaderOrAddWriterOnARegisteredFdRaisesRuntimeError) {
  EventLoop& loop = current_loop();
  SocketPair sp;
  IoRegistration reg(sp.a);
  EXPECT_THROW(loop.add_reader(sp.a, [] {}), RuntimeError);
  EXPECT_THROW(loop.add_writer(sp.a, [] {}), RuntimeError);
  EXPECT_FALSE(loop.remove_reader(sp.a));
  co_return;
}

CO_TEST(IoRegistration, RegisteringAnFdThatHasAnAddReaderRaisesRuntimeError) {
  EventLoop& loop = current_loop();
  SocketPair sp;
  loop.add_reader(sp.a, [] {});
  EXPECT_THROW(IoRegistration{sp.a}, RuntimeError);
  EXPECT_TRUE(loop.remove_reader(sp.a));
  IoRegistration reg(sp.a);  // free once the reader is gone
  EXPECT_TRUE(reg.registered());
  co_return;
}

CO_TEST(IoRegistration, RegisteringAnFdATaskWaitsOnRaisesRuntimeError) {
  SocketPair sp;
  auto waiter = create_task(wait_readable_outcome(sp.a));
  co_await yield_now();  // it waits now
  EXPECT_THROW(IoRegistration{sp.a}, RuntimeError);
  write_byte(sp.b);
  EXPECT_EQ(co_await waiter, "ready");
}

CO_TEST(IoRegistration, RegisteringARegularFileRaisesSystemError) {
  const int fd = ::memfd_create("corio-io-registration-test", MFD_CLOEXEC);
  EXPECT_GE(fd, 0);
  std::error_code code;
  try {
    IoRegistration reg(fd);
  } catch (const std::system_error& e) {
    code = e.code();
  }
  EXPECT_EQ(code, std::errc::operation_not_permitted);
  ::close(fd);
  // The loop is unharmed: a socket registers as usual.
  SocketPair sp;
  IoRegistration reg(sp.a);
  write_byte(sp.b);
  co_await reg.readable();
}

CO_TEST(IoRegistration, RegisteringAnFdTwiceRaisesSystemErrorAndKeepsTheFirst) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  std::error_code code;
  try {
    IoRegistration again(sp.a);
  } catch (const std::system_error& e) {
    code = e.code();
  }
  EXPECT_EQ(code, std::errc::file_exists);
  write_byte(sp.b);
  co_await reg.readable();
  EXPECT_EQ(read_some(sp.a), 1);
}

CO_TEST(IoRegistration, ANegativeFdRaisesInvalidArgument) {
  EXPECT_THROW(IoRegistration{-1}, std::invalid_argument);
  co_return;
}

CO_TEST(IoRegistration, AnEmptyRegistrationAwaitedRaisesRuntimeError) {
  IoRegistration reg;
  EXPECT_FALSE(reg.registered());
  EXPECT_EQ(reg.fd(), -1);
  EXPECT_EQ(reg.readiness().bits, 0);
  EXPECT_EQ(co_await wait_outcome(reg, Interest::kReadable), "RuntimeError");
  EXPECT_EQ(co_await wait_outcome(reg, Interest::kWritable), "RuntimeError");
  reg.clear_readable();  // no-ops
  reg.deregister();
}

// An async_io op that says nothing of its direction (no kDirection): the
// direction given to async_io is used at run time.
struct ReadOneByte {
  char byte = 0;
  int err = 0;
  internal::IoAttempt attempt(int fd) noexcept {
    const ssize_t n = ::read(fd, &byte, 1);
    if (n == 1) return internal::IoAttempt::kDone;
    if (n < 0 && errno == EAGAIN) return internal::IoAttempt::kWouldBlock;
    err = n < 0 ? errno : -1;
    return internal::IoAttempt::kDone;
  }
  char result() const {
    if (err != 0) throw RuntimeError("read failed");
    return byte;
  }
};

CO_TEST(IoRegistration, AsyncIoWithARunTimeDirectionWaitsAndReads) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  auto reader = create_task(co_invoke([&reg]() -> Task<char> {
    ReadOneByte op;
    co_return co_await reg.async_io(Interest::kReadable, op);
  }));
  co_await let_io_happen();
  EXPECT_FALSE(reader.done());
  write_byte(sp.b);
  EXPECT_EQ(co_await std::move(reader), 'x');
}

CO_TEST(IoRegistration, AsyncIoOnAnEmptyRegistrationRaisesClosedResourceError) {
  IoRegistration reg;
  bool closed = false;
  ReadOneByte op;
  try {
    co_await reg.async_io(Interest::kReadable, op);
  } catch (const ClosedResourceError&) {
    closed = true;
  }
  EXPECT_TRUE(closed);
}

CO_TEST(IoRegistration, AsyncIoWaitingWhenDeregisteredRaisesClosedResourceError) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  auto reader = create_task(co_invoke([&reg]() -> Task<char> {
    ReadOneByte op;
    co_return co_await reg.async_io(Interest::kReadable, op);
  }));
  co_await let_io_happen();
  reg.deregister();
  bool closed = false;
  try {
    co_await std::move(reader);
  } catch (const ClosedResourceError&) {
    closed = true;
  }
  EXPECT_TRUE(closed);
}

TEST(IoRegistration, ConstructionOutsideARunningLoopRaisesRuntimeError) {
  SocketPair sp;
  EXPECT_THROW(IoRegistration{sp.a}, RuntimeError);
}

TEST(IoRegistration, TheExplicitLoopFormRegistersBeforeTheLoopRuns) {
  EventLoop loop;
  SocketPair sp;
  IoRegistration reg(loop, sp.a);
  EXPECT_TRUE(reg.registered());
  write_byte(sp.b);
  const Readiness r =
      run_until_complete(loop, [](IoRegistration& reg) -> Task<Readiness> { co_return co_await reg.readable(); }(reg));
  EXPECT_TRUE(r.readable());
}

// ---- Moves and fd reuse ----

CO_TEST(IoRegistration, AMovedRegistrationKeepsWorking) {
  SocketPair sp;
  IoRegistration first(sp.a);
  IoRegistration second(std::move(first));
  EXPECT_FALSE(first.registered());
  EXPECT_EQ(second.fd(), sp.a);
  write_byte(sp.b);
  co_await second.readable();
  EXPECT_EQ(read_some(sp.a), 1);
  second.clear_readable();

  IoRegistration third;
  third = std::move(second);
  EXPECT_FALSE(second.registered());
  auto reader = create_task(wait_outcome(third, Interest::kReadable));
  co_await let_io_happen();
  EXPECT_FALSE(reader.done());
  write_byte(sp.b);
  EXPECT_EQ(co_await reader, "ready");
}

CO_TEST(IoRegistration, MoveAssigningOntoALiveRegistrationDeregistersItsFd) {
  SocketPair one;
  SocketPair two;
  IoRegistration target(one.a);
  auto waiter = create_task(wait_outcome(target, Interest::kReadable));
  co_await let_io_happen();
  target = IoRegistration(two.a);
  EXPECT_EQ(co_await waiter, "ClosedResourceError");
  EXPECT_EQ(target.fd(), two.a);
  write_byte(one.b);
  co_await wait_readable(one.a);  // one.a is free again
  write_byte(two.b);
  co_await target.readable();
}

CO_TEST(IoRegistration, ATaskWaitingOnARegistrationThatIsMovedStillWakes) {
  SocketPair sp;
  IoRegistration first(sp.a);
  auto reader = create_task(wait_outcome(first, Interest::kReadable));
  co_await let_io_happen();
  IoRegistration second(std::move(first));
  write_byte(sp.b);
  EXPECT_EQ(co_await reader, "ready");
  EXPECT_TRUE(second.readiness().readable());
}

CO_TEST(IoRegistration, TheFdNumberReusedAfterDeregisterAndCloseCanBeRegisteredAgain) {
  int old_fd;
  {
    SocketPair sp;
    old_fd = sp.a;
    IoRegistration reg(sp.a);
    write_byte(sp.b);
    co_await reg.readable();
    reg.deregister();
  }  // closed
  SocketPair sp;
  if (sp.a != old_fd) {  // the lowest free number is reused; make sure of it
    EXPECT_EQ(::dup3(sp.a, old_fd, O_CLOEXEC), old_fd);
    ::close(sp.a);
    sp.a = old_fd;
  }
  IoRegistration reg(sp.a);
  auto reader = create_task(wait_outcome(reg, Interest::kReadable));
  co_await let_io_happen();
  EXPECT_FALSE(reader.done());  // nothing stale from the old socket
  write_byte(sp.b);
  EXPECT_EQ(co_await reader, "ready");
}

// ---- The virtual clock ----

// The writer thread writes only once the loop sleeps in epoll with both
// tasks waiting, so the outcome does not depend on timing: had the clock
// jumped, the sleeper would have finished before the loop ever blocked.
CO_TEST(IoRegistration, AWaitingTaskKeepsTheVirtualClockFromJumping) {
  EventLoop& loop = current_loop();
  SocketPair sp;
  IoRegistration reg(sp.a);
  const TimePoint start = loop.time();
  std::vector<std::string> log;
  auto sleeper = create_task(sleep_and_log(1h, log, "slept"));
  const pid_t loop_tid = testing::current_tid();
  std::jthread writer([&sp, loop_tid] {
    EXPECT_TRUE(testing::wait_until_blocked_in(loop_tid, testing::kEpollWaits));
    write_byte(sp.b);
  });
  co_await reg.readable();
  log.push_back("read");
  const Duration waited = loop.time() - start;
  writer.join();
  co_await sleeper;
  EXPECT_THAT(log, ElementsAre("read", "slept"));
  EXPECT_LT(waited, 1h);
  EXPECT_EQ(loop.time() - start, 1h);  // then it jumped, to the deadline exactly
}

// ---- Callback mode (set_read_callback) ----

// Reads what arrives from the reactor's reports, as a transport does:
// until a short read, then clears the readable bit; completes `got` once
// `want` bytes (or EOF) have come.
struct ReadingCallback final : IoReadyCallback {
  IoRegistration& reg;
  int fd;
  std::size_t want;
  Future<void> got;
  std::string data;
  int calls = 0;
  bool eof = false;
  ReadingCallback(IoRegistration& r, int f, std::size_t w) : reg(r), fd(f), want(w), got(current_loop()) {}
  void on_io_ready() noexcept override {
    ++calls;
    char buf[64];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) data.append(buf, static_cast<std::size_t>(n));
      if (n == 0) eof = true;
      if (n < static_cast<ssize_t>(sizeof buf)) break;
    }
    reg.clear_readable();
    if ((data.size() >= want || eof) && !got.done()) got.set_result();
  }
};

CO_TEST(IoRegistration, ReadCallbackIsCalledFromThePollWhenThePeerWrites) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  ReadingCallback cb(reg, sp.a, 3);
  reg.set_read_callback(&cb);
  EXPECT_TRUE(reg.has_read_callback());
  co_await let_io_happen();
  EXPECT_EQ(cb.calls, 0);  // nothing to read: not called
  EXPECT_EQ(::write(sp.b, "abc", 3), 3);
  co_await cb.got;
  EXPECT_EQ(cb.data, "abc");
  EXPECT_EQ(cb.calls, 1);
  EXPECT_FALSE(reg.readiness().readable());
  reg.set_read_callback(nullptr);
}

CO_TEST(IoRegistration, ReadCallbackIsCalledAgainForEachNewArrival) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  ReadingCallback cb(reg, sp.a, 2);
  reg.set_read_callback(&cb);
  write_byte(sp.b);
  co_await let_io_happen();
  EXPECT_EQ(cb.data.size(), 1u);
  write_byte(sp.b);
  co_await cb.got;
  EXPECT_EQ(cb.data.size(), 2u);
  EXPECT_EQ(cb.calls, 2);
  reg.set_read_callback(nullptr);
}

CO_TEST(IoRegistration, SettingAReadCallbackDoesNotCallItForReadinessAlreadyCached) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  write_byte(sp.b);
  co_await reg.readable();  // cached now; the report has been and gone
  ReadingCallback cb(reg, sp.a, 1);
  reg.set_read_callback(&cb);
  co_await let_io_happen();
  EXPECT_EQ(cb.calls, 0);
  EXPECT_TRUE(reg.readiness().readable());  // the caller's to look at
  reg.set_read_callback(nullptr);
}

CO_TEST(IoRegistration, AnUnsetReadCallbackIsNotCalledAndATaskMayWaitAgain) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  ReadingCallback cb(reg, sp.a, 1);
  reg.set_read_callback(&cb);
  reg.set_read_callback(nullptr);
  EXPECT_FALSE(reg.has_read_callback());
  write_byte(sp.b);
  const Readiness r = co_await reg.readable();
  EXPECT_TRUE(r.readable());
  EXPECT_EQ(cb.calls, 0);
}

CO_TEST(IoRegistration, ReadCallbackIsCalledOnHangUp) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  ReadingCallback cb(reg, sp.a, 1);
  reg.set_read_callback(&cb);
  sp.close_b();
  co_await cb.got;
  EXPECT_TRUE(cb.eof);
  EXPECT_TRUE(reg.readiness().read_closed());
  reg.set_read_callback(nullptr);
}

CO_TEST(IoRegistration, AWriterStillWakesWhileAReadCallbackIsSet) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  ReadingCallback cb(reg, sp.a, 1);
  reg.set_read_callback(&cb);
  fill(sp.a);
  reg.clear_writable();
  auto writer = create_task(wait_outcome(reg, Interest::kWritable));
  co_await let_io_happen();
  EXPECT_FALSE(writer.done());
  drain(sp.b);
  EXPECT_EQ(co_await writer, "ready");
  EXPECT_EQ(cb.calls, 0);
  reg.set_read_callback(nullptr);
}

CO_TEST(IoRegistration, DeregisterUnsetsTheReadCallbackWithoutCallingIt) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  ReadingCallback cb(reg, sp.a, 1);
  reg.set_read_callback(&cb);
  write_byte(sp.b);
  reg.deregister();
  co_await let_io_happen();
  EXPECT_EQ(cb.calls, 0);
  EXPECT_FALSE(reg.has_read_callback());
}

CO_TEST(IoRegistration, ReadCallbackMayDeregisterFromInsideTheCall) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  struct Closer final : IoReadyCallback {
    IoRegistration* reg;
    int calls = 0;
    void on_io_ready() noexcept override {
      ++calls;
      reg->deregister();
    }
  } closer;
  closer.reg = &reg;
  reg.set_read_callback(&closer);
  write_byte(sp.b);
  co_await let_io_happen();
  EXPECT_EQ(closer.calls, 1);
  EXPECT_FALSE(reg.registered());
}

CO_TEST(IoRegistration, SetReadCallbackWhileATaskWaitsReadableRaisesRuntimeError) {
  SocketPair sp;
  IoRegistration reg(sp.a);
  auto reader = create_task(wait_outcome(reg, Interest::kReadable));
  co_await let_io_happen();
  ReadingCallback cb(reg, sp.a, 1);
  EXPECT_THROW(reg.set_read_callback(&cb), RuntimeError);
  EXPECT_FALSE(reg.has_read_callback());
  write_byte(sp.b);
  EXPECT_EQ(co_await reader, "ready");  // the task was not disturbed
}

CO_TEST(IoRegistration, SetReadCallbackOnAnEmptyRegistrationRaisesRuntimeError) {
  IoRegistration reg;
  struct Nothing final : IoReadyCallback {
    void on_io_ready() noexcept override {}
  } nothing;
  EXPECT_THROW(reg.set_read_callback(&nothing), RuntimeError);
  co_return;
}

// As a waiting task does (the test above for tasks explains the setup).
CO_TEST(IoRegistration, AReadCallbackKeepsTheVirtualClockFromJumping) {
  EventLoop& loop = current_loop();
  SocketPair sp;
  IoRegistration reg(sp.a);
  ReadingCallback cb(reg, sp.a, 1);
  reg.set_read_callback(&cb);
  const TimePoint start = loop.time();
  std::vector<std::string> log;
  auto sleeper = create_task(sleep_and_log(1h, log, "slept"));
  const pid_t loop_tid = testing::current_tid();
  std::jthread writer([&sp, loop_tid] {
    EXPECT_TRUE(testing::wait_until_blocked_in(loop_tid, testing::kEpollWaits));
    write_byte(sp.b);
  });
  co_await cb.got;
  log.push_back("read");
  writer.join();
  reg.set_read_callback(nullptr);
  co_await sleeper;
  EXPECT_THAT(log, ElementsAre("read", "slept"));
  EXPECT_EQ(loop.time() - start, 1h);
}

// ---- Cancellation and teardown at every suspension point ----

// Reads one message: waits, reads until a short read (or clears and waits
// again on EAGAIN). Returns the byte count.
Task<int> read_message(IoRegistration& reg) {
  LiveCounter live;
  for (;;) {
    co_await reg.readable();
    char buf[64];
    const ssize_t n = ::read(reg.fd(), buf, sizeof buf);
    if (n < 0 && errno == EAGAIN) {
      reg.clear_readable();
      continue;
    }
    if (n <= 0) throw std::runtime_error("unexpected end of stream");
    if (n < static_cast<ssize_t>(sizeof buf)) reg.clear_readable();
    co_return static_cast<int>(n);
  }
}

Task<int> ping(int fd, int rounds) {
  LiveCounter live;
  IoRegistration reg(fd);
  int received = 0;
  for (int i = 0; i < rounds; ++i) {
    write_byte(fd, 'p');
    received += co_await read_message(reg);
  }
  co_return received;
}

Task<int> echo(int fd, int rounds) {
  LiveCounter live;
  IoRegistration reg(fd);
  int echoed = 0;
  while (echoed < rounds) {
    const int n = co_await read_message(reg);
    for (int i = 0; i < n; ++i) write_byte(fd, 'e');
    echoed += n;
  }
  co_return echoed;
}

constexpr int kRounds = 4;

Task<int> ping_pong() {
  LiveCounter live;
  SocketPair sp;
  auto [pinged, echoed] = co_await gather(ping(sp.a, kRounds), echo(sp.b, kRounds));
  // A last suspension point, so that a cancel that comes after gather woke
  // this task is still raised (without it the task would return its value:
  // see the protocol in internal/task_base.h).
  co_await yield_now();
  co_return pinged + echoed;
}

testing::SweepRun run_ping_pong_cancelling_at(int k) {
  return testing::run_cancelling_at(k, [](EventLoop& loop) { return create_task(loop, ping_pong()); });
}

TEST(IoRegistrationSweep, UncancelledPingPongReturnsItsValue) {
  const testing::SweepRun r = run_ping_pong_cancelling_at(-1);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.value, 2 * kRounds);
  EXPECT_GE(r.iterations, 2 * kRounds);  // one poll per hop at least
}

TEST(IoRegistrationSweep, CancelAtEveryIterationEndsCleanly) {
  const int n = run_ping_pong_cancelling_at(-1).iterations;
  testing::for_each_step(n, "cancelled", [n](int k) {
    const testing::SweepRun r = run_ping_pong_cancelling_at(k);
    if (k < n) {
      EXPECT_TRUE(r.cancelled);
    } else {
      EXPECT_FALSE(r.cancelled);
      EXPECT_EQ(r.value, 2 * kRounds);
    }
  });
}

TEST(IoRegistrationSweep, DestroyingTheLoopAtEveryIterationLeavesNothing) {
  testing::for_each_step(run_ping_pong_cancelling_at(-1).iterations, "loop destroyed", [](int k) {
    testing::run_destroying_at(k, [](EventLoop& loop) { return create_task(loop, ping_pong()); });
  });
}

}  // namespace
}  // namespace corio
