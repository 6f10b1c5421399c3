// Channel<T>: a thread-safe queue that lets other threads (workers, a
// blocking library's callbacks) hand items to the tasks of one loop.
//
//   corio::Channel<Result> results(loop, /*capacity=*/64);
//   std::thread worker([&] { results.send(compute()); results.close(); });
//   Result r = co_await results.receive();   // in a task on `loop`
//
// The sending side never touches the loop's internals: a sender pushes
// under the channel's mutex and, if a receiver is parked and no wake-up is
// already on its way, posts one with EventLoop::call_soon_threadsafe; on the
// loop thread that wake-up hands the queued items to the parked receivers
// in FIFO order. A send from the loop's own thread hands over directly.
#ifndef CORIO_SYNC_CHANNEL_H_
#define CORIO_SYNC_CHANNEL_H_

#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/loop_access.h"
#include "corio/loop/internal/task_base.h"
#include "corio/sync/errors.h"
#include "corio/sync/internal/ring_buffer.h"
#include "corio/sync/internal/waiter.h"

namespace corio {

template <class T>
class Channel;

namespace internal {

template <class T>
class ChannelReceive;

// The state shared by a Channel and the wake-ups it posts (which may run
// after the Channel is gone). `mu` guards everything below it.
template <class T>
struct ChannelState {
  explicit ChannelState(EventLoop* l, std::size_t cap) noexcept : loop(l), capacity(cap) {}

  bool full() const noexcept { return capacity != 0 && items.size() >= capacity; }

  // Loop thread, `mu` held: gives queued items to parked receivers, and
  // releases them all with QueueShutDown once closed and drained.
  void hand_out() noexcept;

  // Loop thread: the posted wake-up.
  void dispatch() noexcept {
    std::lock_guard<std::mutex> lock(mu);
    wake_posted = false;
    hand_out();
  }

  // Before a push or close, `mu` held: if receivers are parked and this is
  // not the loop's thread, posts the wake-up that will hand them what
  // changes (one at a time: later changes ride on the pending one).
  // Errors: std::bad_alloc, with nothing posted; the caller then changes
  // nothing either, so a failed send or close has no effect.
  void prepare_wake(const std::shared_ptr<ChannelState>& self) {
    if (receivers.empty() || wake_posted || EventLoop::current() == loop) return;
    loop->call_soon_threadsafe([s = self]() noexcept { s->dispatch(); });
    wake_posted = true;
  }
  // After a push or close, `mu` held: on the loop's thread, hands it out.
  void after_change() noexcept {
    if (!receivers.empty() && EventLoop::current() == loop) hand_out();
  }

  // Loop thread: puts back, at the front, an item a receive() took but never
  // passed to its caller (see sync/internal/waiter.h), even if that makes
  // the channel one over capacity for a while. If memory runs out, the item
  // is dropped and the loop's exception handler is told.
  void give_back(T&& item) noexcept {
    std::exception_ptr error;
    {
      std::lock_guard<std::mutex> lock(mu);
      try {
        items.push_front(std::move(item));
        hand_out();
        return;
      } catch (...) {
        error = std::current_exception();
      }
    }
    report_put_back_failure("corio: an item a Channel::receive() took and never returned could not be put back", error);
  }

  // A slot was freed: wakes a sender blocked in send(). `mu` held.
  void freed_slot() noexcept {
    if (blocked_senders > 0) not_full.notify_one();
  }

  EventLoop* const loop;
  const std::size_t capacity;
  std::mutex mu;
  std::condition_variable not_full;
  RingBuffer<T> items;
  IntrusiveList<WaitNode> receivers;
  std::size_t blocked_senders = 0;
  bool wake_posted = false;
  bool closed = false;
};

}  // namespace internal

// Channel<T>
//
// A FIFO of items from any thread to the tasks of one loop. capacity 0 (the
// default) is unbounded; otherwise send() blocks the sending thread while
// the channel is full, and send_nowait() throws QueueFull. close() ends the
// stream: sends fail with QueueShutDown, receivers drain what is left and
// then get QueueShutDown. Receivers are served in FIFO order.
// T must be nothrow move-constructible; move-only T is fine.
//
// Errors: send()/send_nowait() after close() throw QueueShutDown (also to a
//   sender blocked in send() when the channel closes); send_nowait() on a
//   full channel throws QueueFull; receive() and receive_nowait() throw
//   QueueShutDown once closed and empty, receive_nowait() QueueEmpty when
//   empty; a bounded send() on a thread running an event loop throws
//   RuntimeError (it could block that loop); awaiting receive() in a task of
//   another loop throws RuntimeError. Out of memory, a send or close from
//   another thread throws std::bad_alloc and has no effect (the wake-up it
//   would need could not be posted). send_nowait leaves its argument
//   untouched when it throws.
// Thread safety: send, send_nowait, close, receive_nowait, size and closed
//   may be called from any thread, concurrently. receive() must be awaited
//   by tasks of the channel's loop. The loop must outlive every send and
//   close; the Channel must outlive its callers and parked receivers.
// Cancellation: a receive() cancelled while parked takes no item (it stays
//   for the next receiver). Once a wake-up has handed a parked receiver its
//   item, receive() returns it even if the task was cancelled before
//   running; the CancelledError comes at its next suspension point. No item
//   is lost or received twice: a receive() abandoned before it returns (its
//   frame destroyed by the loop, or the g++ 12 order in README.md) puts its
//   item back at the front.
// Virtual clock: while a task is parked in receive() on an open channel,
//   the loop counts it as external work (ExternalWork, loop_handle.h): a
//   loop with LoopOptions::virtual_clock waits in real time for a sender
//   instead of jumping to its next timer, so `wait_for(ch.receive(), d)`
//   times out only after `d` has really passed with nothing sent.
template <class T>
class Channel {
  static_assert(std::is_nothrow_move_constructible_v<T>, "corio::Channel needs a nothrow move-constructible T");

 public:
  using value_type = T;

  // A channel whose items go to the tasks of `loop`.
  explicit Channel(EventLoop& loop, std::size_t capacity = 0)
      : s_(std::make_shared<internal::ChannelState<T>>(&loop, capacity)) {}
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Sends, blocking the calling thread while a bounded channel is full.
  // For threads that run no event loop (an unbounded send never blocks and
  // is allowed anywhere). Errors: see above.
  void send(T item) {
    std::unique_lock<std::mutex> lock(s_->mu);
    if (s_->capacity != 0) {
      if (EventLoop::current() != nullptr) {
        throw RuntimeError("corio: Channel::send() on a bounded channel could block an event loop; use send_nowait()");
      }
      while (!s_->closed && s_->full()) {
        ++s_->blocked_senders;
        s_->not_full.wait(lock);
        --s_->blocked_senders;
      }
    }
    if (s_->closed) throw QueueShutDown();
    s_->prepare_wake(s_);
    s_->items.push(std::move(item));
    s_->after_change();
  }

  // Sends without blocking. Errors: QueueFull, QueueShutDown.
  void send_nowait(T&& item) { send_nowait_impl(std::move(item)); }
  void send_nowait(const T& item) { send_nowait_impl(item); }

  // Closes the channel (idempotent).
  void close() {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->closed) return;
    s_->prepare_wake(s_);
    s_->closed = true;
    s_->not_full.notify_all();
    s_->after_change();
  }

  // Awaitable giving the next item, suspending while the channel is empty.
  internal::LazyAwaiter<internal::ChannelReceive<T>, internal::ChannelState<T>*> receive() noexcept {
    return internal::LazyAwaiter<internal::ChannelReceive<T>, internal::ChannelState<T>*>(s_.get());
  }

  // Takes an item without suspending. Errors: QueueEmpty, QueueShutDown.
  T receive_nowait() {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->items.empty()) {
      if (s_->closed) throw QueueShutDown();
      throw QueueEmpty();
    }
    T item = s_->items.pop();
    s_->freed_slot();
    return item;
  }

  // Items queued now (a snapshot when other threads send).
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(s_->mu);
    return s_->items.size();
  }
  bool closed() const {
    std::lock_guard<std::mutex> lock(s_->mu);
    return s_->closed;
  }
  // Threads blocked in send() now (for tests and diagnostics).
  std::size_t blocked_senders() const {
    std::lock_guard<std::mutex> lock(s_->mu);
    return s_->blocked_senders;
  }
  std::size_t capacity() const noexcept { return s_->capacity; }
  EventLoop& loop() const noexcept { return *s_->loop; }

 private:
  template <class U>
  void send_nowait_impl(U&& item) {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->closed) throw QueueShutDown();
    if (s_->full()) throw QueueFull();
    s_->prepare_wake(s_);
    s_->items.push(std::forward<U>(item));
    s_->after_change();
  }

  std::shared_ptr<internal::ChannelState<T>> s_;
};

namespace internal {

template <class T>
class [[nodiscard]] ChannelReceive final : public Waiter<ChannelReceive<T>> {
 public:
  explicit ChannelReceive(ChannelState<T>* s) noexcept : s_(s) {}
  // Puts back an item taken but never passed on (see waiter.h), and ends
  // the external work of a receiver destroyed while parked.
  [[gnu::always_inline]] ~ChannelReceive() {
    if (counted_) [[unlikely]]
      end_work();
    if (slot_) [[unlikely]]
      give_back();
  }

  // Takes an item at once only when no receiver is parked: items sent from
  // another thread wait in the queue for the loop to hand them to parked
  // receivers, which a newcomer must not overtake (FIFO).
  bool await_ready() {
    std::lock_guard<std::mutex> lock(s_->mu);
    return s_->receivers.empty() && try_take();
  }
  bool await_suspend(std::coroutine_handle<> h) {
    if (!this->begin_park(h)) return false;
    if (this->node().task()->loop() != s_->loop) {
      this->node().unpark();
      throw RuntimeError("corio: Channel::receive() awaited by a task of another event loop");
    }
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->receivers.empty() && try_take()) {  // another thread sent since await_ready
      this->node().unpark();
      return false;
    }
    this->link(s_->receivers, &s_->mu);
    // Parked on an open channel: another thread may send at any moment.
    LoopAccess::begin_external_work(*s_->loop);
    counted_ = true;
    return true;
  }
  T await_resume() {
    if (counted_) end_work();
    this->resume_handoff();
    if (!slot_) throw QueueShutDown();
    T out(std::move(*slot_));
    slot_.reset();
    return out;
  }

 private:
  friend struct ChannelState<T>;
  [[gnu::cold, gnu::noinline]] void give_back() noexcept { s_->give_back(std::move(*slot_)); }
  void end_work() noexcept {
    counted_ = false;
    LoopAccess::end_external_work(*s_->loop);
  }

  // `mu` held: takes an item, or sees the channel closed and drained.
  bool try_take() noexcept {
    if (!s_->items.empty()) {
      slot_.emplace(s_->items.pop());
      s_->freed_slot();
      return true;
    }
    return s_->closed;
  }

  ChannelState<T>* s_;
  std::optional<T> slot_;
  bool counted_ = false;  // holds one unit of the loop's external work
};

template <class T>
void ChannelState<T>::hand_out() noexcept {
  while (!receivers.empty() && !items.empty()) {
    WaitNode* r = receivers.pop_front();
    ChannelReceive<T>::awaiter_of(r)->slot_.emplace(items.pop());
    freed_slot();
    r->wake();
  }
  if (closed && items.empty()) {
    while (WaitNode* r = receivers.pop_front()) r->wake();
  }
}

}  // namespace internal

}  // namespace corio

#endif  // CORIO_SYNC_CHANNEL_H_
