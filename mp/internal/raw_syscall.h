// Private: a system call made without libc: no errno written, no libc code
// run. For the two places where that matters:
//   * the child of a vfork-style clone shares its parent's memory and TLS, so
//     libc's syscall() would write the parent's errno (and a sanitizer's
//     interceptor the parent's bookkeeping);
//   * a forked child copies each page it writes and faults on each page of
//     code it runs, so its first steps avoid libc's code pages.
// Elsewhere use the libc wrappers.
//
// Thread-safety: as the system call.

#ifndef MP_INTERNAL_RAW_SYSCALL_H_
#define MP_INTERNAL_RAW_SYSCALL_H_

#include <errno.h>
#include <unistd.h>

namespace mp::internal {

// The kernel's answer: >= 0, or -errno.
inline long RawSyscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0) {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
#else
  // Elsewhere libc's wrapper, errno and all; its -1 becomes -errno.
  const int saved = errno;
  long ret = ::syscall(nr, a, b, c, d);
  if (ret == -1) ret = -errno;
  errno = saved;
  return ret;
#endif
}

}  // namespace mp::internal

#endif  // MP_INTERNAL_RAW_SYSCALL_H_
