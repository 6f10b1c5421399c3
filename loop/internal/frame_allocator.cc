#include "corio/loop/internal/frame_allocator.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_set>
#include <utility>

namespace corio::internal {

namespace {

// ---- slabs ----
//
// A slab is a 64 KiB block aligned to its size, so a block's slab is found
// by masking its address. The header (first 256 bytes) holds a bitmap of
// free blocks (1 = free). The owner thread allocates and frees with plain
// bit operations; other threads push freed blocks onto `remote`, which the
// owner collects when it runs out. A remote freer never touches the slab
// after its push (the owner may give the slab back at once). When the
// owner thread exits, it swaps `remote` for the kAbandoned mark; from then
// on frees into that slab take a global mutex, set the bit themselves, and
// the one freeing the last block gives the slab back.

constexpr std::size_t kSlabBytes = 64 * 1024;
constexpr std::size_t kHeaderBytes = 256;
constexpr std::size_t kScanRatio = 8;
constexpr std::size_t kBitmapWords = kSlabBytes / kFrameClassBytes / 64;

struct RemoteBlock {
  RemoteBlock* next;
};

struct Pool;

RemoteBlock* const kAbandoned = reinterpret_cast<RemoteBlock*>(std::uintptr_t{1});

struct Slab {
  std::atomic<Pool*> owner;
  std::atomic<RemoteBlock*> remote{nullptr};  // or kAbandoned
  Slab* prev = nullptr;                       // in the owner's list for this class
  Slab* next = nullptr;
  std::uint32_t block_bytes;
  std::uint32_t reciprocal;  // ceil(2^32 / block_bytes): index_of multiplies
  std::uint32_t first;       // index of the first block (after the header)
  std::uint32_t capacity;    // usable blocks
  std::uint32_t nfree;
  std::uint32_t cursor = 0;  // no free bit in words below this one
  bool in_full = false;      // owner's bookkeeping: on its `full` list
  // One word more than the blocks need, always zero: `cursor` may point
  // past the last block, and the fast take reads bits[cursor] unchecked.
  std::uint64_t bits[kBitmapWords + 1] = {};

  char* base() noexcept { return reinterpret_cast<char*>(this); }
  // Offset / block_bytes without a division: exact for offsets below 2^16
  // because reciprocal * block_bytes exceeds 2^32 by less than block_bytes.
  std::uint32_t index_of(void* p) noexcept {
    const auto offset = static_cast<std::uint64_t>(static_cast<char*>(p) - base());
    return static_cast<std::uint32_t>((offset * reciprocal) >> 32);
  }
  // The lowest free block, if the cursor's word has one (the common case).
  void* take_at_cursor() noexcept {
    const std::uint64_t word = bits[cursor];
    if (word == 0) return nullptr;
    bits[cursor] = word & (word - 1);
    --nfree;
    return base() +
           (static_cast<std::size_t>(cursor) * 64 + static_cast<unsigned>(std::countr_zero(word))) * block_bytes;
  }
  void mark_free(std::uint32_t i) noexcept {
    bits[i / 64] |= std::uint64_t{1} << (i % 64);
    ++nfree;
    if (i / 64 < cursor) cursor = i / 64;
  }
  // Moves blocks freed by other threads into the bitmap. True if any.
  // `mark` replaces the list: nullptr, or kAbandoned when the owner leaves.
  bool collect_remote(RemoteBlock* mark = nullptr) noexcept {
    RemoteBlock* r = remote.exchange(mark, std::memory_order_acquire);
    if (r == nullptr || r == kAbandoned) return false;
    while (r != nullptr) {
      RemoteBlock* next = r->next;
      mark_free(index_of(r));
      r = next;
    }
    return true;
  }
  void* take() noexcept {
    const std::uint32_t words = (first + capacity + 63) / 64;
    for (std::uint32_t w = cursor; w < words; ++w) {
      if (bits[w] != 0) {
        cursor = w;
        const unsigned b = static_cast<unsigned>(std::countr_zero(bits[w]));
        bits[w] &= bits[w] - 1;
        --nfree;
        return base() + (static_cast<std::size_t>(w) * 64 + b) * block_bytes;
      }
    }
    cursor = words;
    return nullptr;
  }
};
static_assert(sizeof(Slab) <= kHeaderBytes);

Slab* slab_of(void* p) noexcept {
  return reinterpret_cast<Slab*>(reinterpret_cast<std::uintptr_t>(p) & ~(kSlabBytes - 1));
}

std::atomic<std::size_t> g_slabs{0};
std::atomic<std::size_t> g_slabs_created{0};

// Lays out an empty slab for blocks of class `cls`: every block free.
void format_slab(Slab* s, std::size_t cls) noexcept {
  const std::uint32_t bytes = static_cast<std::uint32_t>((cls + 1) * kFrameClassBytes);
  const std::uint32_t first = static_cast<std::uint32_t>((kHeaderBytes + bytes - 1) / bytes);
  const std::uint32_t total = static_cast<std::uint32_t>(kSlabBytes / bytes);
  s->prev = s->next = nullptr;
  s->block_bytes = bytes;
  s->reciprocal = static_cast<std::uint32_t>(((std::uint64_t{1} << 32) + bytes - 1) / bytes);
  s->first = first;
  s->capacity = total - first;
  s->nfree = total - first;
  s->cursor = first / 64;
  s->in_full = false;
  for (std::uint32_t w = 0; w <= kBitmapWords; ++w) {
    const std::uint32_t lo = w * 64, hi = lo + 64;
    std::uint64_t word = 0;
    if (hi > first && lo < total) {
      const std::uint32_t a = std::max(lo, first) - lo;  // < 64
      const std::uint32_t b = std::min(hi, total) - lo;  // in (a, 64]
      word = (b == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << b) - 1) & ~((std::uint64_t{1} << a) - 1);
    }
    s->bits[w] = word;
  }
}

Slab* new_slab(std::size_t cls, Pool* owner) {
  void* mem = std::aligned_alloc(kSlabBytes, kSlabBytes);
  if (mem == nullptr) throw std::bad_alloc();
  auto* s = new (mem) Slab{};
  s->owner.store(owner, std::memory_order_relaxed);
  format_slab(s, cls);
  g_slabs.fetch_add(1, std::memory_order_relaxed);
  g_slabs_created.fetch_add(1, std::memory_order_relaxed);
  return s;
}

void release_slab(Slab* s) noexcept {
  s->~Slab();
  std::free(s);
  g_slabs.fetch_sub(1, std::memory_order_relaxed);
}

// Slabs whose owner thread has exited while some of their blocks lived on.
std::mutex& orphans_mutex() {
  static std::mutex* m = new std::mutex;  // never destroyed: used at exit
  return *m;
}
std::unordered_set<Slab*>& orphans() {
  static auto* set = new std::unordered_set<Slab*>;
  return *set;
}

// Under the orphans mutex: frees a block of an abandoned slab, giving the
// slab back once all its blocks are free.
void free_orphan_block_locked(Slab* s, void* p) noexcept {
  s->mark_free(s->index_of(p));
  if (s->nfree == s->capacity) {
    orphans().erase(s);
    release_slab(s);
  }
}

// One thread's slabs, per class: `current` (allocating from it), `partial`
// (others with free blocks) and `full` (none free, as far as the owner
// knows: frees from other threads wait in their remote lists). A slab that
// becomes entirely free joins the thread's `spares`, which serve any class,
// while there are fewer than kSpareSlabs, and is given back otherwise. (An
// empty slab has no block out, so no other thread can push to it.)
struct Pool {
  struct Class {
    Slab* current = nullptr;
    Slab* partial = nullptr;
    Slab* full = nullptr;
    std::size_t full_count = 0;
    std::size_t created_since_scan = 0;
  };
  Class classes[kSlabClasses];
  Slab* spares = nullptr;  // linked through `next`
  std::size_t spare_count = 0;

  static void link(Slab*& head, Slab* s) noexcept {
    s->prev = nullptr;
    s->next = head;
    if (head != nullptr) head->prev = s;
    head = s;
  }
  static void unlink(Slab*& head, Slab* s) noexcept {
    if (s->prev != nullptr) s->prev->next = s->next;
    if (s->next != nullptr) s->next->prev = s->prev;
    if (head == s) head = s->next;
    s->prev = s->next = nullptr;
  }

  void* allocate(std::size_t cls) {
    Class& c = classes[cls];
    if (c.current != nullptr) {
      if (void* p = c.current->take()) return p;
      if (c.current->collect_remote()) return c.current->take();
      link(c.full, c.current);
      c.current->in_full = true;
      ++c.full_count;
      c.current = nullptr;
    }
    if (c.partial == nullptr && c.created_since_scan * kScanRatio >= c.full_count && c.full_count > 0) {
      // Blocks other threads freed into full slabs: collected once per as
      // many new slabs as an eighth of the full ones, so the scan costs
      // O(1) per slab made, and memory freed elsewhere is reused before the
      // pool grows by more than an eighth.
      c.created_since_scan = 0;
      for (Slab* s = c.full; s != nullptr;) {
        Slab* next = s->next;
        if (s->collect_remote()) {
          unlink(c.full, s);
          s->in_full = false;
          --c.full_count;
          link(c.partial, s);
        }
        s = next;
      }
    }
    if (Slab* s = c.partial) {
      unlink(c.partial, s);
      s->collect_remote();
      c.current = s;
      return s->take();
    }
    if (Slab* s = spares) {
      spares = s->next;
      --spare_count;
      format_slab(s, cls);
      c.current = s;
    } else {
      c.current = new_slab(cls, this);
      ++c.created_since_scan;
    }
    return c.current->take();
  }

  // After a block of `s` (not the current slab) was marked free: moves `s`
  // to `partial` if it was full, and on to the spares if it is now empty.
  [[gnu::noinline]] void after_free(Slab* s, std::size_t cls) noexcept {
    Class& c = classes[cls];
    if (s->in_full) {
      unlink(c.full, s);
      s->in_full = false;
      --c.full_count;
      link(c.partial, s);
    }
    if (s->nfree == s->capacity) {
      unlink(c.partial, s);
      if (spare_count < kSpareSlabs) {
        s->next = spares;
        spares = s;
        ++spare_count;
      } else {
        release_slab(s);
      }
    }
  }

  // Thread exit: gives back free slabs, abandons the rest.
  ~Pool() {
    while (Slab* s = spares) {
      spares = s->next;
      release_slab(s);
    }
    for (Class& c : classes) {
      if (c.current != nullptr) link(c.partial, c.current);
      for (Slab** list : {&c.partial, &c.full}) {
        while (Slab* s = *list) {
          unlink(*list, s);
          s->collect_remote();
          if (s->nfree == s->capacity) {
            release_slab(s);
            continue;
          }
          std::lock_guard<std::mutex> lock(orphans_mutex());
          s->owner.store(nullptr, std::memory_order_relaxed);
          s->collect_remote(kAbandoned);  // frees pushed until now
          if (s->nfree == s->capacity) {
            release_slab(s);
          } else {
            orphans().insert(s);
          }
        }
      }
    }
  }
};

// The thread's pool, made on its first slab allocation and destroyed at
// thread exit by a reaper registered then (after the free lists are drained
// into it: see FrameCacheReaper, which is registered after it). Plain
// constant-initialised thread_locals, so the fast paths read them with no
// initialisation guard.
constinit thread_local Pool* tls_pool = nullptr;
constinit thread_local bool tls_pool_closed = false;

struct PoolReaper {
  ~PoolReaper() {
    delete tls_pool;
    tls_pool = nullptr;
    tls_pool_closed = true;
  }
};
// Registers the reaper (once per thread): later registrations are destroyed
// first.
void register_pool_reaper() {
  static thread_local PoolReaper reaper;
  (void)reaper;
}

// A block allocated after the thread's pool is gone (a frame made by a
// thread_local destructor): from an abandoned slab, under the mutex.
void* allocate_orphan(std::size_t cls) {
  std::lock_guard<std::mutex> lock(orphans_mutex());
  for (Slab* s : orphans()) {
    if (s->block_bytes != (cls + 1) * kFrameClassBytes) continue;
    if (void* p = s->take()) return p;
  }
  Slab* s = new_slab(cls, nullptr);
  s->remote.store(kAbandoned, std::memory_order_relaxed);
  orphans().insert(s);
  return s->take();
}

// Gives every cached block to the tier behind; the lists end in `end`.
void drain_frame_cache(FrameCache& cache, FrameCache::Block* end) noexcept {
  for (std::size_t i = 0; i < kFrameClasses; ++i) {
    FrameCache::Block* b = cache.heads[i];
    cache.heads[i] = end;
    while (b != &kListEnd && b != &kClosedEnd) {
      FrameCache::Block* next = b->next;
      frame_free_slow(b, i);
      b = next;
    }
  }
  cache.overflowed = false;
}

// Gives a thread's cached blocks back when the thread exits. Constructed on
// the thread's first cached block (registering this destructor), so threads
// that never cache a block pay nothing.
struct FrameCacheReaper {
  ~FrameCacheReaper() {
    FrameCache& cache = tls_frame_cache;
    // Frames freed from here on (later thread_local destructors) skip the
    // free lists.
    cache.state = FrameCache::kClosed;
    drain_frame_cache(cache, &kClosedEnd);
  }
};

}  // namespace

namespace {

// The thread's first free: registers the reapers and opens the free lists.
[[gnu::cold, gnu::noinline]] void open_frame_cache(void* p, std::size_t cls) noexcept {
  // The pool's reaper first, so that it runs after the cache's reaper,
  // which drains the free lists into the pool.
  register_pool_reaper();
  static thread_local FrameCacheReaper reaper;
  (void)reaper;
  FrameCache& cache = tls_frame_cache;
  cache.state = FrameCache::kOpen;
  for (FrameCache::Block*& head : cache.heads) head = &kListEnd;
  frame_free(p, (cls + 1) * kFrameClassBytes);  // into the list, now that it is open
}

}  // namespace

void frame_free_uncached(void* p, std::size_t cls) noexcept {
  FrameCache& cache = tls_frame_cache;
  if (cache.state == FrameCache::kUnused) [[unlikely]]
    return open_frame_cache(p, cls);
  if (cache.state == FrameCache::kOpen) cache.overflowed = true;
  frame_free_slow(p, cls);
}

void frame_cache_trim() noexcept {
  FrameCache& cache = tls_frame_cache;
  if (cache.state == FrameCache::kOpen) drain_frame_cache(cache, &kListEnd);
}

void* frame_allocate_miss(std::size_t cls) { return frame_allocate_slow(cls); }

namespace {

[[gnu::noinline]] void* slab_allocate_slow(std::size_t cls) {
  if (tls_pool == nullptr) {
    if (tls_pool_closed) return allocate_orphan(cls);
    register_pool_reaper();
    tls_pool = new Pool;
  }
  return tls_pool->allocate(cls);
}

[[gnu::noinline]] void slab_free_slow(Slab* s, void* p) noexcept;

}  // namespace

// The fast paths: a block from the current slab's cursor word; a block
// freed into a slab of this thread that stays partly used. No call, no
// saved registers.
void* slab_allocate(std::size_t cls) {
  if (Pool* pool = tls_pool) [[likely]] {
    if (Slab* s = pool->classes[cls].current) [[likely]] {
      if (void* p = s->take_at_cursor()) [[likely]]
        return p;
    }
  }
  return slab_allocate_slow(cls);
}

void slab_free(void* p, std::size_t cls) noexcept {
  Slab* s = slab_of(p);
  Pool* mine = tls_pool;
  if (mine != nullptr && s->owner.load(std::memory_order_relaxed) == mine) [[likely]] {
    s->mark_free(s->index_of(p));
    if (s != mine->classes[cls].current && (s->in_full || s->nfree == s->capacity)) [[unlikely]]
      mine->after_free(s, cls);
    return;
  }
  slab_free_slow(s, p);
}

namespace {

void slab_free_slow(Slab* s, void* p) noexcept {
  // The slab stays alive while this block is not yet freed: its owner
  // gives it back only when every block is free.
  auto* b = static_cast<RemoteBlock*>(p);
  RemoteBlock* head = s->remote.load(std::memory_order_relaxed);
  while (head != kAbandoned) {
    b->next = head;
    if (s->remote.compare_exchange_weak(head, b, std::memory_order_release, std::memory_order_relaxed)) return;
  }
  std::lock_guard<std::mutex> lock(orphans_mutex());
  free_orphan_block_locked(s, p);
}

}  // namespace

std::size_t slab_count() noexcept { return g_slabs.load(std::memory_order_relaxed); }
std::size_t slabs_created() noexcept { return g_slabs_created.load(std::memory_order_relaxed); }

}  // namespace corio::internal
