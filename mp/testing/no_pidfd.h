// Test support: runs code in a process where pidfd_open(2) fails with
// ENOSYS, as on Linux before 5.3, so that tests can check mp's fallbacks
// without mocking the kernel: a seccomp filter answers the system call.

#ifndef MP_TESTING_NO_PIDFD_H_
#define MP_TESTING_NO_PIDFD_H_

#include <functional>

namespace mp::testing {

// Exit code of WithoutPidfd when the filter could not be installed.
inline constexpr int kNoFilter = 100;

// Forks; the child installs the filter (for itself and what it forks
// later), runs `check` and exits with what it returns. Returns the child's
// exit code (128 + N if signal N killed it): 0 when `check` found all well.
int WithoutPidfd(const std::function<int()>& check);

}  // namespace mp::testing

#endif  // MP_TESTING_NO_PIDFD_H_
