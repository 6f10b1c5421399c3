#include "corio/loop/internal/ready_queue.h"

#include <new>

namespace corio::internal {

void ReadyQueue::grow(std::size_t at_least) {
  std::size_t cap = cap_ == 0 ? 1024 : cap_ * 2;
  while (cap < at_least) cap *= 2;
  auto next = std::make_unique<ReadyEntry[]>(cap);
  const std::size_t n = tail_ - head_;
  for (std::size_t i = 0; i < n; ++i) next[i] = buf_[(head_ + i) & mask_];
  buf_ = std::move(next);
  cap_ = cap;
  head_ = 0;
  tail_ = n;
  mask_ = cap - 1;
}

void ReadyQueue::grow_or_terminate() noexcept { grow(cap_ + 1); }

void ReadyQueue::shrink() noexcept {
  // Only called empty (settle), so nothing is copied and the positions
  // start over.
  std::size_t cap = 1024;
  while (cap < promised_ * 4) cap *= 2;
  ReadyEntry* next = new (std::nothrow) ReadyEntry[cap];
  if (next == nullptr) return;
  buf_.reset(next);
  cap_ = cap;
  mask_ = cap - 1;
  head_ = tail_ = 0;
}

}  // namespace corio::internal
