// Tests for co_invoke: a lambda coroutine's captures, and the arguments,
// live as long as the coroutine, across suspensions, failures and
// cancellation, and are destroyed exactly once.
#include "corio/loop/co_invoke.h"

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

// Counts the objects of its kind alive and ever made, to see that a
// capture is alive while the coroutine runs and is destroyed exactly once
// (g++ 12 destroys some temporaries twice: README, "Known compiler
// issues"). A destroyed object's `value` is poisoned, so reading it after
// the end of its life shows (and ASan reports the read as such).
struct Tracked {
  static inline int alive = 0;
  static inline int made = 0;
  static inline int destroyed = 0;
  static void reset() { alive = made = destroyed = 0; }

  explicit Tracked(int v) : value(v) { ++alive, ++made; }
  Tracked(const Tracked& o) : value(o.value) { ++alive, ++made; }
  Tracked(Tracked&& o) noexcept : value(o.value) { ++alive, ++made; }
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() {
    --alive, ++destroyed;
    value = -1;
  }
  int value;
};

// ---- The type of what it returns. ----

static_assert(std::is_same_v<decltype(co_invoke([]() -> Task<int> { co_return 1; })), Task<int>>);
static_assert(std::is_same_v<decltype(co_invoke([]() -> Task<> { co_return; })), Task<>>);
static_assert(std::is_same_v<decltype(co_invoke([](std::string s) -> Task<std::string> { co_return s; }, "x")),
                             Task<std::string>>);

// ---- Captures. ----

CO_TEST(CoInvokeTest, AStringCaptureSurvivesSuspensionsInACreatedTask) {
  // The README's trap: create_task of a temporary lambda's coroutine.
  std::string text(200, 'x');  // longer than the small-string buffer
  TaskHandle<std::size_t> t = create_task(co_invoke([text]() -> Task<std::size_t> {
    co_await sleep(1ms);
    co_await yield_now();
    co_return text.size() + static_cast<std::size_t>(text.back() == 'x');
  }));
  text.clear();  // the task's copy is its own
  EXPECT_EQ(co_await t, 201u);
}

CO_TEST(CoInvokeTest, AMoveOnlyCaptureSurvivesSuspensions) {
  auto p = std::make_unique<int>(7);
  TaskHandle<int> t = create_task(co_invoke([p = std::move(p)]() -> Task<int> {
    co_await sleep(1ms);
    *p += 1;
    co_await yield_now();
    co_return *p;
  }));
  EXPECT_EQ(co_await t, 8);
}

CO_TEST(CoInvokeTest, TheCaptureLivesUntilTheCoroutineEndsAndDiesOnce) {
  Tracked::reset();
  {
    TaskHandle<int> t = create_task(co_invoke([tr = Tracked(5)]() -> Task<int> {
      co_await sleep(1ms);
      co_return tr.value;
    }));
    co_await yield_now();
    EXPECT_GE(Tracked::alive, 1);  // the task is asleep and its capture alive
    EXPECT_EQ(co_await t, 5);
    EXPECT_EQ(Tracked::alive, 0);  // gone with the task's frame
  }
  EXPECT_EQ(Tracked::destroyed, Tracked::made);
}

CO_TEST(CoInvokeTest, AwaitedInlineWithANamedLambda) {
  // With g++ 12 a lambda with captures that have destructors must not be
  // written as a temporary inside the co_await expression (see the next
  // test): name it, or the Task, first.
  Tracked::reset();
  const std::string prefix = "value ";
  auto body = [tr = Tracked(3), prefix]() -> Task<std::string> {
    co_await sleep(1ms);
    co_return prefix + std::to_string(tr.value);
  };
  std::string got = co_await co_invoke(std::move(body));
  EXPECT_EQ(got, "value 3");
  Task<std::string> named = co_invoke([tr = Tracked(4), prefix]() -> Task<std::string> {
    co_await sleep(1ms);
    co_return prefix + std::to_string(tr.value);
  });
  got = co_await std::move(named);
  EXPECT_EQ(got, "value 4");
  EXPECT_EQ(Tracked::alive, 1);  // `body`, moved from, until the end of the scope
  EXPECT_EQ(Tracked::destroyed + 1, Tracked::made);
}

#if defined(__clang__)
// g++ 12 miscompiles this form: the closure temporary inside a co_await
// expression is destroyed twice, once at an address where it was never
// built (README, "Known compiler issues"; co_invoke cannot prevent it, the
// temporary is the caller's). clang compiles it correctly.
CO_TEST(CoInvokeTest, AwaitedInlineWithATemporaryLambda) {
  Tracked::reset();
  const std::string prefix = "value ";
  std::string got = co_await co_invoke([tr = Tracked(3), prefix]() -> Task<std::string> {
    co_await sleep(1ms);
    co_return prefix + std::to_string(tr.value);
  });
  EXPECT_EQ(got, "value 3");
  EXPECT_EQ(Tracked::alive, 0);
  EXPECT_EQ(Tracked::destroyed, Tracked::made);
}
#endif

CO_TEST(CoInvokeTest, AMutableLambdaKeepsItsStateAcrossSuspensions) {
  int result = co_await co_invoke([n = 0]() mutable -> Task<int> {
    for (int i = 0; i < 3; ++i) {
      ++n;
      co_await yield_now();
    }
    co_return n;
  });
  EXPECT_EQ(result, 3);
}

CO_TEST(CoInvokeTest, ALambdaKeptInAVariableIsCopiedNotConsumed) {
  auto lambda = [s = std::string("kept")]() -> Task<std::string> {
    co_await yield_now();
    co_return s;
  };
  Task<std::string> a = co_invoke(lambda);
  Task<std::string> b = co_invoke(lambda);
  EXPECT_EQ(co_await std::move(a), "kept");
  EXPECT_EQ(co_await std::move(b), "kept");
  EXPECT_EQ(co_await lambda(), "kept");  // still whole: a named lambda outlives its await
}

// ---- Arguments. ----

CO_TEST(CoInvokeTest, ArgumentsAreCopiedIntoTheFrame) {
  // A const& parameter refers to co_invoke's copy of a temporary, which
  // outlives the suspensions.
  TaskHandle<std::size_t> t = create_task(co_invoke(
      [](const std::string& s, int n) -> Task<std::size_t> {
        co_await sleep(1ms);
        co_return s.size() * static_cast<std::size_t>(n);
      },
      std::string(100, 'y'), 2));
  EXPECT_EQ(co_await t, 200u);
}

CO_TEST(CoInvokeTest, AMoveOnlyArgumentIsMovedIn) {
  auto p = std::make_unique<int>(4);
  int v = co_await co_invoke(
      [](std::unique_ptr<int> q) -> Task<int> {
        co_await yield_now();
        co_return *q * 10;
      },
      std::move(p));
  EXPECT_EQ(v, 40);
  EXPECT_EQ(p, nullptr);
}

CO_TEST(CoInvokeTest, StdRefSharesTheCallersObject) {
  int counter = 0;
  co_await co_invoke(
      [](int& c) -> Task<> {
        co_await yield_now();
        ++c;
      },
      std::ref(counter));
  EXPECT_EQ(counter, 1);
}

Task<int> twice(int v) {
  co_await yield_now();
  co_return 2 * v;
}

struct Doubler {
  int factor;
  Task<int> times(int v) const {
    co_await yield_now();
    co_return factor* v;
  }
};

CO_TEST(CoInvokeTest, PlainFunctionsAndMemberFunctions) {
  EXPECT_EQ(co_await co_invoke(twice, 21), 42);
  Doubler d{3};
  EXPECT_EQ(co_await co_invoke(&Doubler::times, &d, 5), 15);
  // The object itself copied into the frame, by value:
  EXPECT_EQ(co_await co_invoke(&Doubler::times, Doubler{4}, 5), 20);
}

// ---- Laziness. ----

CO_TEST(CoInvokeTest, TheCallableRunsOnlyWhenTheTaskStarts) {
  Tracked::reset();
  bool called = false;
  {
    Task<> never = co_invoke([tr = Tracked(1), &called]() -> Task<> {
      called = true;
      co_return;
    });
    EXPECT_EQ(Tracked::alive, 1);  // held by the unstarted Task
  }
  EXPECT_FALSE(called);
  EXPECT_EQ(Tracked::alive, 0);
  EXPECT_EQ(Tracked::destroyed, Tracked::made);
  co_return;
}

// ---- Failures. ----

CO_TEST(CoInvokeTest, AnExceptionPropagatesThroughCoAwait) {
  auto failing = co_invoke([what = std::string("broken after a suspension")]() -> Task<int> {
    co_await sleep(1ms);
    throw std::runtime_error(what);
  });
  try {
    co_await std::move(failing);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "broken after a suspension");
  }
}

CO_TEST(CoInvokeTest, AnExceptionPropagatesThroughATaskHandle) {
  Tracked::reset();
  TaskHandle<> t = create_task(co_invoke([tr = Tracked(2)]() -> Task<> {
    co_await yield_now();
    throw std::logic_error("from the task");
  }));
  CO_ASSERT_THROW(co_await t, std::logic_error);
  EXPECT_EQ(Tracked::alive, 0);
  EXPECT_EQ(Tracked::destroyed, Tracked::made);
}

CO_TEST(CoInvokeTest, TheCallableThrowingBeforeItsCoroutineIsAnError) {
  // A callable that throws instead of returning a Task.
  auto t = co_invoke([]() -> Task<> { throw std::runtime_error("no coroutine"); });
  CO_ASSERT_THROW(co_await std::move(t), std::runtime_error);
}

// ---- Cancellation. ----

CO_TEST(CoInvokeTest, CancellationReachesTheCoroutineWithItsCapturesAlive) {
  Tracked::reset();
  std::string seen_in_catch;
  TaskHandle<> t = create_task(co_invoke([tr = Tracked(9), name = std::string("sleeper"), &seen_in_catch]() -> Task<> {
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      // The captures are still there while the cancellation unwinds.
      seen_in_catch = name + " " + std::to_string(tr.value);
      throw;
    }
  }));
  co_await sleep(1ms);
  t.cancel();
  CO_ASSERT_THROW(co_await t, CancelledError);
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(seen_in_catch, "sleeper 9");
  EXPECT_EQ(Tracked::alive, 0);
  EXPECT_EQ(Tracked::destroyed, Tracked::made);
}

CO_TEST(CoInvokeTest, ATimeoutCancelsACoInvoke) {
  bool cleaned_up = false;
  Task<> body = co_invoke([&cleaned_up, s = std::string("x")]() -> Task<> {
    struct Cleanup {
      bool& flag;
      ~Cleanup() { flag = true; }
    } cleanup{cleaned_up};
    co_await sleep(1h);
  });
  CO_ASSERT_THROW(co_await wait_for(std::move(body), 10ms), TimeoutError);
  EXPECT_TRUE(cleaned_up);
}

TEST(CoInvokeTest, ALoopDestroyedWithTheTaskPendingReleasesTheCaptures) {
  Tracked::reset();
  {
    EventLoop loop;
    create_task(loop, co_invoke([tr = Tracked(1)]() -> Task<> { co_await sleep(1h); }));
    loop.run_once(false);
    EXPECT_EQ(Tracked::alive, 1);
  }
  EXPECT_EQ(Tracked::alive, 0);
  EXPECT_EQ(Tracked::destroyed, Tracked::made);
}

}  // namespace
}  // namespace corio
