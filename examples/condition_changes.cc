// condition_changes: a change stream built on corio::Condition
// (asyncio.Condition). A publisher appends changes; any number of
// observers iterate over them, each at its own pace, and each sees every
// change published while it is subscribed, none twice and none skipped.
//
// Run it:  bazel run //examples:condition_changes
//
// The pattern: shared state (a log of changes and a version counter)
// guarded by the condition's lock; the publisher changes it and calls
// notify_all(); each observer holds a cursor and waits with
//   co_await cond.wait_for([&] { return closed || cursor < version; });
// which releases the lock while waiting and re-acquires it before checking
// again. Because observers read from the log rather than from the wake-up
// itself, a slow observer that was busy during several publishes still
// catches up on all of them, and the log is trimmed once every subscriber
// has read past an entry. A Condition fits better than an Event here: the
// waiters wait for different things (their own cursor) over one piece of
// shared state.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "corio/loop/loop.h"
#include "corio/sync/condition.h"

using namespace std::chrono_literals;

namespace {

template <class T>
class ChangeStream {
 public:
  // One observer's position in the stream. Sees the changes published
  // after it was made. Not copyable or movable: the stream points to it.
  class Subscription {
   public:
    explicit Subscription(ChangeStream& s) : s_(&s), cursor_(s.version_) { s_->subs_.push_back(this); }
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() {
      std::erase(s_->subs_, this);
      s_->trim();
    }

    // The next change, waiting for it if need be; nullopt once the stream
    // is closed and everything published has been read.
    corio::Task<std::optional<T>> next() {
      auto guard = co_await s_->cond_.scoped();
      co_await s_->cond_.wait_for([this] { return s_->closed_ || cursor_ < s_->version_; });
      if (cursor_ == s_->version_) co_return std::nullopt;  // closed
      T change = s_->log_[cursor_ - s_->base_];
      ++cursor_;
      s_->trim();
      co_return change;
    }

   private:
    friend class ChangeStream;
    ChangeStream* s_;
    std::uint64_t cursor_;  // version of the next change to read
  };

  corio::Task<> publish(T change) {
    auto guard = co_await cond_.scoped();
    log_.push_back(std::move(change));
    ++version_;
    cond_.notify_all();
  }

  corio::Task<> close() {
    auto guard = co_await cond_.scoped();
    closed_ = true;
    cond_.notify_all();
  }

  std::size_t retained() const { return log_.size(); }

 private:
  // Drops the changes every subscriber has read.
  void trim() {
    std::uint64_t oldest = version_;
    for (Subscription* s : subs_) oldest = std::min(oldest, s->cursor_);
    while (base_ < oldest) {
      log_.pop_front();
      ++base_;
    }
  }

  corio::Condition cond_;
  std::deque<T> log_;          // changes base_ .. version_ - 1
  std::uint64_t base_ = 0;     // version of log_.front()
  std::uint64_t version_ = 0;  // changes published so far
  std::vector<Subscription*> subs_;
  bool closed_ = false;
};

using Stream = ChangeStream<std::string>;

// Reads until the stream closes (or `limit` changes), taking `pace` per change.
corio::Task<> observer(Stream& stream, std::string name, std::chrono::milliseconds start,
                       std::chrono::milliseconds pace, int limit) {
  co_await corio::sleep(start);
  Stream::Subscription sub(stream);
  std::printf("%-6s subscribed\n", name.c_str());
  int seen = 0;
  while (auto change = co_await sub.next()) {
    std::printf("%-6s saw %s\n", name.c_str(), change->c_str());
    co_await corio::sleep(pace);  // slow observers fall behind, then catch up
    if (++seen == limit) {
      std::printf("%-6s unsubscribes after %d changes\n", name.c_str(), seen);
      co_return;
    }
  }
  std::printf("%-6s stream closed after %d changes\n", name.c_str(), seen);
}

corio::Task<> main_task() {
  Stream stream;
  std::vector<corio::TaskHandle<>> observers;
  observers.push_back(corio::create_task(observer(stream, "fast", 0ms, 1ms, -1)));
  observers.push_back(corio::create_task(observer(stream, "slow", 0ms, 25ms, -1)));
  observers.push_back(corio::create_task(observer(stream, "late", 25ms, 1ms, -1)));
  observers.push_back(corio::create_task(observer(stream, "brief", 0ms, 1ms, 2)));
  co_await corio::sleep(1ms);  // let the first observers subscribe

  for (int v = 1; v <= 5; ++v) {
    std::printf("publish temperature=%d\n", 20 + v);
    co_await stream.publish("temperature=" + std::to_string(20 + v));
    co_await corio::sleep(10ms);
  }
  co_await stream.close();
  for (auto& o : observers) co_await o;
  std::printf("entries still retained: %zu\n", stream.retained());
}

}  // namespace

int main() { corio::run(main_task()); }
