// Typed errors raised by corio's synchronisation primitives and queues.
//
// Each derives from corio::Error (loop/errors.h), so `catch (const
// corio::Error&)` or `catch (const std::exception&)` handles them; none of
// them is CancelledError, which stays apart (see loop/errors.h).
#ifndef CORIO_SYNC_ERRORS_H_
#define CORIO_SYNC_ERRORS_H_

#include <string>

#include "corio/loop/errors.h"

namespace corio {

// LockError
//
// Misuse of a Lock or Condition: release() of a Lock that is not locked,
// Condition::wait() or notify() without holding the lock (asyncio raises
// RuntimeError there, so LockError derives from RuntimeError).
class LockError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

// ValueError
//
// A value the operation does not accept: a negative Semaphore count, a
// Barrier of zero parties, BoundedSemaphore released above its initial
// value, Queue::task_done() called more times than items were put.
class ValueError : public Error {
 public:
  using Error::Error;
};

// QueueEmpty: get_nowait()/receive_nowait() on an empty queue or channel.
class QueueEmpty : public Error {
 public:
  QueueEmpty() : Error("queue is empty") {}
  using Error::Error;
};

// QueueFull: put_nowait()/send_nowait() on a full bounded queue or channel.
class QueueFull : public Error {
 public:
  QueueFull() : Error("queue is full") {}
  using Error::Error;
};

// QueueShutDown (Python 3.13): put on a queue that was shut down (or a
// channel that was closed), or get once such a queue is empty.
class QueueShutDown : public Error {
 public:
  QueueShutDown() : Error("queue is shut down") {}
  using Error::Error;
};

// BrokenBarrierError: Barrier::wait() on a barrier that was aborted, or
// whose waiters were released by reset() (asyncio: a RuntimeError).
class BrokenBarrierError : public RuntimeError {
 public:
  BrokenBarrierError() : RuntimeError("barrier is broken") {}
  using RuntimeError::RuntimeError;
};

}  // namespace corio

#endif  // CORIO_SYNC_ERRORS_H_
