#include "corio/loop/internal/frame_allocator.h"

namespace corio::internal {

FrameCache::~FrameCache() {
  for (std::size_t i = 0; i < kFrameClasses; ++i) {
    while (Block* b = heads[i]) {
      heads[i] = b->next;
      ::operator delete(b);
    }
  }
}

FrameCache& frame_cache() noexcept {
  static thread_local FrameCache cache;
  return cache;
}

}  // namespace corio::internal
