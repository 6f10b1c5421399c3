// The worked example of loop/internal/task_base.h ("Writing a cancel-safe
// awaitable on Suspension"), compiled as written there, and its behaviour
// in each case the guide names: a wake with a value, a cancel while parked,
// a cancel after the hand-off, a cancel pending before the await, a
// timeout, and a loop destroyed with the task parked or just woken.
#include <coroutine>
#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/run.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/timeout.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using namespace std::chrono_literals;

// ---- The example, as in the guide. ----

class Mailbox {
 public:
  class [[nodiscard]] Take : corio::internal::Suspension {
   public:
    explicit Take(Mailbox* m) noexcept : Suspension(&Take::detach), m_(m) {}
    ~Take() {
      abandon();                                // (6) destroyed while parked
      if (slot_) m_->mail_.push_front(*slot_);  // (6) handed over, not passed on
    }
    bool await_ready() {  // (2)
      if (m_->mail_.empty()) return false;
      slot_ = m_->mail_.front();
      m_->mail_.pop_front();
      return true;
    }
    bool await_suspend(std::coroutine_handle<> h) {
      if (m_->waiter_ != nullptr) throw corio::RuntimeError("Mailbox: one take() at a time");
      if (!suspend(h)) return false;  // (3) a cancel was pending
      m_->waiter_ = this;             // (3) link (cannot throw)
      return true;
    }
    int await_resume() {
      check_cancelled();  // (5) cancelled while parked
      return *std::exchange(slot_, std::nullopt);
    }

   private:
    friend class Mailbox;
    static void detach(Suspension* s) noexcept {  // (1)
      static_cast<Take*>(s)->m_->waiter_ = nullptr;
    }
    Mailbox* m_;
    std::optional<int> slot_;  // what the wake handed over
  };

  void put(int v) {
    if (Take* w = std::exchange(waiter_, nullptr)) {  // (4) unlink,
      w->slot_ = v;                                   //     hand over,
      w->wake();                                      //     wake
    } else {
      mail_.push_back(v);
    }
  }
  Take take() noexcept { return Take(this); }

  // For the tests.
  std::size_t size() const noexcept { return mail_.size(); }
  bool waiting() const noexcept { return waiter_ != nullptr; }
  int front() const { return mail_.front(); }

 private:
  std::deque<int> mail_;
  Take* waiter_ = nullptr;
};

static_assert(internal::kLoopAwaitable<Mailbox::Take>, "awaited directly, not through a foreign relay");

Task<int> take_one(Mailbox& mb) { co_return co_await mb.take(); }

// ---- The cases. ----

CO_TEST(SuspensionGuide, TakeWaitsForPut) {
  Mailbox mb;
  TaskHandle<int> taker = create_task(take_one(mb));
  co_await yield_now();
  EXPECT_TRUE(mb.waiting());
  mb.put(7);
  EXPECT_FALSE(mb.waiting());
  EXPECT_EQ(co_await taker, 7);
  EXPECT_EQ(mb.size(), 0u);
}

CO_TEST(SuspensionGuide, MailAlreadyThereIsTakenWithoutSuspending) {
  Mailbox mb;
  mb.put(1);
  mb.put(2);
  EXPECT_EQ(co_await mb.take(), 1);
  EXPECT_EQ(co_await mb.take(), 2);
  EXPECT_FALSE(mb.waiting());
}

CO_TEST(SuspensionGuide, ACancelWhileParkedTakesNothing) {
  Mailbox mb;
  TaskHandle<int> taker = create_task(take_one(mb));
  co_await yield_now();
  taker.cancel();
  EXPECT_FALSE(mb.waiting()) << "detach unlinked it at once";
  CO_ASSERT_THROW(co_await taker, CancelledError);
  mb.put(3);
  EXPECT_EQ(mb.size(), 1u) << "the next item stays for the next take()";
}

CO_TEST(SuspensionGuide, ACancelAfterTheHandOffKeepsTheValue) {
  Mailbox mb;
  std::optional<int> got;
  TaskHandle<void> taker = create_task([](Mailbox& mb, std::optional<int>& got) -> Task<> {
    got = co_await mb.take();
    co_await sleep(1h);  // the cancel is raised here, at the next suspension point
  }(mb, got));
  co_await yield_now();
  mb.put(4);       // woken with the value...
  taker.cancel();  // ...and cancelled before it ran
  CO_ASSERT_THROW(co_await taker, CancelledError);
  EXPECT_EQ(got, 4);
  EXPECT_EQ(mb.size(), 0u);
}

CO_TEST(SuspensionGuide, ACancelPendingBeforeTheAwaitIsRaisedWithoutParking) {
  Mailbox mb;
  current_task().cancel();
  CO_ASSERT_THROW(co_await mb.take(), CancelledError);
  EXPECT_FALSE(mb.waiting());
  EXPECT_EQ(current_task().uncancel(), 0u);
}

CO_TEST(SuspensionGuide, ATimeoutOverTakeLosesNothing) {
  Mailbox mb;
  CO_ASSERT_THROW(co_await timeout(10ms, take_one(mb)), TimeoutError);
  EXPECT_FALSE(mb.waiting());
  mb.put(5);
  EXPECT_EQ(co_await timeout(10ms, take_one(mb)), 5);
}

TEST(SuspensionGuide, ALoopDestroyedWithTheTaskParkedUnlinksIt) {
  Mailbox mb;
  {
    EventLoop loop(LoopOptions{.virtual_clock = true});
    TaskHandle<int> taker = create_task(loop, take_one(mb));
    loop.run_once();
    EXPECT_TRUE(mb.waiting());
  }
  EXPECT_FALSE(mb.waiting());
  mb.put(6);
  EXPECT_EQ(mb.size(), 1u);
}

TEST(SuspensionGuide, AFrameDestroyedAfterTheHandOffGivesTheValueBack) {
  Mailbox mb;
  {
    EventLoop loop(LoopOptions{.virtual_clock = true});
    TaskHandle<int> taker = create_task(loop, take_one(mb));
    loop.run_once();
    mb.put(8);  // woken, but the loop goes before the task runs again
  }
  ASSERT_EQ(mb.size(), 1u);
  EXPECT_EQ(mb.front(), 8);
}

}  // namespace
}  // namespace corio
