// CqDriver's wait(): one event per call, except that a quiet event (its
// tag said so with event_was_quiet()) is followed by the next one.
#include "corio/rpc/internal/cq_driver.h"

#include <grpc/support/time.h>
#include <grpcpp/alarm.h>

#include <chrono>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace corio::rpc::internal {
namespace {

using namespace std::chrono_literals;

// A tag that records its firing (in order) and may call itself quiet.
struct RecordingTag : CqTag {
  CqDriver* driver = nullptr;
  std::vector<int>* fired = nullptr;
  int id = 0;
  bool quiet = false;
  RecordingTag(CqDriver* d, std::vector<int>* f, int i, bool q) : driver(d), fired(f), id(i), quiet(q) {
    fire = [](CqTag* self, bool) noexcept {
      auto* t = static_cast<RecordingTag*>(self);
      t->fired->push_back(t->id);
      if (t->quiet) t->driver->event_was_quiet();
    };
  }
};

class CqDriverTest : public ::testing::Test {
 protected:
  CqDriverTest() : driver_(std::make_unique<grpc::CompletionQueue>()) {}
  // Queues `tag` at once (an alarm already due); the alarms are kept until
  // the test ends, as gRPC wants.
  void post(RecordingTag* tag) {
    alarms_.push_back(std::make_unique<grpc::Alarm>());
    alarms_.back()->Set(driver_.cq(), gpr_inf_past(GPR_CLOCK_MONOTONIC), static_cast<CqTag*>(tag));
  }
  // wait() with a deadline far enough for the queued alarms to come back.
  std::size_t wait() { return driver_.wait(std::chrono::time_point_cast<Duration>(Clock::now()) + 10s); }

  std::vector<int> fired_;  // outlives the driver, whose destructor drains the queue
  CqDriver driver_;
  std::vector<std::unique_ptr<grpc::Alarm>> alarms_;
};

TEST_F(CqDriverTest, WaitHandsOverOneEventThatWasNotQuiet) {
  RecordingTag a(&driver_, &fired_, 1, false), b(&driver_, &fired_, 2, false);
  post(&a);
  post(&b);
  EXPECT_EQ(wait(), 1u);
  EXPECT_EQ(fired_, std::vector<int>({1}));
  EXPECT_EQ(wait(), 1u);
  EXPECT_EQ(fired_, std::vector<int>({1, 2}));
}

TEST_F(CqDriverTest, WaitGoesOnPastQuietEventsToTheNextOne) {
  RecordingTag a(&driver_, &fired_, 1, true), b(&driver_, &fired_, 2, true), c(&driver_, &fired_, 3, false),
      d(&driver_, &fired_, 4, false);
  for (RecordingTag* t : {&a, &b, &c, &d}) post(t);
  EXPECT_EQ(wait(), 3u);
  EXPECT_EQ(fired_, std::vector<int>({1, 2, 3}));
  EXPECT_EQ(wait(), 1u);
  EXPECT_EQ(fired_, std::vector<int>({1, 2, 3, 4}));
}

TEST_F(CqDriverTest, WaitAfterAQuietEventEndsAtItsDeadline) {
  RecordingTag a(&driver_, &fired_, 1, true);
  post(&a);
  // Nothing follows the quiet event: wait() returns at its deadline.
  EXPECT_EQ(driver_.wait(std::chrono::time_point_cast<Duration>(Clock::now()) + 50ms), 1u);
  EXPECT_EQ(fired_, std::vector<int>({1}));
}

}  // namespace
}  // namespace corio::rpc::internal
