// EventLoop: asyncio's event loop for C++20 coroutines.
//
// One loop per thread. It runs ready callbacks and task steps in FIFO order,
// fires timers (equal deadlines in the order they were scheduled), waits for
// fd readiness with epoll, accepts callbacks from other threads through an
// eventfd, delivers POSIX signals on the loop thread, and offloads blocking
// work to a thread pool (executor.h).
//
// Most users never touch it directly: corio::run(main()) (run.h) makes a loop,
// runs a coroutine to completion and cleans up.
//
// Thread safety: every member is for the loop's own thread, except
// call_soon_threadsafe() and stop_threadsafe(), which any thread may call.
// In debug mode a call from another thread into the main loop-thread-only
// entry points raises RuntimeError (see LoopOptions::debug).
//
// Out of memory: calls that allocate (call_soon, call_later, create_task,
// ...) throw std::bad_alloc and leave the loop as it was. So do run_once()
// and run_forever() when an iteration cannot queue callbacks posted from
// other threads: it keeps them, in order, for the next one. Waking a task
// (from a timer, a lock, an event, a finished task) never allocates and
// never fails: each task holds a slot in the ready queue from creation to
// completion, so the queue's capacity is at least the number of pending
// tasks (16 bytes each; it grows by doubling and never shrinks). A due
// call_later callback that finds no room and no memory stays queued and
// fires, in order, on a later iteration.
#ifndef CORIO_LOOP_EVENT_LOOP_H_
#define CORIO_LOOP_EVENT_LOOP_H_

#include <atomic>
#include <chrono>
#include <coroutine>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "corio/loop/clock.h"
#include "corio/loop/delay.h"
#include "corio/loop/error_context.h"
#include "corio/loop/errors.h"
#include "corio/loop/fd_ready.h"
#include "corio/loop/handle.h"
#include "corio/loop/internal/epoll_reactor.h"
#include "corio/loop/internal/frame_allocator.h"
#include "corio/loop/internal/handle_state.h"
#include "corio/loop/internal/intrusive_list.h"
#include "corio/loop/internal/io_waiter.h"
#include "corio/loop/internal/loop_link.h"
#include "corio/loop/internal/reactor.h"
#include "corio/loop/internal/ready_queue.h"
#include "corio/loop/internal/task_base.h"
#include "corio/loop/internal/timer_heap.h"
#include "corio/loop/internal/timer_queue.h"
#include "corio/loop/internal/unique_function.h"
#include "corio/loop/loop_options.h"

namespace corio {

class ThreadPoolExecutor;
class EventSource;
class TaskRef;

namespace internal {
class LoopAccess;
struct RegistrationState;
}  // namespace internal

class EventLoop {
 public:
  EventLoop() : EventLoop(LoopOptions{}) {}
  // Errors: RuntimeError if the epoll/eventfd/pipe descriptors cannot be made.
  explicit EventLoop(LoopOptions options);
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  // Destroys tasks still pending (their frames unwind, with no cancellation
  // delivered: call corio::run or cancel_all_tasks() first for a clean exit),
  // restores signal handlers and joins the default executor. As a frame
  // goes, its locals' destructors run (guards release) and the awaitable it
  // was suspended in detaches itself; a sync wait that had already been
  // handed an item, a lock or a permit gives it back.
  ~EventLoop();

  // The loop running on this thread, or nullptr.
  static EventLoop* current() noexcept { return tls_current_; }

  // Runs until stop(). Errors: RuntimeError if this loop is already running
  // or another loop runs on this thread.
  void run_forever();
  // Makes run_forever()/run_until_complete() return after the callbacks that
  // are ready now have run.
  void stop() noexcept { stopping_ = true; }
  // stop() from any thread.
  void stop_threadsafe();
  bool is_running() const noexcept { return running_; }

  // run_until_complete(loop, task) is a free function: see run.h.

  // The loop's monotonic time (virtual when the virtual clock is on).
  TimePoint time() const noexcept { return TimePoint(Duration(now_ns())); }

  // Schedules `f` to run on the next iteration, after those already queued.
  // Exceptions from `f` go to the exception handler.
  // Errors: std::bad_alloc; then nothing is scheduled and `f` is destroyed.
  //   In debug mode, RuntimeError from another thread (LoopOptions::debug).
  template <class F>
  Handle call_soon(F f) {
    check_thread("call_soon()");
    ready_.promise();  // given back when it runs (run_handle)
    internal::HandleState* s;
    try {
      s = new internal::HandleImpl<F, internal::SoonState>(this, std::move(f));
    } catch (...) {
      ready_.release();
      throw;
    }
    Handle h(s);
    ready_.push_promised({&EventLoop::run_handle, s});
    return h;
  }
  // Schedules `f` after `delay` (a zero or negative delay: next iteration,
  // after call_soon callbacks already due). Equal deadlines run FIFO. A
  // delay too long for Duration (such as Duration::max()) never fires.
  // Errors (also call_at): std::bad_alloc; then nothing is scheduled and
  // `f` is destroyed. std::invalid_argument for a NaN delay. In debug
  // mode, RuntimeError from another thread (LoopOptions::debug).
  template <class Rep, class Period, class F>
  TimerHandle call_later(std::chrono::duration<Rep, Period> delay, F f) {
    return call_at(internal::deadline_after(time(), internal::to_duration(delay)), std::move(f));
  }
  template <class F>
  TimerHandle call_at(TimePoint when, F f) {
    check_thread("call_later()/call_at()");
    // The state starts with one reference, which is the queue's (it moves to
    // the ready queue when the timer fires); `h` adds the user's. Taking
    // another one here for the queue leaked every timer's state.
    auto* s = new internal::HandleImpl<F, internal::TimerState>(this, std::move(f));
    TimerHandle h(s);
    s->deadline = when.time_since_epoch().count();
    s->fire = &EventLoop::fire_handle_timer;
    try {
      timers_.push(s);
    } catch (...) {
      s->unref();  // the queue's reference; `h` releases the state
      throw;
    }
    return h;
  }

  // Schedules `f` on this loop from any thread and wakes the loop.
  // Errors: std::bad_alloc; then nothing is scheduled and `f` is destroyed.
  // Thread safety: any thread. The loop must outlive the call.
  template <class F>
  void call_soon_threadsafe(F f) {
    post_threadsafe(new internal::CallbackImpl<F>(std::move(f)));
  }

  // Calls `f` on the loop thread whenever `fd` is readable (writable), until
  // removed. One reader and one writer per fd; adding replaces the callback.
  // An exception from `f` goes to the exception handler. Loop thread only.
  // Errors: RuntimeError if a task is awaiting the same fd and direction,
  //   or in debug mode from another thread (also remove_reader/
  //   remove_writer); std::invalid_argument for a negative fd or an empty
  //   `f`;
  //   std::system_error if epoll rejects the fd (e.g. a regular file).
  void add_reader(int fd, std::function<void()> f);
  void add_writer(int fd, std::function<void()> f);
  // True if a callback was registered.
  bool remove_reader(int fd);
  bool remove_writer(int fd);

  // Runs `f` on the loop thread each time signal `sig` arrives (self-pipe,
  // so the handler body is not limited to async-signal-safe calls).
  // Replaces a previous handler for `sig` on this loop. An exception from
  // `f` goes to the exception handler. Loop thread only.
  // Errors: std::invalid_argument for SIGKILL/SIGSTOP, an out-of-range
  //   number or an empty `f`; RuntimeError if another loop already handles
  //   `sig`, or in debug mode from another thread (also
  //   remove_signal_handler); std::system_error if pipe2, sigaction or
  //   epoll_ctl fails.
  void add_signal_handler(int sig, std::function<void()> f);
  // Restores the previous disposition. True if a handler was removed.
  bool remove_signal_handler(int sig);

  // The handler for errors nobody else can receive: exceptions thrown by
  // callbacks, tasks whose exception was never retrieved, slow steps in
  // debug mode. The default prints to stderr. A handler may replace or clear
  // itself while it runs; a report made from inside the handler goes to the
  // handler it installed, if any, else to the default one. Errors: none of its own; an exception the handler throws
  // is reported through the default handler, with the original report.
  using ExceptionHandler = std::function<void(EventLoop&, const ErrorContext&)>;
  void set_exception_handler(ExceptionHandler h) {
    exception_handler_ = std::move(h);
    ++exception_handler_sets_;
  }
  // Reports `context` through the handler (asyncio's
  // call_exception_handler); never throws. Loop thread only.
  void call_exception_handler(const ErrorContext& context);
  // Prints `context` to stderr: the handler used when none is set.
  static void default_exception_handler(const ErrorContext& context);

  // Debug mode (asyncio's): a callback or task step that runs longer than
  // the slow-callback duration (100 ms unless set) is reported through the
  // exception handler, with the task's name, and calls from other threads
  // are checked (LoopOptions::debug). Loop thread only.
  void set_debug(bool on) noexcept {
    debug_ = on;
    debug_thread_.store(on && running_ ? std::this_thread::get_id() : std::thread::id(), std::memory_order_relaxed);
  }
  bool get_debug() const noexcept { return debug_; }
  void set_slow_callback_duration(Duration d) noexcept { slow_callback_ns_ = d.count(); }
  // True if the loop runs on the virtual clock (LoopOptions::virtual_clock).
  bool virtual_clock() const noexcept { return virtual_clock_; }

  // The executor for run_in_executor/to_thread, made on first use with
  // min(32, cores + 4) threads (or set_default_executor_workers'). Joined
  // by ~EventLoop. Errors: std::bad_alloc.
  ThreadPoolExecutor& default_executor();
  // The default executor's size. Takes effect when it is made, on its first
  // use: it does not resize one already made. Errors: std::invalid_argument
  // if max_workers is 0.
  void set_default_executor_workers(std::size_t max_workers);

  // For work on other threads that may outlive the loop (a job on an
  // executor the user owns): a post through the link reaches the loop while
  // it exists and is dropped once it is being destroyed. Made on first use.
  // Loop thread only. Errors: std::bad_alloc.
  const std::shared_ptr<internal::LoopLink>& link();

  // Requests cancellation of every pending task (asyncio's shutdown step);
  // each sees CancelledError (with `message`) at its next step. Loop thread
  // only. Errors: std::bad_alloc, before any task is cancelled.
  void cancel_all_tasks(const std::string& message = {});
  // Number of tasks created on this loop and not yet done.
  std::size_t pending_task_count() const noexcept { return tasks_.size(); }
  // The tasks not yet done, oldest first (what corio::all_tasks(loop)
  // returns). Each TaskRef keeps its task's state alive. Defined in
  // task_handle.h, which has TaskRef: include it to call this. Loop thread
  // only. Errors: std::bad_alloc.
  inline std::vector<TaskRef> pending_tasks();
  // Ready-queue slots held in reserve (see "Out of memory" above): one per
  // pending task and one per queued callback, so pending_task_count() when
  // no callback is waiting to run. For tests and monitoring.
  std::size_t ready_slots_promised() const noexcept { return ready_.promised(); }
  // Entries the ready queue has room for: it grows with bursts and gives
  // the room back once it runs empty well below it. For tests and
  // monitoring.
  std::size_t ready_capacity() const noexcept { return ready_.capacity(); }
  // Work on other threads that still owes the loop a result (ExternalWork
  // tokens, to_thread/run_in_executor jobs, foreign awaits outstanding).
  // For tests and monitoring. Any thread (a snapshot).
  std::size_t external_work() const noexcept { return external_work_.load(std::memory_order_relaxed); }

  // Lets `source` (event_source.h) be driven by this loop: polled every
  // iteration and, when the loop has nothing to run, waited on in place of
  // the reactor (a watcher thread then waits on the reactor and wakes the
  // source). Null removes it. The source must outlive its registration.
  // Errors: RuntimeError if another source is set. Loop thread only.
  void set_event_source(EventSource* source);
  EventSource* event_source() const noexcept { return source_; }

  // Runs one iteration: polls I/O (without blocking if `block` is false or
  // something is ready), fires due timers, runs the callbacks ready at its
  // start. Exposed for tests and for embedding the loop in another one: the
  // loop counts as running (current(), is_running()) during the call.
  // Errors: RuntimeError if this loop is already running (from one of its
  //   own callbacks) or another loop runs on this thread.
  void run_once(bool block = true);

  // For loop-thread-only entry points (the loop's own, and those of
  // primitives built on it): in debug mode, while the loop runs, raises
  // RuntimeError naming `what` if called from a thread other than the one
  // running the loop. Without debug mode it only tests the flag.
  // Errors: RuntimeError as said. Thread safety: any thread.
  void check_thread(const char* what) const {
    if (debug_) [[unlikely]]
      check_thread_slow(what);
  }

 private:
  // ---- Internal entry points, for awaitables built on the loop. ----
  // Not for applications: they take corio::internal types, and their
  // contracts are those of internal/task_base.h. sync, streams, net and
  // rpc reach them through internal::LoopAccess (internal/loop_access.h);
  // the loop's own pieces below are friends. Loop thread only unless said.
  friend class internal::LoopAccess;
  friend class internal::TaskBase;     // schedule(), forget_task()
  friend class internal::ForeignWake;  // begin/end_external_work()
  friend class FdReady;                // add_io_waiter(), remove_io_waiter()
  friend class Handle;                 // remove_timer()
  friend internal::TaskBase* internal::current_task_base() noexcept;

  // The task whose step is running, or null.
  internal::TaskBase* current_task() const noexcept { return current_task_; }
  // Queues a task's next step: never allocates (the task's promised slot),
  // never fails.
  void schedule(internal::TaskBase* t) noexcept { ready_.push({&EventLoop::step_task, t}); }
  // Queues a timer node. Errors: std::bad_alloc (the node is not queued).
  void add_timer(internal::TimerNode* n) { timers_.push(n); }
  void remove_timer(internal::TimerNode* n) noexcept {
    if (n->queued()) timers_.erase(n);
  }
  // Registers a one-shot waiter for fd readiness (kReadable or kWritable).
  // Errors: RuntimeError if the direction already has a waiter, or the fd
  // has an IoRegistration.
  void add_io_waiter(int fd, Interest direction, internal::IoWaiter* w);
  void remove_io_waiter(int fd, Interest direction, internal::IoWaiter* w) noexcept;
  // The reactor backend (internal/reactor.h), for IoRegistration.
  internal::EpollReactor& reactor() noexcept { return reactor_; }
  // Watches `fd` edge-triggered for an IoRegistration; the level-triggered
  // table then refuses it (the kernel's EEXIST: it keeps no slot for it).
  // Errors: as EpollReactor::watch (EEXIST if registered already);
  // RuntimeError if the table has a waiter or callback on the fd.
  void watch_fd(int fd, internal::IoSource* source);
  void unwatch_fd(int fd) noexcept;
  // A task suspended on an IoRegistration (the virtual clock does not jump
  // while one waits: the fd may become ready at any moment).
  void io_wait_begin() noexcept { ++io_waiters_; }
  void io_wait_end() noexcept { --io_waiters_; }
  // Frees a registration's state after the poll batch under way.
  void retire_registration(internal::RegistrationState* s) noexcept;
  // Work on other threads that owes the loop a result (the virtual clock
  // does not jump over it). Public form: ExternalWork (loop_handle.h).
  // Any thread; end_external_work wakes the loop when the count reaches 0.
  void begin_external_work() noexcept { external_work_.fetch_add(1, std::memory_order_relaxed); }
  void end_external_work() noexcept {
    if (external_work_.fetch_sub(1, std::memory_order_acq_rel) == 1 && tls_current_ != this) wake_threadsafe();
  }
  // Registers a new task (the loop keeps a reference until it is done).
  // Errors: std::bad_alloc; then the loop has not taken the task.
  void adopt_task(internal::TaskBase* t) {
    ready_.promise();  // the task's slot for every wake-up, until it is done
    tasks_.push_back(t);
    ready_.push_promised({&EventLoop::start_task, t});
  }
  // Drops a finished task from the loop's list (adopt_task's reverse).
  void forget_task(internal::TaskBase* t) noexcept {
    tasks_.erase(t);
    ready_.release();
  }

  // ---- The loop's own machinery. ----
  struct FdState {
    internal::IoWaiter* reader = nullptr;
    internal::IoWaiter* writer = nullptr;
    Interest registered = Interest::kNone;  // level interest in the reactor
    bool in_epoll = false;
  };
  struct CallbackWaiter;
  class RunningScope;

  std::int64_t now_ns() const noexcept { return virtual_clock_ ? virtual_now_ns_ : real_now_ns(); }
  static std::int64_t real_now_ns() noexcept {
    return std::chrono::duration_cast<Duration>(Clock::now().time_since_epoch()).count();
  }
  static void run_handle(void* p) noexcept;
  static void run_posted(void* p) noexcept;
  void drop_ready() noexcept;
  static void step_task(void* p) noexcept;
  // A task's first step (adopt_task queues it): a task cancelled before it
  // started never runs; otherwise step_task. Kept apart so that the other
  // steps need not ask whether the task has started.
  static void start_task(void* p) noexcept;
  static void fire_handle_timer(internal::TimerNode* n) noexcept;
  void run_iteration(bool block);
  // run_forever's iterations while the loop only waits on its event source
  // (see the definition).
  void run_source_rounds();
  void run_due();
  // Out of line: run_iteration's own shape stays that of a loop without a
  // source.
  [[gnu::noinline]] void finish_then_source_rounds();
  [[gnu::cold, gnu::noinline]] void check_thread_slow(const char* what) const;
  // Queues `node` (any thread) and wakes the loop. Errors: std::bad_alloc,
  // after deleting `node`.
  void post_threadsafe(internal::CallbackNode* node);
  void wake_threadsafe() noexcept;
  void drain_threadsafe();
  void poll_io(std::int64_t timeout_ns);
  [[gnu::noinline]] void wait_on_source(std::int64_t timeout_ns);
  void wait_on_source_inline(std::int64_t timeout_ns);
  [[gnu::noinline]] void start_watcher();
  class Watcher;
  void dispatch_io(int fd, Interest direction, Readiness events) noexcept;
  void dispatch_level(int fd, Readiness r);
  void free_retired() noexcept;
  void fire_timers();
  void run_ready(std::size_t n);
  void run_ready_debug(std::size_t n);
  // Debug mode: reports a step that held the loop for `duration_ns`, longer
  // than the threshold; `describe()` names it (a task's name, or what kind
  // of callback), built only then. A report that runs out of memory is
  // dropped.
  template <class Describe>
  void report_slow(Describe describe, bool is_task, std::int64_t duration_ns) noexcept;
  void update_interest(int fd, FdState& st);
  FdState& fd_state(int fd);
  void read_signals();
  void set_callback_io(int fd, Interest direction, std::function<void()> f);
  bool remove_callback_io(int fd, Interest direction);

  // constinit here as well as where it is defined: without it every use
  // from another file goes through the thread_local's init wrapper.
  static constinit thread_local EventLoop* tls_current_;

  internal::ReadyQueue ready_;
  internal::TimerQueue timers_;
  internal::IntrusiveList<internal::TaskBase> tasks_;
  internal::TaskBase* current_task_ = nullptr;
  std::int64_t virtual_now_ns_ = 0;
  std::int64_t slow_callback_ns_;
  std::uint32_t io_countdown_ = 1;  // iterations left until a busy loop polls I/O
  std::size_t io_waiters_ = 0;
  std::atomic<std::size_t> external_work_{0};
  bool virtual_clock_;
  bool debug_;
  // In debug mode, the thread running the loop, while it runs (read by
  // check_thread on any thread).
  std::atomic<std::thread::id> debug_thread_{};
  bool running_ = false;
  bool forever_ = false;  // running under run_forever() (see run_source_rounds)
  bool stopping_ = false;

  internal::EpollReactor reactor_;
  // IoRegistration states whose last reference went, linked through
  // next_retired; freed after the poll batch under way.
  internal::RegistrationState* retired_ = nullptr;
  int wake_fd_ = -1;
  int signal_pipe_[2] = {-1, -1};
  // Level-triggered waiters (add_reader, wait_readable, ...) by fd number.
  // An fd owned by an IoRegistration has no slot: epoll's data points at
  // its RegistrationState.
  std::vector<FdState> fds_;
  std::vector<std::unique_ptr<CallbackWaiter>> callback_waiters_;

  std::mutex threadsafe_mu_;
  std::vector<internal::CallbackNode*> threadsafe_queue_;
  std::vector<internal::CallbackNode*> threadsafe_batch_;  // loop thread only
  std::atomic<bool> wake_pending_{false};

  struct SignalSlot {
    std::function<void()> handler;
    struct sigaction previous;
    bool installed = false;
  };
  std::vector<SignalSlot> signals_;

  ExceptionHandler exception_handler_;
  std::uint64_t exception_handler_sets_ = 0;  // set_exception_handler calls
  std::unique_ptr<ThreadPoolExecutor> executor_;
  std::shared_ptr<internal::LoopLink> link_;
  std::size_t executor_workers_ = 0;

  EventSource* source_ = nullptr;
  std::unique_ptr<Watcher> watcher_;
};

// The loop running on this thread. Errors: RuntimeError if none.
inline EventLoop& current_loop() {
  EventLoop* l = EventLoop::current();
  if (l == nullptr) throw RuntimeError("corio: no running event loop on this thread");
  return *l;
}

inline void internal::TaskBase::schedule() noexcept { loop_->schedule(this); }
inline void internal::TaskBase::schedule_on(EventLoop& loop) noexcept { loop.schedule(this); }

inline internal::TaskBase* internal::current_task_base() noexcept {
  EventLoop* l = EventLoop::current();
  return l ? l->current_task() : nullptr;
}

}  // namespace corio

#endif  // CORIO_LOOP_EVENT_LOOP_H_
