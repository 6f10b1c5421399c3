#include "corio/examples/chat/chat_room.h"

#include <utility>
#include <vector>

#include "corio/loop/errors.h"
#include "corio/loop/task_group.h"
#include "corio/loop/timeout.h"
#include "corio/loop/wait.h"
#include "corio/streams/errors.h"

namespace corio {

Task<void> ChatRoom::read_lines(StreamReader& reader, std::string name) {
  try {
    for (;;) {
      std::string line = co_await reader.readline();
      if (line.empty()) co_return;            // the member hung up
      if (line.back() != '\n') line += '\n';  // its last line, cut by EOF
      lines_.publish(name + ": " + std::move(line));
    }
  } catch (const Error&) {
    // Reset, or a line over the reader's limit: this member ends.
  }
}

Task<void> ChatRoom::forward(BroadcastSubscriber<std::string>& sub, StreamWriter& writer, bool& stuck) {
  try {
    for (;;) {
      std::string line;
      try {
        line = co_await sub.recv();
      } catch (const LaggedError& lag) {
        line = "* you missed " + std::to_string(lag.missed()) + " lines\n";
      }
      writer.write(line);
      co_await wait_for(writer.drain(), options_.drain_timeout);
    }
  } catch (const TimeoutError&) {
    stuck = true;  // the member reads nothing: drop it
  } catch (const Error&) {
    // The connection failed, or the room closed (QueueShutDown).
  }
}

Task<void> ChatRoom::serve(StreamReader& reader, StreamWriter& writer) {
  const std::string name = "guest" + std::to_string(++next_id_);
  BroadcastSubscriber<std::string> sub = lines_.subscribe();
  ++members_;
  writer.write("* welcome " + name + "\n");
  lines_.publish("* " + name + " joined\n");
  bool stuck = false;
  try {
    co_await task_group([&](TaskGroup& tg) -> Task<> {
      std::vector<TaskHandle<void>> both;
      both.push_back(tg.create_task(read_lines(reader, name), name + ":in"));
      both.push_back(tg.create_task(forward(sub, writer, stuck), name + ":out"));
      // Whichever ends first (hang-up, error, stuck reader) ends the other.
      auto result = co_await wait(both, ReturnWhen::kFirstCompleted);
      for (auto& h : result.pending) h.cancel();
    });
  } catch (...) {
    --members_;
    lines_.publish("* " + name + " left\n");
    throw;  // cancelled by the server's shutdown
  }
  --members_;
  if (stuck) {
    ++dropped_;
    writer.transport().abort();  // nothing more can reach it anyway
    lines_.publish("* " + name + " dropped (not reading)\n");
  } else {
    lines_.publish("* " + name + " left\n");
  }
}

}  // namespace corio
