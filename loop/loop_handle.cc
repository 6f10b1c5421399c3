#include "corio/loop/loop_handle.h"

#include <memory>
#include <utility>

#include "corio/loop/internal/loop_access.h"

namespace corio {

bool LoopHandle::alive() const noexcept {
  return link_ != nullptr && link_->loop.load(std::memory_order_relaxed) != nullptr;
}

ExternalWork LoopHandle::begin_external_work() const {
  if (!link_) return ExternalWork();
  const bool posted = link_->post([](EventLoop& l) { internal::LoopAccess::begin_external_work(l); });
  return posted ? ExternalWork(link_) : ExternalWork();
}

void ExternalWork::reset() noexcept {
  std::shared_ptr<internal::LoopLink> link = std::move(link_);
  if (!link) return;
  EventLoop* here = EventLoop::current();
  if (here != nullptr && here == link->loop.load(std::memory_order_relaxed)) {
    internal::LoopAccess::end_external_work(*here);  // on the loop's own thread: it exists
    return;
  }
  link->post([](EventLoop& l) { internal::LoopAccess::end_external_work(l); });
}

}  // namespace corio
