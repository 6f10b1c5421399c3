// LoopOptions: how a new EventLoop (or corio::run) is set up: the virtual
// clock for tests, and asyncio's debug mode.
//
//   corio::run(main_task(), corio::LoopOptions{.virtual_clock = true});
#ifndef CORIO_LOOP_LOOP_OPTIONS_H_
#define CORIO_LOOP_LOOP_OPTIONS_H_

#include <chrono>

#include "corio/loop/clock.h"

namespace corio {

// Options for a new loop.
struct LoopOptions {
  // Virtual clock (Trio's MockClock with autojump): time only moves when
  // nothing is runnable, no fd waiter and no executor job is pending; it then
  // jumps straight to the next timer. With fd waiters or executor jobs
  // pending it waits for real and advances by the real time waited. It
  // starts at the real clock's reading when the loop is made, not at zero:
  // measure intervals (time() - start), not absolute times.
  bool virtual_clock = false;
  // Debug mode: report any callback (call_soon, timers, threadsafe posts,
  // add_reader/add_writer) or task step slower than slow_callback_duration
  // through the exception handler: "Executing <name> took N seconds", with
  // the task's name, "<callback>", or "<reader on fd N>". Also, while the
  // loop runs, a call from another thread into call_soon, call_later,
  // call_at, create_task, add_reader/add_writer, remove_reader/
  // remove_writer, add_signal_handler/remove_signal_handler,
  // TaskHandle::cancel or Future::set_result/set_exception raises
  // RuntimeError naming the call, before it changes anything (asyncio's
  // "Non-thread-safe operation invoked on an event loop other than the
  // current one"); other threads use call_soon_threadsafe and the
  // *_threadsafe setters. Without debug mode such a call is a data race.
  bool debug = false;
  Duration slow_callback_duration = std::chrono::milliseconds(100);
};

}  // namespace corio

#endif  // CORIO_LOOP_LOOP_OPTIONS_H_
