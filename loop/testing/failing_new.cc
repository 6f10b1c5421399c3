// The replaceable global allocation functions, with a per-thread failure
// switch (see failing_new.h).
#include "corio/loop/testing/failing_new.h"

#include <cstdlib>
#include <new>

namespace {

// Allocations left on this thread before the next one fails; negative:
// never fail.
thread_local long allocations_before_failure = -1;

}  // namespace

namespace corio::testing {

void fail_allocations_after(long n) noexcept { allocations_before_failure = n; }

}  // namespace corio::testing

void* operator new(std::size_t size) {
  if (allocations_before_failure == 0) throw std::bad_alloc();
  if (allocations_before_failure > 0) --allocations_before_failure;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
// Array forms too: under ThreadSanitizer they do not reach operator new.
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
