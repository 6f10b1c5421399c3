// producer_consumer: a bounded corio::Queue between producers and a pool of
// consumers (asyncio.Queue), with back-pressure, task_done/join to know when
// every job is processed, and shutdown() to stop the consumers.
//
// Run it:  bazel run //examples:producer_consumer
//
// Two producers make jobs faster than three consumers can process them, so
// the queue (capacity 4) fills up and put() suspends the producers until a
// consumer makes room: the queue never holds more than 4 jobs (and a job
// put while a consumer is already waiting goes straight to it, so the queue
// holds 0 at first). When the
// producers are done, main waits on join() until every job was marked
// task_done(), then shuts the queue down, which ends the consumers' loops
// with QueueShutDown (Python 3.13's Queue.shutdown).

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/sync/queue.h"

using namespace std::chrono_literals;

namespace {

struct Job {
  int producer;
  int number;
};

corio::Task<> producer(corio::Queue<Job>& jobs, int id, int count) {
  for (int n = 1; n <= count; ++n) {
    co_await corio::sleep(2ms);     // making a job takes a little while
    co_await jobs.put(Job{id, n});  // suspends while the queue is full
    std::printf("producer %d: queued job %d.%d (queue holds %zu)\n", id, id, n, jobs.qsize());
  }
}

corio::Task<int> consumer(corio::Queue<Job>& jobs, int id) {
  int done = 0;
  try {
    for (;;) {
      Job job = co_await jobs.get();  // suspends while the queue is empty
      co_await corio::sleep(10ms);    // "processing"
      std::printf("  consumer %d: finished job %d.%d\n", id, job.producer, job.number);
      ++done;
      jobs.task_done();
    }
  } catch (const corio::QueueShutDown&) {
    // The queue was shut down and is empty: no more work.
  }
  co_return done;
}

corio::Task<> main_task() {
  corio::Queue<Job> jobs(/*maxsize=*/4);

  std::vector<corio::TaskHandle<int>> consumers;
  for (int id = 1; id <= 3; ++id) consumers.push_back(corio::create_task(consumer(jobs, id)));

  auto p1 = corio::create_task(producer(jobs, 1, 6));
  auto p2 = corio::create_task(producer(jobs, 2, 6));
  co_await p1;
  co_await p2;
  std::printf("producers done; waiting for the consumers to finish every job\n");

  co_await jobs.join();  // every job put has been marked task_done()
  jobs.shutdown();       // ends the consumers' loops

  int total = 0;
  for (auto& c : consumers) total += co_await c;
  std::printf("all %d jobs processed\n", total);
}

}  // namespace

int main() { corio::run(main_task()); }
