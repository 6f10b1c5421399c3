// An indexed 4-ary min-heap of timer nodes ordered by (deadline, sequence).
// Nodes live in their owners (a sleep awaiter's frame, a TimerHandle's
// state), so scheduling a sleep allocates nothing. Each node knows its heap
// slot, so cancelling removes it at once in O(log n) instead of leaving a
// tombstone behind: a million scheduled-then-cancelled timers leave nothing.
#ifndef CORIO_LOOP_INTERNAL_TIMER_HEAP_H_
#define CORIO_LOOP_INTERNAL_TIMER_HEAP_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace corio::internal {

// 24 bytes: kept small because a million pending timers means a million of
// these, and every heap move writes `index` back into one.
struct TimerNode {
  static constexpr std::uint32_t kNotQueued = 0xffffffffu;
  std::int64_t deadline = 0;         // loop clock, nanoseconds
  std::uint32_t index = kNotQueued;  // slot in the container named by `where`
  std::uint8_t where = 0;            // TimerQueue's bookkeeping (timer_queue.h)
  void (*fire)(TimerNode* self) noexcept = nullptr;
  bool queued() const noexcept { return index != kNotQueued; }
};

// A queued timer: its sort key (deadline, then FIFO sequence) and its node.
struct TimerEntry {
  std::int64_t deadline;
  std::uint64_t seq;
  TimerNode* node;
};
inline bool timer_before(const TimerEntry& a, const TimerEntry& b) noexcept {
  return a.deadline < b.deadline || (a.deadline == b.deadline && a.seq < b.seq);
}

class TimerHeap {
 public:
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  TimerNode* top() const noexcept { return heap_.empty() ? nullptr : heap_[0].node; }
  // The top's full key (deadline, sequence); the heap must not be empty.
  const TimerEntry& top_entry() const noexcept { return heap_[0]; }

  // FIFO among equal deadlines: the heap entry carries a sequence number.
  void push(TimerNode* n) { push(TimerEntry{n->deadline, next_seq_++, n}); }
  // Pushes with a sequence number chosen by the caller (TimerQueue).
  void push(const TimerEntry& e) {
    heap_.push_back(e);
    std::size_t i = heap_.size() - 1;
    e.node->index = static_cast<std::uint32_t>(i);
    sift_up(i);
  }

  // Makes room for `extra` more pushes that then cannot throw; grows the
  // capacity geometrically, so calling it before every batch stays O(1)
  // amortised.
  void reserve_more(std::size_t extra) {
    const std::size_t need = heap_.size() + extra;
    if (need > heap_.capacity()) heap_.reserve(std::max(need, 2 * heap_.capacity()));
  }

  void erase(TimerNode* n) noexcept {
    const std::size_t i = n->index;
    n->index = TimerNode::kNotQueued;
    const std::size_t last = heap_.size() - 1;
    if (i != last) {
      heap_[i] = heap_[last];
      heap_[i].node->index = static_cast<std::uint32_t>(i);
      heap_.pop_back();
      if (i > 0 && less(heap_[i], heap_[(i - 1) / kArity])) {
        sift_up(i);
      } else {
        sift_down(i);
      }
    } else {
      heap_.pop_back();
    }
  }

  TimerNode* pop() noexcept {
    TimerNode* n = heap_[0].node;
    erase(n);
    return n;
  }

 private:
  static constexpr std::size_t kArity = 4;
  using Entry = TimerEntry;
  static bool less(const Entry& a, const Entry& b) noexcept { return timer_before(a, b); }
  void sift_up(std::size_t i) noexcept {
    Entry e = heap_[i];
    while (i > 0) {
      std::size_t parent = (i - 1) / kArity;
      if (!less(e, heap_[parent])) break;
      heap_[i] = heap_[parent];
      heap_[i].node->index = static_cast<std::uint32_t>(i);
      i = parent;
    }
    heap_[i] = e;
    e.node->index = static_cast<std::uint32_t>(i);
  }
  void sift_down(std::size_t i) noexcept {
    const std::size_t n = heap_.size();
    Entry e = heap_[i];
    for (;;) {
      std::size_t first = i * kArity + 1;
      if (first >= n) break;
      std::size_t best = first;
      std::size_t end = first + kArity < n ? first + kArity : n;
      for (std::size_t c = first + 1; c < end; ++c) {
        if (less(heap_[c], heap_[best])) best = c;
      }
      if (!less(heap_[best], e)) break;
      heap_[i] = heap_[best];
      heap_[i].node->index = static_cast<std::uint32_t>(i);
      i = best;
    }
    heap_[i] = e;
    e.node->index = static_cast<std::uint32_t>(i);
  }

  std::vector<Entry> heap_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_TIMER_HEAP_H_
