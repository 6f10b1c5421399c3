// Cancellation at every suspension point of a read loop and of a
// write+drain loop over an in-memory pipe (as loop/cancel_sweep_test.cc
// does for the combinators).
//
// Two kinds of sweep:
//  * the loops run as one task, cancelled just before each loop iteration
//    in turn: each run must end at once in CancelledError, with no task
//    left, no frame object leaked, nothing reported, every ready-queue slot
//    given back (testing::run_cancelling_at), and likewise when the loop is
//    destroyed instead (testing::run_destroying_at);
//  * the reading (or writing) task alone is cancelled before each
//    iteration, and a second one picks up where it stopped: whatever the
//    point of the cancel, the bytes that arrive are exactly the bytes sent,
//    none lost and none twice.
#include "corio/loop/testing/cancel_sweep.h"

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

#include "corio/loop/loop.h"
#include "corio/streams/streams.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

using testing::LiveCounter;

// Small buffers, so that the writer hits its high-water mark and the
// reader pauses its transport many times.
MemoryPipeOptions small_pipe() {
  MemoryPipeOptions o;
  o.pipe_capacity = 16;
  o.limit = 16;
  o.high_water = 24;
  o.low_water = 6;
  return o;
}

// Lines of varying length, 80 of them.
std::string payload() {
  std::string s;
  for (int i = 0; i < 80; ++i)
    s += std::string(static_cast<std::size_t>(i % 7), 'a' + i % 26) + "#" + std::to_string(i) + "\n";
  return s;
}

// Drains that had to wait, over all runs (the scenario must make some).
int drains_that_waited = 0;

// Writes `data` from `pos` on, in chunks of 5 with a drain after each,
// advancing `pos` past each chunk once it is written.
Task<void> write_loop(StreamWriter& w, const std::string& data, std::size_t& pos) {
  LiveCounter t;
  while (pos < data.size()) {
    const std::size_t n = std::min<std::size_t>(5, data.size() - pos);
    w.write(std::string_view(data).substr(pos, n));
    pos += n;
    if (w.protocol().writing_paused()) ++drains_that_waited;
    co_await w.drain();
    if (pos % 20 == 0) co_await sleep(1ms);
  }
}

// Reads to EOF with every kind of read, appending what it gets to `got`
// as soon as a read returns.
Task<void> read_loop(StreamReader& r, std::string& got) {
  LiveCounter t;
  for (int i = 0;; ++i) {
    if (i % 4 == 0) {
      std::string line = co_await r.readline();
      if (line.empty()) co_return;
      got += line;
    } else if (i % 4 == 1) {
      char buf[3];
      const std::size_t n = co_await r.read_into(buf);
      if (n == 0) co_return;
      got.append(buf, n);
    } else if (i % 4 == 2) {
      try {
        got += co_await r.readexactly(4);
      } catch (const IncompleteReadError& e) {
        got += e.partial();
        co_return;
      }
    } else {
      try {
        got += co_await r.readuntil("#");
      } catch (const IncompleteReadError& e) {
        got += e.partial();
        co_return;
      }
      co_await sleep(1ms);  // a slow reader: the writer must drain
    }
  }
}

// The writer and the reader together; the value is the bytes read.
Task<int> scenario() {
  LiveCounter t;
  // Named members, not a structured binding: clang 14 cannot capture
  // one in a lambda.
  MemoryPipe pipe = memory_pipe(small_pipe());
  StreamReader& reader = pipe.reader;
  StreamWriter& writer = pipe.writer;
  const std::string data = payload();
  std::size_t pos = 0;
  std::string got;
  co_await task_group([&](TaskGroup& tg) -> Task<> {
    LiveCounter body;
    tg.create_task(co_invoke([&]() -> Task<> {
      co_await write_loop(writer, data, pos);
      writer.close();
      co_await writer.wait_closed();
    }));
    co_await read_loop(reader, got);
  });
  co_return got == data ? static_cast<int>(got.size()) : -1;
}

testing::SweepRun run_cancelling_at(int cancel_at) {
  return testing::run_cancelling_at(cancel_at, [](EventLoop& loop) { return create_task(loop, scenario()); });
}

TEST(StreamsCancelSweep, UncancelledScenarioReadsEverything) {
  drains_that_waited = 0;
  testing::SweepRun r = run_cancelling_at(-1);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.value, static_cast<int>(payload().size()));
  EXPECT_GT(r.iterations, 50);       // it does suspend, many times
  EXPECT_GT(drains_that_waited, 5);  // and the writer does hit its mark
}

TEST(StreamsCancelSweep, CancelAtEveryIterationEndsCleanly) {
  const int n = run_cancelling_at(-1).iterations;
  testing::for_each_step(n, "cancelled", [n](int k) {
    testing::SweepRun r = run_cancelling_at(k);
    if (k < n) {
      EXPECT_TRUE(r.cancelled);
      EXPECT_EQ(r.cancel_to_end, Duration(0));  // nothing waits out its sleep
    } else {
      EXPECT_FALSE(r.cancelled);
      EXPECT_EQ(r.value, static_cast<int>(payload().size()));
    }
  });
}

TEST(StreamsTeardownSweep, DestroyingTheLoopAtEveryIterationLeavesNothing) {
  testing::for_each_step(run_cancelling_at(-1).iterations, "loop destroyed", [](int k) {
    testing::run_destroying_at(k, [](EventLoop& loop) { return create_task(loop, scenario()); });
  });
}

// ---- The same over a pipeline of generators: merge (pump tasks), batch
// (a pump and a clock), map and from_queue. ----

AsyncGenerator<int> ticking_source(int first, int n, Duration every) {
  LiveCounter t;
  for (int i = 0; i < n; ++i) {
    co_await sleep(every);
    co_yield first + i;
  }
}

// The sum of everything that comes through; 1 + ... + 8 + 100 + 101 + 102
// + (10 + 20) = 369 when nothing is cancelled. `q` must outlive the loop,
// as any sync primitive a task may still be parked in when it is destroyed.
Task<int> pipeline(Queue<int>& q) {
  LiveCounter t;
  int total = 0;
  co_await task_group([&](TaskGroup& tg) -> Task<> {
    LiveCounter body;
    tg.create_task(co_invoke([&]() -> Task<> {
      co_await q.put(10);
      co_await sleep(3ms);
      co_await q.put(20);
      q.shutdown();
    }));
    auto merged = merge(ticking_source(1, 8, 1ms), ticking_source(100, 3, 2ms));
    auto chunks = batch(std::move(merged), 3, 2ms);
    auto sums = map(std::move(chunks), [](std::vector<int> c) {
      int s = 0;
      for (int v : c) s += v;
      return s;
    });
    while (std::optional<int> s = co_await sums.next()) total += *s;
    auto queued = from_queue(q);
    while (std::optional<int> v = co_await queued.next()) total += *v;
  });
  co_return total;
}
constexpr int kPipelineValue = 369;

testing::SweepRun run_pipeline_cancelling_at(int cancel_at) {
  Queue<int> q(1);
  return testing::run_cancelling_at(cancel_at, [&q](EventLoop& loop) { return create_task(loop, pipeline(q)); });
}

TEST(GeneratorCancelSweep, UncancelledPipelineSumsEverything) {
  testing::SweepRun r = run_pipeline_cancelling_at(-1);
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.value, kPipelineValue);
  EXPECT_GT(r.iterations, 10);
}

TEST(GeneratorCancelSweep, CancelAtEveryIterationEndsCleanly) {
  const int n = run_pipeline_cancelling_at(-1).iterations;
  testing::for_each_step(n, "cancelled", [n](int k) {
    testing::SweepRun r = run_pipeline_cancelling_at(k);
    if (k < n - 1) {
      EXPECT_TRUE(r.cancelled);
      EXPECT_EQ(r.cancel_to_end, Duration(0));  // pumps are cancelled, not waited out
    } else if (k == n - 1) {
      // The last step starts with the queue's hand-off of its last item:
      // the get keeps what it was handed, the next get sees the shutdown
      // without suspending, and the task ends with its value (the cancel
      // waits for a suspension point that never comes), as in
      // sync/cancel_sweep_test.cc.
      EXPECT_FALSE(r.cancelled);
      EXPECT_EQ(r.value, kPipelineValue);
    } else {
      EXPECT_FALSE(r.cancelled);
      EXPECT_EQ(r.value, kPipelineValue);
    }
  });
}

TEST(GeneratorTeardownSweep, DestroyingTheLoopAtEveryIterationLeavesNothing) {
  const int n = run_pipeline_cancelling_at(-1).iterations;
  testing::for_each_step(n, "loop destroyed", [](int k) {
    Queue<int> q(1);
    testing::run_destroying_at(k, [&q](EventLoop& loop) { return create_task(loop, pipeline(q)); });
  });
}

// ---- Resumption sweeps: one side's task is cancelled, a second one
// carries on, and every byte must arrive exactly once. ----

enum class Side { kReader, kWriter };

// Drives the pipe with a first task on `side` that is cancelled before
// iteration `cancel_at`, then a second one; returns the iterations run.
int run_resuming_after_cancel(Side side, int cancel_at) {
  const std::string data = payload();
  std::string got;
  int iterations = 0;
  {
    LoopOptions options;
    options.virtual_clock = true;
    EventLoop loop(options);
    int reports = 0;
    loop.set_exception_handler([&reports](EventLoop&, const ErrorContext&) { ++reports; });
    TaskHandle<void> first;
    auto driver = create_task(
        loop, co_invoke([&]() -> Task<> {
          // Named members, not a structured binding: clang 14 cannot capture
          // one in a lambda.
          MemoryPipe pipe = memory_pipe(small_pipe());
          StreamReader& reader = pipe.reader;
          StreamWriter& writer = pipe.writer;
          std::size_t pos = 0;
          auto other = create_task(co_invoke([&]() -> Task<> {
            if (side == Side::kReader) {
              co_await write_loop(writer, data, pos);
              writer.close();
            } else {
              co_await read_loop(reader, got);
            }
          }));
          first = create_task(side == Side::kReader ? read_loop(reader, got) : write_loop(writer, data, pos));
          try {
            co_await first;
          } catch (const CancelledError&) {
          }
          if (side == Side::kReader) {
            co_await read_loop(reader, got);
          } else {
            co_await write_loop(writer, data, pos);
            writer.close();
          }
          co_await other;
        }));
    while (!driver.done() && iterations < testing::kSweepMaxIterations) {
      if (iterations == cancel_at && first) first.cancel();
      loop.run_once();
      ++iterations;
    }
    EXPECT_TRUE(driver.done());
    if (driver.done()) {
      EXPECT_NO_THROW(driver.result());
    }
    EXPECT_EQ(reports, 0);
  }
  EXPECT_EQ(got, data);
  EXPECT_EQ(LiveCounter::live, 0);
  return iterations;
}

TEST(StreamsCancelSweep, ACancelledReadLoopLosesNoByteAtAnyPoint) {
  const int n = run_resuming_after_cancel(Side::kReader, -1);
  testing::for_each_step(n, "reader cancelled", [](int k) { run_resuming_after_cancel(Side::kReader, k); });
}

TEST(StreamsCancelSweep, ACancelledWriteAndDrainLoopLosesNoByteAtAnyPoint) {
  const int n = run_resuming_after_cancel(Side::kWriter, -1);
  testing::for_each_step(n, "writer cancelled", [](int k) { run_resuming_after_cancel(Side::kWriter, k); });
}

}  // namespace
}  // namespace corio
