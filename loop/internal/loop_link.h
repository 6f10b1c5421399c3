// LoopLink: the shared record through which other threads reach a loop
// that may be gone (LoopHandle, loop_handle.h; executor completions).
#ifndef CORIO_LOOP_INTERNAL_LOOP_LINK_H_
#define CORIO_LOOP_INTERNAL_LOOP_LINK_H_

#include <atomic>
#include <mutex>
#include <utility>

namespace corio {
class EventLoop;
}  // namespace corio

namespace corio::internal {

// See EventLoop::link() and LoopHandle (loop_handle.h). `loop` is cleared,
// under `mu`, as the loop is destroyed; a poster holds `mu` for the length
// of its post. (Atomic so that the loop's own thread may read it without
// the lock: only that thread clears it.)
struct LoopLink {
  std::mutex mu;
  std::atomic<EventLoop*> loop{nullptr};
  // Runs post(*loop) if the loop still exists; returns whether it did.
  template <class Post>
  bool post(Post&& post) {
    std::lock_guard<std::mutex> lock(mu);
    EventLoop* l = loop.load(std::memory_order_relaxed);
    if (l == nullptr) return false;
    std::forward<Post>(post)(*l);
    return true;
  }
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_LOOP_LINK_H_
