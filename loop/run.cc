#include "corio/loop/run.h"

#include <memory>
#include <vector>

namespace corio {

void shutdown_tasks(EventLoop& loop) {
  if (loop.pending_task_count() == 0) return;
  std::vector<TaskRef> pending = all_tasks(loop);
  auto remaining = std::make_shared<std::size_t>(pending.size());
  for (TaskRef& t : pending) {
    t.add_done_callback([&loop, remaining](const TaskRef&) {
      if (--*remaining == 0) loop.stop();
    });
  }
  loop.cancel_all_tasks();
  loop.run_forever();
  // Tasks created during the shutdown get the same treatment.
  shutdown_tasks(loop);
}

}  // namespace corio
