#include "corio/loop/loop_handle.h"

#include <memory>
#include <utility>

namespace corio {

bool LoopHandle::alive() const noexcept {
  return link_ != nullptr && link_->loop.load(std::memory_order_relaxed) != nullptr;
}

ExternalWork LoopHandle::begin_external_work() const {
  if (!link_) return ExternalWork();
  const bool posted = link_->post([](EventLoop& l) { l.begin_external_work(); });
  return posted ? ExternalWork(link_) : ExternalWork();
}

void ExternalWork::reset() noexcept {
  std::shared_ptr<internal::LoopLink> link = std::move(link_);
  if (!link) return;
  EventLoop* here = EventLoop::current();
  if (here != nullptr && here == link->loop.load(std::memory_order_relaxed)) {
    here->end_external_work();  // on the loop's own thread: it exists
    return;
  }
  link->post([](EventLoop& l) { l.end_external_work(); });
}

}  // namespace corio
