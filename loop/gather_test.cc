// Tests for gather: tuple and vector forms, results in argument order,
// the first error, return_exceptions, and cancellation either way.
#include "corio/loop/gather.h"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using Log = std::vector<std::string>;

Task<int> after(Duration d, int v) {
  co_await sleep(d);
  co_return v;
}

Task<int> logged_after(Log& log, Duration d, int v) {
  try {
    co_await sleep(d);
  } catch (const CancelledError&) {
    log.push_back(std::to_string(v) + " cancelled");
    throw;
  }
  log.push_back(std::to_string(v) + " done");
  co_return v;
}

Task<int> fail_after(Duration d, std::string what) {
  co_await sleep(d);
  throw std::runtime_error(what);
}

TimePoint now() { return current_loop().time(); }

CO_TEST(GatherTest, TupleOfTasksInArgumentOrder) {
  TimePoint t0 = now();
  auto [a, b, c] = co_await gather(after(30ms, 1), after(10ms, 2), after(20ms, 3));
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
  EXPECT_EQ(c, 3);
  EXPECT_EQ(now() - t0, 30ms);  // concurrently, not one after another
}

CO_TEST(GatherTest, TupleOfMixedTypes) {
  auto text = []() -> Task<std::string> {
    co_await sleep(1ms);
    co_return "text";
  };
  auto [n, s] = co_await gather(after(2ms, 5), text());
  EXPECT_EQ(n, 5);
  EXPECT_EQ(s, "text");
}

CO_TEST(GatherTest, TupleOfHandles) {
  TaskHandle<int> a = create_task(after(10ms, 1));
  TaskHandle<int> b = create_task(after(5ms, 2));
  auto [x, y] = co_await gather(a, b);
  EXPECT_EQ(x, 1);
  EXPECT_EQ(y, 2);
  // The caller's handles stay usable.
  EXPECT_EQ(a.result(), 1);
  EXPECT_EQ(co_await b, 2);
}

CO_TEST(GatherTest, VoidResultsAreMonostate) {
  int runs = 0;
  auto work = [](int& r) -> Task<void> {
    co_await sleep(1ms);
    ++r;
  };
  auto [u, n] = co_await gather(work(runs), after(1ms, 4));
  static_assert(std::is_same_v<decltype(u), std::monostate>);
  EXPECT_EQ(n, 4);
  EXPECT_EQ(runs, 1);
  std::vector<Task<void>> many;
  for (int i = 0; i < 3; ++i) many.push_back(work(runs));
  std::vector<std::monostate> out = co_await gather(std::move(many));
  EXPECT_EQ(out.size(), 3u);
  EXPECT_EQ(runs, 4);
}

CO_TEST(GatherTest, VectorOfTasksInArgumentOrderNotCompletionOrder) {
  Log log;
  std::vector<Task<int>> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(logged_after(log, std::chrono::milliseconds(5 - i), i));
  std::vector<int> r = co_await gather(std::move(tasks));
  EXPECT_EQ(r, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(log, (Log{"4 done", "3 done", "2 done", "1 done", "0 done"}));
}

CO_TEST(GatherTest, VectorOfHandles) {
  std::vector<TaskHandle<int>> hs;
  for (int i = 0; i < 4; ++i) hs.push_back(create_task(after(std::chrono::milliseconds(4 - i), i * 10)));
  std::vector<int> r = co_await gather(hs);
  EXPECT_EQ(r, (std::vector<int>{0, 10, 20, 30}));
  EXPECT_EQ(hs[2].result(), 20);  // copied, not moved out
}

CO_TEST(GatherTest, EmptyVector) {
  std::vector<int> r = co_await gather(std::vector<Task<int>>{});
  EXPECT_TRUE(r.empty());
}

CO_TEST(GatherTest, MoveOnlyResults) {
  auto make = [](int v) -> Task<std::unique_ptr<int>> {
    co_await sleep(1ms);
    co_return std::make_unique<int>(v);
  };
  auto [a, b] = co_await gather(make(1), make(2));
  EXPECT_TRUE(a && *a == 1);
  EXPECT_TRUE(b && *b == 2);
}

CO_TEST(GatherTest, ChildrenStartWhenGatherIsCalled) {
  Log log;
  auto g = gather(logged_after(log, 0ms, 1), logged_after(log, 0ms, 2));
  co_await sleep(1ms);  // gather's result not awaited yet, the children ran
  EXPECT_EQ(log, (Log{"1 done", "2 done"}));
  auto [a, b] = co_await std::move(g);
  EXPECT_EQ(a + b, 3);
}

CO_TEST(GatherTest, FirstErrorIsRaisedAtOnceOthersKeepRunning) {
  Log log;
  TaskHandle<int> slow = create_task(logged_after(log, 30ms, 1));
  TaskHandle<int> failing = create_task(fail_after(10ms, "first"));
  TimePoint t0 = now();
  try {
    co_await gather(slow, failing);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
  EXPECT_EQ(now() - t0, 10ms);
  EXPECT_FALSE(slow.done());
  EXPECT_EQ(co_await slow, 1);  // it completes later, not cancelled
  EXPECT_EQ(log, (Log{"1 done"}));
  EXPECT_EQ(now() - t0, 30ms);
}

CO_TEST(GatherTest, FirstOfTwoErrorsWins) {
  std::vector<TaskHandle<int>> hs{create_task(fail_after(20ms, "second")), create_task(fail_after(10ms, "first"))};
  try {
    co_await gather(hs);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
  EXPECT_THROW(co_await hs[0], std::runtime_error);  // retrieve the other
}

CO_TEST(GatherTest, CancelledChildRaisesCancelledError) {
  TaskHandle<int> a = create_task(after(1h, 1));
  TaskHandle<int> b = create_task(after(10ms, 2));
  TaskHandle<void> canceller = create_task([](TaskHandle<int> x) -> Task<void> {
    co_await sleep(5ms);
    x.cancel();
  }(a));
  EXPECT_THROW(co_await gather(a, b), CancelledError);
  EXPECT_TRUE(a.cancelled());
  EXPECT_FALSE(b.done());  // the other child keeps running
  EXPECT_EQ(co_await b, 2);
  co_await canceller;
}

CO_TEST(GatherTest, ReturnExceptionsCollectsEveryOutcome) {
  TaskHandle<int> to_cancel = create_task(after(1h, 0));
  create_task([](TaskHandle<int> x) -> Task<void> {
    co_await sleep(5ms);
    x.cancel();
  }(to_cancel));
  TimePoint t0 = now();
  auto [ok, bad, cancelled] = co_await gather(return_exceptions, after(20ms, 1), fail_after(10ms, "bad"), to_cancel);
  EXPECT_EQ(now() - t0, 20ms);  // waits for all
  EXPECT_TRUE(ok.has_value());
  EXPECT_EQ(ok.value(), 1);
  EXPECT_EQ(ok.exception(), nullptr);
  EXPECT_FALSE(bad.has_value());
  EXPECT_FALSE(bad.cancelled());
  EXPECT_THROW(bad.value(), std::runtime_error);
  EXPECT_TRUE(cancelled.cancelled());
  EXPECT_THROW(std::rethrow_exception(cancelled.exception()), CancelledError);
}

CO_TEST(GatherTest, ReturnExceptionsVector) {
  std::vector<Task<int>> tasks;
  tasks.push_back(after(3ms, 1));
  tasks.push_back(fail_after(1ms, "x"));
  tasks.push_back(after(2ms, 3));
  std::vector<Outcome<int>> r = co_await gather(return_exceptions, std::move(tasks));
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].value(), 1);
  EXPECT_FALSE(r[1].has_value());
  EXPECT_EQ(r[2].value(), 3);
}

CO_TEST(GatherTest, ReturnExceptionsRetrievesTheErrors) {
  std::vector<ErrorContext> seen;
  current_loop().set_exception_handler([&seen](EventLoop&, const ErrorContext& c) { seen.push_back(c); });
  {
    auto [o] = co_await gather(return_exceptions, fail_after(1ms, "kept"));
    EXPECT_FALSE(o.has_value());
  }
  co_await sleep(1ms);
  current_loop().set_exception_handler(nullptr);
  EXPECT_TRUE(seen.empty());
}

// Regression: after gather raised the first error, a sibling failing later
// was reported as "Task exception was never retrieved", though the user
// has no handle to it (asyncio marks such errors retrieved).
CO_TEST(GatherTest, ALaterSiblingErrorAfterGatherRaisedIsNotReported) {
  std::vector<ErrorContext> seen;
  current_loop().set_exception_handler([&seen](EventLoop&, const ErrorContext& c) { seen.push_back(c); });
  EXPECT_THROW(co_await gather(fail_after(1ms, "first"), fail_after(2ms, "later")), std::runtime_error);
  co_await sleep(5ms);  // the second child fails, and goes
  current_loop().set_exception_handler(nullptr);
  EXPECT_TRUE(seen.empty());
}

// The same for a child that fails while gather cancels it.
CO_TEST(GatherTest, AChildFailingAsGatherCancelsItIsNotReported) {
  std::vector<ErrorContext> seen;
  current_loop().set_exception_handler([&seen](EventLoop&, const ErrorContext& c) { seen.push_back(c); });
  auto g = create_task([]() -> Task<void> {
    co_await gather(after(1h, 1), []() -> Task<int> {
      try {
        co_await sleep(1h);
      } catch (const CancelledError&) {
        throw std::runtime_error("cleanup failed");
      }
      co_return 2;
    }());
  }());
  co_await sleep(1ms);
  g.cancel();
  EXPECT_THROW(co_await g, CancelledError);
  co_await sleep(1ms);
  current_loop().set_exception_handler(nullptr);
  EXPECT_TRUE(seen.empty());
}

Task<void> gather_logged(Log& log, std::vector<TaskHandle<int>> hs) {
  try {
    co_await gather(hs);
  } catch (const CancelledError&) {
    log.push_back("gather cancelled");
    throw;
  }
}

CO_TEST(GatherTest, CancellingTheGathererCancelsAndAwaitsEveryChild) {
  Log log;
  std::vector<TaskHandle<int>> hs;
  for (int i = 0; i < 3; ++i) hs.push_back(create_task(logged_after(log, 1h, i)));
  TaskHandle<void> g = create_task(gather_logged(log, hs));
  co_await sleep(1ms);
  g.cancel();
  EXPECT_THROW(co_await g, CancelledError);
  EXPECT_EQ(log, (Log{"0 cancelled", "1 cancelled", "2 cancelled", "gather cancelled"}));
  for (auto& h : hs) EXPECT_TRUE(h.cancelled());
}

CO_TEST(GatherTest, CancellingTheGathererWaitsForSlowCleanup) {
  Log log;
  TaskHandle<int> slow_cleanup = create_task([](Log& l) -> Task<int> {
    bool cancelled = false;
    try {
      co_await sleep(1h);
    } catch (const CancelledError&) {
      cancelled = true;
    }
    if (cancelled) {
      co_await sleep(10ms);  // slow cleanup
      l.push_back("cleanup done");
      throw CancelledError();
    }
    co_return 0;
  }(log));
  std::vector<TaskHandle<int>> children;
  children.push_back(slow_cleanup);
  TaskHandle<void> g = create_task(gather_logged(log, children));
  co_await sleep(1ms);
  TimePoint t0 = now();
  g.cancel();
  co_await sleep(5ms);
  g.cancel();  // a second request while the children unwind
  EXPECT_THROW(co_await g, CancelledError);
  EXPECT_EQ(log, (Log{"cleanup done", "gather cancelled"}));
  EXPECT_EQ(now() - t0, 10ms);
}

CO_TEST(GatherTest, ThousandTasks) {
  std::vector<Task<int>> tasks;
  for (int i = 0; i < 1000; ++i) tasks.push_back(after(std::chrono::microseconds((i * 7919) % 1000), i));
  std::vector<int> r = co_await gather(std::move(tasks));
  EXPECT_EQ(r.size(), 1000u);
  bool in_order = true;
  for (int i = 0; i < 1000; ++i) in_order = in_order && r[i] == i;
  EXPECT_TRUE(in_order);
  EXPECT_EQ(current_loop().pending_task_count(), 1u);
}

CO_TEST(GatherTest, NestedGathers) {
  auto inner = [](int base) -> Task<int> {
    auto [a, b] = co_await gather(after(1ms, base), after(2ms, base + 1));
    co_return a + b;
  };
  auto [x, y] = co_await gather(inner(10), inner(20));
  EXPECT_EQ(x, 21);
  EXPECT_EQ(y, 41);
}

CO_TEST(GatherTest, AcceptsFuturesBesideTasks) {
  Future<int> fut;
  Future<void> done;
  current_loop().call_later(10ms, [fut, done]() mutable {
    fut.set_result(5);
    done.set_result();
  });
  auto [a, b, c] = co_await gather(fut, after(20ms, 6), done);
  EXPECT_EQ(a, 5);
  EXPECT_EQ(b, 6);
  EXPECT_EQ(c, std::monostate{});
}

// The usual batching loop: the vector handed to gather is left empty, ready
// for the next batch.
CO_TEST(GatherTest, AVectorOfTasksMovedInIsLeftEmptyForTheNextBatch) {
  Log log;
  std::vector<Task<int>> batch;
  batch.push_back(logged_after(log, std::chrono::milliseconds(1), 1));
  std::vector<int> first = co_await gather(std::move(batch));
  EXPECT_TRUE(batch.empty());  // gather took the vector's contents over
  batch.push_back(logged_after(log, std::chrono::milliseconds(1), 2));
  std::vector<int> second = co_await gather(std::move(batch));
  EXPECT_EQ(first, std::vector<int>{1});
  EXPECT_EQ(second, std::vector<int>{2});
}

// An empty handle among gather's arguments is a RuntimeError, checked
// before any task is watched, so the others are left untouched (this used
// to dereference null).
CO_TEST(GatherTest, AnEmptyHandleThrowsRuntimeError) {
  auto ok = create_task(after(5ms, 1));
  EXPECT_THROW((co_await gather(ok, TaskHandle<int>())), RuntimeError);
  EXPECT_EQ(co_await ok, 1);
}

CO_TEST(GatherTest, AnEmptyHandleInAVectorThrowsRuntimeError) {
  std::vector<TaskHandle<int>> hs;
  hs.push_back(create_task(after(5ms, 1)));
  hs.emplace_back();
  auto first = hs[0];
  EXPECT_THROW(co_await gather(std::move(hs)), RuntimeError);
  EXPECT_EQ(co_await first, 1);
}

}  // namespace
}  // namespace corio
