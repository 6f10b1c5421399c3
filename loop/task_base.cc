#include "corio/loop/internal/task_base.h"

#include <memory>
#include <new>
#include <string>
#include <utility>

#include "corio/loop/error_context.h"
#include "corio/loop/event_loop.h"

namespace corio::internal {

TaskBase::~TaskBase() = default;

void TaskBase::report_unretrieved() noexcept {
  // The last reference is gone and nobody looked at the failure.
  ErrorContext ctx;
  ctx.message = "Task exception was never retrieved";
  ctx.exception = root_->exception;
  try {
    ctx.task_name = name();
  } catch (const std::bad_alloc&) {
  }
  loop_->call_exception_handler(ctx);
}

void throw_cancelled(TaskBase* task) {
  if (task == nullptr) throw CancelledError();
  task->cancel_raised();
  throw CancelledError(task->cancel_message());
}

TaskBase::Extras& TaskBase::extras() {
  if (!extras_) extras_ = std::make_unique<Extras>();
  return *extras_;
}

std::string TaskBase::name() const {
  if (extras_ && !extras_->name.empty()) return extras_->name;
  if (name_source_ != nullptr) return name_source_->task_name();
  return "Task-" + std::to_string(id_);
}

void TaskBase::set_name(std::string name) { extras().name = std::move(name); }

const std::string& TaskBase::cancel_message() const noexcept {
  static const std::string kNone;
  return extras_ ? extras_->cancel_message : kNone;
}

bool TaskBase::cancel(std::string message) noexcept {
  if (done_) return false;
  ++cancelling_;
  if (!message.empty()) {
    // Only out of memory loses the message; the cancellation still happens.
    try {
      extras().cancel_message = std::move(message);
    } catch (const std::bad_alloc&) {
    }
  }
  if (cancel_target_ != nullptr) {
    CancelTarget* target = cancel_target_;
    // A target that took it has marked it in flight (or forwarded it to
    // the task it awaits).
    if (target->try_cancel(target)) return true;
  }
  // One CancelledError is already on its way: asyncio delivers one for any
  // number of cancel() calls before the task runs again.
  if (cancel_in_flight_) return true;
  must_cancel_ = true;
  return true;
}

void TaskBase::cancel_before_start() noexcept {
  // Cancelled before it ever ran: the body never starts (asyncio).
  must_cancel_ = false;
  root_->destroy_frame();
  root_->exception = std::make_exception_ptr(CancelledError(cancel_message()));
  finish();
}

namespace {

// The coroutine whose handle a foreign awaitable gets instead of the
// awaiting one: resumed, it wakes the task and ends its own frame.
struct Relay {
  struct promise_type : FrameAllocated {
    Relay get_return_object() noexcept { return Relay{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    // To whoever called resume(); the frame stays for disarm() to destroy.
    [[noreturn]] void unhandled_exception() const { throw; }
  };
  std::coroutine_handle<promise_type> handle;
};

Relay relay_to(ForeignWake* wake) {
  wake->relay_resumed();
  co_return;
}

}  // namespace

std::coroutine_handle<> ForeignWake::arm(std::coroutine_handle<> h) {
  TaskBase* t = current_task_base();
  if (t == nullptr) return h;
  task_ = t;
  if (t->take_pending_cancel()) {
    cancelled_ = true;
    return nullptr;
  }
  relay_ = relay_to(this).handle;
  t->resume_point_ = h;
  t->cancel_target_ = nullptr;  // cancel() cannot interrupt this wait
  t->loop()->begin_external_work();
  return relay_;
}

void ForeignWake::disarm() noexcept {
  if (!relay_) return;
  relay_.destroy();
  relay_ = nullptr;
  task_->loop()->end_external_work();
}

void ForeignWake::relay_resumed() {
  TaskBase* t = task_;
  EventLoop* loop = t->loop();
  // From here on this awaiter may be gone at any moment (the task can run
  // as soon as the wake-up is queued), and the relay ends its own frame.
  std::coroutine_handle<> relay = std::exchange(relay_, nullptr);
  if (EventLoop::current() == loop) {
    loop->end_external_work();
    t->schedule();
    return;
  }
  try {
    loop->call_soon_threadsafe([loop, t] {
      loop->end_external_work();
      t->schedule();
    });
  } catch (...) {
    relay_ = relay;  // not queued: the task is still suspended here
    throw;
  }
}

void TaskBase::finish() noexcept {
  done_ = true;
  if (root_->exception && is_cancelled_error(root_->exception)) cancelled_ = true;
  loop_->forget_task(this);
  notify_all(waiters_);
  unref();  // the loop's reference
}

}  // namespace corio::internal
