// Recycling allocator for coroutine frames and callback nodes.
//
// Spawning a task or awaiting a child Task allocates a coroutine frame; the
// general-purpose allocator costs tens of nanoseconds there. Freed blocks go
// to a per-thread free list per 64-byte size class (up to 2 KiB), each list
// holding up to 256 KiB (4096 blocks of 64 bytes, 128 of 2 KiB), and the
// next allocation of that class takes one back: a handful of instructions,
// no lock. A block may be freed on another thread than it was allocated on;
// it then joins that thread's lists. Under AddressSanitizer the cache is off
// so that use-after-free of a frame is still caught.
#ifndef CORIO_LOOP_INTERNAL_FRAME_ALLOCATOR_H_
#define CORIO_LOOP_INTERNAL_FRAME_ALLOCATOR_H_

#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CORIO_FRAME_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CORIO_FRAME_CACHE 0
#endif
#endif
#ifndef CORIO_FRAME_CACHE
#define CORIO_FRAME_CACHE 1
#endif

namespace corio::internal {

inline constexpr std::size_t kFrameClassBytes = 64;
inline constexpr std::size_t kFrameClasses = 32;  // up to 2 KiB
inline constexpr std::size_t kFrameCacheBytesPerClass = 256 * 1024;

// Blocks kept per class: a byte budget, so that bursts of small blocks (a
// thousand call_soon callbacks, a gather of a thousand tasks) are recycled
// without keeping megabytes of large frames alive.
constexpr unsigned frame_cache_limit(std::size_t cls) {
  return static_cast<unsigned>(kFrameCacheBytesPerClass / ((cls + 1) * kFrameClassBytes));
}

struct FrameCache {
  struct Block {
    Block* next;
  };
  Block* heads[kFrameClasses] = {};
  unsigned counts[kFrameClasses] = {};
  ~FrameCache();
};

FrameCache& frame_cache() noexcept;

inline void* frame_allocate(std::size_t size) {
#if CORIO_FRAME_CACHE
  const std::size_t cls = (size - 1) / kFrameClassBytes;
  if (cls < kFrameClasses) {
    FrameCache& cache = frame_cache();
    if (FrameCache::Block* b = cache.heads[cls]) {
      cache.heads[cls] = b->next;
      --cache.counts[cls];
      return b;
    }
    return ::operator new((cls + 1) * kFrameClassBytes);
  }
#endif
  return ::operator new(size);
}

inline void frame_free(void* p, std::size_t size) noexcept {
#if CORIO_FRAME_CACHE
  const std::size_t cls = (size - 1) / kFrameClassBytes;
  if (cls < kFrameClasses) {
    FrameCache& cache = frame_cache();
    if (cache.counts[cls] < frame_cache_limit(cls)) {
      auto* b = static_cast<FrameCache::Block*>(p);
      b->next = cache.heads[cls];
      cache.heads[cls] = b;
      ++cache.counts[cls];
      return;
    }
    ::operator delete(p);
    return;
  }
#endif
  ::operator delete(p);  // unsized: clang needs -fsized-deallocation otherwise
}

// Mix-in giving a type (a promise, a callback node) the recycling allocator.
struct FrameAllocated {
  static void* operator new(std::size_t size) { return frame_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { frame_free(p, size); }
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_FRAME_ALLOCATOR_H_
