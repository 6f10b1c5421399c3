// Broadcast<T>: one publisher, many subscribers; every subscriber receives
// every item published after it subscribed, in order (Tokio's broadcast
// channel).
//
//   corio::Broadcast<Event> events(/*capacity=*/64);
//   auto sub = events.subscribe();
//   events.publish(e);                         // never waits
//   try {
//     Event got = co_await sub.recv();
//   } catch (const corio::LaggedError& lag) {  // fell behind: lag.missed() lost
//     ...                                       // the next recv() goes on
//   }
//
// Bounded, never blocking the publisher. The broadcast keeps the last
// `capacity` items in a ring. A subscriber that falls more than `capacity`
// items behind has lost the oldest of those it had not received: its next
// recv() raises LaggedError saying how many it missed, and the recv() after
// that gives the oldest item still kept and goes on from there (Tokio's
// RecvError::Lagged). So memory is at most `capacity` items whatever the
// subscribers do, and a slow subscriber never slows the publisher or the
// other subscribers. An item is freed as soon as every subscriber that was
// there when it was published has received it (or skipped it, or left).
//
// Each subscriber gets a copy (T must be copyable); the last one to
// receive an item gets it moved.
//
// close() (also the destructor) ends the broadcast: subscribers receive
// what they have not received yet, then QueueShutDown.
#ifndef CORIO_STREAMS_BROADCAST_H_
#define CORIO_STREAMS_BROADCAST_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "corio/loop/task.h"
#include "corio/streams/errors.h"
#include "corio/streams/internal/wait_list.h"
#include "corio/sync/errors.h"

namespace corio {

template <class T>
class Broadcast;

namespace internal {

template <class T>
struct BroadcastState {
  explicit BroadcastState(std::size_t capacity) : ring(capacity) {}

  struct Slot {
    std::optional<T> value;
    std::size_t remaining = 0;  // subscribers yet to receive it
  };

  std::size_t capacity() const noexcept { return ring.size(); }
  // The sequence number of the oldest item kept.
  std::uint64_t oldest() const noexcept { return next_seq > capacity() ? next_seq - capacity() : 0; }
  Slot& slot(std::uint64_t seq) noexcept { return ring[seq % capacity()]; }
  // One subscriber is done with item `seq` (kept): frees it after the last.
  void release(std::uint64_t seq) noexcept {
    Slot& s = slot(seq);
    if (s.remaining > 0 && --s.remaining == 0) s.value.reset();
  }

  std::vector<Slot> ring;
  std::uint64_t next_seq = 0;  // of the next item published
  std::size_t subscribers = 0;
  WaitList waiters;
  bool closed = false;
};

}  // namespace internal

// BroadcastSubscriber<T>: one subscriber of a Broadcast<T>, made by
// Broadcast::subscribe(). Move-only; dropping it unsubscribes.
//
// Errors: recv()/try_recv() raise LaggedError after the subscriber fell
//   behind (see Broadcast), and QueueShutDown once the broadcast is closed
//   and everything published before was received; whatever T's copy
//   raises (the item is then still there for the next call).
// Thread safety: the loop's thread only.
// Cancellation: cancel safe. recv() takes an item only in the step in
//   which it returns it; one cancelled while waiting has taken nothing, and
//   the next recv() gives the item it would have got (unless the
//   subscriber has lagged meanwhile, which that recv() reports). Do not
//   move a subscriber while a recv() of it is pending.
template <class T>
class BroadcastSubscriber {
 public:
  BroadcastSubscriber(BroadcastSubscriber&& o) noexcept : s_(std::move(o.s_)), pos_(o.pos_) {}
  BroadcastSubscriber& operator=(BroadcastSubscriber&& o) noexcept {
    if (this != &o) {
      leave();
      s_ = std::move(o.s_);
      pos_ = o.pos_;
    }
    return *this;
  }
  BroadcastSubscriber(const BroadcastSubscriber&) = delete;
  BroadcastSubscriber& operator=(const BroadcastSubscriber&) = delete;
  ~BroadcastSubscriber() { leave(); }

  // The next item, waiting for one to be published.
  Task<T> recv() {
    internal::BroadcastState<T>* s = s_.get();
    for (;;) {
      if (std::optional<T> v = try_recv()) co_return std::move(*v);
      co_await s->waiters.wait();
    }
  }

  // The next item if one is there, else nullopt; never waits.
  std::optional<T> try_recv() {
    internal::BroadcastState<T>& s = *s_;
    const std::uint64_t oldest = s.oldest();
    if (pos_ < oldest) {
      const std::uint64_t missed = oldest - pos_;
      pos_ = oldest;
      throw LaggedError(missed);
    }
    if (pos_ == s.next_seq) {
      if (s.closed) throw QueueShutDown();
      return std::nullopt;
    }
    auto& slot = s.slot(pos_);
    std::optional<T> out;
    if (slot.remaining == 1) {
      out.emplace(std::move(*slot.value));
    } else {
      out.emplace(*slot.value);
    }
    s.release(pos_);
    ++pos_;
    return out;
  }

  // Items published since this subscriber's position (lagged ones
  // included), not yet received.
  std::uint64_t pending() const noexcept { return s_->next_seq - pos_; }

 private:
  friend class Broadcast<T>;
  BroadcastSubscriber(std::shared_ptr<internal::BroadcastState<T>> s) noexcept : s_(std::move(s)) {
    pos_ = s_->next_seq;
    ++s_->subscribers;
  }
  // Gives up this subscriber's claim on the items it has not received.
  void leave() noexcept {
    if (!s_) return;
    for (std::uint64_t seq = std::max(pos_, s_->oldest()); seq < s_->next_seq; ++seq) s_->release(seq);
    --s_->subscribers;
    s_.reset();
  }

  std::shared_ptr<internal::BroadcastState<T>> s_;
  std::uint64_t pos_ = 0;
};

// Broadcast<T>
//
// Errors: ValueError for a capacity of 0; publish() after close() throws
//   QueueShutDown; std::bad_alloc.
// Thread safety: the loop's thread only.
// Cancellation: publish() never waits; see BroadcastSubscriber for recv().
template <class T>
class Broadcast {
  static_assert(std::is_copy_constructible_v<T>, "corio::Broadcast<T> needs a copyable T");

 public:
  explicit Broadcast(std::size_t capacity) : s_(make_state(capacity)) {}
  Broadcast(const Broadcast&) = delete;
  Broadcast& operator=(const Broadcast&) = delete;
  // Closes it: subscribers drain what they have not received, then get
  // QueueShutDown.
  ~Broadcast() { close(); }

  // A subscriber that will receive every item published from now on.
  BroadcastSubscriber<T> subscribe() { return BroadcastSubscriber<T>(s_); }

  // Publishes `item` to the current subscribers and wakes those waiting;
  // returns how many will receive it. With no subscriber it is dropped.
  // Never waits: it overwrites the oldest item kept if the ring is full
  // (subscribers that had not received it will see LaggedError).
  std::size_t publish(T item) {
    internal::BroadcastState<T>& s = *s_;
    if (s.closed) throw QueueShutDown();
    if (s.subscribers == 0) return 0;
    auto& slot = s.slot(s.next_seq);
    slot.value.emplace(std::move(item));
    slot.remaining = s.subscribers;
    ++s.next_seq;
    s.waiters.wake_all();
    return s.subscribers;
  }

  // Ends the broadcast (idempotent).
  void close() noexcept {
    s_->closed = true;
    s_->waiters.wake_all();
  }
  bool is_closed() const noexcept { return s_->closed; }

  std::size_t subscriber_count() const noexcept { return s_->subscribers; }
  std::size_t capacity() const noexcept { return s_->capacity(); }
  // Items kept now (not yet received by every subscriber that is owed them).
  std::size_t retained() const noexcept {
    std::size_t n = 0;
    for (const auto& slot : s_->ring) n += slot.value.has_value() ? 1 : 0;
    return n;
  }

 private:
  static std::shared_ptr<internal::BroadcastState<T>> make_state(std::size_t capacity) {
    if (capacity == 0) throw ValueError("corio::Broadcast: capacity must be positive");
    return std::make_shared<internal::BroadcastState<T>>(capacity);
  }

  std::shared_ptr<internal::BroadcastState<T>> s_;
};

}  // namespace corio

#endif  // CORIO_STREAMS_BROADCAST_H_
