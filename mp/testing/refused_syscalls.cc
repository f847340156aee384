#include "mp/testing/refused_syscalls.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

namespace mp::testing {
namespace {

bool Refuse(std::initializer_list<long> syscalls, Refusal how) {
#if defined(__x86_64__)
  constexpr unsigned kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr unsigned kArch = AUDIT_ARCH_AARCH64;
#else
  errno = ENOSYS;
  return false;
#endif
  const unsigned char n = static_cast<unsigned char>(syscalls.size());
  std::vector<sock_filter> filter = {
      // Another architecture's system call numbers mean other calls: allow.
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 0, static_cast<unsigned char>(n + 1)),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
  };
  // A match jumps over the comparisons after it and the ALLOW, to the
  // refusal; the arch mismatch above jumps over all of them to the ALLOW.
  unsigned char after = n;
  for (long nr : syscalls) {
    --after;
    filter.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), static_cast<unsigned char>(after + 1), 0));
  }
  filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  filter.push_back(BPF_STMT(BPF_RET | BPF_K, how == Refusal::kSigsys ? SECCOMP_RET_TRAP : SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)));
  struct sock_fprog prog = {static_cast<unsigned short>(filter.size()), filter.data()};
  // Unprivileged processes may install a filter once they give up gaining
  // privileges (setuid binaries would then not elevate).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

}  // namespace

int WithRefusedSyscalls(std::initializer_list<long> syscalls, const std::function<int()>& check, Refusal how) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) ::_exit(Refuse(syscalls, how) ? check() : kNoFilter);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

}  // namespace mp::testing
