#include "corio/loop/task_group.h"

#include <string>
#include <utility>

namespace corio {

TaskGroup::~TaskGroup() {
  // task_group() always waits for the children; this only runs if the frame
  // is destroyed without finishing (the loop itself is being torn down).
  while (Child* c = children_.pop_front()) {
    c->task->remove_waiter(&c->done);
    c->task->unref();
    delete c;
  }
}

void TaskGroup::enter() {
  parent_ = internal::current_task_base();
  if (parent_ == nullptr) throw RuntimeError("corio::task_group used outside a task");
  loop_ = parent_->loop();
  state_ = State::kActive;
}

void TaskGroup::check_can_create() const {
  // asyncio's rules: refused once aborting (a failure or a cancel began the
  // shutdown; the new child would escape abort()'s cancellation and keep
  // the group waiting) and once finished, but allowed while the group waits
  // for children after the body returned.
  if (state_ == State::kCreated) throw RuntimeError("corio::TaskGroup has not been entered");
  if (state_ == State::kDone || (state_ == State::kExiting && children_.empty())) {
    throw RuntimeError("corio::TaskGroup is finished");
  }
  if (aborting_) throw RuntimeError("corio::TaskGroup is shutting down");
}

void TaskGroup::watch(internal::TaskBase* t) {
  auto* c = new Child;
  c->group = this;
  c->task = t;
  c->done.child = c;
  c->done.on_done = &TaskGroup::on_child_done;
  t->ref();
  t->add_waiter(&c->done);
  children_.push_back(c);
}

void TaskGroup::abort() noexcept {
  if (aborting_) return;
  aborting_ = true;
  children_.for_each([](Child* c) { c->task->cancel(); });
}

void TaskGroup::on_child_done(internal::DoneWaiter* w) noexcept {
  Child* c = static_cast<Child::Done*>(w)->child;
  TaskGroup* g = c->group;
  internal::TaskBase* t = c->task;
  g->children_.erase(c);
  std::exception_ptr e = t->exception_retrieved();
  if (e && !t->cancelled()) {
    g->errors_.push_back(e);
    g->abort();
    if (g->state_ == State::kActive && !g->parent_cancel_requested_) {
      // Interrupt the body too: it raises CancelledError at its current
      // suspension point, which the group withdraws again on exit.
      g->parent_cancel_requested_ = true;
      g->parent_->cancel();
    }
  }
  t->unref();
  delete c;
  if (g->children_.empty() && g->exit_waiter_ != nullptr) g->exit_waiter_->wake_now();
}

void TaskGroup::body_done(std::exception_ptr body_error) {
  state_ = State::kExiting;
  if (parent_cancel_requested_) {
    // Withdraw the group's own cancel request (also drops it if it was never
    // delivered because the body finished first).
    parent_->uncancel();
  }
  if (body_error) {
    if (is_cancelled_error(body_error)) {
      if (!parent_cancel_requested_) propagate_cancel_ = true;  // from outside
    } else {
      errors_.push_back(body_error);
    }
    abort();
  }
}

void TaskGroup::absorb_outer_cancel(const CancelledError& error) {
  propagate_cancel_ = true;
  if (!outer_cancel_) outer_cancel_ = std::make_exception_ptr(error);  // keeps the message
  abort();
}

void TaskGroup::finish(std::exception_ptr body_error) {
  state_ = State::kDone;
  if (!errors_.empty()) {
    std::vector<std::exception_ptr> errors = std::move(errors_);
    // The message is built before `errors` is moved into the argument list
    // (argument evaluation order is unspecified).
    std::string message = "unhandled errors in a TaskGroup (" + std::to_string(errors.size()) + " sub-exception" +
                          (errors.size() == 1 ? ")" : "s)");
    // The errors take priority over a cancel from outside, but that cancel
    // must not be lost (asyncio 3.13, gh-116720). body_done() has withdrawn
    // the group's own request, so whatever is still counted came from
    // outside, and was maybe already raised inside the group and absorbed
    // there. Withdrawing one and requesting it again keeps the count and
    // leaves the request pending: it is raised at the task's next
    // suspension point (with the message it came with).
    if (parent_->cancelling() > 0) {
      std::string cancel_message = parent_->cancel_message();  // uncancel() to zero clears it
      parent_->uncancel();
      parent_->cancel(std::move(cancel_message));
    }
    throw ExceptionGroup(std::move(message), std::move(errors));
  }
  if (propagate_cancel_) {
    if (body_error && is_cancelled_error(body_error)) std::rethrow_exception(body_error);
    if (outer_cancel_) std::rethrow_exception(outer_cancel_);
    throw CancelledError();
  }
}

}  // namespace corio
