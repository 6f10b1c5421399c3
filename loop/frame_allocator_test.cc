// Tests for the frame allocator's slab tier (internal/frame_allocator.h),
// called directly so that they hold in every build (the sanitizer builds
// route frames elsewhere, see the header).
#include "corio/loop/internal/frame_allocator.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace corio::internal {
namespace {

std::vector<void*> allocate_n(std::size_t n, std::size_t cls) {
  std::vector<void*> out(n);
  for (auto& p : out) p = slab_allocate(cls);
  return out;
}

void free_all(const std::vector<void*>& blocks, std::size_t cls) {
  for (void* p : blocks) slab_free(p, cls);
}

TEST(SlabAllocator, BlocksOfEveryClassAreDistinctAndWritable) {
  for (std::size_t cls = 0; cls < kSlabClasses; ++cls) {
    const std::size_t bytes = (cls + 1) * kFrameClassBytes;
    std::vector<void*> blocks = allocate_n(3000, cls);
    for (std::size_t i = 0; i < blocks.size(); ++i) std::memset(blocks[i], static_cast<int>(i & 0xff), bytes);
    std::vector<void*> sorted = blocks;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 1; i < sorted.size(); ++i) {
      ASSERT_GE(static_cast<char*>(sorted[i]) - static_cast<char*>(sorted[i - 1]), static_cast<std::ptrdiff_t>(bytes));
    }
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      ASSERT_EQ(static_cast<unsigned char*>(blocks[i])[bytes - 1], i & 0xff);
    }
    free_all(blocks, cls);
  }
}

TEST(SlabAllocator, FreedBlocksOfEveryClassAreTheOnesHandedOutNext) {
  // A free finds its block's bit by multiplying with a reciprocal of the
  // block size (64, 128, 192, 256 bytes); a wrong bit would hand out a
  // block still in use here, or skip a freed one.
  // A fresh thread fills exactly three slabs of each class (blocks per
  // slab after the header: 1020, 510, 339, 255), so no other block is free.
  constexpr std::size_t kPerSlab[kSlabClasses] = {1020, 510, 339, 255};
  std::thread([&] {
    for (std::size_t cls = 0; cls < kSlabClasses; ++cls) {
      std::vector<void*> blocks = allocate_n(3 * kPerSlab[cls], cls);
      std::vector<void*> freed, kept;
      for (std::size_t i = 0; i < blocks.size(); ++i) (i % 2 == 1 ? freed : kept).push_back(blocks[i]);
      free_all(freed, cls);
      std::vector<void*> again = allocate_n(freed.size(), cls);
      std::sort(freed.begin(), freed.end());
      std::sort(again.begin(), again.end());
      EXPECT_EQ(again, freed) << "class " << cls;
      free_all(again, cls);
      free_all(kept, cls);
    }
  }).join();
}

TEST(SlabAllocator, AfterARandomOrderFreeBlocksComeBackInAddressOrder) {
  constexpr std::size_t kN = 20000;
  std::vector<void*> blocks = allocate_n(kN, 0);
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937(3));
  free_all(blocks, 0);
  blocks = allocate_n(kN, 0);
  std::size_t ascending = 0;
  for (std::size_t i = 1; i < kN; ++i) ascending += blocks[i] > blocks[i - 1];
  // Only a switch to another slab may step down (about one in a thousand).
  EXPECT_GE(ascending, kN - kN / 500);
  free_all(blocks, 0);
}

TEST(SlabAllocator, FreedSlabsPastTheSpareBudgetGoBackToTheSystem) {
  std::thread([] {  // a fresh thread: no slabs yet
    const std::size_t before = slab_count();
    std::vector<void*> blocks = allocate_n(100000, 1);
    EXPECT_GE(slab_count(), before + 100000 / 512);
    std::shuffle(blocks.begin(), blocks.end(), std::mt19937(5));
    free_all(blocks, 1);
    // The slab still being allocated from, and the spares.
    EXPECT_EQ(slab_count(), before + 1 + kSpareSlabs);
  })
      .join();
}

TEST(SlabAllocator, TheNextBurstReusesTheSpareSlabs) {
  std::thread([] {
    // 17 slabs' worth of 128-byte blocks (510 a slab, after the header):
    // once freed, the current slab and 16 spares.
    static_assert(kSpareSlabs >= 16);
    std::vector<void*> blocks = allocate_n(17 * 510, 1);
    free_all(blocks, 1);
    const std::size_t created = slabs_created();
    blocks = allocate_n(17 * 510, 1);
    EXPECT_EQ(slabs_created(), created);
    free_all(blocks, 1);
  }).join();
}

TEST(SlabAllocator, ASpareSlabServesAnotherSizeClass) {
  std::thread([] {
    std::vector<void*> small = allocate_n(4 * 1020, 0);  // 4 slabs of 64-byte blocks
    free_all(small, 0);                                  // 3 spares and the current slab
    const std::size_t created = slabs_created();
    std::vector<void*> big = allocate_n(3 * 255, 3);  // 3 slabs of 256-byte blocks
    EXPECT_EQ(slabs_created(), created);
    for (std::size_t i = 0; i < big.size(); ++i) std::memset(big[i], static_cast<int>(i & 0xff), 256);
    std::vector<void*> sorted = big;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 1; i < sorted.size(); ++i) {
      ASSERT_GE(static_cast<char*>(sorted[i]) - static_cast<char*>(sorted[i - 1]), 256);
    }
    for (std::size_t i = 0; i < big.size(); ++i) ASSERT_EQ(static_cast<unsigned char*>(big[i])[255], i & 0xff);
    free_all(big, 3);
  }).join();
}

TEST(SlabAllocator, AThreadsSpareSlabsGoBackWhenItExits) {
  const std::size_t before = slab_count();
  std::thread([] { free_all(allocate_n(100000, 1), 1); }).join();
  EXPECT_EQ(slab_count(), before);
}

TEST(SlabAllocator, BlocksFreedOnAnotherThreadAreReused) {
  std::vector<void*> blocks = allocate_n(50000, 0);
  const std::size_t peak = slab_count();
  std::thread([&] { free_all(blocks, 0); }).join();
  blocks = allocate_n(50000, 0);
  // Without reuse the pool would double; it may grow by an eighth before it
  // looks for blocks freed elsewhere.
  EXPECT_LE(slab_count(), peak + peak / 8 + 1);
  free_all(blocks, 0);
}

TEST(SlabAllocator, SlabsOfAnExitedThreadAreReclaimedByTheLastFree) {
  const std::size_t before = slab_count();
  std::vector<void*> blocks;
  std::thread([&] { blocks = allocate_n(30000, 2); }).join();
  EXPECT_GE(slab_count(), before + 30000 / 341);
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937(8));
  free_all(blocks, 2);
  EXPECT_EQ(slab_count(), before);
}

TEST(SlabAllocator, OwnerExitingWhileAnotherThreadFreesItsBlocks) {
  // Regression (found by ThreadSanitizer): a remote freer read the slab
  // after its push, when the exiting owner could already have given it back.
  const std::size_t before = slab_count();
  for (int round = 0; round < 20; ++round) {
    std::vector<void*> blocks;
    std::atomic<bool> ready{false};
    std::thread owner([&] {
      blocks = allocate_n(5000, 0);
      ready.store(true, std::memory_order_release);
    });
    std::thread freer([&] {
      while (!ready.load(std::memory_order_acquire)) std::this_thread::yield();
      free_all(blocks, 0);
    });
    owner.join();
    freer.join();
  }
  EXPECT_EQ(slab_count(), before);
}

TEST(SlabAllocator, ConcurrentRemoteFreesWhileTheOwnerAllocates) {
  // The owner keeps allocating while another thread frees its earlier
  // blocks: every block is handed out once (no double hand-out).
  constexpr std::size_t kRounds = 20, kPerRound = 5000;
  std::vector<std::vector<void*>> rounds;
  for (std::size_t r = 0; r < kRounds; ++r) rounds.push_back(allocate_n(kPerRound, 0));
  std::thread freer([&] {
    for (std::size_t r = 0; r < kRounds; r += 2) free_all(rounds[r], 0);
  });
  std::vector<void*> fresh = allocate_n(kRounds * kPerRound / 2, 0);
  freer.join();
  std::vector<void*> live = fresh;
  for (std::size_t r = 1; r < kRounds; r += 2) live.insert(live.end(), rounds[r].begin(), rounds[r].end());
  std::sort(live.begin(), live.end());
  EXPECT_EQ(std::adjacent_find(live.begin(), live.end()), live.end());
  free_all(live, 0);
}

TEST(FrameAllocator, BlocksFromBothTiersKeepTheirContents) {
  // More than the per-thread free lists hold, of many sizes, so every tier
  // (free list, slab, general allocator) is used.
  constexpr int kN = 10000;
  auto size_of = [](int i) { return static_cast<std::size_t>(40 + (i * 7) % 3000); };
  std::vector<void*> blocks;
  for (int i = 0; i < kN; ++i) {
    blocks.push_back(frame_allocate(size_of(i)));
    std::memset(blocks.back(), i & 0xff, size_of(i));
  }
  for (int i = 0; i < kN; ++i) {
    auto* bytes = static_cast<unsigned char*>(blocks[static_cast<std::size_t>(i)]);
    ASSERT_EQ(bytes[0], i & 0xff);
    ASSERT_EQ(bytes[size_of(i) - 1], i & 0xff);
  }
  for (int i = 0; i < kN; ++i) frame_free(blocks[static_cast<std::size_t>(i)], size_of(i));
  // Reused after being freed: the same contents can be written again.
  for (int i = 0; i < kN; ++i) blocks[static_cast<std::size_t>(i)] = frame_allocate(size_of(i));
  std::vector<void*> sorted = blocks;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
  for (int i = 0; i < kN; ++i) frame_free(blocks[static_cast<std::size_t>(i)], size_of(i));
}

#if CORIO_FRAME_CACHE
// The per-thread free lists (off under the sanitizers, so these tests exist
// only in the builds that have them). Each runs on a fresh thread, whose
// lists start closed and empty.

TEST(FrameFreeList, TheFirstFreeOnAThreadGoesIntoItsList) {
  std::thread([] {
    void* a = frame_allocate(kFrameClassBytes);
    frame_free(a, kFrameClassBytes);  // opens the thread's lists
    // Not back in its slab (which would hand out its lowest free block)...
    void* from_slab = slab_allocate(0);
    EXPECT_NE(from_slab, a);
    // ...but first in the list.
    EXPECT_EQ(frame_allocate(kFrameClassBytes), a);
    slab_free(from_slab, 0);
    frame_free(a, kFrameClassBytes);
  }).join();
}

TEST(FrameFreeList, LastInFirstOut) {
  std::thread([] {
    void* a = frame_allocate(kFrameClassBytes);
    void* b = frame_allocate(kFrameClassBytes);
    frame_free(a, kFrameClassBytes);
    frame_free(b, kFrameClassBytes);
    EXPECT_EQ(frame_allocate(kFrameClassBytes), b);
    EXPECT_EQ(frame_allocate(kFrameClassBytes), a);
    frame_free(a, kFrameClassBytes);
    frame_free(b, kFrameClassBytes);
  }).join();
}

TEST(FrameFreeList, AListKeepsNoMoreThanItsBudget) {
  std::thread([] {
    const std::size_t limit = frame_cache_limit(0);
    std::vector<void*> blocks(limit + 1);
    for (void*& p : blocks) p = frame_allocate(kFrameClassBytes);
    for (void* p : blocks) frame_free(p, kFrameClassBytes);
    // The last one freed found the list full and went to its slab, so the
    // list hands back the first `limit` in reverse.
    for (std::size_t i = limit; i-- > 0;) ASSERT_EQ(frame_allocate(kFrameClassBytes), blocks[i]);
    for (std::size_t i = 0; i < limit; ++i) frame_free(blocks[i], kFrameClassBytes);
  }).join();
}

// Fills the thread's class-0 list to its budget; returns the blocks, the
// list's head last.
std::vector<void*> fill_list_to_budget() {
  std::vector<void*> blocks(frame_cache_limit(0));
  for (void*& p : blocks) p = frame_allocate(kFrameClassBytes);
  for (void* p : blocks) frame_free(p, kFrameClassBytes);
  return blocks;
}

TEST(FrameFreeList, AFullListThatGaveBlocksOutTakesAFreeAgain) {
  std::thread([] {
    fill_list_to_budget();
    void* a = frame_allocate(kFrameClassBytes);
    void* b = frame_allocate(kFrameClassBytes);
    frame_free(a, kFrameClassBytes);  // two blocks out, so this one goes back in
    EXPECT_EQ(frame_allocate(kFrameClassBytes), a);
    frame_free(a, kFrameClassBytes);
    frame_free(b, kFrameClassBytes);  // the thread's exit gives the list back
  }).join();
}

TEST(FrameFreeList, AListRefilledToItsBudgetTakesNoMore) {
  std::thread([] {
    std::vector<void*> blocks = fill_list_to_budget();
    std::vector<void*> out(blocks.size() / 2);
    for (void*& p : out) p = frame_allocate(kFrameClassBytes);
    for (void* p : out) frame_free(p, kFrameClassBytes);  // full again
    void* extra = slab_allocate(0);
    frame_free(extra, kFrameClassBytes);  // no place: back to its slab
    EXPECT_EQ(frame_allocate(kFrameClassBytes), out.back());
    frame_free(out.back(), kFrameClassBytes);  // the thread's exit gives the list back
  }).join();
}

TEST(FrameFreeList, BlocksCachedByAThreadGoBackWhenItExits) {
  const std::size_t before = slab_count();
  std::thread([] {
    std::vector<void*> blocks(2000);
    for (void*& p : blocks) p = frame_allocate(kFrameClassBytes);
    for (void* p : blocks) frame_free(p, kFrameClassBytes);  // all into the list
  }).join();
  EXPECT_EQ(slab_count(), before);
}

// A burst of 100,000 128-byte blocks (about 200 slabs) freed in shuffled
// order: the first frees fill the class's list with blocks from all over
// the burst, the rest overflow into their slabs.
std::vector<void*> shuffled_burst() {
  std::vector<void*> blocks(100000);
  for (void*& p : blocks) p = frame_allocate(2 * kFrameClassBytes);
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937(7));
  for (void* p : blocks) frame_free(p, 2 * kFrameClassBytes);
  return blocks;
}

TEST(FrameFreeList, SettlingAfterABurstGivesItsSlabsBack) {
  std::thread([] {
    const std::size_t before = slab_count();
    shuffled_burst();
    frame_cache_settle();
    // The slab still being allocated from, and the spares; without the
    // trim, the blocks the list kept held nearly every slab of the burst.
    EXPECT_LE(slab_count(), before + 1 + kSpareSlabs);
  }).join();
}

TEST(FrameFreeList, AfterSettlingTheListRefillsFromTheLowestFreeBlocks) {
  std::thread([] {
    shuffled_burst();
    frame_cache_settle();
    void* a = frame_allocate(2 * kFrameClassBytes);
    void* b = frame_allocate(2 * kFrameClassBytes);
    // From a slab's cursor, in address order, not from the shuffled list.
    EXPECT_EQ(static_cast<char*>(b) - static_cast<char*>(a), static_cast<std::ptrdiff_t>(2 * kFrameClassBytes));
    frame_free(a, 2 * kFrameClassBytes);
    frame_free(b, 2 * kFrameClassBytes);
  }).join();
}

TEST(FrameFreeList, SettlingWithoutABurstKeepsTheList) {
  std::thread([] {
    void* a = frame_allocate(kFrameClassBytes);
    frame_free(a, kFrameClassBytes);
    frame_cache_settle();
    EXPECT_EQ(frame_allocate(kFrameClassBytes), a);
    frame_free(a, kFrameClassBytes);
  }).join();
}
#endif  // CORIO_FRAME_CACHE

}  // namespace
}  // namespace corio::internal
