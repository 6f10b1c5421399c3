// The README's first example: two fetches run concurrently with gather, a
// third under a timeout. Run: bazel run //examples:quickstart
#include <chrono>
#include <cstdio>

#include "corio/loop/loop.h"

corio::Task<int> fetch(int id) {
  co_await corio::sleep(std::chrono::milliseconds(10 * id));
  co_return id* id;
}

corio::Task<int> main_task() {
  auto [a, b] = co_await corio::gather(fetch(1), fetch(2));  // concurrently
  int c = co_await corio::timeout(std::chrono::seconds(1), fetch(3));
  co_return a + b + c;
}

int main() {
  int total = corio::run(main_task());
  std::printf("1 + 4 + 9 = %d\n", total);
  return total == 14 ? 0 : 1;
}
