// ErrorContext: what a loop's exception handler is told about an error
// nobody else can receive (asyncio's context dict): an exception thrown by
// a callback, a task's exception never retrieved, a slow step in debug
// mode. See EventLoop::set_exception_handler (event_loop.h).
#ifndef CORIO_LOOP_ERROR_CONTEXT_H_
#define CORIO_LOOP_ERROR_CONTEXT_H_

#include <exception>
#include <string>

namespace corio {

// What the loop's exception handler is told (asyncio's context dict).
struct ErrorContext {
  std::string message;
  std::exception_ptr exception;  // may be null
  std::string task_name;         // empty when not about a task
};

}  // namespace corio

#endif  // CORIO_LOOP_ERROR_CONTEXT_H_
