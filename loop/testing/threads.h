// Looks at this process's threads through /proc, for cross-thread tests
// that must know another thread is really blocked (the loop in epoll_wait,
// the event-source watcher in poll) before they act, instead of guessing
// with a sleep.
//
//   const pid_t loop_tid = corio::testing::current_tid();  // on the loop
//   std::thread t([&] {
//     ASSERT_TRUE(corio::testing::wait_until_blocked_in(loop_tid, corio::testing::kEpollWaits));
//     ...                                                 // the loop sleeps in epoll now
//   });
//
// Linux only (/proc/<pid>/task/<tid>/syscall).
#ifndef CORIO_LOOP_TESTING_THREADS_H_
#define CORIO_LOOP_TESTING_THREADS_H_

#include <dirent.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstddef>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace corio::testing {

// The system calls a thread blocks in when it waits for epoll, poll or a
// futex (mutex, condition variable), whichever the C library picks.
inline constexpr long kEpollWaits[] = {
    SYS_epoll_wait,
    SYS_epoll_pwait,
#ifdef SYS_epoll_pwait2
    SYS_epoll_pwait2,
#endif
};
inline constexpr long kPolls[] = {SYS_poll, SYS_ppoll};
inline constexpr long kFutexWaits[] = {SYS_futex};

// The calling thread's kernel id.
inline pid_t current_tid() noexcept { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// The number of the system call thread `tid` of this process is blocked
// in, or -1 if it is running, blocked outside a system call, or gone.
inline long blocked_syscall(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/syscall");
  std::string first;
  if (!(f >> first) || first.empty() || !std::isdigit(static_cast<unsigned char>(first[0]))) return -1;
  return std::stol(first);
}

// Waits (checking every millisecond, for at most `limit`) until thread
// `tid` is blocked in one of `calls`. Returns whether it was.
template <std::size_t N>
bool wait_until_blocked_in(pid_t tid, const long (&calls)[N],
                           std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const long nr = blocked_syscall(tid);
    for (long c : calls) {
      if (nr == c) return true;
    }
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// The kernel ids of this process's threads.
inline std::vector<pid_t> thread_ids() {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    if (std::isdigit(static_cast<unsigned char>(e->d_name[0]))) out.push_back(static_cast<pid_t>(std::stol(e->d_name)));
  }
  ::closedir(dir);
  return out;
}

// The kernel ids of this process's threads whose name (comm) is `name`.
inline std::vector<pid_t> threads_named(const std::string& name) {
  std::vector<pid_t> out;
  for (pid_t tid : thread_ids()) {
    std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/comm");
    std::string comm;
    if (std::getline(f, comm) && comm == name) out.push_back(tid);
  }
  return out;
}

// The kernel ids of this process's threads blocked in one of `calls` now.
template <std::size_t N>
std::vector<pid_t> threads_blocked_in(const long (&calls)[N]) {
  std::vector<pid_t> out;
  for (pid_t tid : thread_ids()) {
    const long nr = blocked_syscall(tid);
    for (long c : calls) {
      if (nr == c) {
        out.push_back(tid);
        break;
      }
    }
  }
  return out;
}

}  // namespace corio::testing

#endif  // CORIO_LOOP_TESTING_THREADS_H_
