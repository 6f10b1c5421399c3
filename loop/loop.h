// Umbrella header for corio's loop library: #include "corio/loop/loop.h".
#ifndef CORIO_LOOP_LOOP_H_
#define CORIO_LOOP_LOOP_H_

#include "corio/loop/co_invoke.h"
#include "corio/loop/errors.h"
#include "corio/loop/event_loop.h"
#include "corio/loop/executor.h"
#include "corio/loop/future.h"
#include "corio/loop/io_registration.h"
#include "corio/loop/loop_handle.h"
#include "corio/loop/gather.h"
#include "corio/loop/run.h"
#include "corio/loop/shield.h"
#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/loop/task_group.h"
#include "corio/loop/task_handle.h"
#include "corio/loop/timeout.h"
#include "corio/loop/wait.h"

#endif  // CORIO_LOOP_LOOP_H_
