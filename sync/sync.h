// Umbrella header for corio's sync library: #include "corio/sync/sync.h".
//
// asyncio's synchronisation primitives and queues for corio tasks: Lock,
// Event, Condition, Semaphore, BoundedSemaphore, Barrier, Queue,
// PriorityQueue, LifoQueue, and Channel (thread-safe, from other threads
// into a loop), with their typed errors.
//
// Common rules (each header repeats what applies):
//  * For the tasks of one loop; nothing here blocks the thread (Channel's
//    send() on a bounded channel blocks the *sending* thread, which must run
//    no loop). Channel is the only type meant for other threads.
//  * Waiters are served in FIFO order. Locks, permits and items are handed
//    over directly to the first waiter, so a task that releases and at once
//    re-acquires cannot overtake one that was waiting.
//  * Cancellation follows loop/internal/task_base.h: a waiter cancelled
//    while waiting leaves without a trace; one cancelled after it was
//    handed what it waited for keeps it, and sees the CancelledError at its
//    next suspension point. Waits that carry nothing (Event::wait,
//    Queue::join) raise it right away instead.
//  * An awaitable a primitive returns (acquire(), wait(), get(), put(),
//    receive(), ...) may be kept in a variable and awaited more than once:
//    each co_await is a new operation (a put puts a copy).
#ifndef CORIO_SYNC_SYNC_H_
#define CORIO_SYNC_SYNC_H_

#include "corio/sync/barrier.h"
#include "corio/sync/channel.h"
#include "corio/sync/condition.h"
#include "corio/sync/errors.h"
#include "corio/sync/event.h"
#include "corio/sync/guard.h"
#include "corio/sync/lock.h"
#include "corio/sync/queue.h"
#include "corio/sync/semaphore.h"

#endif  // CORIO_SYNC_SYNC_H_
