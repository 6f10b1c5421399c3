// Queue<T>, PriorityQueue<T>, LifoQueue<T>: asyncio's queues (with Python
// 3.13's shutdown) for the tasks of one loop.
//
//   corio::Queue<Job> jobs(16);            // at most 16 items; 0: unbounded
//   co_await jobs.put(job);                // suspends while full
//   Job j = co_await jobs.get();           // suspends while empty
//   jobs.task_done();  co_await jobs.join();
//
// See examples/producer_consumer.cc.
#ifndef CORIO_SYNC_QUEUE_H_
#define CORIO_SYNC_QUEUE_H_

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/foreign_awaiter.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/task_base.h"
#include "corio/sync/errors.h"
#include "corio/sync/internal/ring_buffer.h"
#include "corio/sync/internal/waiter.h"

namespace corio {

template <class T, class Store>
class BasicQueue;

namespace internal {

template <class T, class Store>
class QueuePut;
template <class T, class Store>
class QueueGet;
template <class T, class Store>
class QueueJoin;

// Storage orders. Each has size/empty/push/pop/unpop/clear; push after a
// pop never reallocates, so a refill after a pop cannot fail. unpop(v) puts
// back an item pop() gave, so that it comes out next again.
template <class T>
class FifoStore {
 public:
  std::size_t size() const noexcept { return buf_.size(); }
  bool empty() const noexcept { return buf_.empty(); }
  template <class U>
  void push(U&& v) {
    buf_.emplace_back(std::forward<U>(v));
  }
  T pop() noexcept { return buf_.pop(); }
  // Undoes a pop: `v` comes out next again.
  void unpop(T&& v) { buf_.push_front(std::move(v)); }
  void clear() noexcept { buf_.clear(); }

 private:
  RingBuffer<T> buf_;
};

template <class T>
class LifoStore {
 public:
  std::size_t size() const noexcept { return v_.size(); }
  bool empty() const noexcept { return v_.empty(); }
  template <class U>
  void push(U&& v) {
    v_.emplace_back(std::forward<U>(v));
  }
  T pop() noexcept {
    T out(std::move(v_.back()));
    v_.pop_back();
    return out;
  }
  void unpop(T&& v) { push(std::move(v)); }
  void clear() noexcept { v_.clear(); }

 private:
  std::vector<T> v_;
};

// A binary heap with the smallest element (by Compare) on top.
template <class T, class Compare>
class HeapStore {
 public:
  HeapStore() = default;
  explicit HeapStore(Compare comp) : comp_(std::move(comp)) {}
  std::size_t size() const noexcept { return v_.size(); }
  bool empty() const noexcept { return v_.empty(); }
  template <class U>
  void push(U&& v) {
    v_.emplace_back(std::forward<U>(v));
    std::push_heap(v_.begin(), v_.end(), Greater{&comp_});
  }
  T pop() {
    std::pop_heap(v_.begin(), v_.end(), Greater{&comp_});
    T out(std::move(v_.back()));
    v_.pop_back();
    return out;
  }
  void unpop(T&& v) { push(std::move(v)); }
  void clear() noexcept { v_.clear(); }

 private:
  struct Greater {
    Compare* comp;
    bool operator()(const T& a, const T& b) const { return (*comp)(b, a); }
  };
  std::vector<T> v_;
  Compare comp_;
};

}  // namespace internal

// BasicQueue<T, Store>: the queue behind Queue, PriorityQueue, LifoQueue
// (which differ only in the order items come out). Use those.
//
// put() suspends while the queue is full, get() while it is empty; both
// serve their waiters in FIFO order with direct hand-off: put() gives its
// item straight to the longest waiting get(), and get() from a full queue
// moves the longest waiting put()'s item in at once. maxsize 0 (the
// default) means unbounded, as in asyncio.
// task_done()/join(): each item put counts as unfinished until a consumer
// calls task_done() for it; join() waits until none is unfinished.
// shutdown(immediate) (Python 3.13): put() and put_nowait() raise
// QueueShutDown from then on, and so do get()/get_nowait() once the queue is
// empty; waiting putters and getters are woken with QueueShutDown. With
// `immediate`, the items still queued are dropped (counting as done for
// join(), which is released if nothing else is unfinished), so getters
// raise at once.
//
// T must be nothrow move-constructible (items move between waiters and
// storage at points where nobody could receive an exception); move-only T
// is fine.
//
// Errors: put_nowait() throws QueueFull when full, get_nowait() QueueEmpty
//   when empty; QueueShutDown as above; task_done() called more times than
//   items were put throws ValueError; awaiting throws RuntimeError outside a
//   task or when tasks of two loops wait in the same list.
// Thread safety: the tasks of one loop only (see channel.h for feeding a
//   loop from other threads). A queue must outlive the tasks waiting on it;
//   it is neither copyable nor movable.
// Cancellation: a get() cancelled while waiting takes no item: the next put
//   goes to the next getter or into the queue. A put() cancelled while
//   waiting adds nothing (its item is destroyed with the awaiter). Once a
//   put has handed a waiting getter its item, or a get has moved a waiting
//   putter's item in, that operation has completed even if its task is
//   cancelled before it runs: get() returns the item, put() returns, and
//   the CancelledError comes at the task's next suspension point. No item is
//   lost or delivered twice: a get() abandoned before it returns (its frame
//   destroyed by the loop, or the g++ 12 order in README.md) puts its item
//   back at the front. join() can be cancelled at any time with no effect
//   on the queue.
template <class T, class Store>
class BasicQueue {
  static_assert(std::is_nothrow_move_constructible_v<T>, "corio queues need a nothrow move-constructible T");

 public:
  using value_type = T;

  explicit BasicQueue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  BasicQueue(std::size_t maxsize, Store store) : items_(std::move(store)), maxsize_(maxsize) {}
  BasicQueue(const BasicQueue&) = delete;
  BasicQueue& operator=(const BasicQueue&) = delete;

  // Items in the queue.
  std::size_t qsize() const noexcept { return items_.size(); }
  std::size_t maxsize() const noexcept { return maxsize_; }
  bool empty() const noexcept { return items_.empty(); }
  // True if a put() would suspend (never for an unbounded queue).
  bool full() const noexcept { return maxsize_ != 0 && items_.size() >= maxsize_; }

  // Awaitable: puts `item`, suspending while the queue is full.
  // Errors: QueueShutDown (from co_await) if the queue is shut down.
  internal::LazyAwaiter<internal::QueuePut<T, Store>, BasicQueue*, T> put(T item) noexcept(
      std::is_nothrow_move_constructible_v<T>);
  // Awaitable giving the next item, suspending while the queue is empty.
  // Errors: QueueShutDown if the queue is shut down and empty.
  internal::LazyAwaiter<internal::QueueGet<T, Store>, BasicQueue*> get() noexcept;

  // Puts without suspending. `item` is left untouched when this throws.
  // Errors: QueueFull if full; QueueShutDown if shut down.
  void put_nowait(T&& item) { put_nowait_impl(std::move(item)); }
  void put_nowait(const T& item) { put_nowait_impl(item); }
  // Takes an item without suspending.
  // Errors: QueueEmpty if empty; QueueShutDown if shut down and empty.
  T get_nowait() {
    if (items_.empty()) {
      if (shutdown_) throw QueueShutDown();
      throw QueueEmpty();
    }
    return take();
  }

  // Marks one item taken by get() as processed.
  // Errors: ValueError if called more times than items were put.
  void task_done() {
    if (unfinished_ == 0) throw ValueError("corio: Queue::task_done() called too many times");
    if (--unfinished_ == 0) wake_joiners();
  }
  // Awaitable: returns once every item put has been marked task_done().
  internal::LazyAwaiter<internal::QueueJoin<T, Store>, BasicQueue*> join() noexcept;
  // Items put and not yet marked task_done().
  std::size_t unfinished_tasks() const noexcept { return unfinished_; }

  // Shuts the queue down (Python 3.13 Queue.shutdown); see above.
  void shutdown(bool immediate = false) noexcept {
    shutdown_ = true;
    if (immediate) {
      const std::size_t n = items_.size();
      items_.clear();
      unfinished_ -= std::min(n, unfinished_);
      if (unfinished_ == 0) wake_joiners();
    }
    // Getters wait only on an empty queue: their slots stay empty.
    while (internal::WaitNode* g = getters_.pop_front()) g->wake();
    while (internal::WaitNode* p = putters_.pop_front()) {
      internal::QueuePut<T, Store>::awaiter_of(p)->shut_ = true;
      p->wake();
    }
  }
  bool is_shutdown() const noexcept { return shutdown_; }

  // Tasks waiting in get() / put() (for tests and diagnostics).
  std::size_t getters() const noexcept { return getters_.size(); }
  std::size_t putters() const noexcept { return putters_.size(); }

 private:
  friend class internal::QueuePut<T, Store>;
  friend class internal::QueueGet<T, Store>;
  friend class internal::QueueJoin<T, Store>;

  template <class U>
  void put_nowait_impl(U&& item) {
    if (shutdown_) throw QueueShutDown();
    if (getters_.empty() && full()) throw QueueFull();
    add(std::forward<U>(item));
  }

  // Adds an item when there is room: to the longest waiting getter if any
  // (the queue is then empty), else to the storage.
  template <class U>
  void add(U&& item) {
    if (!getters_.empty()) {
      internal::WaitNode* g = getters_.front();
      internal::QueueGet<T, Store>::awaiter_of(g)->slot_.emplace(std::forward<U>(item));
      getters_.pop_front();
      ++unfinished_;
      g->wake();
      return;
    }
    items_.push(std::forward<U>(item));
    ++unfinished_;
  }

  // Removes the next item; the longest waiting putter's item takes its
  // place (a putter waits only while the queue is full).
  T take() {
    T item = items_.pop();
    if (!putters_.empty()) {
      internal::WaitNode* p = putters_.front();
      items_.push(std::move(internal::QueuePut<T, Store>::awaiter_of(p)->item_));  // a slot was freed: no allocation
      putters_.pop_front();
      ++unfinished_;
      p->wake();
    }
    return item;
  }

  // Puts back an item a get() took but never passed to its caller (see
  // sync/internal/waiter.h): to the longest waiting getter if any, else to
  // the front of the storage, even if that makes the queue one over maxsize
  // for a while. It still counts as unfinished. If that fails (no memory,
  // or PriorityQueue's Compare throws), the item may be lost, and the
  // loop's exception handler is told.
  void give_back(T&& item) noexcept {
    if (internal::WaitNode* g = getters_.pop_front()) {
      internal::QueueGet<T, Store>::awaiter_of(g)->slot_.emplace(std::move(item));
      g->wake();
      return;
    }
    try {
      items_.unpop(std::move(item));
    } catch (...) {
      internal::report_put_back_failure("corio: an item a Queue::get() took and never returned could not be put back",
                                        std::current_exception());
    }
  }

  // Whether a task waits in any of the lists, which share `loop_`.
  bool anyone_waiting() const noexcept { return !getters_.empty() || !putters_.empty() || !joiners_.empty(); }

  void wake_joiners() noexcept {
    while (internal::WaitNode* j = joiners_.pop_front()) j->wake();
  }

  Store items_;
  // Invariants: getters_ non-empty only while items_ is empty; putters_
  // non-empty only while full().
  internal::IntrusiveList<internal::WaitNode> getters_;
  internal::IntrusiveList<internal::WaitNode> putters_;
  internal::IntrusiveList<internal::WaitNode> joiners_;
  EventLoop* loop_ = nullptr;
  std::size_t maxsize_;
  std::size_t unfinished_ = 0;
  bool shutdown_ = false;
};

// Queue: first in, first out (asyncio.Queue).
template <class T>
class Queue : public BasicQueue<T, internal::FifoStore<T>> {
 public:
  explicit Queue(std::size_t maxsize = 0) : BasicQueue<T, internal::FifoStore<T>>(maxsize) {}
};

// LifoQueue: last in, first out (asyncio.LifoQueue).
template <class T>
class LifoQueue : public BasicQueue<T, internal::LifoStore<T>> {
 public:
  explicit LifoQueue(std::size_t maxsize = 0) : BasicQueue<T, internal::LifoStore<T>>(maxsize) {}
};

// PriorityQueue: smallest item first by `Compare` (asyncio.PriorityQueue,
// which uses heapq; items that compare equal come out in no set order).
// Errors: in addition, whatever Compare throws (leaving the order undefined).
template <class T, class Compare = std::less<T>>
class PriorityQueue : public BasicQueue<T, internal::HeapStore<T, Compare>> {
 public:
  explicit PriorityQueue(std::size_t maxsize = 0, Compare comp = Compare())
      : BasicQueue<T, internal::HeapStore<T, Compare>>(maxsize, internal::HeapStore<T, Compare>(std::move(comp))) {}
};

namespace internal {

template <class T, class Store>
class [[nodiscard]] QueuePut final : public Waiter<QueuePut<T, Store>> {
 public:
  QueuePut(BasicQueue<T, Store>* q, T&& item) noexcept : q_(q), item_(std::move(item)) {}

  // Forced inline (here and in QueueGet): g++ leaves it out of line, and a
  // put or get that need not wait would pay a call.
  [[gnu::always_inline]] bool await_ready() {
    if (q_->shutdown_) throw QueueShutDown();
    if (!q_->getters_.empty() || !q_->full()) {
      q_->add(std::move(item_));
      return true;
    }
    return false;
  }
  bool await_suspend(std::coroutine_handle<> h) { return this->park(h, q_->putters_, q_->loop_, q_->anyone_waiting()); }
  void await_resume() const {
    this->resume_handoff();
    if (shut_) throw QueueShutDown();
  }

 private:
  friend class corio::BasicQueue<T, Store>;
  BasicQueue<T, Store>* q_;
  T item_;
  bool shut_ = false;
};

template <class T, class Store>
class [[nodiscard]] QueueGet final : public Waiter<QueueGet<T, Store>> {
 public:
  explicit QueueGet(BasicQueue<T, Store>* q) noexcept : q_(q) {}
  // Puts back an item taken but never passed on (see waiter.h).
  [[gnu::always_inline]] ~QueueGet() {
    if (slot_) [[unlikely]]
      give_back();
  }

  [[gnu::always_inline]] bool await_ready() {
    if (!q_->items_.empty()) {
      slot_.emplace(q_->take());
      return true;
    }
    if (q_->shutdown_) throw QueueShutDown();
    return false;
  }
  bool await_suspend(std::coroutine_handle<> h) { return this->park(h, q_->getters_, q_->loop_, q_->anyone_waiting()); }
  T await_resume() {
    this->resume_handoff();
    if (!slot_) throw QueueShutDown();
    T out(std::move(*slot_));
    slot_.reset();
    return out;
  }

 private:
  friend class corio::BasicQueue<T, Store>;
  [[gnu::cold, gnu::noinline]] void give_back() noexcept { q_->give_back(std::move(*slot_)); }

  BasicQueue<T, Store>* q_;
  std::optional<T> slot_;
};

template <class T, class Store>
class [[nodiscard]] QueueJoin final : public Waiter<QueueJoin<T, Store>> {
 public:
  explicit QueueJoin(BasicQueue<T, Store>* q) noexcept : q_(q) {}
  bool await_ready() const noexcept { return q_->unfinished_ == 0; }
  bool await_suspend(std::coroutine_handle<> h) { return this->park(h, q_->joiners_, q_->loop_, q_->anyone_waiting()); }
  // Nothing to lose: a cancel that came after the wake is delivered now.
  void await_resume() const { this->resume_nothing_to_lose(); }

 private:
  BasicQueue<T, Store>* q_;
};

}  // namespace internal

template <class T, class Store>
internal::LazyAwaiter<internal::QueuePut<T, Store>, BasicQueue<T, Store>*, T> BasicQueue<T, Store>::put(
    T item) noexcept(std::is_nothrow_move_constructible_v<T>) {
  return internal::LazyAwaiter<internal::QueuePut<T, Store>, BasicQueue*, T>(this, std::move(item));
}
template <class T, class Store>
internal::LazyAwaiter<internal::QueueGet<T, Store>, BasicQueue<T, Store>*> BasicQueue<T, Store>::get() noexcept {
  return internal::LazyAwaiter<internal::QueueGet<T, Store>, BasicQueue*>(this);
}
template <class T, class Store>
internal::LazyAwaiter<internal::QueueJoin<T, Store>, BasicQueue<T, Store>*> BasicQueue<T, Store>::join() noexcept {
  return internal::LazyAwaiter<internal::QueueJoin<T, Store>, BasicQueue*>(this);
}

}  // namespace corio

#endif  // CORIO_SYNC_QUEUE_H_
