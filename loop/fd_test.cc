// Tests for fd readiness: wait_readable/wait_writable awaited by tasks, the
// persistent add_reader/add_writer callbacks, and how the two interact.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/future.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/testing/fds.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using testing::fill;
using testing::Pipe;
using testing::read_some;
using testing::SocketPair;
using testing::write_byte;

// Lets the loop poll I/O at least once, blocking in epoll for real.
Task<> let_io_happen() { co_await sleep(1ms); }

Task<> wait_and_record(int fd, bool readable, std::vector<std::string>& log, std::string tag) {
  log.push_back(tag + ":waiting");
  if (readable) {
    co_await wait_readable(fd);
  } else {
    co_await wait_writable(fd);
  }
  log.push_back(tag + ":ready");
}

// ---- wait_readable / wait_writable ----

CO_TEST_REAL_CLOCK(FdWait, ReadableResumesWhenDataArrives) {
  Pipe p;
  std::vector<std::string> log;
  auto reader = create_task(wait_and_record(p.r, true, log, "reader"));
  co_await yield_now();  // the reader is now suspended on the fd
  co_await let_io_happen();
  log.push_back("write");
  write_byte(p.w);
  co_await reader;
  EXPECT_THAT(log, ElementsAre("reader:waiting", "write", "reader:ready"));
  EXPECT_EQ(read_some(p.r), 1);
}

CO_TEST_REAL_CLOCK(FdWait, ReadableWithDataAlreadyThereResumesAtTheNextPoll) {
  Pipe p;
  write_byte(p.w);
  co_await wait_readable(p.r);
  EXPECT_EQ(read_some(p.r), 1);
}

CO_TEST_REAL_CLOCK(FdWait, WritableOnAnEmptyPipeResumes) {
  Pipe p;
  co_await wait_writable(p.w);
  write_byte(p.w);
  EXPECT_EQ(read_some(p.r), 1);
}

CO_TEST_REAL_CLOCK(FdWait, WritableResumesOnlyOnceAFullPipeIsDrained) {
  Pipe p;
  fill(p.w);
  std::vector<std::string> log;
  auto writer = create_task(wait_and_record(p.w, false, log, "writer"));
  co_await let_io_happen();
  co_await let_io_happen();
  EXPECT_FALSE(writer.done());
  log.push_back("drain");
  while (read_some(p.r) > 0) {
  }
  co_await writer;
  EXPECT_THAT(log, ElementsAre("writer:waiting", "drain", "writer:ready"));
}

CO_TEST_REAL_CLOCK(FdWait, ReaderAndWriterOnTheSameFdAreIndependent) {
  SocketPair s;
  std::vector<std::string> log;
  auto reader = create_task(wait_and_record(s.a, true, log, "reader"));
  auto writer = create_task(wait_and_record(s.a, false, log, "writer"));
  co_await writer;  // a fresh socket is writable at once
  EXPECT_FALSE(reader.done());
  log.push_back("send");
  write_byte(s.b);
  co_await reader;
  EXPECT_THAT(log, ElementsAre("reader:waiting", "writer:waiting", "writer:ready", "send", "reader:ready"));
}

CO_TEST_REAL_CLOCK(FdWait, HangUpWakesTheReader) {
  Pipe p;
  std::vector<std::string> log;
  auto reader = create_task(wait_and_record(p.r, true, log, "reader"));
  co_await let_io_happen();
  EXPECT_FALSE(reader.done());
  log.push_back("close");
  p.close_w();  // EPOLLHUP on the read end, no data
  co_await reader;
  EXPECT_THAT(log, ElementsAre("reader:waiting", "close", "reader:ready"));
  EXPECT_EQ(read_some(p.r), 0);  // EOF
}

CO_TEST_REAL_CLOCK(FdWait, ErrorWakesTheWriter) {
  Pipe p;
  fill(p.w);
  std::vector<std::string> log;
  auto writer = create_task(wait_and_record(p.w, false, log, "writer"));
  co_await let_io_happen();
  EXPECT_FALSE(writer.done());
  log.push_back("close-reader");
  p.close_r();  // EPOLLERR on the write end
  co_await writer;
  EXPECT_THAT(log, ElementsAre("writer:waiting", "close-reader", "writer:ready"));
}

CO_TEST_REAL_CLOCK(FdWait, ManyFdsEachWakeItsOwnTask) {
  constexpr int kPipes = 64;
  std::vector<std::unique_ptr<Pipe>> pipes;
  std::vector<std::string> log;
  std::vector<TaskHandle<>> readers;
  for (int i = 0; i < kPipes; ++i) {
    pipes.push_back(std::make_unique<Pipe>());
    readers.push_back(create_task(wait_and_record(pipes.back()->r, true, log, std::to_string(i))));
  }
  co_await yield_now();
  // Wake them from the last to the first, one at a time.
  for (int i = kPipes - 1; i >= 0; --i) {
    write_byte(pipes[i]->w);
    co_await readers[i];
    EXPECT_EQ(log.back(), std::to_string(i) + ":ready");
  }
  for (auto& r : readers) EXPECT_TRUE(r.done());
}

CO_TEST_REAL_CLOCK(FdWait, SecondWaiterOnTheSameFdAndDirectionThrows) {
  Pipe p;
  std::vector<std::string> log;
  auto first = create_task(wait_and_record(p.r, true, log, "first"));
  co_await yield_now();
  EXPECT_THROW(co_await wait_readable(p.r), RuntimeError);
  // The first waiter is untouched by the failed attempt.
  write_byte(p.w);
  co_await first;
  EXPECT_THAT(log, ElementsAre("first:waiting", "first:ready"));
}

CO_TEST_REAL_CLOCK(FdWait, CancellingAWaitingTaskRemovesItsWaiter) {
  Pipe p;
  std::vector<std::string> log;
  auto reader = create_task(wait_and_record(p.r, true, log, "reader"));
  co_await yield_now();
  EXPECT_TRUE(reader.cancel());
  EXPECT_THROW(co_await reader, CancelledError);
  EXPECT_TRUE(reader.cancelled());
  // The slot is free again: a callback and then a new waiter can take it.
  int calls = 0;
  current_loop().add_reader(p.r, [&] { ++calls; });
  EXPECT_TRUE(current_loop().remove_reader(p.r));
  // Data arriving later resumes nothing (the cancelled task is done) ...
  write_byte(p.w);
  co_await let_io_happen();
  EXPECT_THAT(log, ElementsAre("reader:waiting"));
  EXPECT_EQ(calls, 0);
  // ... and a fresh waiter sees it.
  co_await wait_readable(p.r);
  EXPECT_EQ(read_some(p.r), 1);
}

CO_TEST_REAL_CLOCK(FdWait, NegativeFdThrowsInvalidArgument) {
  EXPECT_THROW(co_await wait_readable(-1), std::invalid_argument);
}

CO_TEST_REAL_CLOCK(FdWait, RegularFileIsRejectedBySystemError) {
  const int fd = ::memfd_create("corio_fd_test", MFD_CLOEXEC);
  EXPECT_GE(fd, 0);
  EXPECT_THROW(co_await wait_readable(fd), std::system_error);
  EXPECT_THROW(current_loop().add_reader(fd, [] {}), std::system_error);
  EXPECT_FALSE(current_loop().remove_reader(fd));
  ::close(fd);
}

// ---- add_reader / add_writer ----

CO_TEST_REAL_CLOCK(FdCallback, ReaderRunsWhileDataIsPendingUntilRemoved) {
  Pipe p;
  EventLoop& loop = current_loop();
  Future<> three(loop);
  int calls = 0;
  // Level-triggered: one byte read per call, three bytes, three calls.
  loop.add_reader(p.r, [&] {
    char c;
    EXPECT_EQ(::read(p.r, &c, 1), 1);
    if (++calls == 3) {
      EXPECT_TRUE(loop.remove_reader(p.r));
      three.set_result();
    }
  });
  write_byte(p.w);
  write_byte(p.w);
  write_byte(p.w);
  co_await three;
  write_byte(p.w);
  co_await let_io_happen();
  co_await let_io_happen();
  EXPECT_EQ(calls, 3);
}

CO_TEST_REAL_CLOCK(FdCallback, ReaderRunsOnTheLoopThreadOutsideAnyTask) {
  Pipe p;
  EventLoop& loop = current_loop();
  Future<bool> outside(loop);
  loop.add_reader(p.r, [&] {
    loop.remove_reader(p.r);
    outside.set_result(EventLoop::current() == &loop && !current_task());
  });
  write_byte(p.w);
  EXPECT_TRUE(co_await outside);
}

CO_TEST_REAL_CLOCK(FdCallback, CallbackThatRemovesItselfRunsOnce) {
  Pipe p;
  EventLoop& loop = current_loop();
  int calls = 0;
  bool removed = false;
  loop.add_reader(p.r, [&] {
    ++calls;
    removed = loop.remove_reader(p.r);  // destroys this very registration
  });
  write_byte(p.w);  // left unread: level-triggered, it would fire again
  co_await let_io_happen();
  co_await let_io_happen();
  co_await let_io_happen();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(removed);
}

CO_TEST_REAL_CLOCK(FdCallback, AddingAgainReplacesTheCallback) {
  Pipe p;
  EventLoop& loop = current_loop();
  std::vector<std::string> log;
  Future<> done(loop);
  loop.add_reader(p.r, [&] { log.push_back("old"); });
  loop.add_reader(p.r, [&] {
    log.push_back("new");
    loop.remove_reader(p.r);
    done.set_result();
  });
  write_byte(p.w);
  co_await done;
  EXPECT_THAT(log, ElementsAre("new"));
  EXPECT_FALSE(loop.remove_reader(p.r));  // one registration only
}

CO_TEST_REAL_CLOCK(FdCallback, WriterRunsWhenWritableAndRemovesItself) {
  Pipe p;
  EventLoop& loop = current_loop();
  Future<> done(loop);
  int calls = 0;
  loop.add_writer(p.w, [&] {
    ++calls;
    write_byte(p.w);
    EXPECT_TRUE(loop.remove_writer(p.w));
    done.set_result();
  });
  co_await done;
  co_await let_io_happen();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(read_some(p.r), 1);
}

CO_TEST_REAL_CLOCK(FdCallback, ReaderAndWriterCallbacksOnOneSocket) {
  SocketPair s;
  EventLoop& loop = current_loop();
  std::vector<std::string> log;
  Future<> done(loop);
  loop.add_reader(s.a, [&] {
    log.push_back("readable");
    EXPECT_EQ(read_some(s.a), 1);
    loop.remove_reader(s.a);
    done.set_result();
  });
  loop.add_writer(s.a, [&] {
    log.push_back("writable");
    loop.remove_writer(s.a);
    write_byte(s.b);  // makes s.a readable
  });
  co_await done;
  EXPECT_THAT(log, ElementsAre("writable", "readable"));
}

CO_TEST_REAL_CLOCK(FdCallback, RemoveWithoutRegistrationReturnsFalse) {
  Pipe p;
  EventLoop& loop = current_loop();
  EXPECT_FALSE(loop.remove_reader(p.r));
  EXPECT_FALSE(loop.remove_writer(p.w));
  EXPECT_FALSE(loop.remove_reader(-1));
  EXPECT_FALSE(loop.remove_reader(100000));
  loop.add_reader(p.r, [] {});
  EXPECT_TRUE(loop.remove_reader(p.r));
  EXPECT_FALSE(loop.remove_reader(p.r));
  co_return;
}

// An empty callback is refused at once (it used to be registered, and each
// readiness then reported std::bad_function_call).
CO_TEST_REAL_CLOCK(FdCallback, AnEmptyCallbackThrowsInvalidArgument) {
  Pipe p;
  EventLoop& loop = current_loop();
  EXPECT_THROW(loop.add_reader(p.r, std::function<void()>()), std::invalid_argument);
  EXPECT_THROW(loop.add_writer(p.w, std::function<void()>()), std::invalid_argument);
  EXPECT_FALSE(loop.remove_reader(p.r));
  EXPECT_FALSE(loop.remove_writer(p.w));
  co_return;
}

CO_TEST_REAL_CLOCK(FdCallback, AddReaderWhileATaskWaitsThrows) {
  Pipe p;
  EventLoop& loop = current_loop();
  std::vector<std::string> log;
  auto reader = create_task(wait_and_record(p.r, true, log, "reader"));
  co_await yield_now();
  EXPECT_THROW(loop.add_reader(p.r, [] {}), RuntimeError);
  // remove_reader does not take the task's waiter away.
  EXPECT_FALSE(loop.remove_reader(p.r));
  write_byte(p.w);
  co_await reader;
  EXPECT_THAT(log, ElementsAre("reader:waiting", "reader:ready"));
}

CO_TEST_REAL_CLOCK(FdCallback, WaitReadableWhileACallbackIsRegisteredThrows) {
  Pipe p;
  EventLoop& loop = current_loop();
  loop.add_reader(p.r, [] {});
  EXPECT_THROW(co_await wait_readable(p.r), RuntimeError);
  // The other direction is free.
  co_await wait_writable(p.w);
  EXPECT_TRUE(loop.remove_reader(p.r));
}

CO_TEST_REAL_CLOCK(FdCallback, ExceptionFromACallbackGoesToTheExceptionHandler) {
  Pipe p;
  EventLoop& loop = current_loop();
  Future<std::string> reported(loop);
  loop.set_exception_handler([&](EventLoop&, const ErrorContext& ctx) {
    try {
      std::rethrow_exception(ctx.exception);
    } catch (const std::exception& e) {
      reported.set_result(ctx.message + ": " + e.what());
    }
  });
  loop.add_reader(p.r, [&] {
    loop.remove_reader(p.r);
    throw std::runtime_error("fd boom");
  });
  write_byte(p.w);
  EXPECT_EQ(co_await reported, "Exception in fd callback: fd boom");
  // The loop is still fine.
  co_await let_io_happen();
}

}  // namespace
}  // namespace corio
