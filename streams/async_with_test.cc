#include "corio/streams/async_with.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/streams/async_generator.h"
#include "corio/streams/memory_pipe.h"
#include "corio/streams/stream_writer.h"
#include "corio/streams/testing/streams_testing.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::settle;

// A resource whose aclose() takes `close_time` and logs its steps.
struct SlowResource {
  std::vector<std::string>* log;
  Duration close_time;
  Task<void> aclose() {
    log->push_back("close started");
    co_await sleep(close_time);
    log->push_back("close done");
  }
};

CO_TEST(AsyncWith, ReturnsTheBodysValueAfterClosing) {
  std::vector<std::string> log;
  SlowResource r{&log, 1ms};
  int v = co_await async_with(r, [&](SlowResource&) -> Task<int> {
    log.push_back("body");
    co_return 42;
  });
  EXPECT_EQ(v, 42);
  EXPECT_EQ(log, (std::vector<std::string>{"body", "close started", "close done"}));
}

CO_TEST(AsyncWith, ClosesAfterTheBodyFailsAndRaisesTheBodysError) {
  std::vector<std::string> log;
  SlowResource r{&log, 1ms};
  try {
    co_await async_with(r, [&](SlowResource&) -> Task<> {
      co_await yield_now();
      throw std::runtime_error("body failed");
    });
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "body failed");
  }
  EXPECT_EQ(log, (std::vector<std::string>{"close started", "close done"}));
}

CO_TEST(AsyncWith, ACancelDuringTheBodyStillClosesAndTheCloseIsNotInterrupted) {
  std::vector<std::string> log;
  SlowResource r{&log, 5ms};
  auto user = create_task(
      co_invoke([&]() -> Task<> { co_await async_with(r, [&](SlowResource&) -> Task<> { co_await sleep(1h); }); }));
  co_await sleep(1ms);
  user.cancel();  // interrupts the body ...
  co_await sleep(2ms);
  user.cancel();  // ... and again during the close, which goes on
  const TimePoint before = current_loop().time();
  CO_ASSERT_THROW(co_await user, CancelledError);
  EXPECT_EQ(current_loop().time() - before, Duration(3ms));  // the rest of the 5 ms close
  EXPECT_EQ(log, (std::vector<std::string>{"close started", "close done"}));
}

CO_TEST(AsyncWith, ACancelDuringTheCloseIsRaisedOnceTheCloseIsOver) {
  std::vector<std::string> log;
  SlowResource r{&log, 5ms};
  bool body_done = false;
  auto user = create_task(co_invoke([&]() -> Task<> {
    co_await async_with(r, [&](SlowResource&) -> Task<> {
      body_done = true;
      co_return;
    });
    log.push_back("after async_with");
  }));
  co_await sleep(1ms);
  EXPECT_TRUE(body_done);
  user.cancel();
  CO_ASSERT_THROW(co_await user, CancelledError);
  EXPECT_EQ(log, (std::vector<std::string>{"close started", "close done"}));
}

CO_TEST(AsyncWith, ACloseThatTakesTooLongIsCancelledAndRaisesTimeoutError) {
  std::vector<std::string> log;
  SlowResource r{&log, 1h};
  const TimePoint start = current_loop().time();
  CO_ASSERT_THROW(co_await async_with(
                      r, [](SlowResource&) -> Task<> { co_return; }, 10ms),
                  TimeoutError);
  EXPECT_EQ(current_loop().time() - start, Duration(10ms));
  EXPECT_EQ(log, std::vector<std::string>{"close started"});
}

CO_TEST(AsyncWith, ACloseErrorAfterABodyErrorIsReportedAndTheBodysErrorRaised) {
  corio::testing::expect_loop_errors();
  struct Failing {
    Task<void> aclose() {
      co_await yield_now();
      throw std::logic_error("close failed");
    }
  } r;
  CO_ASSERT_THROW(co_await async_with(r, [](Failing&) -> Task<> { throw std::runtime_error("body failed"); }),
                  std::runtime_error);
  CO_ASSERT_EQ(corio::testing::loop_errors().size(), 1u);
  EXPECT_NE(corio::testing::internal::describe(corio::testing::loop_errors()[0]).find("close failed"),
            std::string::npos);
}

CO_TEST(AsyncWith, ClosesAStreamWriterWithCloseAndWaitClosed) {
  auto [reader, writer] = memory_pipe();
  co_await async_with(writer, [](StreamWriter& w) -> Task<> {
    w.write("through async_with\n");
    co_await w.drain();
  });
  EXPECT_TRUE(writer.is_closing());
  EXPECT_EQ(co_await reader.read(), "through async_with\n");
  EXPECT_TRUE(reader.at_eof());
}

AsyncGenerator<int> numbers(std::vector<std::string>& log) {
  try {
    for (int i = 0;; ++i) co_yield i;
  } catch (const GeneratorExit&) {
    log.push_back("generator closed");
    throw;
  }
}

CO_TEST(AsyncWith, ClosesAnAsyncGeneratorWithAclose) {
  std::vector<std::string> log;
  int sum = co_await async_with(numbers(log), [](AsyncGenerator<int>& gen) -> Task<int> {
    int s = 0;
    for (int i = 0; i < 3; ++i) s += *co_await gen.next();
    co_return s;
  });
  EXPECT_EQ(sum, 3);
  EXPECT_EQ(log, std::vector<std::string>{"generator closed"});
}

CO_TEST(AsyncWith, AcloseUsesCloseAndWaitClosedWhenThereIsNoAclose) {
  auto [reader, writer] = memory_pipe();
  writer.write("x");
  co_await aclose(writer);
  EXPECT_EQ(co_await reader.read(), "x");
}

}  // namespace
}  // namespace corio
