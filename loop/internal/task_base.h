// The type-erased state of a scheduled task, and the protocol by which a
// suspended task is woken or cancelled. Leaf awaitables (sleep, Future, fd
// readiness, and sync's primitives) are built on `Suspension`.
//
// The protocol, in one place:
//  * A task runs in steps on its loop. While it is suspended, it has at most
//    one `CancelTarget`: the awaiter it is suspended on.
//  * `TaskBase::cancel()` asks that target to take the cancellation
//    (`try_cancel`). A `Suspension` detaches itself from what it waited on
//    and reschedules the task, whose await_resume then throws CancelledError.
//    An awaiter that waits on another task forwards the request to it; one
//    that waits on a Future cancels the Future (asyncio), so that its other
//    awaiters see CancelledError too (shield(fut) only ends the wait).
//  * A cancel requested while the task runs is pending (`must_cancel_`)
//    and raised at its next suspension point, without suspending. As in
//    asyncio, an await on something that can itself be cancelled takes the
//    pending request over (take_cancel_to_pass_on) and treats it as a
//    cancel that came while waiting: an await on another task passes it on
//    to that task and waits for it to end; an await on a pending Future
//    cancels the Future and raises CancelledError without suspending.
//  * When a source wakes a waiter normally it clears the target first; a
//    cancel that arrives between that wake and the task's next step is kept
//    pending (`must_cancel_`) and delivered at the next suspension point, so
//    nothing the wake handed over (a lock, an item, a permit) is lost.
//    Awaiters whose wake carries nothing (sleep, yield, Event::wait, fd
//    readiness) deliver such a late cancel right away at resume.
//  * If the task returns before reaching another suspension point, it
//    finishes with its value and the request lapses (cancelled() is false).
//    asyncio would mark it cancelled and drop the value; corio never drops
//    what a task already obtained. A request that came forwarded from a
//    task awaiting this one is then still owed to that task: it stays
//    pending there, delivered at its next suspension point.
//  * Any number of cancel() calls before the task runs again deliver one
//    CancelledError (cancelling() counts them all).
//
// A task's suspension state (its cancel target, where it resumes, the
// cancel on its way) is private to TaskBase. Awaiters reach it through
// `Suspension` only, whose interface is four moves: park (suspend), wake
// (after handing over a value, or grant ownership: sync's WaitNode::grant),
// take the pending cancel (suspend does it: it returns false), and detach
// (the awaiter's part of a cancel while parked).
//
// Writing a cancel-safe awaitable on Suspension (streams, net and rpc each
// write several; include corio/loop/event_loop.h with this header, as it
// defines TaskBase::schedule and current_task_base, which Suspension calls
// inline):
//  1. Derive from Suspension and give its constructor `detach`, which
//     unlinks the awaiter from its source. It runs on the loop thread when
//     the task is cancelled while parked (Suspension then marks the cancel
//     taken and wakes the task), and never after the wake.
//  2. await_ready takes the fast path if it can and never suspends then.
//  3. await_suspend calls suspend(h) first: false means a cancel is
//     already pending; link nothing and return false (await_resume raises
//     it). Then link the awaiter to its source; if that throws, unpark()
//     before rethrowing.
//  4. The source, to complete the wait: unlink the awaiter, store what it
//     hands over in the awaiter, then wake(). From the wake on, a cancel()
//     is not this wait's: it stays pending for the task's next suspension
//     point, so what was handed over is never lost.
//  5. await_resume calls check_cancelled() first (cancelled while parked:
//     nothing was handed over), then passes the value on. A wait whose wake
//     hands over nothing (a sleep, a readiness) calls
//     check_cancelled_or_pending() instead, to deliver a cancel that came
//     after the wake at once.
//  6. The destructor calls abandon() (a frame destroyed while parked, at
//     loop teardown, unlinks itself while the awaiter's members live), and
//     gives back a value it was handed but never passed on (the frame was
//     destroyed after the wake, or g++ 12 ran another await of the same
//     expression first: README, "Known compiler issues").
// An awaiter with a cancel policy of its own (a wait on a future cancels
// the future; one on a task forwards the cancel to it) sets its own
// try_cancel and uses Suspension's protected half: begin_suspend, park,
// take_cancel, hold_cancel (FutureAwaiter, JoinAwaiter, ConditionWait).
//
// Worked example: a mailbox of ints, put() from the loop thread, one task
// at a time waiting in take(). Compiled and tested, with each cancellation
// case, in loop/suspension_test.cc.
//
//   class Mailbox {
//    public:
//     class [[nodiscard]] Take : corio::internal::Suspension {
//      public:
//       explicit Take(Mailbox* m) noexcept : Suspension(&Take::detach), m_(m) {}
//       ~Take() {
//         abandon();                                // (6) destroyed while parked
//         if (slot_) m_->mail_.push_front(*slot_);  // (6) handed over, not passed on
//       }
//       bool await_ready() {                        // (2)
//         if (m_->mail_.empty()) return false;
//         slot_ = m_->mail_.front();
//         m_->mail_.pop_front();
//         return true;
//       }
//       bool await_suspend(std::coroutine_handle<> h) {
//         if (m_->waiter_ != nullptr) throw corio::RuntimeError("Mailbox: one take() at a time");
//         if (!suspend(h)) return false;            // (3) a cancel was pending
//         m_->waiter_ = this;                       // (3) link (cannot throw)
//         return true;
//       }
//       int await_resume() {
//         check_cancelled();                        // (5) cancelled while parked
//         return *std::exchange(slot_, std::nullopt);
//       }
//
//      private:
//       friend class Mailbox;
//       static void detach(Suspension* s) noexcept {  // (1)
//         static_cast<Take*>(s)->m_->waiter_ = nullptr;
//       }
//       Mailbox* m_;
//       std::optional<int> slot_;                   // what the wake handed over
//     };
//
//     void put(int v) {
//       if (Take* w = std::exchange(waiter_, nullptr)) {  // (4) unlink,
//         w->slot_ = v;                                     //     hand over,
//         w->wake();                                        //     wake
//       } else {
//         mail_.push_back(v);
//       }
//     }
//     Take take() noexcept { return Take(this); }
//
//    private:
//     std::deque<int> mail_;
//     Take* waiter_ = nullptr;
//   };
#ifndef CORIO_LOOP_INTERNAL_TASK_BASE_H_
#define CORIO_LOOP_INTERNAL_TASK_BASE_H_

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "corio/loop/errors.h"
#include "corio/loop/internal/frame_allocator.h"
#include "corio/loop/internal/intrusive_list.h"

namespace corio {
class EventLoop;
template <class T>
class Task;
}  // namespace corio

namespace corio::internal {

// Where a started Task's outcome goes: into the awaiter of the Task (for
// co_await) or into the TaskState (for a scheduled task), never into the
// frame. That lets a frame end itself the moment its body returns, like a
// function, instead of waiting at its final suspend for someone to destroy
// it. The frame clears `frame` when it is destroyed, so the owner knows.
//
// Ending with neither a frame nor an exception, as nearly every awaited
// Task does, the destructor costs one test for both: the exception lives in
// a union so that no destructor of its own tests it a second time.
struct ResultBase {
  std::coroutine_handle<> frame;
  union {
    std::exception_ptr exception;
  };

  ResultBase() noexcept : exception() {}
  ResultBase(const ResultBase&) = delete;
  ResultBase& operator=(const ResultBase&) = delete;
  [[gnu::always_inline]] ~ResultBase() {
    if ((address_bits(frame.address()) | address_bits(&exception)) != 0) [[unlikely]]
      release();
  }

  // Destroys the frame if it still exists (suspended, or never started).
  void destroy_frame() noexcept {
    if (frame) frame.destroy();  // which clears `frame`
  }

 private:
  static_assert(sizeof(std::exception_ptr) == sizeof(std::uintptr_t), "an exception_ptr is one pointer");
  // The bits of a pointer, or of the one pointer an exception_ptr holds
  // (zero when it is null).
  static std::uintptr_t address_bits(const void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p); }
  static std::uintptr_t address_bits(const std::exception_ptr* e) noexcept {
    std::uintptr_t bits;
    std::memcpy(&bits, static_cast<const void*>(e), sizeof bits);
    return bits;
  }
  [[gnu::cold, gnu::noinline]] void release() noexcept {
    destroy_frame();
    exception.~exception_ptr();
  }
};

// Where a suspended task can be interrupted. `try_cancel` returns true when
// it has taken over delivering the cancellation.
struct CancelTarget {
  bool (*try_cancel)(CancelTarget* self) noexcept;
};

// A node in a task's or future's list of things to notify on completion.
// `on_done` runs synchronously, on the loop thread, when the source finishes.
struct DoneWaiter : ListNode {
  void (*on_done)(DoneWaiter* self) noexcept = nullptr;
};

// Notifies and unlinks every waiter (an IntrusiveList or IntrusiveRing of
// DoneWaiter). Waiters may unlink others as they run.
template <class List>
inline void notify_all(List& waiters) noexcept {
  while (DoneWaiter* w = waiters.pop_front()) w->on_done(w);
}

// A task's name worked out when someone asks for it (TaskBase::name(): a
// debug report, a task listing, get_name()) instead of built and stored
// when the task starts: a server's connection task is named after its
// peer's address, which most connections never have asked for.
// Thread safety: called on the task's loop thread.
class TaskNameSource {
 public:
  // Errors: std::bad_alloc.
  virtual std::string task_name() const = 0;

 protected:
  ~TaskNameSource() = default;
};

class TaskBase : public ListNode, public FrameAllocated {
 public:
  // `root` is where the root coroutine's outcome goes; it holds the frame.
  TaskBase(EventLoop* loop, ResultBase* root, std::coroutine_handle<> frame) noexcept : loop_(loop), root_(root) {
    resume_point_ = frame;
  }
  TaskBase(const TaskBase&) = delete;
  TaskBase& operator=(const TaskBase&) = delete;

  void ref() noexcept { ++refs_; }
  void unref() noexcept {
    if (--refs_ == 0) destroy();
  }

  // asyncio Task.cancel(): see the protocol above. False if already done.
  bool cancel(std::string message = {}) noexcept;
  // asyncio Task.uncancel(): undoes one cancel() request; returns the count
  // left. At zero a still-pending request is dropped, and so is the cancel
  // message: it belonged to requests now all withdrawn, and a later cancel
  // without one (a timeout's) must not carry it.
  std::uint32_t uncancel() noexcept {
    if (cancelling_ > 0) --cancelling_;
    if (cancelling_ == 0) {
      must_cancel_ = false;
      if (extras_) extras_->cancel_message.clear();
    }
    return cancelling_;
  }
  std::uint32_t cancelling() const noexcept { return cancelling_; }

  // For an awaiter about to suspend: true means do not suspend, raise
  // CancelledError instead. Consumes a pending cancel request (the awaiter
  // has then taken it: see cancel_in_flight_). Also true while another
  // awaiter has taken a cancel it has not raised yet: g++ 12 evaluates
  // `co_await a + co_await b` as a's suspend, b's ready and suspend, and
  // only then a's resume, so a cancel that ended a's wait would otherwise
  // wait for b, possibly forever.
  bool take_pending_cancel() noexcept {
    if (must_cancel_) {
      must_cancel_ = false;
      cancel_in_flight_ = true;
      return true;
    }
    return cancel_in_flight_;
  }
  // For an awaiter about to suspend on something that can itself be
  // cancelled (another task, a Future): takes a pending cancel request so
  // that the awaiter passes it on to what it waits for instead of raising
  // it, as asyncio's Task.__step does with _must_cancel. False, taking
  // nothing, when no request is pending or another awaiter has taken a
  // cancel it has not raised yet (take_pending_cancel then says to raise).
  bool take_cancel_to_pass_on() noexcept {
    if (!must_cancel_ || cancel_in_flight_) return false;
    must_cancel_ = false;
    return true;
  }
  // A cancel request waits to be raised in this task: pending, or taken by
  // an awaiter that has not raised it yet.
  bool cancel_pending() const noexcept { return must_cancel_ || cancel_in_flight_; }
  // An awaiter took a cancel (pending, or while suspended) and will raise
  // CancelledError from its await_resume; it calls this when it does.
  void cancel_raised() noexcept { cancel_in_flight_ = false; }
  // Done with a cancel request still pending: it lapsed (see the protocol),
  // never raised in this task.
  bool cancel_lapsed() const noexcept { return done_ && must_cancel_ && !cancelled_; }
  // For an awaiter that forwarded this task's cancel to the task it awaits,
  // where the request lapsed: the cancel is still owed here, so it becomes
  // pending again (delivered at this task's next suspension point), unless
  // it was withdrawn meanwhile (uncancel) or one is already on its way.
  void restore_pending_cancel() noexcept {
    if (cancelling_ > 0 && !cancel_in_flight_) must_cancel_ = true;
  }

  // Queues the task's next step on its loop (defined in event_loop.h).
  inline void schedule() noexcept;
  // The same, for a caller that has the task's loop (loop()) at hand.
  inline void schedule_on(EventLoop& loop) noexcept;

  bool done() const noexcept { return done_; }
  bool cancelled() const noexcept { return cancelled_; }
  EventLoop* loop() const noexcept { return loop_; }
  // The task's name; "Task-<n>" unless one was given.
  std::string name() const;
  std::uint64_t id() const noexcept { return id_; }
  // Errors: std::bad_alloc.
  void set_name(std::string name);
  // Where name() comes from when no name was set: `source` (null: none),
  // which must stay valid while it is set; the owner unsets it (or sets a
  // name) before it goes.
  void set_name_source(const TaskNameSource* source) noexcept { name_source_ = source; }
  // The message of the latest cancel() that gave one since the requests
  // were last all withdrawn (uncancel() down to zero), or "".
  const std::string& cancel_message() const noexcept;

  // The task's exception (CancelledError included) once done; marks it as
  // retrieved, so it is not reported as never retrieved.
  std::exception_ptr exception_retrieved() noexcept {
    retrieved_ = true;
    return done_ ? root_->exception : nullptr;
  }
  std::exception_ptr exception_peek() const noexcept { return done_ ? root_->exception : nullptr; }

  void add_waiter(DoneWaiter* w) noexcept { waiters_.push_back(w); }
  void remove_waiter(DoneWaiter* w) noexcept {
    if (w->linked()) waiters_.erase(w);
  }

  // The loop's side of a step (called from EventLoop only).
  void run_step() noexcept;

  // A step may use this much machine stack for nested inline starts of
  // child Tasks (see tls_inline_floor below).
  static constexpr std::size_t kInlineStackBytes = 16 * 1024;

  // For coroutine types other than Task that run inside a task and hand
  // control back through its trampoline (streams' AsyncGenerator): the
  // coroutine to resume next within the current step. The suspension state
  // below stays private.
  void transfer_to(std::coroutine_handle<> h) noexcept { transfer_to_ = h; }

 private:
  // ---- The suspension state. Private: awaiters reach it only through
  // Suspension (below, with the guide at the top of this file), which is
  // the interface every leaf awaiter is built on; the loop, a foreign
  // await's relay (ForeignWake) and Task's trampoline are the only other
  // hands on it. (Declared here, ahead of the rest, to keep its place in
  // the object.) ----
  friend class Suspension;
  friend class ForeignWake;
  friend class PromiseBase;
  template <class>
  friend class corio::Task;

  // The awaiter the task is suspended on, if it can be cancelled there.
  CancelTarget* cancel_target_ = nullptr;
  // An awaiter has taken a cancel and will raise it: from then until it
  // does, further cancel() calls join that one CancelledError (as asyncio
  // delivers one for any number of cancels before the task runs again),
  // and no await suspends (take_pending_cancel).
  bool cancel_in_flight_ = false;
  // The task's other flags, here in the padding after cancel_in_flight_
  // rather than in a word of their own at the end (with the one-pointer
  // waiters_ below, a TaskState<void> is 128 bytes, the frame allocator's
  // 128-byte class, not 152 in the 192 one).
  bool must_cancel_ = false;
  bool started_ = false;
  bool done_ = false;
  bool cancelled_ = false;
  bool retrieved_ = false;
  // Where the next step resumes.
  std::coroutine_handle<> resume_point_;
  // Trampoline: a coroutine of this task to resume next within the current
  // step (set by Task's awaiters instead of resuming it nested on the stack).
  std::coroutine_handle<> transfer_to_;

 protected:
  virtual ~TaskBase();
  // For the derived destructor, while the outcome still exists: reports a
  // failure nobody retrieved to the loop's exception handler (asyncio's
  // "Task exception was never retrieved").
  void report_if_unretrieved() noexcept {
    if (done_ && !retrieved_ && !cancelled_ && root_->exception) [[unlikely]]
      report_unretrieved();
  }

 private:
  friend class corio::EventLoop;
  void finish() noexcept;
  [[gnu::cold, gnu::noinline]] void report_unretrieved() noexcept;
  // run_step's cold path, kept out of line so the hot one stays small.
  [[gnu::cold, gnu::noinline]] void cancel_before_start() noexcept;
  void destroy() noexcept { delete this; }
  static std::uint64_t next_id() noexcept {
    static thread_local std::uint64_t counter = 0;
    return ++counter;
  }

  // What most tasks never set, kept apart so that a task without a name or
  // cancel message costs one null pointer, not two strings.
  struct Extras {
    std::string name;
    std::string cancel_message;
  };
  // Errors: std::bad_alloc.
  Extras& extras();

  EventLoop* loop_;
  ResultBase* root_;  // in the derived TaskState
  // One pointer, not IntrusiveList's three (see the flags above).
  IntrusiveRing<DoneWaiter> waiters_;
  std::unique_ptr<Extras> extras_;
  const TaskNameSource* name_source_ = nullptr;
  std::uint64_t id_ = next_id();
  std::uint32_t refs_ = 1;  // the loop's, until done
  std::uint32_t cancelling_ = 0;
};

// The running task on this thread's loop, or nullptr (defined in event_loop.h).
inline TaskBase* current_task_base() noexcept;

// Child Tasks start inline (nested on the machine stack) while the stack is
// above this address, and go through the task's trampoline below it. Set by
// TaskBase::run_step to kInlineStackBytes below its own frame for the length
// of the step; null outside any step, where every start is inline. A byte
// budget rather than a depth count costs one compare per start with no
// counter to keep, and keeping it per thread rather than per task spares
// each start a load through the task.
inline constinit thread_local const char* tls_inline_floor = nullptr;

// Raises the cancel an awaiter of `task` took: CancelledError with the
// task's cancel message (cold path).
[[noreturn, gnu::cold, gnu::noinline]] void throw_cancelled(TaskBase* task);

// Suspension: the interface to a task's suspension state, and the base of
// every leaf awaiter (one that waits on a source: a timer, an fd, a lock's
// queue, a future, another task). See "Writing a cancel-safe awaitable" at
// the top of this file. The derived awaiter supplies `detach`, which
// unlinks it from the source when the task is cancelled while suspended,
// and calls abandon() in its own destructor (for a frame destroyed while
// suspended).
//
// Its hot members are forced inline: a sync wait or a sleep inlines all of
// them into the awaiting coroutine, whose body is often too big for g++ to
// inline them by itself (an out-of-line suspend() or abandon() cost a sync
// wait about 40 instructions). So are the destructors of the awaiters
// built on it, which are little more than abandon().
class Suspension : public CancelTarget {
 public:
  using DetachFn = void (*)(Suspension* self) noexcept;
  explicit Suspension(DetachFn detach) noexcept : CancelTarget{&Suspension::try_cancel_impl}, detach_(detach) {}
  Suspension(const Suspension&) = delete;
  Suspension& operator=(const Suspension&) = delete;
  // Last resort only: by now the derived awaiter's members are gone, so
  // every derived awaiter calls abandon() in its own destructor instead.
  [[gnu::always_inline]] ~Suspension() { abandon(); }

  // Park: for await_suspend. Registers the current task as suspended here;
  // returns false (do not suspend; await_resume will throw CancelledError)
  // when a cancellation is already pending. Throws RuntimeError outside a
  // task.
  [[gnu::always_inline]] bool suspend(std::coroutine_handle<> h) { return suspend(h, current_task_base()); }
  // As suspend(h), for an awaiter that knows its loop: `running` is that
  // loop's running task (LoopAccess::current_task), which spares the
  // thread-local lookup of the loop. Throws RuntimeError if it is null.
  [[gnu::always_inline]] bool suspend(std::coroutine_handle<> h, TaskBase* running) {
    if (running == nullptr) [[unlikely]]
      throw_outside_task();
    task_ = running;
    if (task_->take_pending_cancel()) {
      cancelled_ = true;
      return false;
    }
    park(h);
    return true;
  }
  // As suspend(), for an awaiter that passes a cancel requested while the
  // task ran on to what it waits for (TaskBase::take_cancel_to_pass_on),
  // as asyncio does with a future. When it returns false, `pass_on` tells
  // whether the cancel to raise is such a request, for the awaiter to pass
  // on, or one another awaiter took already.
  bool suspend_passing_on(std::coroutine_handle<> h, bool& pass_on) {
    const Pending pending = begin_suspend();
    pass_on = pending == Pending::kPassOn;
    if (pending != Pending::kNone) [[unlikely]] {
      take_cancel();
      return false;
    }
    park(h);
    return true;
  }

  // Undoes a suspend() that returned true, for an await_suspend that then
  // fails to link itself to its source and throws instead of suspending.
  [[gnu::always_inline]] void unpark() noexcept { task_->cancel_target_ = nullptr; }

  // Wake: the wait is over; the task's next step will resume it. The source
  // has already unlinked this waiter and stored in the awaiter whatever it
  // hands over ("wake with a value"): from here on a cancel() is not this
  // wait's, it stays pending for the task's next suspension point.
  [[gnu::always_inline]] void wake() noexcept {
    task_->cancel_target_ = nullptr;
    task_->schedule();
  }
  // wake(), for an awaiter that has the task's loop at hand (one load
  // fewer).
  [[gnu::always_inline]] void wake(EventLoop& loop) noexcept {
    task_->cancel_target_ = nullptr;
    task_->schedule_on(loop);
  }

  // For await_resume: throws CancelledError if cancelled while suspended.
  // (The throw lives in a cold out-of-line function so that this check
  // inlines into every await_resume.)
  void check_cancelled() const {
    if (cancelled_) [[unlikely]]
      throw_cancelled(task_);
  }
  // For await_resume of a wake that carries nothing: also delivers a cancel
  // requested after the wake.
  void check_cancelled_or_pending() const {
    check_cancelled();
    if (task_ != nullptr && task_->take_pending_cancel()) [[unlikely]]
      throw_cancelled(task_);
  }

  // For the derived awaiter's destructor: if its frame is destroyed while
  // the task is still suspended here (loop teardown), unlink from the
  // source now, while the derived awaiter's members are still alive.
  [[gnu::always_inline]] void abandon() noexcept {
    if (parked()) {
      detach_(this);
      task_->cancel_target_ = nullptr;
    }
  }
  // abandon() as the derived awaiter's destructor's last use of this base:
  // also forgets the task, so that ~Suspension's own abandon() is seen to
  // have nothing to do and is compiled away (a test or two per await).
  [[gnu::always_inline]] void abandon_last() noexcept {
    abandon();
    task_ = nullptr;
  }

  // True while the task is suspended here (between a suspend() that
  // returned true and the wake, the cancel or unpark()).
  [[gnu::always_inline]] bool parked() const noexcept { return task_ != nullptr && task_->cancel_target_ == this; }
  bool cancelled() const noexcept { return cancelled_; }
  TaskBase* task() const noexcept { return task_; }

 protected:
  // ---- For a derived awaiter with a cancel policy of its own: one that
  // sets a try_cancel of its own in place of Suspension's, in its
  // constructor (a wait on a future cancels the future; a wait on a task
  // forwards the cancel to it; Condition::wait re-takes the lock first). --

  // suspend() in two halves. begin_suspend binds the running task
  // (RuntimeError outside one) and says what is pending: kNone (park() and
  // suspend), kPassOn (a cancel requested while the task ran, now taken for
  // this awaiter to pass on to what it waits for: it counts as a cancel
  // that came while waiting), or kRaise (a cancel another awaiter took is
  // on its way: take_cancel() and do not suspend).
  enum class Pending : unsigned char { kNone, kPassOn, kRaise };
  [[gnu::always_inline]] Pending begin_suspend() {
    task_ = running_task();
    if (!task_->cancel_pending()) [[likely]]
      return Pending::kNone;
    if (task_->take_cancel_to_pass_on()) return Pending::kPassOn;
    task_->take_pending_cancel();
    return Pending::kRaise;
  }
  // Registers the task as suspended here, to resume at `h`: a cancel() now
  // calls this awaiter's try_cancel.
  [[gnu::always_inline]] void park(std::coroutine_handle<> h) noexcept {
    task_->resume_point_ = h;
    task_->cancel_target_ = this;
  }
  // Take the pending cancel: the cancel is this awaiter's, and
  // check_cancelled() will raise it. The derived awaiter still wakes the
  // task, or does not suspend.
  void take_cancel() noexcept {
    cancelled_ = true;
    task_->cancel_in_flight_ = true;
  }
  // A cancel is on its way that the awaiter raises some other way (a task
  // it forwarded the cancel to ended with CancelledError, which its result
  // rethrows): until then further cancels join it and no await suspends.
  // The awaiter calls task()->cancel_raised() as it raises it.
  void hold_cancel() noexcept { task_->cancel_in_flight_ = true; }

 private:
  [[gnu::always_inline]] static TaskBase* running_task() {
    TaskBase* t = current_task_base();
    if (t == nullptr) [[unlikely]]
      throw_outside_task();
    return t;
  }
  [[noreturn, gnu::cold, gnu::noinline]] static void throw_outside_task() {
    throw RuntimeError("corio: awaited outside a task running on an EventLoop");
  }
  static bool try_cancel_impl(CancelTarget* self) noexcept {
    auto* s = static_cast<Suspension*>(self);
    s->detach_(s);
    s->take_cancel();
    s->wake();
    return true;
  }

  DetachFn detach_;
  TaskBase* task_ = nullptr;
  bool cancelled_ = false;
};

// Marks an awaiter that follows the protocol above without being a
// CancelTarget (Task's awaiter, sync's Waiter). A Task coroutine awaits such
// awaiters, and CancelTargets, directly; any other awaitable goes through
// ForeignWake (see foreign_awaiter.h).
struct LoopAwaiter {};
template <class Aw>
inline constexpr bool kLoopAwaiter = std::is_base_of_v<CancelTarget, Aw> || std::is_base_of_v<LoopAwaiter, Aw>;

// The task's side of an await on an awaitable that knows nothing of corio
// and resumes the coroutine handle it is given itself: from a callback, from
// another thread, or before its await_suspend returns. It is given a relay
// handle instead, which wakes the task through its loop, so the coroutine
// always resumes inside a step of its own task on the loop thread.
//
// Such an await cannot be interrupted: a cancel that arrives meanwhile is
// kept and raised at the task's next suspension point, after the value was
// handed over. While armed it counts as outside work, so the virtual clock
// does not jump over it.
class ForeignWake {
 public:
  ForeignWake() noexcept = default;
  ForeignWake(const ForeignWake&) = delete;
  ForeignWake& operator=(const ForeignWake&) = delete;
  ~ForeignWake() { disarm(); }

  // For await_suspend: the handle to give the awaitable. `h` itself outside
  // any task (the awaitable resumes it directly, as it would anywhere); a
  // null handle if a cancel is pending (do not suspend: check_cancelled()
  // raises it); otherwise the relay.
  // Errors: std::bad_alloc (the relay's frame).
  std::coroutine_handle<> arm(std::coroutine_handle<> h);
  // The relay is not needed after all: the awaitable declined to suspend or
  // threw, or the awaiting frame is destroyed before the awaitable resumed
  // it (loop teardown). A no-op once the relay has run.
  void disarm() noexcept;
  // For await_resume.
  void check_cancelled() const {
    if (cancelled_) [[unlikely]]
      throw_cancelled(task_);
  }

  // Called by the relay, on whatever thread resumed it. Errors:
  // std::bad_alloc when the wake-up cannot be queued from another thread;
  // it reaches the caller of resume() and the task stays suspended.
  void relay_resumed();

 private:
  std::coroutine_handle<> relay_;
  TaskBase* task_ = nullptr;
  bool cancelled_ = false;
};

}  // namespace corio::internal

#endif  // CORIO_LOOP_INTERNAL_TASK_BASE_H_
