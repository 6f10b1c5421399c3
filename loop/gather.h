// gather: run awaitables concurrently and collect their results in order
// (asyncio.gather).
//
//   auto [a, b] = co_await corio::gather(fetch(1), fetch(2));      // tuple
//   std::vector<int> all = co_await corio::gather(std::move(tasks)); // vector
//   auto outcomes = co_await corio::gather(corio::return_exceptions, f(), g());
//
// Arguments are Task<T> (scheduled as tasks the moment gather() is called),
// TaskHandle<T> (already running) or Future<T> (e.g. from to_thread). A void result appears as
// std::monostate. Results keep the order of the arguments.
//
// Errors: the first exception raised by any child (CancelledError if a child
//   was cancelled) is rethrown as soon as it happens; the other children keep
//   running, as in asyncio, and their own errors are not reported as never
//   retrieved (still readable through their handles). With
//   `return_exceptions`, gather waits for all and returns an Outcome<T> per
//   child instead.
//   RuntimeError if a Task<T> argument is given with no loop running on this
//   thread (it could not be scheduled).
// Thread safety: call and await on the loop's thread, from a task.
// Cancellation: cancelling the task awaiting gather cancels every child, waits
//   until they have all finished, then raises CancelledError.
#ifndef CORIO_LOOP_GATHER_H_
#define CORIO_LOOP_GATHER_H_

#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/future.h"
#include "corio/loop/internal/awaitable_traits.h"
#include "corio/loop/internal/task_watch.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"

namespace corio {

template <class T>
using ValueOf = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// Outcome<T>: a child's value or its exception (gather with return_exceptions).
template <class T>
class Outcome {
 public:
  explicit Outcome(ValueOf<T> v) : v_(std::move(v)) {}
  explicit Outcome(std::exception_ptr e) : v_(std::move(e)) {}
  bool has_value() const noexcept { return v_.index() == 0; }
  // The value. Errors: rethrows the exception if there is one.
  ValueOf<T>& value() & {
    if (!has_value()) std::rethrow_exception(std::get<1>(v_));
    return std::get<0>(v_);
  }
  ValueOf<T>&& value() && { return std::move(value()); }
  // The exception, or null.
  std::exception_ptr exception() const noexcept { return has_value() ? nullptr : std::get<1>(v_); }
  bool cancelled() const noexcept { return !has_value() && is_cancelled_error(std::get<1>(v_)); }

 private:
  std::variant<ValueOf<T>, std::exception_ptr> v_;
};

struct ReturnExceptions {};
// Tag: gather(return_exceptions, ...) returns Outcome<T>s instead of throwing.
inline constexpr ReturnExceptions return_exceptions{};

namespace internal {

// A gather child: a handle, and whether gather made it (then its value is
// moved out; a handle the caller passed is copied from, so it stays usable).
template <class T>
struct GatherChild {
  TaskHandle<T> handle;
  bool owned;
};

template <class T>
GatherChild<T> gather_child(Task<T>&& t) {
  return {create_task(std::move(t)), true};
}
template <class T>
GatherChild<T> gather_child(const TaskHandle<T>& h) {
  return {h, false};
}

template <class T>
GatherChild<T> gather_child(const Future<T>& f) {
  return {create_task(as_task<T>(f)), true};
}

template <class T>
ValueOf<T> take_value(GatherChild<T>& c) {
  if constexpr (std::is_void_v<T>) {
    c.handle.result();
    return {};
  } else if constexpr (std::is_copy_constructible_v<T>) {
    if (c.owned) return c.handle.take_result();
    return c.handle.result();
  } else {
    return c.handle.take_result();
  }
}

template <class T>
Outcome<T> take_outcome(GatherChild<T>& c) {
  std::exception_ptr e = c.handle.base()->exception_retrieved();
  if (e) return Outcome<T>(e);
  return Outcome<T>(take_value(c));
}

// Once gather has raised, the errors of the other children (those already
// failed, those failing later, those failing as they are cancelled) are
// gather's business, not the loop's: as in asyncio, they are not reported
// as "never retrieved".
inline void mark_retrieved(std::vector<TaskRef>& refs) noexcept {
  for (TaskRef& r : refs) r.base()->exception_retrieved();
}

// Waits per gather's rules; on return every child is done (return_exc) or
// the first failure is rethrown. Cancels and drains children if cancelled.
inline Task<void> gather_wait(std::vector<TaskRef> refs, bool return_exc) {
  std::optional<CancelledError> cancelled;
  std::exception_ptr failure;
  {
    TaskWatch watch(refs, return_exc ? WatchUntil::kAllDone : WatchUntil::kFirstErrorOrCancel);
    try {
      co_await watch.wait();
      if (!return_exc && watch.first_failed()) {
        failure = refs[*watch.first_failed()].base()->exception_retrieved();
      }
    } catch (const CancelledError& e) {
      cancelled = e;
    }
  }
  if (cancelled) {
    // The children and the re-raised error carry the cancel message.
    for (TaskRef& r : refs) r.cancel(cancelled->message());
    co_await wait_all_absorbing_cancel(refs);
    mark_retrieved(refs);
    throw *cancelled;
  }
  if (failure) {
    mark_retrieved(refs);
    std::rethrow_exception(failure);
  }
}

// (The children travel as one tuple: g++ 12 miscompiles a coroutine whose
// parameters are a pack.)
template <class... T>
Task<std::tuple<ValueOf<T>...>> gather_tuple(std::tuple<GatherChild<T>...> children) {
  co_await gather_wait(std::apply([](auto&... c) { return std::vector<TaskRef>{TaskRef(c.handle)...}; }, children),
                       false);
  co_return std::apply([](auto&... c) { return std::tuple<ValueOf<T>...>{take_value(c)...}; }, children);
}

template <class... T>
Task<std::tuple<Outcome<T>...>> gather_tuple_outcomes(std::tuple<GatherChild<T>...> children) {
  co_await gather_wait(std::apply([](auto&... c) { return std::vector<TaskRef>{TaskRef(c.handle)...}; }, children),
                       true);
  co_return std::apply([](auto&... c) { return std::tuple<Outcome<T>...>{take_outcome(c)...}; }, children);
}

template <class T>
std::vector<TaskRef> refs_of(const std::vector<GatherChild<T>>& children) {
  std::vector<TaskRef> refs;
  refs.reserve(children.size());
  for (const auto& c : children) refs.emplace_back(c.handle);
  return refs;
}

template <class T>
Task<std::vector<ValueOf<T>>> gather_vector(std::vector<GatherChild<T>> children) {
  co_await gather_wait(refs_of(children), false);
  std::vector<ValueOf<T>> out;
  out.reserve(children.size());
  for (auto& c : children) out.push_back(take_value(c));
  co_return out;
}

template <class T>
Task<std::vector<Outcome<T>>> gather_vector_outcomes(std::vector<GatherChild<T>> children) {
  co_await gather_wait(refs_of(children), true);
  std::vector<Outcome<T>> out;
  out.reserve(children.size());
  for (auto& c : children) out.push_back(take_outcome(c));
  co_return out;
}

// What gather takes: a Task<T>, TaskHandle<T> or Future<T>, whose T is
// TaskLikeValue (awaitable_traits.h).
template <class A>
concept Gatherable = kTaskLike<A>;

template <class V>
auto gather_children(V&& items) {
  using Item = typename std::remove_cvref_t<V>::value_type;
  std::vector<GatherChild<TaskLikeValue<Item>>> children;
  children.reserve(items.size());
  for (auto& item : items) {
    if constexpr (std::is_lvalue_reference_v<V> || !std::is_same_v<Item, Task<TaskLikeValue<Item>>>) {
      children.push_back(gather_child(item));
    } else {
      children.push_back(gather_child(std::move(item)));
    }
  }
  return children;
}

}  // namespace internal

// gather(a, b, ...): Task<std::tuple<...>> of the children's values.
template <internal::Gatherable... A>
requires(sizeof...(A) > 0) auto gather(A&&... awaitables) {
  return internal::gather_tuple<internal::TaskLikeValue<A>...>(
      std::tuple<internal::GatherChild<internal::TaskLikeValue<A>>...>{
          internal::gather_child(std::forward<A>(awaitables))...});
}

// gather(return_exceptions, a, b, ...): Task<std::tuple<Outcome<...>...>>.
template <internal::Gatherable... A>
auto gather(ReturnExceptions, A&&... awaitables) {
  return internal::gather_tuple_outcomes<internal::TaskLikeValue<A>...>(
      std::tuple<internal::GatherChild<internal::TaskLikeValue<A>>...>{
          internal::gather_child(std::forward<A>(awaitables))...});
}

// gather over a vector of Task<T> (moved in) or TaskHandle<T>:
// Task<std::vector<ValueOf<T>>>, in the vector's order.
template <class T>
Task<std::vector<ValueOf<T>>> gather(std::vector<Task<T>>&& tasks) {
  return internal::gather_vector<T>(internal::gather_children(std::vector<Task<T>>(std::move(tasks))));
}
// (The vector overloads take the caller's vector over, leaving it empty for
// the next batch.)
// A vector of Task<T> is consumed, and Tasks cannot be copied: pass it with
// std::move (these two say so, instead of an error deep in libstdc++).
template <class T>
void gather(std::vector<Task<T>>&) {
  static_assert(sizeof(T*) == 0, "corio::gather: pass a vector of Task<T> with std::move");
}
template <class T>
void gather(ReturnExceptions, std::vector<Task<T>>&) {
  static_assert(sizeof(T*) == 0, "corio::gather: pass a vector of Task<T> with std::move");
}
template <class T>
Task<std::vector<ValueOf<T>>> gather(const std::vector<TaskHandle<T>>& tasks) {
  return internal::gather_vector<T>(internal::gather_children(tasks));
}
template <class T>
Task<std::vector<Outcome<T>>> gather(ReturnExceptions, std::vector<Task<T>>&& tasks) {
  return internal::gather_vector_outcomes<T>(internal::gather_children(std::vector<Task<T>>(std::move(tasks))));
}
template <class T>
Task<std::vector<Outcome<T>>> gather(ReturnExceptions, const std::vector<TaskHandle<T>>& tasks) {
  return internal::gather_vector_outcomes<T>(internal::gather_children(tasks));
}

}  // namespace corio

#endif  // CORIO_LOOP_GATHER_H_
