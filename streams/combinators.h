// Combinators over AsyncGenerator<T>: map, filter, take, batch, merge,
// collect, and from_queue, which turns a Queue or a Channel into a
// generator.
//
//   auto lines = corio::from_queue(queue);                  // until shutdown
//   auto sizes = corio::map(std::move(lines), [](std::string s) { return s.size(); });
//   auto big = corio::filter(std::move(sizes), [](std::size_t n) { return n > 80; });
//   auto chunks = corio::batch(std::move(big), 100, 50ms);  // <= 100 per chunk, <= 50 ms wait
//   while (auto chunk = co_await chunks.next()) flush(*chunk);
//
// Each combinator takes its source(s) by value and returns a new
// generator; nothing runs until the result's first next(). map, filter and
// take run their source inline, in the consumer's task. batch and merge
// must wait on a source and on a clock (or on several sources) at once, so
// they run each source in a task of its own (a pump) that feeds a bounded
// queue: a pump runs at most one item ahead (batch: one chunk), so they stay
// lazy and memory stays bounded. Their pumps are cancelled and waited for
// when the combinator ends, fails, is cancelled or is closed with aclose();
// one dropped without aclose() cancels its pumps, which then unwind in the
// background.
//
// aclose() goes through: closing a combinator closes its source(s), whose
// catch blocks and asynchronous cleanup run (merge and batch close them by
// cancelling their pumps).
//
// Errors: an error raised by a source reaches the consumer's next() (after
//   the items that came before it; batch first yields the partial chunk).
//   merge: the first error of any source; the other sources are then
//   cancelled. ValueError from batch() for n == 0.
// Thread safety: the tasks of one loop.
// Cancellation: as AsyncGenerator: a cancel of the consumer is raised
//   inside the combinator, which passes it to its sources (inline, or by
//   cancelling its pumps and waiting for them) before next() rethrows it.
//   from_queue's waits are cancel safe: no item is lost.
#ifndef CORIO_STREAMS_COMBINATORS_H_
#define CORIO_STREAMS_COMBINATORS_H_

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/shield.h"
#include "corio/loop/task.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/timeout.h"
#include "corio/streams/async_generator.h"
#include "corio/streams/errors.h"
#include "corio/sync/channel.h"
#include "corio/sync/errors.h"
#include "corio/sync/queue.h"

namespace corio {

namespace internal {

template <class X>
inline constexpr bool kIsTask = false;
template <class X>
inline constexpr bool kIsTask<Task<X>> = true;

// What `fn(arg)` gives, looking through a Task.
template <class F, class Arg>
struct CallValue {
  using Raw = std::invoke_result_t<F&, Arg>;
  using type = Raw;
};
template <class F, class Arg>
requires kIsTask<std::invoke_result_t<F&, Arg>>
struct CallValue<F, Arg> {
  using type = typename std::invoke_result_t<F&, Arg>::value_type;
};
template <class F, class Arg>
using CallValueT = std::remove_cvref_t<typename CallValue<F, Arg>::type>;

// What a pump hands over: a value, the source's error, or (neither) its end.
// A class with constructors of its own, not an aggregate: g++ 12 destroys an
// aggregate temporary twice inside a co_await (see README.md).
template <class T>
class PumpItem {
 public:
  PumpItem() noexcept = default;
  explicit PumpItem(T&& v) noexcept(std::is_nothrow_move_constructible_v<T>) : value(std::move(v)) {}
  explicit PumpItem(std::exception_ptr e) noexcept : error(std::move(e)) {}
  PumpItem(PumpItem&&) noexcept = default;
  PumpItem& operator=(PumpItem&&) noexcept = default;

  std::optional<T> value;
  std::exception_ptr error;
};

template <class T>
using PumpQueue = Queue<PumpItem<T>>;

// Runs `source` to its end in a task of its own, handing each value to
// `out`, then its error or its end. A cancel ends it (the source unwinds
// at its suspension point) with nothing more put.
template <class T>
Task<void> pump(AsyncGenerator<T> source, std::shared_ptr<PumpQueue<T>> out) {
  PumpItem<T> last;
  try {
    while (std::optional<T> v = co_await source.next()) {
      PumpItem<T> item(std::move(*v));
      co_await out->put(std::move(item));
    }
  } catch (const CancelledError&) {
    throw;
  } catch (...) {
    last = PumpItem<T>(std::current_exception());
  }
  co_await out->put(std::move(last));
}

// The pump tasks of one combinator. stop() cancels those still running and
// waits for them to end; a cancel of the waiting task meanwhile does not
// cut that wait short and is raised afterwards. The destructor only
// cancels (a combinator dropped at a co_yield cannot wait).
class PumpGroup {
 public:
  PumpGroup() = default;
  PumpGroup(const PumpGroup&) = delete;
  PumpGroup& operator=(const PumpGroup&) = delete;
  ~PumpGroup() {
    if (EventLoop::current() == nullptr) return;  // the loop is gone or stopped: it destroys them
    for (TaskHandle<void>& h : pumps_) {
      if (!h.done()) h.cancel();
    }
  }

  void add(TaskHandle<void> h) { pumps_.push_back(std::move(h)); }

  Task<void> stop() {
    for (TaskHandle<void>& h : pumps_) {
      if (!h.done()) h.cancel();
    }
    std::exception_ptr own_cancel;
    for (TaskHandle<void>& h : pumps_) {
      while (!h.done()) {
        try {
          co_await shield(h);
        } catch (const CancelledError&) {
          if (!h.done()) own_cancel = std::current_exception();
        } catch (...) {
          // A pump's own failure went into the queue already.
        }
      }
    }
    pumps_.clear();
    if (own_cancel) std::rethrow_exception(own_cancel);
  }

 private:
  std::vector<TaskHandle<void>> pumps_;
};

template <class U, class T, class F>
AsyncGenerator<U> map_impl(AsyncGenerator<T> source, F fn) {
  bool closing = false;
  try {
    while (std::optional<T> v = co_await source.next()) {
      if constexpr (kIsTask<std::invoke_result_t<F&, T&&>>) {
        U u = co_await fn(std::move(*v));
        co_yield std::move(u);
      } else {
        co_yield fn(std::move(*v));
      }
    }
  } catch (const GeneratorExit&) {
    closing = true;
  }
  if (closing) co_await source.aclose();
}

template <class T, class F>
AsyncGenerator<T> filter_impl(AsyncGenerator<T> source, F pred) {
  bool closing = false;
  try {
    while (std::optional<T> v = co_await source.next()) {
      bool keep;
      if constexpr (kIsTask<std::invoke_result_t<F&, const T&>>) {
        keep = co_await pred(static_cast<const T&>(*v));
      } else {
        keep = pred(static_cast<const T&>(*v));
      }
      if (keep) co_yield std::move(*v);
    }
  } catch (const GeneratorExit&) {
    closing = true;
  }
  if (closing) co_await source.aclose();
}

template <class T>
AsyncGenerator<T> take_impl(AsyncGenerator<T> source, std::size_t n) {
  try {
    for (std::size_t i = 0; i < n; ++i) {
      std::optional<T> v = co_await source.next();
      if (!v) co_return;
      co_yield std::move(*v);
    }
  } catch (const GeneratorExit&) {
  }
  co_await source.aclose();
}

template <class T>
AsyncGenerator<std::vector<T>> batch_impl(AsyncGenerator<T> source, std::size_t n, Duration max_wait) {
  auto queue = std::make_shared<PumpQueue<T>>(n);
  PumpGroup pumps;
  pumps.add(create_task(pump(std::move(source), queue)));
  std::exception_ptr error;
  try {
    std::vector<T> chunk;
    TimePoint deadline{};
    bool ended = false;
    while (!ended) {
      std::optional<PumpItem<T>> item;
      if (chunk.empty()) {
        item.emplace(co_await queue->get());
      } else {
        try {
          item.emplace(co_await wait_for(queue->get(), deadline - current_loop().time()));
        } catch (const TimeoutError&) {
          // max_wait is up: the chunk goes as it is.
        }
      }
      if (item && item->value) {
        if (chunk.empty()) deadline = internal::deadline_after(current_loop().time(), max_wait);
        chunk.push_back(std::move(*item->value));
        if (chunk.size() < n) continue;
      } else if (item) {
        error = item->error;  // null: the source ended
        ended = true;
      }
      if (!chunk.empty()) {
        co_yield std::move(chunk);
        chunk = std::vector<T>();
      }
    }
  } catch (const GeneratorExit&) {
    error = nullptr;
  } catch (...) {
    error = std::current_exception();
  }
  co_await pumps.stop();
  if (error) std::rethrow_exception(error);
}

template <class T>
AsyncGenerator<T> merge_impl(std::vector<AsyncGenerator<T>> sources) {
  auto queue = std::make_shared<PumpQueue<T>>(1);
  PumpGroup pumps;
  std::size_t live = 0;
  for (AsyncGenerator<T>& s : sources) {
    pumps.add(create_task(pump(std::move(s), queue)));
    ++live;
  }
  sources.clear();
  std::exception_ptr error;
  try {
    while (live > 0) {
      PumpItem<T> item = co_await queue->get();
      if (item.value) {
        co_yield std::move(*item.value);
      } else if (item.error) {
        std::rethrow_exception(item.error);
      } else {
        --live;
      }
    }
  } catch (const GeneratorExit&) {
  } catch (...) {
    error = std::current_exception();
  }
  co_await pumps.stop();
  if (error) std::rethrow_exception(error);
}

template <class Q>
auto from_queue_impl(Q& q) -> AsyncGenerator<typename Q::value_type> {
  using T = typename Q::value_type;
  for (;;) {
    std::optional<T> item;
    try {
      if constexpr (requires { q.receive(); }) {
        item.emplace(co_await q.receive());
      } else {
        item.emplace(co_await q.get());
      }
    } catch (const QueueShutDown&) {
      co_return;
    }
    co_yield std::move(*item);
  }
}

}  // namespace internal

// map(source, fn): fn(value) for each value; fn may return a Task<U>,
// which is awaited.
template <class T, class F>
AsyncGenerator<internal::CallValueT<F, T&&>> map(AsyncGenerator<T> source, F fn) {
  return internal::map_impl<internal::CallValueT<F, T&&>>(std::move(source), std::move(fn));
}

// filter(source, pred): the values for which pred(const T&) is true; pred
// may return a Task<bool>.
template <class T, class F>
AsyncGenerator<T> filter(AsyncGenerator<T> source, F pred) {
  return internal::filter_impl(std::move(source), std::move(pred));
}

// take(source, n): the first n values; then the source is closed
// (aclose()), so its cleanup runs before the last next() returns nullopt.
template <class T>
AsyncGenerator<T> take(AsyncGenerator<T> source, std::size_t n) {
  return internal::take_impl(std::move(source), n);
}

// batch(source, n, max_wait): the values in chunks of n; a chunk that has
// waited max_wait since its first value arrived goes out with what it has
// (Delay: any std::chrono duration), and the last one goes out at the
// source's end. Never an empty chunk.
// Errors: ValueError for n == 0.
template <class T>
AsyncGenerator<std::vector<T>> batch(AsyncGenerator<T> source, std::size_t n, Delay max_wait) {
  if (n == 0) throw ValueError("corio::batch: the chunk size must be positive");
  return internal::batch_impl(std::move(source), n, max_wait.duration());
}

// merge(sources): the values of all sources, concurrently, in the order
// they are yielded; ends when every source has ended.
template <class T>
AsyncGenerator<T> merge(std::vector<AsyncGenerator<T>> sources) {
  return internal::merge_impl(std::move(sources));
}
template <class T, class... More>
requires(std::is_same_v<More, AsyncGenerator<T>>&&...) AsyncGenerator<T> merge(AsyncGenerator<T> first, More... more) {
  std::vector<AsyncGenerator<T>> all;
  all.reserve(1 + sizeof...(More));
  all.push_back(std::move(first));
  (all.push_back(std::move(more)), ...);
  return internal::merge_impl(std::move(all));
}

// from_queue(q): the items of a Queue, LifoQueue, PriorityQueue or Channel
// as they come, ending when it is shut down (closed) and drained. The
// queue must outlive the generator.
template <class T, class Store>
AsyncGenerator<T> from_queue(BasicQueue<T, Store>& q) {
  return internal::from_queue_impl(q);
}
template <class T>
AsyncGenerator<T> from_queue(Channel<T>& ch) {
  return internal::from_queue_impl(ch);
}

// collect(source): every remaining value, in a vector.
template <class T>
Task<std::vector<T>> collect(AsyncGenerator<T> source) {
  std::vector<T> out;
  while (std::optional<T> v = co_await source.next()) out.push_back(std::move(*v));
  co_return out;
}

}  // namespace corio

#endif  // CORIO_STREAMS_COMBINATORS_H_
