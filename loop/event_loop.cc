#include "corio/loop/event_loop.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "corio/loop/event_source.h"
#include "corio/loop/internal/registration_state.h"
#include "corio/loop/thread_pool_executor.h"

namespace corio {

constinit thread_local EventLoop* EventLoop::tls_current_ = nullptr;

namespace {

// Hands the exception being handled to `loop`'s exception handler, from the
// catch block around a user callback (cold path).
[[gnu::cold, gnu::noinline]] void report_callback_exception(EventLoop* loop, const char* message) noexcept {
  ErrorContext ctx;
  ctx.message = message;
  ctx.exception = std::current_exception();
  if (loop != nullptr) loop->call_exception_handler(ctx);
}

// How often the loop polls I/O while callbacks keep it busy (Tokio's
// event_interval): often enough that sockets are not starved, rarely enough
// that a busy ping-pong between tasks pays no syscall per hop.
constexpr std::uint32_t kIoPollInterval = 61;
// How far ahead run_ready prefetches the next callbacks' states.
constexpr std::size_t kReadyPrefetchAhead = 8;
// Level-table tokens of the loop's own fds (an fd's token is its number).
constexpr std::uint64_t kWakeTag = std::uint64_t{1} << 62;
constexpr std::uint64_t kSignalTag = kWakeTag + 1;

// Signal number -> write end of the self-pipe of the loop handling it.
std::atomic<int> g_signal_fd[NSIG];
std::once_flag g_signal_init;

extern "C" void corio_signal_handler(int sig) {
  int saved = errno;
  int fd = g_signal_fd[sig].load(std::memory_order_relaxed);
  if (fd >= 0) {
    unsigned char b = static_cast<unsigned char>(sig);
    ssize_t r = ::write(fd, &b, 1);
    (void)r;  // a full pipe already holds a pending wake-up
  }
  errno = saved;
}

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

}  // namespace

void Handle::cancel() noexcept {
  if (s_ == nullptr || s_->cancelled) return;
  s_->cancelled = true;
  if (s_->is_timer && static_cast<internal::TimerState*>(s_)->queued()) {
    s_->loop->remove_timer(static_cast<internal::TimerState*>(s_));
    s_->unref();  // the heap's reference
  }
}

// Waits on the reactor's descriptor while the loop waits in its event
// source, and wakes the source when the reactor has events. Armed by the
// loop each time it is about to block in the source; after each wake-up it
// waits to be armed again, so it never spins on events the loop has not
// harvested yet.
class EventLoop::Watcher {
 public:
  Watcher(int reactor_fd, EventSource* source) : fd_(reactor_fd), source_(source) {
    // The thread is corio's, not the application's: it starts with every
    // signal blocked, so a process signal goes to a thread the application
    // knows (the loop's handlers run wherever it lands, through the pipe).
    sigset_t all, previous;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous);
    try {
      thread_ = std::thread([this] { run(); });
    } catch (...) {
      ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      throw;
    }
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    ::pthread_setname_np(thread_.native_handle(), "corio-watcher");  // for top -H, gdb, /proc
  }
  ~Watcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    // A watcher in poll() returns when the loop's eventfd is written: the
    // caller (the loop's destructor, set_event_source) does that first.
    thread_.join();
  }
  // Loop thread: the loop is about to block in the source. While the
  // watcher is already polling (the usual case: it polls until an fd
  // event) this costs one load, no lock.
  void arm() {
    if (state_.load(std::memory_order_acquire) == kPolling) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (state_.load(std::memory_order_relaxed) != kIdle) return;
    state_.store(kArmed, std::memory_order_relaxed);
    cv_.notify_one();
  }
  // Loop thread: true if the watcher saw reactor events since last asked.
  // A load first: the flag is almost always clear, and the exchange is a
  // locked instruction on every iteration that waited on the source.
  bool take_fired() noexcept {
    return fired_.load(std::memory_order_acquire) && fired_.exchange(false, std::memory_order_acq_rel);
  }
  void set_source(EventSource* s) {
    std::lock_guard<std::mutex> lock(mu_);
    source_ = s;
  }

 private:
  enum State { kIdle, kArmed, kPolling };
  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || state_.load(std::memory_order_relaxed) == kArmed; });
      if (stop_) return;
      state_.store(kPolling, std::memory_order_release);
      lock.unlock();
      pollfd p{fd_, POLLIN, 0};
      // A signal handled on this thread interrupts poll(), which is never
      // restarted; the handler may just have written the signal pipe, so
      // poll again rather than go idle with the event unreported. Any other
      // failure wakes the source too: the loop's own poll then meets it.
      while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
      }
      lock.lock();
      if (stop_) return;
      state_ = kIdle;
      fired_.store(true, std::memory_order_release);
      if (source_ != nullptr) source_->wake();
    }
  }
  const int fd_;
  EventSource* source_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Written under mu_; read without it by arm()'s fast path.
  std::atomic<State> state_{kIdle};
  bool stop_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

// A persistent add_reader/add_writer registration.
struct EventLoop::CallbackWaiter : internal::IoWaiter {
  std::function<void()> fn;
  EventLoop* loop;
  int fd;
  Interest direction;
};

EventLoop::EventLoop(LoopOptions options)
    : virtual_now_ns_(real_now_ns()),
      slow_callback_ns_(options.slow_callback_duration.count()),
      virtual_clock_(options.virtual_clock),
      debug_(options.debug) {
  std::call_once(g_signal_init, [] {
    for (auto& fd : g_signal_fd) fd.store(-1);
  });
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw RuntimeError(std::string("corio: eventfd: ") + std::strerror(errno));
  bool in_set = false;
  try {
    reactor_.set_interest(wake_fd_, kWakeTag, Interest::kReadable, in_set);
  } catch (...) {
    ::close(wake_fd_);
    throw;
  }
}

EventLoop::~EventLoop() {
  // Unwind tasks that never finished. Their awaiters detach themselves from
  // the loop's timers and fds as their frames are destroyed.
  while (internal::TaskBase* t = tasks_.pop_front()) {
    t->done_ = true;
    t->cancelled_ = true;
    t->root_->destroy_frame();
    internal::notify_all(t->waiters_);
    t->unref();
  }
  // Callbacks that never ran.
  drop_ready();
  while (!timers_.empty()) {
    internal::TimerNode* n = timers_.pop();
    if (n->fire == &EventLoop::fire_handle_timer) {
      static_cast<internal::TimerState*>(n)->unref();
    }
  }
  for (std::size_t sig = 0; sig < signals_.size(); ++sig) {
    if (signals_[sig].installed) remove_signal_handler(static_cast<int>(sig));
  }
  // From here on, work that outlives the loop (jobs on executors the user
  // owns) drops what it would post. The tasks that awaited it are gone.
  if (link_) {
    std::lock_guard<std::mutex> lock(link_->mu);
    link_->loop.store(nullptr, std::memory_order_relaxed);
  }
  if (watcher_) {
    wake_threadsafe();  // ends the watcher's poll()
    watcher_.reset();
  }
  executor_.reset();  // joins worker threads
  try {
    drain_threadsafe();
  } catch (const std::bad_alloc&) {
    // Out of memory: the nodes stay in the batch, deleted below.
  }
  drop_ready();
  for (auto* n : threadsafe_batch_) delete n;
  threadsafe_batch_.clear();
  {
    std::lock_guard<std::mutex> lock(threadsafe_mu_);
    for (auto* n : threadsafe_queue_) delete n;
    threadsafe_queue_.clear();
  }
  if (signal_pipe_[0] >= 0) {
    ::close(signal_pipe_[0]);
    ::close(signal_pipe_[1]);
  }
  free_retired();
  ::close(wake_fd_);
}

void EventLoop::drop_ready() noexcept {
  while (!ready_.empty()) {
    internal::ReadyEntry e = ready_.pop();
    if (e.fn == &EventLoop::run_handle) {
      static_cast<internal::HandleState*>(e.arg)->unref();
    } else if (e.fn == &EventLoop::run_posted) {
      delete static_cast<internal::CallbackNode*>(e.arg);
    }
  }
}

// Makes `loop` the running loop of this thread for a scope (run_forever, or
// one run_once iteration), refusing to nest. run_forever's scope also
// consumes the stop() request that ended it, however it ends.
class EventLoop::RunningScope {
 public:
  RunningScope(EventLoop* loop, const char* what, bool clears_stop) : loop_(loop), clears_stop_(clears_stop) {
    if (loop->running_) throw RuntimeError(std::string("corio: ") + what + " on an event loop that is already running");
    if (tls_current_ != nullptr) throw RuntimeError("corio: another event loop is running on this thread");
    loop->running_ = true;
    loop->forever_ = clears_stop;
    tls_current_ = loop;
    if (loop->debug_) loop->debug_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  }
  ~RunningScope() {
    if (loop_->debug_) loop_->debug_thread_.store(std::thread::id(), std::memory_order_relaxed);
    loop_->running_ = false;
    loop_->forever_ = false;
    if (clears_stop_) loop_->stopping_ = false;
    tls_current_ = nullptr;
  }

 private:
  EventLoop* loop_;
  bool clears_stop_;
};

// Inlined into run_source_rounds, a round's hot path (where the timeout is
// the constant -1); run_iteration calls it out of line through
// wait_on_source, which keeps the iteration of a loop without a source as
// short as it was (inlined there, it cost that loop 4 instructions an
// iteration in registers saved and restored).
[[gnu::always_inline]] inline void EventLoop::wait_on_source_inline(std::int64_t timeout_ns) {
  if (!watcher_) [[unlikely]]
    start_watcher();
  watcher_->arm();
  // The clock is read only when a deadline or the virtual clock needs it.
  const std::int64_t start = timeout_ns >= 0 || virtual_clock_ ? real_now_ns() : 0;
  const TimePoint deadline =
      timeout_ns < 0 ? kNever : internal::deadline_after(TimePoint(Duration(start)), Duration(timeout_ns));
  source_->wait(deadline);
  if (virtual_clock_) {
    if (__builtin_add_overflow(virtual_now_ns_, real_now_ns() - start, &virtual_now_ns_)) {
      virtual_now_ns_ = std::numeric_limits<std::int64_t>::max() - 1;
    }
  }
  // The reactor's events (sockets, signals, posts from other threads) that
  // woke the source, or arrived meanwhile.
  if (watcher_->take_fired() || wake_pending_.load(std::memory_order_relaxed)) poll_io(0);
}

void EventLoop::wait_on_source(std::int64_t timeout_ns) { wait_on_source_inline(timeout_ns); }

void EventLoop::start_watcher() { watcher_ = std::make_unique<Watcher>(reactor_.fd(), source_); }

void EventLoop::run_forever() {
  RunningScope running(this, "run_forever()", /*clears_stop=*/true);
  // At least one iteration: a stop() requested before run_forever() still
  // lets the callbacks that are ready now run (asyncio does the same).
  do {
    run_iteration(true);
  } while (!stopping_);
}

// The end of every iteration: the due timers, then the steps and callbacks
// that were ready when it began (not those they schedule).
[[gnu::always_inline]] inline void EventLoop::run_due() {
  if (!timers_.empty()) fire_timers();
  const std::size_t n = ready_.size();
  if (n == 0) return;
  if (debug_) {
    run_ready_debug(n);
  } else {
    run_ready(n);
  }
  if (ready_.empty()) ready_.settle();
  internal::frame_cache_settle();
}

void EventLoop::stop_threadsafe() {
  call_soon_threadsafe([this] { stop(); });
}

void EventLoop::run_once(bool block) {
  // Driven by hand, the loop is still the running one for the iteration:
  // tasks and awaitables find it through EventLoop::current(), as they do
  // under run_forever(). Nesting is refused: a nested iteration would pop
  // entries the outer one has counted.
  RunningScope running(this, "run_once()", /*clears_stop=*/false);
  run_iteration(block);
}

void EventLoop::run_source_rounds() {
  // The steady state of a loop driven by an event source (a gRPC server's:
  // every streamed message is one round): nothing ready, no timer, not
  // stopping. In that state run_iteration(true) does exactly this: wait on
  // the source without a deadline (the reactor's events that came
  // meanwhile polled after it), fire due timers (the events may have set
  // one), run the steps that were ready when the wait returned. Looping
  // here skips what cannot apply in that state (the source poll of a busy
  // loop, its I/O countdown, the timer deadline, the virtual clock's jump)
  // and the way out to run_forever and back: about 50 instructions a round.
  // Every round is still one whole iteration, in the same order, so
  // fairness and ordering are the general path's; the first round in
  // which the state no longer holds goes back to run_iteration.
  while (ready_.empty() && timers_.empty() && !stopping_ && source_ != nullptr) {
    wait_on_source_inline(-1);
    run_due();
  }
}

void EventLoop::finish_then_source_rounds() {
  run_due();
  run_source_rounds();
}

void EventLoop::run_iteration(bool block) {
  // The source first when the loop has work or may not block: what it
  // handles may wake tasks (or stop the loop), and then the loop must not
  // block below. An idle loop goes straight to the source's wait(), which
  // hands over an event already queued without polling first (a poll that
  // finds nothing costs a completion queue a system call).
  bool source_polled = false;
  if (source_ != nullptr && (!ready_.empty() || stopping_ || !block)) {
    source_->poll();
    source_polled = true;
  }
  const bool busy = !ready_.empty() || stopping_;
  // While callbacks keep the loop busy, I/O is polled every kIoPollInterval
  // iterations only; a non-blocking run_once() asked for a poll, so it
  // always gets one (with a zero timeout).
  bool poll = !busy || !block;
  if (!poll && --io_countdown_ == 0) {
    io_countdown_ = kIoPollInterval;
    poll = true;
  }
  if (poll) {
    std::int64_t timeout = 0;
    if (!busy && block) {
      const std::int64_t never = kNever.time_since_epoch().count();
      if (!timers_.empty() && timers_.top()->deadline != never) {
        const std::int64_t deadline = timers_.top()->deadline;
        const std::int64_t now = now_ns();
        timeout = deadline > now ? deadline - now : 0;
      } else {
        timeout = -1;
      }
      if (virtual_clock_ && io_waiters_ == 0 && external_work_ == 0 && !wake_pending_.load(std::memory_order_relaxed)) {
        // Nothing can happen before the next timer: jump to it (but not to
        // kNever: a task sleeping forever waits, as with the real clock).
        if (!timers_.empty() && timers_.top()->deadline != never) {
          if (timers_.top()->deadline > virtual_now_ns_) virtual_now_ns_ = timers_.top()->deadline;
          timeout = 0;
        }
      }
    }
    if (source_ != nullptr && timeout != 0) {
      wait_on_source(timeout);
      if (forever_) {
        // Under run_forever: this iteration ends as any other, and the
        // next ones go on in run_source_rounds while the loop only waits
        // on its source (decided here, in the branch only a loop with a
        // source takes, so that a loop without one pays nothing for it).
        finish_then_source_rounds();
        return;
      }
    } else {
      if (source_ != nullptr && !source_polled) source_->poll();
      poll_io(timeout);
    }
  } else if (wake_pending_.load(std::memory_order_relaxed)) {
    drain_threadsafe();
  }
  run_due();
}

void EventLoop::poll_io(std::int64_t timeout_ns) {
  const std::int64_t start = virtual_clock_ && timeout_ns != 0 ? real_now_ns() : 0;
  struct Level {
    EventLoop* loop;
    void operator()(std::uint64_t token, Readiness r) const {
      if (token == kWakeTag) {
        loop->drain_threadsafe();
      } else if (token == kSignalTag) {
        loop->read_signals();
      } else {
        loop->dispatch_level(static_cast<int>(token), r);
      }
    }
  };
  int n;
  try {
    n = reactor_.wait(timeout_ns, Level{this});
  } catch (...) {
    free_retired();
    throw;
  }
  (void)n;
  free_retired();
  if (virtual_clock_ && timeout_ns != 0) {
    // Saturating: the clock may have jumped to a deadline near the end of
    // TimePoint.
    if (__builtin_add_overflow(virtual_now_ns_, real_now_ns() - start, &virtual_now_ns_)) {
      virtual_now_ns_ = std::numeric_limits<std::int64_t>::max() - 1;
    }
  }
}

void EventLoop::set_event_source(EventSource* source) {
  if (source != nullptr && source_ != nullptr && source != source_) {
    throw RuntimeError("corio: this event loop already has an event source");
  }
  source_ = source;
  if (watcher_) watcher_->set_source(source);
}

void EventLoop::dispatch_level(int fd, Readiness r) {
  if (r.readable()) dispatch_io(fd, Interest::kReadable, r);
  if (r.writable()) dispatch_io(fd, Interest::kWritable, r);
  try {
    update_interest(fd, fds_[fd]);
  } catch (...) {
    // The fd was closed under us; it has left the epoll set by itself.
    fds_[fd].in_epoll = false;
    fds_[fd].registered = Interest::kNone;
  }
}

void EventLoop::free_retired() noexcept {
  internal::RegistrationState* s = retired_;
  retired_ = nullptr;
  while (s != nullptr) {
    internal::RegistrationState* next = s->next_retired;
    delete s;
    s = next;
  }
}

void EventLoop::retire_registration(internal::RegistrationState* s) noexcept {
  s->next_retired = retired_;
  retired_ = s;
}

void EventLoop::watch_fd(int fd, internal::IoSource* source) {
  // A registered fd takes no slot in fds_ (that would cost 24 bytes per fd
  // number): only a slot that is already there is checked, as an fd with a
  // waiter or callback has one. The reverse check is the kernel's: a
  // waiter's epoll_ctl(ADD) on this fd fails with EEXIST (add_io_waiter).
  if (fd >= 0 && static_cast<std::size_t>(fd) < fds_.size()) {
    FdState& st = fds_[fd];
    if (st.reader != nullptr || st.writer != nullptr) {
      throw RuntimeError("corio: fd " + std::to_string(fd) +
                         " has a reader or writer (add_reader, wait_readable, ...); it cannot also be registered");
    }
    // A record left by a closed fd whose number came back: the kernel has
    // already dropped it from the set.
    st.in_epoll = false;
    st.registered = Interest::kNone;
  }
  reactor_.watch(fd, source);  // EEXIST: registered twice (a system_error, as before)
}

void EventLoop::unwatch_fd(int fd) noexcept { reactor_.unwatch(fd); }

void EventLoop::dispatch_io(int fd, Interest direction, Readiness events) noexcept {
  FdState& st = fds_[fd];
  internal::IoWaiter*& slot = direction == Interest::kReadable ? st.reader : st.writer;
  internal::IoWaiter* w = slot;
  if (w == nullptr) return;
  if (!w->persistent) {
    slot = nullptr;
    --io_waiters_;
  }
  w->ready(w, events);
}

void EventLoop::fire_timers() {
  const std::int64_t now = now_ns();
  for (;;) {
    // A call_later callback needs a ready-queue slot of its own (a sleeping
    // task has one already). Out of memory, the due timers stay queued and
    // fire on a later iteration, when the queue has drained: none is lost
    // and their order is kept.
    try {
      ready_.make_room();
    } catch (const std::bad_alloc&) {
      return;
    }
    internal::TimerNode* n = timers_.pop_if_due(now);
    if (n == nullptr) return;
    n->fire(n);
  }
}

void EventLoop::run_ready(std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    ready_.prefetch(kReadyPrefetchAhead);
    internal::ReadyEntry e = ready_.pop();
    e.fn(e.arg);
  }
}

void EventLoop::run_ready_debug(std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    internal::ReadyEntry e = ready_.pop();
    // A task is held across its step (a step that ends it may release it),
    // so that a slow one can be named afterwards: no name is built for the
    // steps that are not slow.
    internal::TaskBase* task = e.fn == &EventLoop::step_task || e.fn == &EventLoop::start_task
                                   ? static_cast<internal::TaskBase*>(e.arg)
                                   : nullptr;
    if (task != nullptr) task->ref();
    const std::int64_t t0 = real_now_ns();
    e.fn(e.arg);
    const std::int64_t dt = real_now_ns() - t0;
    if (dt > slow_callback_ns_) {
      report_slow([task] { return task != nullptr ? task->name() : std::string("<callback>"); }, task != nullptr, dt);
    }
    if (task != nullptr) task->unref();
  }
}

template <class Describe>
void EventLoop::report_slow(Describe describe, bool is_task, std::int64_t duration_ns) noexcept {
  try {
    const std::string what = describe();
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f", static_cast<double>(duration_ns) / 1e9);
    ErrorContext ctx;
    ctx.message = "Executing " + what + " took " + seconds + " seconds";
    if (is_task) ctx.task_name = what;
    call_exception_handler(ctx);
  } catch (const std::bad_alloc&) {
    // Out of memory while reporting: the report is dropped, the loop goes on.
  }
}

void EventLoop::run_handle(void* p) noexcept {
  auto* s = static_cast<internal::HandleState*>(p);
  s->loop->ready_.release();
  if (!s->cancelled) {
    try {
      s->invoke();
    } catch (...) {
      report_callback_exception(s->loop, "Exception in callback");
    }
  }
  s->unref();
}

// Defined here, beside its one caller, so that step_task inlines it: one
// call and one frame fewer per task step (callgrind: about 9 instructions).
inline void internal::TaskBase::run_step() noexcept {
  tls_inline_floor = static_cast<const char*>(__builtin_frame_address(0)) - kInlineStackBytes;
  resume_point_.resume();
  // The trampoline of Task's awaiters (see task.h): each hand-off returns
  // here, so the stack stays flat whatever the depth of the await chain.
  while (transfer_to_) {
    std::coroutine_handle<> next = transfer_to_;
    transfer_to_ = nullptr;
    next.resume();
  }
  tls_inline_floor = nullptr;  // steps do not nest: a task cannot run a loop
  // The root coroutine ended its frame when it returned.
  if (!root_->frame) finish();
}

void EventLoop::step_task(void* p) noexcept {
  auto* t = static_cast<internal::TaskBase*>(p);
  EventLoop* loop = t->loop_;
  loop->current_task_ = t;
  t->run_step();
  loop->current_task_ = nullptr;
}

void EventLoop::start_task(void* p) noexcept {
  auto* t = static_cast<internal::TaskBase*>(p);
  t->started_ = true;
  if (t->must_cancel_) [[unlikely]] {
    EventLoop* loop = t->loop_;
    loop->current_task_ = t;
    t->cancel_before_start();
    loop->current_task_ = nullptr;
    return;
  }
  step_task(p);
}

void EventLoop::fire_handle_timer(internal::TimerNode* n) noexcept {
  internal::HandleState* s = static_cast<internal::TimerState*>(n);
  // The heap's reference moves to the ready queue, into the room that
  // fire_timers() made.
  s->loop->ready_.promise();
  s->loop->ready_.push_promised({&EventLoop::run_handle, s});
}

void EventLoop::post_threadsafe(internal::CallbackNode* node) {
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(threadsafe_mu_);
    try {
      threadsafe_queue_.push_back(node);
      queued = true;
    } catch (const std::bad_alloc&) {
    }
  }
  if (!queued) {
    delete node;  // outside the lock: it destroys the caller's callable
    throw std::bad_alloc();
  }
  wake_threadsafe();
}

void EventLoop::wake_threadsafe() noexcept {
  // A plain load first: while a wake-up is already pending (the common case
  // under a burst of posts) no read-modify-write is needed. It cannot miss a
  // wake-up: the loop clears the flag before it takes the lock to swap the
  // queue, so a post that lands after that swap sees the cleared flag.
  if (!wake_pending_.load(std::memory_order_acquire) && !wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    std::uint64_t one = 1;
    ssize_t r = ::write(wake_fd_, &one, sizeof one);
    (void)r;  // EAGAIN: the counter is already non-zero, the loop will wake
  }
}

void EventLoop::run_posted(void* p) noexcept {
  std::unique_ptr<internal::CallbackNode> node(static_cast<internal::CallbackNode*>(p));
  tls_current_->ready_.release();
  try {
    node->invoke();
  } catch (...) {
    report_callback_exception(tls_current_, "Exception in callback");
  }
}

void EventLoop::drain_threadsafe() {
  std::uint64_t value;
  ssize_t r = ::read(wake_fd_, &value, sizeof value);
  (void)r;
  wake_pending_.store(false, std::memory_order_release);
  if (threadsafe_batch_.empty()) {
    // Swapping with a kept buffer keeps both vectors' capacity, so posting
    // does not reallocate under the lock once warm.
    std::lock_guard<std::mutex> lock(threadsafe_mu_);
    threadsafe_batch_.swap(threadsafe_queue_);
  } else {
    // Left by a drain that ran out of memory: it goes first, and what was
    // posted since waits for the wake-up this re-arms.
    wake_threadsafe();
  }
  // Room for the whole batch first, so that running out of memory leaves
  // every node in the batch for the next try (re-armed) instead of some in
  // the ready queue and some lost.
  try {
    ready_.promise(threadsafe_batch_.size());
  } catch (...) {
    wake_threadsafe();
    throw;
  }
  // Each posted node runs as an ordinary ready callback, in the order posted;
  // the queue entry owns it (the destructor frees those that never run).
  for (internal::CallbackNode* node : threadsafe_batch_) ready_.push_promised({&EventLoop::run_posted, node});
  threadsafe_batch_.clear();
}

void EventLoop::call_exception_handler(const ErrorContext& context) {
  if (exception_handler_) {
    // The handler runs from a local, so that it may replace or clear itself
    // (its closure would otherwise be destroyed while it runs); it goes back
    // afterwards unless it was replaced meanwhile.
    struct Running {
      EventLoop* loop;
      ExceptionHandler handler;
      std::uint64_t sets;
      ~Running() {
        if (loop->exception_handler_sets_ == sets) loop->exception_handler_ = std::move(handler);
      }
    } running{this, std::move(exception_handler_), exception_handler_sets_};
    exception_handler_ = nullptr;
    try {
      running.handler(*this, context);
      return;
    } catch (...) {
      ErrorContext inner;
      inner.message = "Unhandled error in exception handler";
      inner.exception = std::current_exception();
      default_exception_handler(inner);
    }
  }
  default_exception_handler(context);
}

void EventLoop::default_exception_handler(const ErrorContext& context) {
  std::string what;
  if (context.exception) {
    try {
      std::rethrow_exception(context.exception);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (const CancelledError& e) {
      what = std::string("CancelledError: ") + e.what();
    } catch (...) {
      what = "unknown exception";
    }
  }
  std::fprintf(stderr, "corio: %s%s%s%s%s\n", context.message.c_str(), context.task_name.empty() ? "" : " (task ",
               context.task_name.c_str(), context.task_name.empty() ? "" : ")",
               what.empty() ? "" : (": " + what).c_str());
}

EventLoop::FdState& EventLoop::fd_state(int fd) {
  if (fd < 0) throw std::invalid_argument("corio: negative file descriptor");
  if (static_cast<std::size_t>(fd) >= fds_.size()) fds_.resize(static_cast<std::size_t>(fd) + 1);
  return fds_[fd];
}

void EventLoop::update_interest(int fd, FdState& st) {
  const Interest want =
      (st.reader ? Interest::kReadable : Interest::kNone) | (st.writer ? Interest::kWritable : Interest::kNone);
  if (want == st.registered && (want != Interest::kNone) == st.in_epoll) return;
  reactor_.set_interest(fd, static_cast<std::uint64_t>(fd), want, st.in_epoll);
  st.registered = want;
}

void EventLoop::add_io_waiter(int fd, Interest direction, internal::IoWaiter* w) {
  FdState& st = fd_state(fd);
  internal::IoWaiter*& slot = direction == Interest::kReadable ? st.reader : st.writer;
  if (slot != nullptr) {
    throw RuntimeError("corio: fd " + std::to_string(fd) + " already has a " +
                       (direction == Interest::kReadable ? "reader" : "writer"));
  }
  slot = w;
  try {
    update_interest(fd, st);
  } catch (const std::system_error& e) {
    slot = nullptr;
    // An fd not in the table's part of the set, which the kernel has
    // there: an IoRegistration's (they have no slot in fds_).
    if (e.code() != std::errc::file_exists) throw;
    throw RuntimeError("corio: fd " + std::to_string(fd) +
                       " has an IoRegistration: await its readable()/writable() instead");
  } catch (...) {
    slot = nullptr;
    throw;
  }
  ++io_waiters_;
}

void EventLoop::remove_io_waiter(int fd, Interest direction, internal::IoWaiter* w) noexcept {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
  FdState& st = fds_[fd];
  internal::IoWaiter*& slot = direction == Interest::kReadable ? st.reader : st.writer;
  if (slot != w) return;
  slot = nullptr;
  --io_waiters_;
  try {
    update_interest(fd, st);
  } catch (...) {
    // A closed fd has already left the epoll set.
    st.in_epoll = false;
    st.registered = Interest::kNone;
  }
}

void EventLoop::set_callback_io(int fd, Interest direction, std::function<void()> f) {
  if (!f) throw std::invalid_argument("corio: empty fd callback");
  FdState& st = fd_state(fd);
  internal::IoWaiter* existing = direction == Interest::kReadable ? st.reader : st.writer;
  for (auto& cw : callback_waiters_) {
    if (cw.get() == existing) {
      cw->fn = std::move(f);
      return;
    }
  }
  auto cw = std::make_unique<CallbackWaiter>();
  cw->fn = std::move(f);
  cw->loop = this;
  cw->fd = fd;
  cw->direction = direction;
  cw->persistent = true;
  cw->ready = [](internal::IoWaiter* self, Readiness) noexcept {
    auto* c = static_cast<CallbackWaiter*>(self);
    // Copy: the callback may remove (and so destroy) its own registration.
    std::function<void()> fn = c->fn;
    EventLoop* loop = c->loop;
    const int fd = c->fd;
    const bool reader = c->direction == Interest::kReadable;
    // Runs straight from the poll, not from the ready queue: debug mode
    // times it here.
    const bool timed = loop->debug_;
    const std::int64_t t0 = timed ? real_now_ns() : 0;
    try {
      fn();
    } catch (...) {
      report_callback_exception(loop, "Exception in fd callback");
    }
    if (timed) {
      const std::int64_t dt = real_now_ns() - t0;
      if (dt > loop->slow_callback_ns_) {
        loop->report_slow(
            [reader, fd] {
              return std::string(reader ? "<reader on fd " : "<writer on fd ") + std::to_string(fd) + ">";
            },
            false, dt);
      }
    }
  };
  add_io_waiter(fd, direction, cw.get());
  callback_waiters_.push_back(std::move(cw));
}

bool EventLoop::remove_callback_io(int fd, Interest direction) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return false;
  FdState& st = fds_[fd];
  internal::IoWaiter* existing = direction == Interest::kReadable ? st.reader : st.writer;
  for (std::size_t i = 0; i < callback_waiters_.size(); ++i) {
    if (callback_waiters_[i].get() == existing) {
      remove_io_waiter(fd, direction, existing);
      callback_waiters_.erase(callback_waiters_.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    }
  }
  return false;
}

void EventLoop::add_reader(int fd, std::function<void()> f) {
  check_thread("add_reader()");
  set_callback_io(fd, Interest::kReadable, std::move(f));
}
void EventLoop::add_writer(int fd, std::function<void()> f) {
  check_thread("add_writer()");
  set_callback_io(fd, Interest::kWritable, std::move(f));
}
bool EventLoop::remove_reader(int fd) {
  check_thread("remove_reader()");
  return remove_callback_io(fd, Interest::kReadable);
}
bool EventLoop::remove_writer(int fd) {
  check_thread("remove_writer()");
  return remove_callback_io(fd, Interest::kWritable);
}

void EventLoop::add_signal_handler(int sig, std::function<void()> f) {
  check_thread("add_signal_handler()");
  if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP) {
    throw std::invalid_argument("corio: cannot handle signal " + std::to_string(sig));
  }
  if (!f) throw std::invalid_argument("corio: empty signal handler");
  if (signal_pipe_[0] < 0) {
    if (::pipe2(signal_pipe_, O_NONBLOCK | O_CLOEXEC) != 0) throw_errno("pipe2");
    bool in_set = false;
    reactor_.set_interest(signal_pipe_[0], kSignalTag, Interest::kReadable, in_set);
  }
  if (signals_.size() <= static_cast<std::size_t>(sig)) signals_.resize(static_cast<std::size_t>(sig) + 1);
  SignalSlot& slot = signals_[sig];
  if (!slot.installed) {
    int expected = -1;
    if (!g_signal_fd[sig].compare_exchange_strong(expected, signal_pipe_[1])) {
      throw RuntimeError("corio: signal " + std::to_string(sig) + " is handled by another event loop");
    }
    struct sigaction sa {};
    sa.sa_handler = &corio_signal_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (::sigaction(sig, &sa, &slot.previous) != 0) {
      g_signal_fd[sig].store(-1);
      throw_errno("sigaction");
    }
    slot.installed = true;
  }
  slot.handler = std::move(f);
}

bool EventLoop::remove_signal_handler(int sig) {
  check_thread("remove_signal_handler()");
  if (sig <= 0 || static_cast<std::size_t>(sig) >= signals_.size() || !signals_[sig].installed) return false;
  SignalSlot& slot = signals_[sig];
  ::sigaction(sig, &slot.previous, nullptr);
  g_signal_fd[sig].store(-1);
  slot.installed = false;
  slot.handler = nullptr;
  return true;
}

void EventLoop::read_signals() {
  unsigned char buf[64];
  for (;;) {
    ssize_t n = ::read(signal_pipe_[0], buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      int sig = buf[i];
      if (static_cast<std::size_t>(sig) < signals_.size() && signals_[sig].installed) {
        call_soon([this, sig]() {
          if (static_cast<std::size_t>(sig) < signals_.size() && signals_[sig].installed) {
            std::function<void()> fn = signals_[sig].handler;
            fn();
          }
        });
      }
    }
  }
}

ThreadPoolExecutor& EventLoop::default_executor() {
  if (!executor_) {
    std::size_t n = executor_workers_;
    if (n == 0) {
      unsigned hw = std::thread::hardware_concurrency();
      n = std::min<std::size_t>(32, (hw == 0 ? 1 : hw) + 4);
    }
    executor_ = std::make_unique<ThreadPoolExecutor>(n);
  }
  return *executor_;
}

const std::shared_ptr<internal::LoopLink>& EventLoop::link() {
  if (!link_) {
    link_ = std::make_shared<internal::LoopLink>();
    link_->loop = this;
  }
  return link_;
}

void EventLoop::set_default_executor_workers(std::size_t max_workers) {
  if (max_workers == 0) throw std::invalid_argument("corio: executor needs at least one worker");
  executor_workers_ = max_workers;
}

void EventLoop::cancel_all_tasks(const std::string& message) {
  std::vector<internal::TaskBase*> pending;
  pending.reserve(tasks_.size());  // so no push below throws with references taken
  tasks_.for_each([&](internal::TaskBase* t) {
    t->ref();
    pending.push_back(t);
  });
  for (internal::TaskBase* t : pending) {
    t->cancel(message);
    t->unref();
  }
}

void EventLoop::check_thread_slow(const char* what) const {
  const std::thread::id runner = debug_thread_.load(std::memory_order_relaxed);
  if (runner == std::thread::id() || runner == std::this_thread::get_id()) return;
  throw RuntimeError(std::string("corio: ") + what +
                     " called from a thread other than the one running the event loop: non-thread-safe operation "
                     "(debug mode check); from another thread use call_soon_threadsafe()");
}

}  // namespace corio
