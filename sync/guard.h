// Guard<P>: the RAII form of a held Lock or Semaphore permit, the C++ shape
// of Python's `async with lock:`.
//
//   {
//     corio::LockGuard guard = co_await lock.scoped();
//     ...  // the lock is held here
//   }      // released here, also when an exception (CancelledError) leaves
//
// Errors: the destructor calls P::release(); if that throws (the lock was
//   already released by hand behind the guard's back) the program
//   terminates, as for any exception from a destructor: release early with
//   guard.unlock(), never with lock.release().
// Thread safety: as P (the owning loop's thread only).
// Cancellation: not an awaitable; a guard is only made once the acquire has
//   succeeded, so a cancelled acquire never releases what it did not get.
#ifndef CORIO_SYNC_GUARD_H_
#define CORIO_SYNC_GUARD_H_

#include <utility>

namespace corio {

template <class P>
class [[nodiscard]] Guard {
 public:
  // An empty guard that owns nothing.
  Guard() noexcept = default;
  // Adopts a hold on `p` that the caller already has.
  explicit Guard(P& p) noexcept : p_(&p) {}
  Guard(Guard&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Guard& operator=(Guard&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
  ~Guard() { reset(); }

  // True while the guard holds the primitive.
  bool owns() const noexcept { return p_ != nullptr; }
  explicit operator bool() const noexcept { return owns(); }

  // Releases now (idempotent). Errors: as P::release().
  void unlock() {
    if (p_ != nullptr) std::exchange(p_, nullptr)->release();
  }
  // Gives up the hold without releasing it; returns the primitive (or null).
  P* dismiss() noexcept { return std::exchange(p_, nullptr); }

 private:
  void reset() noexcept {
    if (p_ != nullptr) std::exchange(p_, nullptr)->release();
  }
  P* p_ = nullptr;
};

}  // namespace corio

#endif  // CORIO_SYNC_GUARD_H_
