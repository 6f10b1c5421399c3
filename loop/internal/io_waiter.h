// IoWaiter: a waiter on the loop's level-triggered fd table.
#ifndef CORIO_LOOP_INTERNAL_IO_WAITER_H_
#define CORIO_LOOP_INTERNAL_IO_WAITER_H_

#include "corio/loop/internal/reactor.h"

namespace corio::internal {

// A waiter on the loop's level-triggered fd table (add_reader/add_writer,
// wait_readable/wait_writable). One-shot waiters are unregistered before
// `ready` runs; persistent ones (add_reader/add_writer) stay registered.
struct IoWaiter {
  void (*ready)(IoWaiter* self, Readiness events) noexcept = nullptr;
  bool persistent = false;
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_IO_WAITER_H_
