// Helpers for the streams module's tests: letting the loop run, and a
// ReadTransport that records the flow control asked of it.
#ifndef CORIO_STREAMS_TESTING_STREAMS_TESTING_H_
#define CORIO_STREAMS_TESTING_STREAMS_TESTING_H_

#include <string>
#include <vector>

#include "corio/loop/sleep.h"
#include "corio/loop/task.h"
#include "corio/streams/transport.h"

namespace corio::testing {

// Yields `n` times, letting every ready task and callback run in between.
inline Task<> settle(int n = 5) {
  for (int i = 0; i < n; ++i) co_await yield_now();
}

// A ReadTransport that only records pause_reading()/resume_reading().
class RecordingReadTransport final : public ReadTransport {
 public:
  void close() override { closed = true; }
  bool is_closing() const override { return closed; }
  void pause_reading() override {
    reading = false;
    calls.push_back("pause");
  }
  void resume_reading() override {
    reading = true;
    calls.push_back("resume");
  }
  bool is_reading() const override { return reading; }

  std::vector<std::string> calls;
  bool reading = true;
  bool closed = false;
};

}  // namespace corio::testing

#endif  // CORIO_STREAMS_TESTING_STREAMS_TESTING_H_
