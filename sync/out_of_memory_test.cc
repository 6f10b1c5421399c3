// sync when memory runs out. Channel: a send or close from another thread
// that cannot post the loop's wake-up throws std::bad_alloc and changes
// nothing, and the channel keeps working once memory is back (it used to
// queue the item and remember a wake-up that was never posted, so parked
// receivers slept through every later send).
//
// This binary links //loop:failing_new, which replaces the global operator
// new with one that can be told to fail, which is why these tests live
// apart from channel_test.
#include <new>
#include <thread>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/loop/testing/co_test.h"
#include "corio/loop/testing/failing_new.h"
#include "corio/sync/channel.h"
#include "corio/sync/errors.h"
#include "corio/sync/testing/sync_testing.h"
#include "gtest/gtest.h"

namespace corio {
namespace {

using testing::NoMemory;
using testing::settle;

Task<> receive_into(Channel<int>& ch, std::vector<int>& got) { got.push_back(co_await ch.receive()); }

// Runs `f` on a new thread whose every allocation fails; true if it threw
// std::bad_alloc.
template <class F>
bool throws_bad_alloc_on_a_thread_without_memory(F f) {
  bool threw = false;
  std::thread([&] {
    NoMemory no_memory;
    try {
      f();
    } catch (const std::bad_alloc&) {
      threw = true;
    }
  }).join();
  return threw;
}

// Grows the channel's buffer, so that a later push needs no allocation.
Task<> warm_up(Channel<int>& ch) {
  ch.send_nowait(0);
  EXPECT_EQ(co_await ch.receive(), 0);
}

CO_TEST(ChannelOutOfMemory, SendFromAThreadThatCannotPostTheWakeUpChangesNothing) {
  Channel<int> ch(current_loop());
  co_await warm_up(ch);
  std::vector<int> got;
  auto r = create_task(receive_into(ch, got));
  co_await settle();  // parked
  EXPECT_TRUE(throws_bad_alloc_on_a_thread_without_memory([&] { ch.send_nowait(1); }));
  EXPECT_EQ(ch.size(), 0u);
  std::thread([&] { ch.send_nowait(2); }).join();
  co_await settle();
  EXPECT_TRUE(r.done());
  EXPECT_EQ(got, std::vector<int>{2});
}

CO_TEST(ChannelOutOfMemory, CloseFromAThreadThatCannotPostTheWakeUpChangesNothing) {
  Channel<int> ch(current_loop());
  std::vector<int> got;
  auto r = create_task(receive_into(ch, got));
  co_await settle();  // parked
  EXPECT_TRUE(throws_bad_alloc_on_a_thread_without_memory([&] { ch.close(); }));
  EXPECT_FALSE(ch.closed());
  std::thread([&] { ch.close(); }).join();
  co_await settle();
  EXPECT_TRUE(r.done());
  bool shut = false;
  try {
    co_await r;
  } catch (const QueueShutDown&) {
    shut = true;
  }
  EXPECT_TRUE(shut);
}

}  // namespace
}  // namespace corio
