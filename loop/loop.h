// Umbrella header for corio's loop library: #include "corio/loop/loop.h".
// (Target "//loop"; each header also has a target of its own.)
#ifndef CORIO_LOOP_LOOP_H_
#define CORIO_LOOP_LOOP_H_

#include "corio/loop/clock.h"
#include "corio/loop/co_invoke.h"
#include "corio/loop/delay.h"
#include "corio/loop/error_context.h"
#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/event_source.h"
#include "corio/loop/executor.h"
#include "corio/loop/fd_ready.h"
#include "corio/loop/future.h"
#include "corio/loop/gather.h"
#include "corio/loop/handle.h"
#include "corio/loop/io_registration.h"
#include "corio/loop/loop_handle.h"
#include "corio/loop/loop_options.h"
#include "corio/loop/run.h"
#include "corio/loop/shield.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_group.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/thread_pool_executor.h"
#include "corio/loop/threadsafe_promise.h"
#include "corio/loop/timeout.h"
#include "corio/loop/wait.h"

#endif  // CORIO_LOOP_LOOP_H_
