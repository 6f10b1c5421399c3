// A move-only type-erased `void()` callable (std::move_only_function is
// C++23). Stored in a recycled node, so posting a small callback does not hit
// the general-purpose allocator.
#ifndef CORIO_LOOP_INTERNAL_UNIQUE_FUNCTION_H_
#define CORIO_LOOP_INTERNAL_UNIQUE_FUNCTION_H_

#include <type_traits>
#include <utility>

#include "corio/loop/internal/frame_allocator.h"

namespace corio::internal {

// A heap node holding a callable; the base of call_soon's handles.
class CallbackNode : public FrameAllocated {
 public:
  virtual ~CallbackNode() = default;
  virtual void invoke() = 0;
};

template <class F>
class CallbackImpl final : public CallbackNode {
 public:
  explicit CallbackImpl(F&& f) : f_(std::move(f)) {}
  explicit CallbackImpl(const F& f) : f_(f) {}
  void invoke() override { f_(); }

 private:
  F f_;
};

class UniqueFunction {
 public:
  UniqueFunction() = default;
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, UniqueFunction>>>
  UniqueFunction(F&& f) : node_(new CallbackImpl<std::decay_t<F>>(std::forward<F>(f))) {}
  UniqueFunction(UniqueFunction&& o) noexcept : node_(std::exchange(o.node_, nullptr)) {}
  UniqueFunction& operator=(UniqueFunction&& o) noexcept {
    if (this != &o) {
      delete node_;
      node_ = std::exchange(o.node_, nullptr);
    }
    return *this;
  }
  ~UniqueFunction() { delete node_; }
  explicit operator bool() const noexcept { return node_ != nullptr; }
  void operator()() { node_->invoke(); }

 private:
  CallbackNode* node_ = nullptr;
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_UNIQUE_FUNCTION_H_
