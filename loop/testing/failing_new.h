// For out-of-memory tests: a binary that links //loop:failing_new gets a
// global operator new that can be told to fail, one thread at a time.
//
//   {
//     corio::testing::NoMemory no_memory;  // this thread: every new throws
//     EXPECT_THROW(loop.call_soon(f), std::bad_alloc);
//   }
//
// Only for test binaries: it replaces operator new for the whole program.
#ifndef CORIO_LOOP_TESTING_FAILING_NEW_H_
#define CORIO_LOOP_TESTING_FAILING_NEW_H_

namespace corio::testing {

// Makes the calling thread's allocation number `n` (0: the next one) and
// every one after it throw std::bad_alloc; negative: none fails (the
// default). Other threads are not affected.
void fail_allocations_after(long n) noexcept;

// Fails every allocation of the calling thread while alive.
struct NoMemory {
  NoMemory() noexcept { fail_allocations_after(0); }
  NoMemory(const NoMemory&) = delete;
  NoMemory& operator=(const NoMemory&) = delete;
  ~NoMemory() { fail_allocations_after(-1); }
};

}  // namespace corio::testing

#endif  // CORIO_LOOP_TESTING_FAILING_NEW_H_
