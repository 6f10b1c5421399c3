// CO_TEST(Suite, Name): a GoogleTest test whose body is a coroutine, run by
// corio::run on a fresh loop with the virtual clock (timers fire instantly
// and deterministically when nothing else can happen).
// CO_TEST_REAL_CLOCK: the same on the real clock, for tests of real I/O.
//
// The loop's exception handler is watched: each report it gets during the
// test ("Task exception was never retrieved", an exception thrown by a
// callback, a slow step in debug mode, ...) becomes a test failure once the
// loop is gone, naming the report, its task and its exception. A test that
// provokes such reports on purpose calls expect_loop_errors() in its body;
// one that installs its own handler (set_exception_handler) gets every
// report from then on, and those are not counted either. Reports are still
// printed to stderr, as the default handler does.
//
// CO_ASSERT_TRUE/FALSE/EQ/NE/LT/LE/GT/GE/THROW/NO_THROW/ANY_THROW,
// CO_ASSERT_NO_FATAL_FAILURE and CO_FAIL: gtest's ASSERT_* and FAIL() for a
// coroutine body. gtest's own expand to a plain `return`, which a coroutine
// cannot contain; these record the same fatal failure and end the coroutine
// with `co_return`. Extra context streams in as with gtest:
//   CO_ASSERT_EQ(q.qsize(), 2u) << "after the second put";
// They work in any coroutine returning Task<void> (Task<>): in a helper
// coroutine they end the helper only, as gtest's ASSERT_* end only the
// function they are in; wrap the call in CO_ASSERT_NO_FATAL_FAILURE(co_await
// helper()) to stop the caller too. The statement of CO_ASSERT_THROW and
// friends may contain co_await. (A CO_ASSERT_THROW expecting another type
// catches a CancelledError too, and ends the body with a failure.)
//
// Example:
//   CO_TEST(QueueTest, GetWaitsForPut) {
//     corio::Queue<int> q;
//     auto getter = corio::create_task(q.get());
//     q.put_nowait(7);
//     CO_ASSERT_EQ(co_await getter, 7);
//   }
//
// Errors: an exception escaping the body fails the test, as in TEST.
// Thread safety: each test runs on the thread GoogleTest runs it on.
// Cancellation: tasks the body leaves behind are cancelled and awaited when
//   it returns (corio::run's shutdown); reports they make on the way count.
#ifndef CORIO_LOOP_TESTING_CO_TEST_H_
#define CORIO_LOOP_TESTING_CO_TEST_H_

#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/run.h"
#include "corio/loop/task.h"
#include "gtest/gtest.h"

namespace corio::testing {

namespace internal {

// The exception handler's reports during one CO_TEST, kept past the loop's
// end so that reports made by its shutdown and destruction count too.
struct LoopErrorLog {
  std::vector<ErrorContext> reports;
  bool expected = false;
};

// The log of the CO_TEST running on this thread, or null.
inline thread_local LoopErrorLog* tls_loop_error_log = nullptr;

inline LoopErrorLog& current_loop_error_log(const char* caller) {
  if (tls_loop_error_log == nullptr) {
    throw RuntimeError(std::string("corio::testing::") + caller + " called outside a CO_TEST body");
  }
  return *tls_loop_error_log;
}

// What a report said, in one line: message, task and exception.
inline std::string describe(const ErrorContext& c) {
  std::string out = c.message;
  if (!c.task_name.empty()) out += " (task " + c.task_name + ")";
  if (c.exception) {
    try {
      std::rethrow_exception(c.exception);
    } catch (const std::exception& e) {
      out += std::string(": ") + e.what();
    } catch (const CancelledError& e) {
      out += std::string(": CancelledError: ") + e.what();
    } catch (...) {
      out += ": unknown exception";
    }
  }
  return out;
}

// The test body as corio::run's main task: it installs the recording
// handler on its loop before the body's first step.
inline Task<void> recorded_body(Task<void> body, LoopErrorLog* log) {
  current_loop().set_exception_handler([log](EventLoop&, const ErrorContext& c) {
    log->reports.push_back(c);
    EventLoop::default_exception_handler(c);
  });
  co_await std::move(body);
}

}  // namespace internal

// Called in a CO_TEST body: the loop's exception handler is expected to be
// called in this test, so its reports are not failures. Call it anywhere in
// the body: it covers the whole test, reports made before it included.
// Errors: RuntimeError outside a CO_TEST body (on another thread included).
// Thread safety: the test's thread.
inline void expect_loop_errors() { internal::current_loop_error_log("expect_loop_errors()").expected = true; }

// The reports the loop's exception handler has received so far in this
// CO_TEST (those that went to a handler the body installed excepted), for
// a test that checks what was reported. Valid until the test ends.
// Errors: RuntimeError outside a CO_TEST body. Thread safety: the test's
// thread.
inline const std::vector<ErrorContext>& loop_errors() {
  return internal::current_loop_error_log("loop_errors()").reports;
}

// What CO_TEST's test function does: runs `body` with corio::run on a new
// loop (virtual clock or not), then adds a failure at file:line for each
// report the loop's exception handler recorded, unless the body called
// expect_loop_errors(). Errors: whatever the body throws (after the
// failures are added).
inline void run_test_body(Task<void> body, bool virtual_clock, const char* file = __FILE__, int line = __LINE__) {
  internal::LoopErrorLog log;
  struct Scope {
    internal::LoopErrorLog& log;
    internal::LoopErrorLog* outer;
    const char* file;
    int line;
    ~Scope() {
      internal::tls_loop_error_log = outer;
      if (log.expected) return;
      for (const ErrorContext& c : log.reports) {
        ADD_FAILURE_AT(file, line) << "the event loop's exception handler was called: " << internal::describe(c)
                                   << "\n(call corio::testing::expect_loop_errors() in the test body if "
                                      "this is expected)";
      }
    }
  } scope{log, internal::tls_loop_error_log, file, line};
  internal::tls_loop_error_log = &log;
  LoopOptions options;
  options.virtual_clock = virtual_clock;
  corio::run(internal::recorded_body(std::move(body), &log), options);
}

}  // namespace corio::testing

#define CORIO_CO_TEST_IMPL(Suite, Name, Virtual)                                                                 \
  static ::corio::Task<void> Suite##_##Name##_CoBody();                                                          \
  TEST(Suite, Name) { ::corio::testing::run_test_body(Suite##_##Name##_CoBody(), Virtual, __FILE__, __LINE__); } \
  static ::corio::Task<void> Suite##_##Name##_CoBody()

#define CO_TEST(Suite, Name) CORIO_CO_TEST_IMPL(Suite, Name, true)
#define CO_TEST_REAL_CLOCK(Suite, Name) CORIO_CO_TEST_IMPL(Suite, Name, false)

// ---- Fatal assertions for coroutine bodies. ----
// Built from gtest's own assertion plumbing, with `co_return` where gtest
// has `return`: `co_return <void expression>;` evaluates the failure
// message (and whatever is streamed into it) and ends the coroutine.

#define CORIO_CO_FATAL_FAILURE_(message) co_return GTEST_MESSAGE_(message, ::testing::TestPartResult::kFatalFailure)

#define CO_FAIL() CORIO_CO_FATAL_FAILURE_("Failed")

#define CO_ASSERT_TRUE(condition) GTEST_TEST_BOOLEAN_(condition, #condition, false, true, CORIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_FALSE(condition) GTEST_TEST_BOOLEAN_(!(condition), #condition, true, false, CORIO_CO_FATAL_FAILURE_)

#define CORIO_CO_ASSERT_PRED_FORMAT2_(pred_format, v1, v2) \
  GTEST_PRED_FORMAT2_(pred_format, v1, v2, CORIO_CO_FATAL_FAILURE_)

#define CO_ASSERT_EQ(val1, val2) CORIO_CO_ASSERT_PRED_FORMAT2_(::testing::internal::EqHelper::Compare, val1, val2)
#define CO_ASSERT_NE(val1, val2) CORIO_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperNE, val1, val2)
#define CO_ASSERT_LE(val1, val2) CORIO_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperLE, val1, val2)
#define CO_ASSERT_LT(val1, val2) CORIO_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperLT, val1, val2)
#define CO_ASSERT_GE(val1, val2) CORIO_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperGE, val1, val2)
#define CO_ASSERT_GT(val1, val2) CORIO_CO_ASSERT_PRED_FORMAT2_(::testing::internal::CmpHelperGT, val1, val2)

#define CO_ASSERT_THROW(statement, expected_exception) \
  GTEST_TEST_THROW_(statement, expected_exception, CORIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_NO_THROW(statement) GTEST_TEST_NO_THROW_(statement, CORIO_CO_FATAL_FAILURE_)
#define CO_ASSERT_ANY_THROW(statement) GTEST_TEST_ANY_THROW_(statement, CORIO_CO_FATAL_FAILURE_)
// Ends the coroutine if the test has a fatal failure once `statement` has
// run (gtest's ASSERT_NO_FATAL_FAILURE asks whether the statement added
// one, with a helper object that must not outlive a suspension).
#define CO_ASSERT_NO_FATAL_FAILURE(statement)                                  \
  GTEST_AMBIGUOUS_ELSE_BLOCKER_                                                \
  if (::testing::internal::AlwaysTrue()) {                                     \
    GTEST_SUPPRESS_UNREACHABLE_CODE_WARNING_BELOW_(statement);                 \
    if (::testing::Test::HasFatalFailure()) {                                  \
      goto GTEST_CONCAT_TOKEN_(corio_label_co_assert_no_fatal_, __LINE__);     \
    }                                                                          \
  } else                                                                       \
    GTEST_CONCAT_TOKEN_(corio_label_co_assert_no_fatal_, __LINE__)             \
        : CORIO_CO_FATAL_FAILURE_("Expected: " #statement                      \
                                  " leaves the test without fatal failures.\n" \
                                  "  Actual: it has one.")

#endif  // CORIO_LOOP_TESTING_CO_TEST_H_
