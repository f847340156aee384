// Test support: runs code in a process where chosen system calls fail with
// ENOSYS, as on a kernel that lacks them (pidfd_open before Linux 5.3,
// clone3 before 5.3), so that tests check mp's fallbacks without mocking the
// kernel: a seccomp filter answers the calls.

#ifndef MP_TESTING_REFUSED_SYSCALLS_H_
#define MP_TESTING_REFUSED_SYSCALLS_H_

#include <sys/syscall.h>

#include <functional>
#include <initializer_list>

namespace mp::testing {

// Exit code of WithRefusedSyscalls when the filter could not be installed.
inline constexpr int kNoFilter = 100;

// How the filter answers a refused call.
enum class Refusal {
  kEnosys,  // The call fails with ENOSYS, as where the kernel lacks it.
  kSigsys,  // The calling thread gets SIGSYS (SECCOMP_RET_TRAP) instead.
};

// Forks; the child installs a filter refusing `syscalls` (by number, SYS_*)
// for itself and what it forks later, runs `check` and exits with what it
// returns. Returns the child's exit code (128 + N if signal N killed it): 0
// when `check` found all well.
int WithRefusedSyscalls(std::initializer_list<long> syscalls, const std::function<int()>& check,
                        Refusal how = Refusal::kEnosys);

// WithRefusedSyscalls({SYS_pidfd_open}, check).
inline int WithoutPidfd(const std::function<int()>& check) {
  return WithRefusedSyscalls({SYS_pidfd_open}, check);
}

}  // namespace mp::testing

#endif  // MP_TESTING_REFUSED_SYSCALLS_H_
