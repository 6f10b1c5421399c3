// LoopAccess: the one door to the event loop's internal entry points, for
// the awaitables and I/O plumbing built on the loop (sync, streams, net,
// rpc). EventLoop keeps them private; applications use its public API
// (LoopHandle and ExternalWork, loop_handle.h, are the public form of
// external work). The target, //loop:loop_access, is visible inside corio
// only.
//
// Every function forwards to the EventLoop member of the same name, inline.
// The contracts are those of internal/task_base.h: loop thread only, except
// begin_external_work/end_external_work, which any thread may call.
//
//   internal::LoopAccess::add_timer(*loop_, &timer_);   // a sleep's timer
#ifndef CORIO_LOOP_INTERNAL_LOOP_ACCESS_H_
#define CORIO_LOOP_INTERNAL_LOOP_ACCESS_H_

#include "corio/loop/event_loop.h"
#include "corio/loop/internal/epoll_reactor.h"
#include "corio/loop/internal/io_waiter.h"
#include "corio/loop/internal/reactor.h"
#include "corio/loop/internal/registration_state.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/internal/timer_heap.h"

namespace corio::internal {

class LoopAccess {
 public:
  LoopAccess() = delete;

  // The task whose step `loop` is running, or null.
  static TaskBase* current_task(const EventLoop& loop) noexcept { return loop.current_task(); }
  // Queues `t`'s next step: never allocates (the task's promised slot),
  // never fails. (TaskBase::schedule() is the same for a task's own loop.)
  [[gnu::always_inline]] static void schedule(EventLoop& loop, TaskBase* t) noexcept { loop.schedule(t); }

  // Queues a timer node; its `fire` runs on the loop thread when due.
  // Errors: std::bad_alloc (the node is not queued).
  [[gnu::always_inline]] static void add_timer(EventLoop& loop, TimerNode* n) { loop.add_timer(n); }
  // Unqueues a timer node if it is queued (a no-op otherwise).
  [[gnu::always_inline]] static void remove_timer(EventLoop& loop, TimerNode* n) noexcept { loop.remove_timer(n); }

  // A one-shot waiter for fd readiness (kReadable or kWritable) on the
  // level-triggered table. Errors: RuntimeError if the direction already
  // has a waiter, or the fd has an IoRegistration; std::invalid_argument,
  // std::system_error as EpollReactor.
  static void add_io_waiter(EventLoop& loop, int fd, Interest direction, IoWaiter* w) {
    loop.add_io_waiter(fd, direction, w);
  }
  static void remove_io_waiter(EventLoop& loop, int fd, Interest direction, IoWaiter* w) noexcept {
    loop.remove_io_waiter(fd, direction, w);
  }

  // The reactor backend (internal/reactor.h).
  static EpollReactor& reactor(EventLoop& loop) noexcept { return loop.reactor(); }
  // Marks `fd` as owned by a persistent, edge-triggered registration that
  // reports to `source`, so the level-triggered table refuses it. Errors:
  // as EpollReactor::watch; RuntimeError if the table has a waiter or
  // callback on the fd.
  static void watch_fd(EventLoop& loop, int fd, IoSource* source) { loop.watch_fd(fd, source); }
  static void unwatch_fd(EventLoop& loop, int fd) noexcept { loop.unwatch_fd(fd); }
  // A task waits on a watched fd (the virtual clock does not jump while
  // one does: the fd may become ready at any moment).
  static void io_wait_begin(EventLoop& loop) noexcept { loop.io_wait_begin(); }
  static void io_wait_end(EventLoop& loop) noexcept { loop.io_wait_end(); }
  // Frees a registration's state after the poll batch under way (room for
  // it was kept by watch_fd, so this does not allocate).
  static void retire_registration(EventLoop& loop, RegistrationState* s) noexcept { loop.retire_registration(s); }

  // Work on other threads that owes the loop a result: the virtual clock
  // does not jump over it. Any thread; end_external_work wakes the loop
  // when the count reaches 0.
  static void begin_external_work(EventLoop& loop) noexcept { loop.begin_external_work(); }
  static void end_external_work(EventLoop& loop) noexcept { loop.end_external_work(); }

  // Hands a new task to the loop, which keeps a reference until it is done
  // and queues its first step. Errors: std::bad_alloc; then the loop has
  // not taken the task.
  [[gnu::always_inline]] static void adopt_task(EventLoop& loop, TaskBase* t) { loop.adopt_task(t); }
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_LOOP_ACCESS_H_
