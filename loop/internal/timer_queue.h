// The loop's timer queue: timers come out in (deadline, push order) order,
// and any queued timer can be removed at once, leaving nothing behind for
// long.
//
// Three containers, one per access pattern:
//  * `incoming_`: an unsorted append buffer. push() is an append; removing
//    from it swaps the last entry into the hole.
//  * `heap_`: the indexed 4-ary heap (timer_heap.h), for timers that arrive
//    a few at a time: when the queue is next asked for its earliest timer,
//    a small incoming buffer is pushed into the heap.
//  * `batch_`: a sorted run, for timers that arrive in bulk (a thousand
//    sleeps started in one step, a million call_later). A large incoming
//    buffer is sorted once and merged into the run, which is then consumed
//    from the front with sequential reads and prefetching instead of a heap
//    pop per timer, each a chain of cache misses once the heap outgrows the
//    cache. Removing from the run leaves a tombstone; the run is compacted
//    when tombstones outnumber live entries.
// The earliest timer is the smaller of the heap's top and the run's head.
// Every timer carries one sequence number from push(), so order among equal
// deadlines is push order across all three containers.
//
// Not thread-safe: the loop's own thread only.
#ifndef CORIO_LOOP_INTERNAL_TIMER_QUEUE_H_
#define CORIO_LOOP_INTERNAL_TIMER_QUEUE_H_

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "corio/loop/internal/timer_heap.h"

namespace corio::internal {

class TimerQueue {
 public:
  // Incoming buffers smaller than this go into the heap; larger ones are
  // sorted into the run (also unless they are under a quarter of the live
  // run, which keeps merging amortised O(1) per timer).
  static constexpr std::size_t kBatchMin = 2048;

  TimerQueue() = default;
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  // Queues `n`, whose deadline is set. O(1) amortised. Errors: bad_alloc,
  // and then the queue is unchanged and `n` not queued.
  void push(TimerNode* n) {
    incoming_.push_back(TimerEntry{n->deadline, next_seq_, n});
    ++next_seq_;
    n->where = kIncoming;
    n->index = static_cast<std::uint32_t>(incoming_.size() - 1);
    ++size_;
  }

  // Removes a queued node. O(1), or O(log n) when it sits in the heap.
  void erase(TimerNode* n) noexcept {
    const std::uint32_t i = n->index;
    switch (n->where) {
      case kHeap:
        heap_.erase(n);
        break;
      case kIncoming:
        // A tombstone, not a swap with the last entry: the buffer stays in
        // push order, which the radix sort's stability relies on. Squeezed
        // out when they are half the buffer, so that timers scheduled and
        // cancelled without the loop turning do not pile up.
        n->index = TimerNode::kNotQueued;
        if (i + 1 == incoming_.size()) {
          incoming_.pop_back();
        } else {
          incoming_[i].node = nullptr;
          if (++incoming_dead_ >= kCompactMin && incoming_dead_ * 2 >= incoming_.size()) compact_incoming();
        }
        break;
      default:
        batch_[i].node = nullptr;
        n->index = TimerNode::kNotQueued;
        --batch_live_;
        if (i == head_) skip_tombstones();
        maybe_compact();
        break;
    }
    --size_;
  }

  // The earliest timer, or nullptr.
  TimerNode* top() {
    absorb_incoming();
    const TimerEntry* e = earliest();
    return e != nullptr ? e->node : nullptr;
  }

  // Removes and returns the earliest timer if its deadline is at or before
  // `now`; otherwise nullptr.
  TimerNode* pop_if_due(std::int64_t now) {
    absorb_incoming();
    const TimerEntry* e = earliest();
    if (e == nullptr || e->deadline > now) return nullptr;
    return take(e);
  }

  // Bytes held by the queue's buffers (for tests: bursts are given back).
  std::size_t reserved_bytes() const noexcept {
    return (incoming_.capacity() + batch_.capacity() + merged_.capacity()) * sizeof(TimerEntry) +
           counts_.capacity() * sizeof(std::uint32_t);
  }

  // Removes and returns the earliest timer; the queue must not be empty.
  TimerNode* pop() {
    absorb_incoming();
    return take(earliest());
  }

 private:
  static constexpr std::uint8_t kHeap = 0;
  static constexpr std::uint8_t kIncoming = 1;
  static constexpr std::uint8_t kBatch = 2;
  static constexpr std::size_t kPrefetchAhead = 8;
  static constexpr std::size_t kCompactMin = 1024;
  // Buffers above this many entries are freed when they empty, so a burst
  // of a million timers does not pin tens of megabytes forever.
  static constexpr std::size_t kKeepCapacity = 1 << 16;

  const TimerEntry* earliest() const noexcept {
    const TimerEntry* best = heap_.empty() ? nullptr : &heap_.top_entry();
    if (batch_live_ > 0) {
      const TimerEntry* b = &batch_[head_];
      if (best == nullptr || timer_before(*b, *best)) best = b;
    }
    return best;
  }

  TimerNode* take(const TimerEntry* e) noexcept {
    TimerNode* n = e->node;
    --size_;
    if (n->where == kHeap) {
      heap_.erase(n);
      return n;
    }
    n->index = TimerNode::kNotQueued;
    batch_[head_].node = nullptr;
    --batch_live_;
    skip_tombstones();
    if (batch_live_ > 0 && head_ + kPrefetchAhead < batch_.size()) {
      if (TimerNode* ahead = batch_[head_ + kPrefetchAhead].node) __builtin_prefetch(ahead, 1);
    }
    return n;
  }

  void skip_tombstones() noexcept {
    if (batch_live_ == 0) {
      reset_batch();
      return;
    }
    while (batch_[head_].node == nullptr) ++head_;
  }

  void reset_batch() noexcept {
    head_ = 0;
    batch_.clear();
    if (batch_.capacity() > kKeepCapacity) std::vector<TimerEntry>().swap(batch_);
  }

  void compact_incoming() noexcept {
    std::size_t out = 0;
    for (const TimerEntry& e : incoming_) {
      if (e.node == nullptr) continue;
      e.node->index = static_cast<std::uint32_t>(out);
      incoming_[out++] = e;
    }
    incoming_.resize(out);
    incoming_dead_ = 0;
  }

  // Tombstones outnumbering live entries: squeeze them out (each live
  // entry moves once per doubling of the tombstones: amortised O(1) per
  // removal). Consumed slots before head_ are not counted: popping never
  // moves entries (that would cost a write to every remaining timer), and
  // they go with the run when it empties or is merged.
  void maybe_compact() noexcept {
    if (batch_live_ == 0) return;
    const std::size_t dead = batch_.size() - head_ - batch_live_;
    if (dead <= batch_live_ + kBatchMin) return;
    std::size_t out = 0;
    for (std::size_t i = head_; i < batch_.size(); ++i) {
      if (TimerNode* n = batch_[i].node) {
        batch_[out] = batch_[i];
        n->index = static_cast<std::uint32_t>(out++);
      }
    }
    batch_.resize(out);
    head_ = 0;
  }

  // Errors: bad_alloc, and then nothing has changed: all the memory it
  // needs is reserved before the first entry moves.
  void absorb_incoming() {
    if (incoming_.empty()) return;
    const std::size_t m = incoming_.size();
    if (m < kBatchMin || m * 4 < batch_live_) {
      heap_.reserve_more(m);
      for (const TimerEntry& e : incoming_) {
        if (e.node == nullptr) continue;
        e.node->where = kHeap;
        heap_.push(e);
      }
    } else {
      // The sort swaps incoming_ and merged_ once a pass, so either may end
      // up as the merge's output.
      merged_.reserve(batch_live_ + m);
      if (batch_live_ > 0) incoming_.reserve(batch_live_ + m);
      counts_.reserve(kMaxRadixPasses << kRadixBits);
      sort_incoming();
      if (batch_live_ == 0) {
        reset_batch();
        batch_.swap(incoming_);
      } else {
        merged_.clear();
        std::size_t i = head_;
        for (const TimerEntry& e : incoming_) {
          for (; i < batch_.size() && !timer_before(e, batch_[i]); ++i) {
            if (batch_[i].node != nullptr) merged_.push_back(batch_[i]);
          }
          merged_.push_back(e);
        }
        for (; i < batch_.size(); ++i) {
          if (batch_[i].node != nullptr) merged_.push_back(batch_[i]);
        }
        batch_.swap(merged_);
        merged_.clear();
      }
      head_ = 0;
      batch_live_ = batch_.size();
      const std::size_t n = batch_.size();
      for (std::size_t i = 0; i < n; ++i) {
        if (i + kPrefetchAhead < n) __builtin_prefetch(batch_[i + kPrefetchAhead].node, 1);
        TimerNode* node = batch_[i].node;
        node->where = kBatch;
        node->index = static_cast<std::uint32_t>(i);
      }
    }
    incoming_.clear();
    incoming_dead_ = 0;
    if (incoming_.capacity() > kKeepCapacity) std::vector<TimerEntry>().swap(incoming_);
    if (merged_.capacity() > kKeepCapacity) std::vector<TimerEntry>().swap(merged_);
  }

  // Sorts incoming_ by (deadline, seq), dropping tombstones. The buffer is
  // in push (seq) order, so a stable sort on the deadline alone is enough:
  // an LSD radix sort on deadline - min, 11 bits a pass, only as many passes
  // as the deadlines' span needs (two for timers spread over a millisecond).
  void sort_incoming() {
    std::size_t m = 0;
    std::int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (const TimerEntry& e : incoming_) {
      if (e.node == nullptr) continue;
      lo = std::min(lo, e.deadline);
      hi = std::max(hi, e.deadline);
      incoming_[m++] = e;
    }
    incoming_.resize(m);
    if (m < 2) return;
    const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
    const unsigned passes = (static_cast<unsigned>(std::bit_width(span)) + kRadixBits - 1) / kRadixBits;
    if (passes == 0) return;
    counts_.assign(static_cast<std::size_t>(passes) << kRadixBits, 0);
    for (const TimerEntry& e : incoming_) {
      const std::uint64_t k = static_cast<std::uint64_t>(e.deadline) - static_cast<std::uint64_t>(lo);
      for (unsigned p = 0; p < passes; ++p) ++counts_[(p << kRadixBits) + ((k >> (p * kRadixBits)) & kRadixMask)];
    }
    merged_.resize(m);
    for (unsigned p = 0; p < passes; ++p) {
      std::uint32_t* c = &counts_[static_cast<std::size_t>(p) << kRadixBits];
      const std::uint64_t first =
          ((static_cast<std::uint64_t>(incoming_[0].deadline) - static_cast<std::uint64_t>(lo)) >> (p * kRadixBits)) &
          kRadixMask;
      if (c[first] == m) continue;  // every key has the same digit here
      std::uint32_t sum = 0;
      for (std::size_t d = 0; d <= kRadixMask; ++d) sum += std::exchange(c[d], sum);
      for (const TimerEntry& e : incoming_) {
        const std::uint64_t k = static_cast<std::uint64_t>(e.deadline) - static_cast<std::uint64_t>(lo);
        merged_[c[(k >> (p * kRadixBits)) & kRadixMask]++] = e;
      }
      incoming_.swap(merged_);
    }
  }
  static constexpr unsigned kRadixBits = 11;
  static constexpr std::size_t kMaxRadixPasses = (64 + kRadixBits - 1) / kRadixBits;
  static constexpr std::uint64_t kRadixMask = (1u << kRadixBits) - 1;

  TimerHeap heap_;
  std::vector<TimerEntry> incoming_;
  std::vector<TimerEntry> batch_;
  std::vector<TimerEntry> merged_;     // scratch for merges and the radix sort
  std::vector<std::uint32_t> counts_;  // radix histograms
  std::size_t incoming_dead_ = 0;      // tombstones in incoming_
  std::size_t head_ = 0;               // first live entry of batch_
  std::size_t batch_live_ = 0;
  std::size_t size_ = 0;
  std::uint64_t next_seq_ = 0;
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_TIMER_QUEUE_H_
