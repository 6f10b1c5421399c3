// Recycling allocator for coroutine frames and callback nodes.
//
// Spawning a task or awaiting a child Task allocates a coroutine frame; the
// general-purpose allocator costs tens of nanoseconds there. Two tiers:
//  * A per-thread free list per 64-byte size class (up to 2 KiB), each list
//    holding up to 256 KiB (4096 blocks of 64 bytes, 128 of 2 KiB): the
//    next allocation of that class takes one back in a handful of
//    instructions, no lock, no call.
//  * Behind it, for blocks up to 256 bytes (tasks, callbacks, timers), per-
//    thread 64 KiB slabs with a free bitmap (frame_allocator.cc). A slab
//    hands out its lowest free block first, so a burst of a million timers
//    gets memory in address order (prefetch-friendly) even after the
//    previous burst was freed in random order. A slab whose blocks are
//    all free is kept as a spare, for any class, up to kSpareSlabs per
//    thread (1 MiB), and past that goes back to the system: memory given
//    back after every burst had to be faulted in again by the next one.
// A burst that overflows a free list leaves it holding blocks scattered over
// the burst's slabs, so the event loop empties the lists after one
// (frame_cache_settle).
// A block may be freed on any thread: into that thread's free list, or,
// past it, back to its slab (another thread's slab through a lock-free
// list its owner collects; a slab whose thread has exited is reclaimed by
// whoever frees its last block). Under AddressSanitizer both tiers are off
// so that use-after-free of a frame is still caught; under ThreadSanitizer
// the free lists are off and the slabs on, so their cross-thread protocol
// is checked.
#ifndef CORIO_LOOP_INTERNAL_FRAME_ALLOCATOR_H_
#define CORIO_LOOP_INTERNAL_FRAME_ALLOCATOR_H_

#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define CORIO_FRAME_CACHE 0
#define CORIO_FRAME_SLAB 0
#elif defined(__SANITIZE_THREAD__)
#define CORIO_FRAME_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORIO_FRAME_CACHE 0
#define CORIO_FRAME_SLAB 0
#elif __has_feature(thread_sanitizer)
#define CORIO_FRAME_CACHE 0
#endif
#endif
#ifndef CORIO_FRAME_CACHE
#define CORIO_FRAME_CACHE 1
#endif
#ifndef CORIO_FRAME_SLAB
#define CORIO_FRAME_SLAB 1
#endif

namespace corio::internal {

inline constexpr std::size_t kFrameClassBytes = 64;
inline constexpr std::size_t kFrameClasses = 32;  // up to 2 KiB
inline constexpr std::size_t kFrameCacheBytesPerClass = 256 * 1024;
inline constexpr std::size_t kSlabClasses = 4;  // blocks up to 256 bytes
inline constexpr std::size_t kSpareSlabs = 16;  // empty 64 KiB slabs a thread keeps

// Blocks kept per class: a byte budget, so that bursts of small blocks (a
// thousand call_soon callbacks, a gather of a thousand tasks) are recycled
// without keeping megabytes of large frames alive.
constexpr unsigned frame_cache_limit(std::size_t cls) {
  return static_cast<unsigned>(kFrameCacheBytesPerClass / ((cls + 1) * kFrameClassBytes));
}

// Per-thread free lists. Constant-initialised and trivially destructible,
// so the hot path reaches it with one thread-pointer-relative access (no
// function call, no initialisation guard); the blocks are given back at
// thread exit by a separate reaper (frame_allocator.cc). Each cached block
// records the length of the list from itself down, so a pop is all an
// allocation does, and a free compares the head's length with the class's
// constant bound. A list ends not in null but in one of two shared blocks
// that point to themselves: kListEnd, of length 0, or, until the thread's
// first free opens its cache and again once the thread exits, kClosedEnd,
// whose length is past every bound. So a free tests one bound and nothing
// else, and an allocation one link.
struct FrameCache {
  struct Block {
    Block* next;
    unsigned depth;  // blocks from this one to the end of the list
  };
  enum State : unsigned char { kUnused, kOpen, kClosed };
  Block* heads[kFrameClasses];
  State state;
  // A free found its list full since the last trim: a burst, after which
  // the lists hold blocks scattered over the burst's memory (see
  // frame_cache_settle).
  bool overflowed;
};
inline constinit FrameCache::Block kListEnd{&kListEnd, 0};
inline constinit FrameCache::Block kClosedEnd{&kClosedEnd, 1u << 30};
constexpr FrameCache closed_frame_cache() {
  FrameCache cache{};
  for (FrameCache::Block*& head : cache.heads) head = &kClosedEnd;
  cache.state = FrameCache::kUnused;
  return cache;
}
inline constinit thread_local FrameCache tls_frame_cache = closed_frame_cache();

// A free that found its list full or closed: opens the cache on the
// thread's first free, else hands the block to the tier behind. Not marked
// cold: a burst past the free lists takes it for every frame.
[[gnu::noinline]] void frame_free_uncached(void* p, std::size_t cls) noexcept;
// An allocation that found its free list empty: frame_allocate_slow, out of
// line, so that the inlined allocation is a pop and one call. That keeps a
// small coroutine's ramp (allocation, frame set-up, Task) within g++'s
// budget for inlining it into the caller.
[[gnu::noinline]] void* frame_allocate_miss(std::size_t cls);

// Gives every block in this thread's free lists back to the tier behind.
void frame_cache_trim() noexcept;

// For a point where a burst is over (the event loop calls it after each
// iteration that ran callbacks): if a free overflowed a list since the last
// call, empties the lists. A burst freed in another order than it was
// allocated in (timers fire by deadline) leaves them holding blocks
// scattered over all of its slabs: every one of those slabs stayed in use
// (tens of MiB after a million timers), and later work cycled through
// blocks spread over as many pages, which made call_soon 3.5 times slower.
// Emptied, the lists refill from the slabs' lowest free blocks, and emptied
// slabs go back. Costs one test when there was no burst.
inline void frame_cache_settle() noexcept {
#if CORIO_FRAME_CACHE
  if (tls_frame_cache.overflowed) [[unlikely]]
    frame_cache_trim();
#endif
}

// The slab tier (classes below kSlabClasses), out of line.
void* slab_allocate(std::size_t cls);
void slab_free(void* p, std::size_t cls) noexcept;

// Counters for tests: slabs currently held from the system, and slabs ever
// taken from it, all threads.
std::size_t slab_count() noexcept;
std::size_t slabs_created() noexcept;

// Where a block that misses the free lists comes from and goes to.
inline void* frame_allocate_slow(std::size_t cls) {
#if CORIO_FRAME_SLAB
  if (cls < kSlabClasses) return slab_allocate(cls);
#endif
  return ::operator new((cls + 1) * kFrameClassBytes);
}
inline void frame_free_slow(void* p, std::size_t cls) noexcept {
#if CORIO_FRAME_SLAB
  if (cls < kSlabClasses) return slab_free(p, cls);
#endif
  ::operator delete(p);  // unsized: clang needs -fsized-deallocation otherwise
}

[[gnu::always_inline]] inline void* frame_allocate(std::size_t size) {
#if CORIO_FRAME_CACHE
  const std::size_t cls = (size - 1) / kFrameClassBytes;
  if (cls < kFrameClasses) {
    FrameCache& cache = tls_frame_cache;
    FrameCache::Block* b = cache.heads[cls];
    FrameCache::Block* next = b->next;
    if (next != b) [[likely]] {  // b is a block, not an end of the list
      cache.heads[cls] = next;
      return b;
    }
    return frame_allocate_miss(cls);
  }
#elif CORIO_FRAME_SLAB
  const std::size_t cls = (size - 1) / kFrameClassBytes;
  if (cls < kSlabClasses) return slab_allocate(cls);
#endif
  return ::operator new(size);
}

[[gnu::always_inline]] inline void frame_free(void* p, std::size_t size) noexcept {
#if CORIO_FRAME_CACHE
  const std::size_t cls = (size - 1) / kFrameClassBytes;
  if (cls < kFrameClasses) {
    FrameCache& cache = tls_frame_cache;
    FrameCache::Block* head = cache.heads[cls];
    const unsigned depth = head->depth + 1;
    if (depth <= frame_cache_limit(cls)) [[likely]] {
      auto* b = static_cast<FrameCache::Block*>(p);
      b->next = head;
      b->depth = depth;
      cache.heads[cls] = b;
      return;
    }
    frame_free_uncached(p, cls);
    return;
  }
#elif CORIO_FRAME_SLAB
  const std::size_t cls = (size - 1) / kFrameClassBytes;
  if (cls < kSlabClasses) return slab_free(p, cls);
#endif
  ::operator delete(p);  // unsized: clang needs -fsized-deallocation otherwise
}

// Mix-in giving a type (a promise, a callback node) the recycling allocator.
struct FrameAllocated {
  // Forced inline: out of line, the size class is computed at run time (and
  // g++ sees matching new and delete only when both are inlined).
  [[gnu::always_inline]] static void* operator new(std::size_t size) { return frame_allocate(size); }
  [[gnu::always_inline]] static void operator delete(void* p, std::size_t size) noexcept { frame_free(p, size); }
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_FRAME_ALLOCATOR_H_
