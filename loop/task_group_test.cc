// Tests for TaskGroup: structured concurrency, failure handling, outside
// cancellation, shutdown rules and nesting.
#include "corio/loop/task_group.h"

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "corio/loop/future.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/timeout.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;
using Log = std::vector<std::string>;

Task<int> logged_after(Log& log, std::string name, Duration d, int v) {
  try {
    co_await sleep(d);
  } catch (const CancelledError&) {
    log.push_back(name + " cancelled");
    throw;
  }
  log.push_back(name + " done");
  co_return v;
}

Task<int> fail_after(Duration d, std::string what) {
  co_await sleep(d);
  throw std::runtime_error(what);
}

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (const CancelledError&) {
    return "CancelledError";
  }
}

std::vector<std::string> whats(const ExceptionGroup& g) {
  std::vector<std::string> out;
  for (const auto& e : g.exceptions()) out.push_back(what_of(e));
  return out;
}

TimePoint now() { return current_loop().time(); }

// Waits "forever"; fails while being cancelled (its cleanup goes wrong).
Task<int> fails_when_cancelled(std::string what) {
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    throw std::runtime_error(what);
  }
  co_return 0;
}

// Waits "forever"; once cancelled, takes `d` to clean up, then ends
// cancelled.
Task<int> unwinds_slowly(Duration d) {
  bool cancelled = false;
  try {
    co_await sleep(1h);
  } catch (const CancelledError&) {
    cancelled = true;  // no co_await inside a handler: clean up below
  }
  if (cancelled) {
    co_await sleep(d);
    throw CancelledError();
  }
  co_return 0;
}

// After catching the group's ExceptionGroup, the task sleeps an hour and
// returns 1; `log` records what it caught and any CancelledError raised in
// that sleep.
Task<int> catch_group_then_sleep(Task<void> group, Log& log) {
  try {
    co_await std::move(group);
    log.push_back("no exception");
  } catch (const ExceptionGroup& g) {
    for (const std::string& w : whats(g)) log.push_back("ExceptionGroup: " + w);
  }
  try {
    co_await sleep(1h);
  } catch (const CancelledError& e) {
    log.push_back("CancelledError: " + e.message());
    throw;
  }
  co_return 1;
}

CO_TEST(TaskGroupTest, AllChildrenSucceedAndTheBodyValueIsReturned) {
  Log log;
  std::vector<TaskHandle<int>> hs;
  TimePoint t0 = now();
  int v = co_await task_group([&](TaskGroup& tg) -> Task<int> {
    hs.push_back(tg.create_task(logged_after(log, "a", 20ms, 1)));
    hs.push_back(tg.create_task(logged_after(log, "b", 10ms, 2)));
    EXPECT_EQ(tg.size(), 2u);
    co_return 42;
  });
  EXPECT_EQ(v, 42);
  EXPECT_EQ(now() - t0, 20ms);  // returned only once every child was done
  EXPECT_EQ(log, (Log{"b done", "a done"}));
  for (auto& h : hs) EXPECT_TRUE(h.done());
  EXPECT_EQ(hs[0].result() + hs[1].result(), 3);
}

CO_TEST(TaskGroupTest, EmptyGroup) {
  int v = co_await task_group([](TaskGroup&) -> Task<int> { co_return 1; });
  EXPECT_EQ(v, 1);
  co_await task_group([](TaskGroup&) -> Task<void> { co_return; });
}

CO_TEST(TaskGroupTest, ChildrenCanBeAwaitedInsideTheBody) {
  int v = co_await task_group([](TaskGroup& tg) -> Task<int> {
    TaskHandle<int> a = tg.create_task([]() -> Task<int> {
      co_await sleep(1ms);
      co_return 5;
    }());
    co_return co_await a * 2;
  });
  EXPECT_EQ(v, 10);
}

CO_TEST(TaskGroupTest, OneFailureCancelsSiblingsAndTheBody) {
  Log log;
  std::vector<TaskHandle<int>> hs;
  TimePoint t0 = now();
  try {
    co_await task_group([&](TaskGroup& tg) -> Task<void> {
      hs.push_back(tg.create_task(logged_after(log, "slow", 1h, 1)));
      hs.push_back(tg.create_task(fail_after(10ms, "child failed")));
      try {
        co_await sleep(1h);
      } catch (const CancelledError&) {
        log.push_back("body cancelled");
        throw;
      }
    });
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup& g) {
    EXPECT_EQ(whats(g), (std::vector<std::string>{"child failed"}));
  }
  EXPECT_EQ(now() - t0, 10ms);
  EXPECT_EQ(log, (Log{"slow cancelled", "body cancelled"}));
  EXPECT_TRUE(hs[0].cancelled());
  EXPECT_EQ(current_task().cancelling(), 0u);
  co_await sleep(1ms);  // no cancellation left pending on the task
}

CO_TEST(TaskGroupTest, TwoFailuresAreBothInTheGroupInOrder) {
  std::vector<TaskHandle<int>> hs;
  try {
    co_await task_group([&](TaskGroup& tg) -> Task<void> {
      tg.create_task(fail_after(10ms, "first"));
      // The second fails while being cancelled, during its cleanup.
      tg.create_task([]() -> Task<int> {
        try {
          co_await sleep(1h);
        } catch (const CancelledError&) {
          throw std::runtime_error("second");
        }
        co_return 0;
      }());
      co_return;
    });
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup& g) {
    EXPECT_EQ(whats(g), (std::vector<std::string>{"first", "second"}));
  }
}

CO_TEST(TaskGroupTest, FailuresAtTheSameTimeAreAllCollected) {
  Future<void> gate;
  try {
    co_await task_group([&](TaskGroup& tg) -> Task<void> {
      tg.create_task([](Future<void> g) -> Task<int> {
        co_await sleep(10ms);
        g.set_result();  // wakes "y" before this task fails
        throw std::runtime_error("x");
      }(gate));
      tg.create_task(fail_after(20ms, "never: cancelled first"));
      tg.create_task([](Future<void> g) -> Task<int> {
        co_await g;
        // The group's cancel arrived after the wake: it is pending, and this
        // task fails before reaching another suspension point.
        throw std::runtime_error("y");
      }(gate));
      co_return;
    });
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup& g) {
    EXPECT_EQ(whats(g), (std::vector<std::string>{"x", "y"}));
  }
}

CO_TEST(TaskGroupTest, ExceptionGroupMessageCountsTheErrors) {
  try {
    co_await task_group([](TaskGroup& tg) -> Task<void> {
      tg.create_task(fail_after(1ms, "only"));
      co_return;
    });
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup& g) {
    EXPECT_STREQ(g.what(), "unhandled errors in a TaskGroup (1 sub-exception)");
  }
  try {
    co_await task_group([](TaskGroup& tg) -> Task<void> {
      tg.create_task(fail_after(1ms, "one"));
      tg.create_task([]() -> Task<int> {
        try {
          co_await sleep(1h);
        } catch (const CancelledError&) {
          throw std::runtime_error("two");
        }
        co_return 0;
      }());
      co_return;
    });
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup& g) {
    EXPECT_STREQ(g.what(), "unhandled errors in a TaskGroup (2 sub-exceptions)");
  }
}

CO_TEST(TaskGroupTest, ChildFailureAfterTheBodyFinished) {
  Log log;
  try {
    co_await task_group([&](TaskGroup& tg) -> Task<void> {
      tg.create_task(logged_after(log, "slow", 1h, 1));
      tg.create_task(fail_after(10ms, "late"));
      co_return;
    });
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup& g) {
    EXPECT_EQ(whats(g), (std::vector<std::string>{"late"}));
  }
  EXPECT_EQ(log, (Log{"slow cancelled"}));
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(TaskGroupTest, BodyErrorCancelsChildrenAndJoinsTheGroup) {
  Log log;
  try {
    co_await task_group([&](TaskGroup& tg) -> Task<void> {
      tg.create_task(logged_after(log, "child", 1h, 1));
      co_await sleep(5ms);
      throw std::logic_error("body failed");
    });
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup& g) {
    EXPECT_EQ(whats(g), (std::vector<std::string>{"body failed"}));
  }
  EXPECT_EQ(log, (Log{"child cancelled"}));
}

CO_TEST(TaskGroupTest, OuterCancelCancelsAndAwaitsChildrenThenRaisesCancelledError) {
  Log log;
  std::vector<TaskHandle<int>> hs;
  TaskHandle<void> runner = create_task([](Log& l, std::vector<TaskHandle<int>>& h) -> Task<void> {
    try {
      co_await task_group([&](TaskGroup& tg) -> Task<void> {
        h.push_back(tg.create_task(logged_after(l, "c1", 1h, 1)));
        h.push_back(tg.create_task(logged_after(l, "c2", 1h, 2)));
        try {
          co_await sleep(1h);
        } catch (const CancelledError&) {
          l.push_back("body cancelled");
          throw;
        }
      });
    } catch (const CancelledError& e) {
      l.push_back("group raised CancelledError: " + e.message());
      throw;
    }
  }(log, hs));
  co_await sleep(1ms);
  runner.cancel("outer");
  EXPECT_THROW(co_await runner, CancelledError);
  EXPECT_EQ(log, (Log{"body cancelled", "c1 cancelled", "c2 cancelled", "group raised CancelledError: outer"}));
  for (auto& h : hs) EXPECT_TRUE(h.cancelled());
}

CO_TEST(TaskGroupTest, OuterCancelWhileWaitingForChildren) {
  Log log;
  TaskHandle<void> runner = create_task([](Log& l) -> Task<void> {
    try {
      co_await task_group([&](TaskGroup& tg) -> Task<void> {
        tg.create_task(logged_after(l, "c1", 1h, 1));
        co_return;
      });
    } catch (const CancelledError& e) {
      l.push_back("group raised CancelledError: " + e.message());
      throw;
    }
  }(log));
  co_await sleep(1ms);
  runner.cancel("while exiting");
  EXPECT_THROW(co_await runner, CancelledError);
  EXPECT_EQ(log, (Log{"c1 cancelled", "group raised CancelledError: while exiting"}));
}

// asyncio 3.13 (gh-116720): an ExceptionGroup takes priority over an outer
// cancel, which stays pending and is raised at the task's next suspension
// point instead of being lost.
CO_TEST(TaskGroupTest, OuterCancelSurvivesAnExceptionGroup) {
  Log log;
  TaskHandle<int> h = create_task(catch_group_then_sleep(task_group([](TaskGroup& tg) -> Task<void> {
                                                           tg.create_task(fails_when_cancelled("cleanup failed"));
                                                           co_await sleep(1h);
                                                         }),
                                                         log));
  co_await sleep(1ms);
  const TimePoint t0 = now();
  EXPECT_TRUE(h.cancel("outer"));
  EXPECT_THROW(co_await h, CancelledError);
  EXPECT_TRUE(h.cancelled()) << "cancelling()=" << h.cancelling();
  EXPECT_EQ(now() - t0, Duration(0));  // at once: the sleep after the catch raised it
  EXPECT_EQ(log, (Log{"ExceptionGroup: cleanup failed", "CancelledError: outer"}));
}

CO_TEST(TaskGroupTest, OuterCancelWhileTheGroupWaitsForChildrenSurvivesAnExceptionGroup) {
  Log log;
  TaskHandle<int> h = create_task(catch_group_then_sleep(task_group([](TaskGroup& tg) -> Task<void> {
                                                           tg.create_task(fail_after(1ms, "boom"));
                                                           tg.create_task(unwinds_slowly(10ms));
                                                           co_return;
                                                         }),
                                                         log));
  const TimePoint t0 = now();
  co_await sleep(5ms);  // the group is shutting down, waiting for the slow child
  EXPECT_TRUE(h.cancel("outer"));
  EXPECT_THROW(co_await h, CancelledError);
  EXPECT_TRUE(h.cancelled()) << "cancelling()=" << h.cancelling();
  EXPECT_EQ(now() - t0, 11ms);  // the group still waited for the slow child
  EXPECT_EQ(log, (Log{"ExceptionGroup: boom", "CancelledError: outer"}));
}

// The group's cancel of the body and the outer one reach the body as one
// CancelledError; withdrawing the group's own must leave the outer one.
// `cancel_first`: the outer cancel comes just before the child fails, in
// the same loop iteration; otherwise just after.
Task<void> outer_cancel_in_the_iteration_of_a_child_failure(bool cancel_first) {
  Log log;
  Future<void> gate;
  TaskHandle<int> h = create_task(catch_group_then_sleep(task_group([gate](TaskGroup& tg) -> Task<void> {
                                                           tg.create_task([](Future<void> g) -> Task<int> {
                                                             co_await g;
                                                             throw std::runtime_error("child failed");
                                                           }(gate));
                                                           co_await sleep(1h);
                                                         }),
                                                         log));
  co_await sleep(1ms);
  gate.set_result();  // the child runs next and fails
  if (!cancel_first) {
    co_await yield_now();  // after the child: the group has cancelled the body
    EXPECT_EQ(h.cancelling(), 1u);
  }
  const TimePoint t0 = now();
  EXPECT_TRUE(h.cancel("outer"));
  EXPECT_THROW(co_await h, CancelledError);
  EXPECT_TRUE(h.cancelled()) << "cancelling()=" << h.cancelling();
  EXPECT_EQ(now() - t0, Duration(0));
  EXPECT_EQ(log, (Log{"ExceptionGroup: child failed", "CancelledError: outer"}));
}

CO_TEST(TaskGroupTest, OuterCancelJustBeforeAChildFailureSurvivesTheExceptionGroup) {
  co_await outer_cancel_in_the_iteration_of_a_child_failure(true);
}

CO_TEST(TaskGroupTest, OuterCancelJustAfterAChildFailureSurvivesTheExceptionGroup) {
  co_await outer_cancel_in_the_iteration_of_a_child_failure(false);
}

// An enclosing group is outside the inner one: its cancel of its body
// survives an inner ExceptionGroup that the body catches.
CO_TEST(TaskGroupTest, EnclosingGroupsCancelSurvivesACaughtInnerExceptionGroup) {
  Log log;
  const TimePoint t0 = now();
  try {
    co_await task_group([&](TaskGroup& outer) -> Task<void> {
      outer.create_task(fail_after(5ms, "outer child failed"));
      try {
        co_await task_group([](TaskGroup& inner) -> Task<void> {
          inner.create_task(fails_when_cancelled("inner cleanup failed"));
          co_await sleep(1h);
        });
      } catch (const ExceptionGroup& g) {
        log.push_back("inner ExceptionGroup: " + whats(g).at(0));
      }
      try {
        co_await sleep(1h);
        log.push_back("body not cancelled");
      } catch (const CancelledError&) {
        log.push_back("body cancelled");
        throw;
      }
    });
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup& g) {
    EXPECT_EQ(whats(g), (std::vector<std::string>{"outer child failed"}));
  }
  EXPECT_EQ(log, (Log{"inner ExceptionGroup: inner cleanup failed", "body cancelled"}));
  EXPECT_EQ(now() - t0, 5ms);
  EXPECT_EQ(current_task().cancelling(), 0u);
}

// Control: without an outer cancel, the group's own cancel of the body is
// withdrawn, and a task that catches the ExceptionGroup carries on.
CO_TEST(TaskGroupTest, WithoutAnOuterCancelATaskCatchingTheExceptionGroupCarriesOn) {
  Log log;
  TaskHandle<int> h = create_task(catch_group_then_sleep(task_group([](TaskGroup& tg) -> Task<void> {
                                                           tg.create_task(fail_after(1ms, "boom"));
                                                           tg.create_task(fails_when_cancelled("cleanup failed"));
                                                           co_await sleep(1h);
                                                         }),
                                                         log));
  const TimePoint t0 = now();
  EXPECT_EQ(co_await h, 1);
  EXPECT_FALSE(h.cancelled());
  EXPECT_EQ(h.cancelling(), 0u);
  EXPECT_EQ(now() - t0, 1ms + 1h);  // slept its hour after the group
  EXPECT_EQ(log, (Log{"ExceptionGroup: boom", "ExceptionGroup: cleanup failed"}));
}

// A timeout is an outer cancel that withdraws itself: the ExceptionGroup
// goes through it (not TimeoutError) and no cancel is left pending.
CO_TEST(TaskGroupTest, TimeoutOverAGroupEndingInAnExceptionGroupLeavesNoCancelPending) {
  const TimePoint t0 = now();
  try {
    co_await timeout(10ms, task_group([](TaskGroup& tg) -> Task<void> {
                       tg.create_task(fails_when_cancelled("cleanup failed"));
                       co_await sleep(1h);
                     }));
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup& g) {
    EXPECT_EQ(whats(g), (std::vector<std::string>{"cleanup failed"}));
  }
  EXPECT_EQ(current_task().cancelling(), 0u);
  bool cancelled = false;
  try {
    co_await sleep(1ms);
  } catch (const CancelledError&) {
    cancelled = true;
  }
  EXPECT_FALSE(cancelled) << "a cancel was left pending";
  EXPECT_EQ(now() - t0, 11ms);
}

CO_TEST(TaskGroupTest, OuterTimeoutBecomesTimeoutError) {
  Log log;
  TimePoint t0 = now();
  EXPECT_THROW(co_await timeout(10ms, task_group([&](TaskGroup& tg) -> Task<void> {
                                  tg.create_task(logged_after(log, "c", 1h, 1));
                                  co_return;
                                })),
               TimeoutError);
  EXPECT_EQ(log, (Log{"c cancelled"}));
  EXPECT_EQ(now() - t0, 10ms);
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(TaskGroupTest, NoChildOutlivesTheGroup) {
  std::vector<TaskHandle<int>> hs;
  Log log;
  try {
    co_await task_group([&](TaskGroup& tg) -> Task<void> {
      for (int i = 0; i < 10; ++i) {
        hs.push_back(tg.create_task(logged_after(log, std::to_string(i), std::chrono::milliseconds(i * 10), i)));
      }
      hs.push_back(tg.create_task(fail_after(25ms, "stop")));
      co_return;
    });
  } catch (const ExceptionGroup&) {
  }
  for (auto& h : hs) EXPECT_TRUE(h.done());
  EXPECT_EQ(current_loop().pending_task_count(), 1u);  // only main
  EXPECT_EQ(log, (Log{"0 done", "1 done", "2 done", "3 cancelled", "4 cancelled", "5 cancelled", "6 cancelled",
                      "7 cancelled", "8 cancelled", "9 cancelled"}));
}

CO_TEST(TaskGroupTest, CreateTaskWhileShuttingDownThrowsRuntimeError) {
  // The body catches the group's cancellation and tries to start more work.
  Log log;
  try {
    co_await task_group([&](TaskGroup& tg) -> Task<void> {
      tg.create_task(fail_after(5ms, "boom"));
      try {
        co_await sleep(1h);
      } catch (const CancelledError&) {
        try {
          tg.create_task(logged_after(log, "late", 1h, 0));
          log.push_back("created");
        } catch (const RuntimeError&) {
          log.push_back("refused");
        }
        throw;
      }
    });
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup& g) {
    EXPECT_EQ(whats(g), (std::vector<std::string>{"boom"}));
  }
  EXPECT_EQ(log, (Log{"refused"}));
}

CO_TEST(TaskGroupTest, CreateTaskFromAChildAfterAFailureThrowsRuntimeError) {
  Log log;
  try {
    co_await task_group([&](TaskGroup& tg) -> Task<void> {
      tg.create_task(fail_after(5ms, "boom"));
      tg.create_task([](TaskGroup& g, Log& l) -> Task<int> {
        try {
          co_await sleep(1h);
        } catch (const CancelledError&) {
          try {
            g.create_task(logged_after(l, "late", 1h, 0));
            l.push_back("created");
          } catch (const RuntimeError&) {
            l.push_back("refused");
          }
          throw;
        }
        co_return 0;
      }(tg, log));
      co_return;
    });
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup&) {
  }
  EXPECT_EQ(log, (Log{"refused"}));
}

CO_TEST(TaskGroupTest, ChildrenMaySpawnSiblingsWhileTheGroupWaits) {
  // As in asyncio: after the body returned, a running child may still add
  // work; the group waits for it too.
  Log log;
  co_await task_group([&](TaskGroup& tg) -> Task<void> {
    tg.create_task([](TaskGroup& g, Log& l) -> Task<int> {
      co_await sleep(5ms);
      g.create_task(logged_after(l, "grandchild", 10ms, 0));
      l.push_back("spawned");
      co_return 0;
    }(tg, log));
    co_return;
  });
  EXPECT_EQ(log, (Log{"spawned", "grandchild done"}));
  EXPECT_EQ(current_loop().pending_task_count(), 1u);
}

CO_TEST(TaskGroupTest, NestedGroups) {
  Log log;
  try {
    co_await task_group([&](TaskGroup& outer) -> Task<void> {
      outer.create_task(logged_after(log, "outer child", 1h, 0));
      co_await task_group([&](TaskGroup& inner) -> Task<void> {
        inner.create_task(logged_after(log, "inner child", 1h, 0));
        inner.create_task(fail_after(5ms, "inner failure"));
        co_return;
      });
    });
    ADD_FAILURE() << "no exception";
  } catch (const ExceptionGroup& g) {
    EXPECT_EQ(g.exceptions().size(), 1u);
    try {
      std::rethrow_exception(g.exceptions().at(0));
    } catch (const ExceptionGroup& inner) {
      EXPECT_EQ(whats(inner), (std::vector<std::string>{"inner failure"}));
    } catch (...) {
      ADD_FAILURE() << "not a nested ExceptionGroup";
    }
  }
  EXPECT_EQ(log, (Log{"inner child cancelled", "outer child cancelled"}));
  EXPECT_EQ(current_task().cancelling(), 0u);
}

CO_TEST(TaskGroupTest, NestedGroupsSucceed) {
  int v = co_await task_group([](TaskGroup& outer) -> Task<int> {
    TaskHandle<int> a = outer.create_task([]() -> Task<int> {
      co_return co_await task_group([](TaskGroup& inner) -> Task<int> {
        TaskHandle<int> x = inner.create_task([]() -> Task<int> {
          co_await sleep(1ms);
          co_return 20;
        }());
        co_return co_await x + 1;
      });
    }());
    co_return co_await a * 2;
  });
  EXPECT_EQ(v, 42);
}

CO_TEST(TaskGroupTest, ChildErrorsAreNotReportedAsUnretrieved) {
  std::vector<ErrorContext> seen;
  current_loop().set_exception_handler([&seen](EventLoop&, const ErrorContext& c) { seen.push_back(c); });
  try {
    co_await task_group([](TaskGroup& tg) -> Task<void> {
      tg.create_task(fail_after(1ms, "owned by the group"));
      co_return;
    });
  } catch (const ExceptionGroup&) {
  }
  co_await sleep(1ms);
  current_loop().set_exception_handler(nullptr);
  EXPECT_TRUE(seen.empty());
}

CO_TEST(TaskGroupTest, CancelledChildIsNotAnError) {
  int v = co_await task_group([](TaskGroup& tg) -> Task<int> {
    TaskHandle<int> c = tg.create_task([]() -> Task<int> {
      co_await sleep(1h);
      co_return 0;
    }());
    co_await sleep(1ms);
    c.cancel();
    co_return 3;
  });
  EXPECT_EQ(v, 3);
}

}  // namespace
}  // namespace corio
