// CO_TEST(Suite, Name): a GoogleTest test whose body is a coroutine, run by
// corio::run on a fresh loop with the virtual clock (timers fire instantly
// and deterministically when nothing else can happen).
// CO_TEST_REAL_CLOCK: the same on the real clock, for tests of real I/O.
#ifndef CORIO_LOOP_TESTING_CO_TEST_H_
#define CORIO_LOOP_TESTING_CO_TEST_H_

#include "corio/loop/run.h"
#include "corio/loop/task.h"
#include "gtest/gtest.h"

namespace corio::testing {

inline void run_test_body(Task<void> body, bool virtual_clock) {
  LoopOptions options;
  options.virtual_clock = virtual_clock;
  corio::run(std::move(body), options);
}

}  // namespace corio::testing

#define CORIO_CO_TEST_IMPL(Suite, Name, Virtual)                                             \
  static ::corio::Task<void> Suite##_##Name##_CoBody();                                      \
  TEST(Suite, Name) { ::corio::testing::run_test_body(Suite##_##Name##_CoBody(), Virtual); } \
  static ::corio::Task<void> Suite##_##Name##_CoBody()

#define CO_TEST(Suite, Name) CORIO_CO_TEST_IMPL(Suite, Name, true)
#define CO_TEST_REAL_CLOCK(Suite, Name) CORIO_CO_TEST_IMPL(Suite, Name, false)

#endif  // CORIO_LOOP_TESTING_CO_TEST_H_
