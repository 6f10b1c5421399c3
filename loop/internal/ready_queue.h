// ReadyQueue: the loop's FIFO of callbacks and task steps ready to run.
#ifndef CORIO_LOOP_INTERNAL_READY_QUEUE_H_
#define CORIO_LOOP_INTERNAL_READY_QUEUE_H_

#include <cassert>
#include <cstddef>
#include <memory>

namespace corio::internal {

// One entry: `fn(arg)` runs it.
struct ReadyEntry {
  void (*fn)(void*) noexcept;
  void* arg;
};

// Growable ring buffer: FIFO, amortised O(1), no allocation once warm.
//
// Room is promised before it is needed, so that the pushes that cannot fail
// (a task's wake-up, from a timer, a lock, an event, a finished task) never
// allocate: every live task holds one promised slot for its whole life (a
// task is queued at most once at a time), and every other entry holds one
// from the call that queued it until it runs. Hence
// size() <= promised() <= its capacity at all times.
//
// Thread safety: the loop's thread only.
class ReadyQueue {
 public:
  bool empty() const noexcept { return head_ == tail_; }
  std::size_t size() const noexcept { return tail_ - head_; }
  std::size_t promised() const noexcept { return promised_; }
  // Promises `n` more slots. Errors: std::bad_alloc (nothing changed).
  void promise(std::size_t n = 1) {
    make_room(n);
    promised_ += n;
  }
  // Makes room for `n` more promises without taking them. Errors:
  // std::bad_alloc (nothing changed).
  void make_room(std::size_t n = 1) {
    if (cap_ - promised_ < n) [[unlikely]]
      grow(promised_ + n);
  }
  // Gives back `n` promised slots (their entries ran, or will never queue).
  void release(std::size_t n = 1) noexcept { promised_ -= n; }
  // Appends for a holder whose slot was promised earlier (a task's wake-up).
  // Never allocates while the promises are kept; the check is a guard
  // against a broken count, not a code path.
  void push(ReadyEntry e) noexcept {
    if (tail_ - head_ == cap_) [[unlikely]]
      grow_or_terminate();
    push_promised(e);
  }
  // Appends right after promise() made the room.
  void push_promised(ReadyEntry e) noexcept {
    assert(tail_ - head_ < cap_ && "corio: ready queue entry without a promised slot");
    buf_[tail_++ & mask_] = e;
  }
  ReadyEntry pop() noexcept { return buf_[head_++ & mask_]; }
  // For the loop, when the queue has run empty: a buffer grown by a burst
  // to more than kKeepEntries and to over 8 times the slots now promised
  // is given back, down to 4 times them (at least the initial 1,024). If
  // that allocation fails, the old buffer is kept.
  void settle() noexcept {
    if (cap_ > kKeepEntries && promised_ < cap_ / 8) [[unlikely]]
      shrink();
  }
  std::size_t capacity() const noexcept { return cap_; }
  static constexpr std::size_t kKeepEntries = std::size_t{1} << 16;  // 1 MiB
  // Starts fetching the argument of the entry `ahead` places from the front
  // (callback states and tasks are scattered in memory; a long queue would
  // otherwise wait on a cache miss per entry).
  void prefetch(std::size_t ahead) const noexcept {
    if (ahead < size()) __builtin_prefetch(buf_[(head_ + ahead) & mask_].arg, 1);
  }

 private:
  void grow(std::size_t at_least);
  void grow_or_terminate() noexcept;  // out of memory here: std::terminate
  void shrink() noexcept;
  std::unique_ptr<ReadyEntry[]> buf_;
  std::size_t cap_ = 0;
  std::size_t promised_ = 0;
  std::size_t head_ = 0, tail_ = 0, mask_ = 0;
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_READY_QUEUE_H_
