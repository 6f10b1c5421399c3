// async_with and aclose: asyncio's `async with` for resources that close
// asynchronously (a StreamWriter, an AsyncGenerator, anything with
// aclose(), or with close() and wait_closed()).
//
//   co_await corio::async_with(writer, [&](corio::StreamWriter& w) -> corio::Task<> {
//     w.write("bye\n");
//     co_await w.drain();
//   });                                   // then always: close(), wait_closed()
//
//   int n = co_await corio::async_with(ticks(10), [](auto& gen) -> corio::Task<int> {
//     co_return *co_await gen.next();
//   });                                   // then always: gen.aclose()
//
// The body runs inline in the calling task. Whatever way it ends (a value,
// an error, a cancel), the resource is then closed, and async_with returns
// (or raises) only once the close is over. The close runs in a task of its
// own, so the cancel that interrupted the body does not interrupt it, nor
// does a later one: async_with waits for it and then raises the
// CancelledError. It is bounded by `close_timeout` (30 s by default;
// Duration::max() for none), after which it is cancelled (TimeoutError).
#ifndef CORIO_STREAMS_ASYNC_WITH_H_
#define CORIO_STREAMS_ASYNC_WITH_H_

#include <chrono>
#include <concepts>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/shield.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/timeout.h"

namespace corio {

// A resource with `co_await r.aclose()` (AsyncGenerator), or with
// `r.close(); co_await r.wait_closed();` (StreamWriter).
template <class R>
concept AsyncClosable = requires(R& r) {
  r.aclose();
};
template <class R>
concept CloseWaitable = requires(R& r) {
  r.close();
  r.wait_closed();
};
template <class R>
concept AsyncResource = AsyncClosable<R> || CloseWaitable<R>;

inline constexpr std::chrono::seconds kDefaultCloseTimeout{30};

// Closes `r` the way async_with does (without its shield or timeout):
// r.aclose() if it has one, else r.close() then r.wait_closed().
// Errors: whatever the close raises.
// Thread safety: a task of the resource's loop.
// Cancellation: as the resource's close (not shielded: async_with is).
template <AsyncResource R>
Task<void> aclose(R& r) {
  if constexpr (AsyncClosable<R>) {
    co_await r.aclose();
  } else {
    r.close();
    co_await r.wait_closed();
  }
}

namespace internal {

template <class R>
Task<void> bounded_close(R* r, Duration limit) {
  co_await timeout(limit, aclose(*r));
}

// How the close went: its error, and a cancel of the waiting task that
// came meanwhile (to raise once the close is over).
struct CloseOutcome {
  CloseOutcome() noexcept = default;
  std::exception_ptr close_error;
  std::exception_ptr own_cancel;
};

// Closes `r` in a task of its own and waits for it, whatever cancels come.
template <class R>
Task<CloseOutcome> close_shielded(R* r, Duration limit) {
  TaskHandle<void> closer = create_task(bounded_close(r, limit), "corio::async_with close");
  CloseOutcome out;
  for (;;) {
    try {
      co_await shield(closer);
      break;
    } catch (const CancelledError&) {
      if (closer.done()) {  // the close itself was cancelled
        out.close_error = std::current_exception();
        break;
      }
      out.own_cancel = std::current_exception();
    } catch (...) {
      out.close_error = std::current_exception();
      break;
    }
  }
  co_return out;
}

[[gnu::cold]] inline void report_close_error(std::exception_ptr error) noexcept {
  try {
    ErrorContext context{
        "corio::async_with: closing the resource failed after its body had failed", std::move(error), {}};
    if (EventLoop* loop = EventLoop::current()) {
      loop->call_exception_handler(context);
    } else {
      EventLoop::default_exception_handler(context);
    }
  } catch (...) {
  }
}

template <class R, class Body>
using WithResult = typename std::invoke_result_t<Body&, R&>::value_type;

template <class T, class R, class Body>
Task<T> async_with_impl(R* r, Body body, Duration close_timeout) {
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<T>, std::monostate, T>> value;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await body(*r);
      value.emplace();
    } else {
      value.emplace(co_await body(*r));
    }
  } catch (...) {
    error = std::current_exception();
  }
  CloseOutcome closed = co_await close_shielded(r, close_timeout);
  if (error) {
    if (closed.close_error) report_close_error(closed.close_error);
    std::rethrow_exception(error);
  }
  if (closed.own_cancel) {
    if (closed.close_error) report_close_error(closed.close_error);
    std::rethrow_exception(closed.own_cancel);
  }
  if (closed.close_error) std::rethrow_exception(closed.close_error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*value);
}

template <class T, class R, class Body>
Task<T> async_with_owned(R r, Body body, Duration close_timeout) {
  co_return co_await async_with_impl<T>(&r, std::move(body), close_timeout);
}

}  // namespace internal

// async_with(resource, body, close_timeout): runs `body(resource)` (a
// callable taking R& and returning Task<T>), then closes the resource as
// aclose() does, and returns the body's value. An lvalue resource is used
// in place and must outlive the call; an rvalue one (a generator made in
// the call) is kept in the call's frame.
//
// Errors: the body's error, if it raised (an error of the close is then
//   reported to the loop's exception handler); otherwise a CancelledError
//   that came during the close; otherwise the close's error (TimeoutError
//   when it took longer than close_timeout). RuntimeError outside a task.
// Thread safety: a task of the running loop.
// Cancellation: a cancel during the body is raised in it as usual; the
//   resource is closed all the same (see the header comment), and the
//   CancelledError comes out once it is.
template <AsyncResource R, class Body>
requires std::invocable<Body&, R&> Task<internal::WithResult<R, Body>> async_with(
    R& resource, Body body, Delay close_timeout = kDefaultCloseTimeout) {
  return internal::async_with_impl<internal::WithResult<R, Body>>(&resource, std::move(body), close_timeout.duration());
}
template <AsyncResource R, class Body>
requires(!std::is_lvalue_reference_v<R> && std::invocable<Body&, R&>) Task<internal::WithResult<R, Body>> async_with(
    R&& resource, Body body, Delay close_timeout = kDefaultCloseTimeout) {
  return internal::async_with_owned<internal::WithResult<R, Body>>(std::move(resource), std::move(body),
                                                                   close_timeout.duration());
}

}  // namespace corio

#endif  // CORIO_STREAMS_ASYNC_WITH_H_
