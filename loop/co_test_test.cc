// Tests for CO_TEST itself (testing/co_test.h): reports to the loop's
// exception handler fail the test unless expected, and the CO_ASSERT_*
// macros end a coroutine body with a fatal failure.
//
// The bodies under test run through run_test_body inside gtest-spi's
// EXPECT_*_FAILURE, which checks the failures they add without failing
// this test.
#include "corio/loop/testing/co_test.h"

#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using testing::expect_loop_errors;
using testing::loop_errors;
using testing::run_test_body;

Task<int> fail_with(std::string what) {
  co_await yield_now();
  throw std::runtime_error(what);
}

// A task whose exception nobody retrieves: reported when its handle goes.
Task<> leave_a_failure_unretrieved() {
  {
    auto t = create_task(fail_with("nobody looked"), "forgotten");
    co_await sleep(1ms);
  }
  co_await sleep(1ms);
}

Task<> throw_from_a_callback() {
  current_loop().call_soon([] { throw std::runtime_error("callback went wrong"); });
  co_await sleep(1ms);
}

// ---- Reports to the exception handler. ----

TEST(CoTestReports, AnUnretrievedTaskExceptionFailsTheTest) {
  EXPECT_NONFATAL_FAILURE(run_test_body(leave_a_failure_unretrieved(), true),
                          "Task exception was never retrieved (task forgotten): nobody looked");
}

TEST(CoTestReports, AnExceptionFromACallbackFailsTheTest) {
  EXPECT_NONFATAL_FAILURE(run_test_body(throw_from_a_callback(), true), "Exception in callback: callback went wrong");
}

TEST(CoTestReports, TheFailureSaysHowToExpectReports) {
  EXPECT_NONFATAL_FAILURE(run_test_body(throw_from_a_callback(), true), "expect_loop_errors()");
}

TEST(CoTestReports, EachReportIsItsOwnFailure) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    run_test_body(
        []() -> Task<> {
          co_await throw_from_a_callback();
          co_await throw_from_a_callback();
        }(),
        true);
  }
  ASSERT_EQ(results.size(), 2);
  EXPECT_TRUE(results.GetTestPartResult(0).nonfatally_failed());
  EXPECT_TRUE(results.GetTestPartResult(1).nonfatally_failed());
}

TEST(CoTestReports, AReportDuringShutdownCounts) {
  // A leftover task that fails as corio::run cancels it, after the body
  // has returned.
  EXPECT_NONFATAL_FAILURE(run_test_body(
                              []() -> Task<> {
                                create_task(
                                    []() -> Task<> {
                                      try {
                                        co_await sleep(1h);
                                      } catch (const CancelledError&) {
                                        throw std::runtime_error("failed while cancelled");
                                      }
                                    }(),
                                    "leftover");
                                co_await yield_now();
                              }(),
                              true),
                          "(task leftover): failed while cancelled");
}

TEST(CoTestReports, NoReportNoFailure) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    run_test_body(
        []() -> Task<> {
          auto t = create_task(fail_with("retrieved"));
          EXPECT_THROW(co_await t, std::runtime_error);
        }(),
        true);
  }
  EXPECT_EQ(results.size(), 0);
}

CO_TEST(CoTestReports, ExpectLoopErrorsAllowsReports) {
  expect_loop_errors();
  co_await leave_a_failure_unretrieved();
  co_await throw_from_a_callback();
  CO_ASSERT_EQ(loop_errors().size(), 2u);
  EXPECT_EQ(loop_errors()[0].message, "Task exception was never retrieved");
  EXPECT_EQ(loop_errors()[0].task_name, "forgotten");
  EXPECT_EQ(loop_errors()[1].message, "Exception in callback");
}

CO_TEST(CoTestReports, ExpectLoopErrorsCoversReportsMadeBeforeIt) {
  co_await throw_from_a_callback();
  expect_loop_errors();
}

CO_TEST(CoTestReports, AHandlerTheBodyInstallsGetsTheReportsInstead) {
  auto seen = std::make_shared<std::vector<ErrorContext>>();
  current_loop().set_exception_handler([seen](EventLoop&, const ErrorContext& c) { seen->push_back(c); });
  co_await throw_from_a_callback();
  EXPECT_EQ(seen->size(), 1u);
  EXPECT_TRUE(loop_errors().empty());
}

TEST(CoTestReports, ExpectLoopErrorsOutsideACoTestThrows) {
  EXPECT_THROW(expect_loop_errors(), RuntimeError);
  EXPECT_THROW(loop_errors(), RuntimeError);
  // Nor does the log of a finished CO_TEST linger.
  run_test_body([]() -> Task<> { co_return; }(), true);
  EXPECT_THROW(expect_loop_errors(), RuntimeError);
}

CO_TEST(CoTestReports, ExpectLoopErrorsIsForTheTestsOwnThread) {
  bool threw = false;
  co_await to_thread([&threw] {
    try {
      expect_loop_errors();
    } catch (const RuntimeError&) {
      threw = true;
    }
  });
  EXPECT_TRUE(threw);
}

// ---- CO_ASSERT_*. ----

// Set by the bodies below when they get past their assertions.
bool g_reached_end = false;

void run_body(Task<> body) {
  g_reached_end = false;
  run_test_body(std::move(body), true);
}

Task<int> ready(int v) { co_return v; }

CO_TEST(CoAssert, PassingAssertionsLetTheBodyGoOn) {
  int one = co_await ready(1);
  CO_ASSERT_TRUE(one == 1);
  CO_ASSERT_FALSE(one == 2);
  CO_ASSERT_EQ(co_await ready(2), 2);
  CO_ASSERT_NE(one, 2);
  CO_ASSERT_LT(one, 2);
  CO_ASSERT_LE(one, 1);
  CO_ASSERT_GT(one, 0);
  CO_ASSERT_GE(one, 1);
  CO_ASSERT_THROW(co_await fail_with("expected"), std::runtime_error);
  CO_ASSERT_ANY_THROW(co_await fail_with("expected"));
  CO_ASSERT_NO_THROW(co_await ready(3));
  CO_ASSERT_NO_FATAL_FAILURE(co_await ready(4));
}

TEST(CoAssert, AFailingAssertionEndsTheBody) {
  EXPECT_FATAL_FAILURE(run_body([]() -> Task<> {
                         CO_ASSERT_EQ(co_await ready(1), 2);
                         g_reached_end = true;
                       }()),
                       "Expected equality of these values");
  EXPECT_FALSE(g_reached_end);
}

TEST(CoAssert, EachAssertionFailsAndEndsTheBody) {
#define CORIO_EXPECT_ENDS(assertion, text)       \
  EXPECT_FATAL_FAILURE(run_body([]() -> Task<> { \
                         co_await yield_now();   \
                         assertion;              \
                         g_reached_end = true;   \
                       }()),                     \
                       text);                    \
  EXPECT_FALSE(g_reached_end) << #assertion " did not end the body";
  CORIO_EXPECT_ENDS(CO_ASSERT_TRUE(co_await ready(0) == 1), "Value of: co_await ready(0) == 1");
  CORIO_EXPECT_ENDS(CO_ASSERT_FALSE(co_await ready(1) == 1), "Value of: co_await ready(1) == 1");
  CORIO_EXPECT_ENDS(CO_ASSERT_NE(co_await ready(1), 1), "Expected: (co_await ready(1)) != (1)");
  CORIO_EXPECT_ENDS(CO_ASSERT_LT(co_await ready(1), 1), "Expected: (co_await ready(1)) < (1)");
  CORIO_EXPECT_ENDS(CO_ASSERT_LE(co_await ready(2), 1), "Expected: (co_await ready(2)) <= (1)");
  CORIO_EXPECT_ENDS(CO_ASSERT_GT(co_await ready(1), 1), "Expected: (co_await ready(1)) > (1)");
  CORIO_EXPECT_ENDS(CO_ASSERT_GE(co_await ready(0), 1), "Expected: (co_await ready(0)) >= (1)");
  CORIO_EXPECT_ENDS(CO_ASSERT_THROW(co_await ready(1), std::runtime_error), "Actual: it throws nothing");
  CORIO_EXPECT_ENDS(CO_ASSERT_THROW(co_await fail_with("x"), std::logic_error), "Actual: it throws std::runtime_error");
  CORIO_EXPECT_ENDS(CO_ASSERT_NO_THROW(co_await fail_with("boom")), "with description \"boom\"");
  CORIO_EXPECT_ENDS(CO_ASSERT_ANY_THROW(co_await ready(1)), "Actual: it doesn't");
  CORIO_EXPECT_ENDS(CO_FAIL(), "Failed");
#undef CORIO_EXPECT_ENDS
}

TEST(CoAssert, StreamedContextIsInTheMessage) {
  EXPECT_FATAL_FAILURE(run_body([]() -> Task<> {
                         const int n = 3;
                         CO_ASSERT_EQ(co_await ready(1), 2) << "context with n=" << n;
                         g_reached_end = true;
                       }()),
                       "context with n=3");
  EXPECT_FALSE(g_reached_end);
  EXPECT_FATAL_FAILURE(run_body([]() -> Task<> { CO_FAIL() << "because " << 42; }()), "because 42");
}

TEST(CoAssert, AnAssertionAsTheOnlyStatementOfAnIfDoesNotStealTheElse) {
  EXPECT_FATAL_FAILURE(run_body([]() -> Task<> {
                         const bool check = co_await ready(1) == 1;
                         if (check)
                           CO_ASSERT_EQ(1, 2);
                         else
                           co_return;
                         g_reached_end = true;
                       }()),
                       "Expected equality");
  EXPECT_FALSE(g_reached_end);
}

// A helper coroutine that fails an assertion ends only itself; the caller
// stops too with CO_ASSERT_NO_FATAL_FAILURE.
Task<> helper_that_fails() {
  co_await yield_now();
  CO_ASSERT_TRUE(false) << "in the helper";
}

TEST(CoAssert, InAHelperItEndsTheHelperOnly) {
  EXPECT_FATAL_FAILURE(run_body([]() -> Task<> {
                         co_await helper_that_fails();
                         g_reached_end = true;
                       }()),
                       "in the helper");
  EXPECT_TRUE(g_reached_end);
}

// CO_ASSERT_NO_FATAL_FAILURE asks the running test whether it has a fatal
// failure, which gtest-spi's interception hides; so the body runs for real,
// and fails, in a child process, which exits with 0 if the caller stopped.
TEST(CoAssertDeathTest, NoFatalFailureStopsTheCaller) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        run_body([]() -> Task<> {
          CO_ASSERT_NO_FATAL_FAILURE(co_await helper_that_fails());
          g_reached_end = true;
        }());
        std::exit(g_reached_end ? 1 : 0);
      },
      ::testing::ExitedWithCode(0), "");
}

CO_TEST(CoAssert, NoFatalFailureLetsAPassingCallerGoOn) {
  bool went_on = false;
  CO_ASSERT_NO_FATAL_FAILURE(co_await yield_now());
  went_on = true;
  EXPECT_TRUE(went_on);
}

TEST(CoAssert, TasksLeftBehindByAFailedBodyAreCancelled) {
  static bool cancelled;
  cancelled = false;
  EXPECT_FATAL_FAILURE(run_body([]() -> Task<> {
                         create_task([]() -> Task<> {
                           try {
                             co_await sleep(1h);
                           } catch (const CancelledError&) {
                             cancelled = true;
                             throw;
                           }
                         }());
                         co_await yield_now();
                         CO_FAIL();
                       }()),
                       "Failed");
  EXPECT_TRUE(cancelled);
}

}  // namespace
}  // namespace corio
