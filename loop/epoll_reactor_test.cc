// Tests for EpollReactor::translate (internal/epoll_reactor.h): every
// combination of the epoll bits the reactor asks for or may be told maps to
// the documented Readiness, the fast path (only EPOLLIN and/or EPOLLOUT)
// included.
#include "corio/loop/internal/epoll_reactor.h"

#include <sys/epoll.h>

#include <cstdint>

#include "gtest/gtest.h"

namespace corio::internal {
namespace {

// The mapping reactor.h documents, one bit at a time.
std::uint8_t expected(std::uint32_t ev) {
  std::uint8_t bits = 0;
  if (ev & (EPOLLIN | EPOLLPRI)) bits |= Readiness::kReadable;
  if (ev & EPOLLOUT) bits |= Readiness::kWritable;
  if (ev & EPOLLRDHUP) bits |= Readiness::kReadable | Readiness::kReadClosed;
  if (ev & EPOLLHUP) {
    bits |= Readiness::kReadable | Readiness::kWritable | Readiness::kReadClosed | Readiness::kWriteClosed;
  }
  if (ev & EPOLLERR) bits |= Readiness::kReadable | Readiness::kWritable | Readiness::kError;
  return bits;
}

TEST(EpollReactorTranslate, EveryCombinationMapsAsDocumented) {
  const std::uint32_t flags[] = {EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR};
  for (std::uint32_t mask = 0; mask < (1u << 6); ++mask) {
    std::uint32_t ev = 0;
    for (int i = 0; i < 6; ++i) {
      if (mask & (1u << i)) ev |= flags[i];
    }
    EXPECT_EQ(EpollReactor::translate(ev).bits, expected(ev)) << "epoll events 0x" << std::hex << ev;
  }
}

TEST(EpollReactorTranslate, ReadableAndWritableAlone) {
  EXPECT_EQ(EpollReactor::translate(0).bits, 0);
  EXPECT_EQ(EpollReactor::translate(EPOLLIN).bits, Readiness::kReadable);
  EXPECT_EQ(EpollReactor::translate(EPOLLOUT).bits, Readiness::kWritable);
  EXPECT_EQ(EpollReactor::translate(EPOLLIN | EPOLLOUT).bits, Readiness::kReadable | Readiness::kWritable);
}

}  // namespace
}  // namespace corio::internal
