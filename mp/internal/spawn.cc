#include "mp/internal/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "mp/errors.h"
#include "mp/internal/fd.h"
#include "mp/internal/raw_syscall.h"

namespace mp::internal {
namespace {

enum Stage : int32_t { kExec = 0, kChdir = 1, kSetup = 2, kPreexec = 3 };

struct ChildError {
  int32_t err;
  int32_t stage;
};

struct ChildArgs {
  const SpawnPlan* plan;
  // Where a failure is reported: `shared` when the child shares our memory
  // (CLONE_VM; we resume only after it exec'd or exited, so it is read
  // after the write), else the error pipe.
  ChildError* shared;
  int err_fd;
  int max_fd;  // For the close() loop when close_range is missing.
  // Whether the kernel already reset the child's signal handlers
  // (CLONE_CLEAR_SIGHAND). If not, the parent blocked every signal around
  // the clone and `parent_mask` is the mask the child restores.
  bool handlers_cleared;
  sigset_t parent_mask;
};

[[noreturn]] void Fail(const ChildArgs& a, Stage stage, long err) {
  ChildError e{static_cast<int32_t>(err), stage};
  if (a.shared != nullptr) {
    *a.shared = e;
  } else {
    // Only a forked child has its own memory: libc's write loop is fine.
    signal_safe::WriteAll(a.err_fd, &e, sizeof e);
  }
  for (;;) RawSyscall(SYS_exit_group, 255);  // Not _exit: TSan intercepts it.
}

// The child calls the kernel directly (RawSyscall): with CLONE_VM, libc
// would set the *parent's* errno, and a function that a sanitizer or a
// preloaded library intercepts would update the parent's bookkeeping (TSan's
// signal table, its fd table) from the child.

// Fails the child at `stage` if `r` (a RawSyscall result) is an error.
long Check(const ChildArgs& a, Stage stage, long r) {
  if (r < 0) Fail(a, stage, -r);
  return r;
}

// Closes [lo, hi]; close_range(2) where the kernel has it.
void CloseRange(int lo, int hi, int max_fd) {
  if (lo > hi) return;
  if (RawSyscall(SYS_close_range, static_cast<unsigned>(lo), static_cast<unsigned>(hi), 0) == 0) return;
  if (hi > max_fd) hi = max_fd;
  for (int fd = lo; fd <= hi; ++fd) RawSyscall(SYS_close, fd);
}

// Makes `src` the child's `target`. A fd that is already in place only loses
// FD_CLOEXEC (dup onto itself would not clear it).
void Install(const ChildArgs& a, int src, int target) {
  if (src < 0) return;
  if (src == target) {
    Check(a, kSetup, RawSyscall(SYS_fcntl, target, F_SETFD, 0));
  } else {
    Check(a, kSetup, RawSyscall(SYS_dup3, src, target, 0));
  }
}

// The kernel's struct sigaction (x86-64, arm64 and most others).
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

// clone3(2)'s arguments (linux/sched.h, whose macros clash with sched.h's).
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};
constexpr uint64_t kCloneClearSighand = 0x100000000ULL;  // Linux 5.5.

// Set once clone3 (or its CLONE_CLEAR_SIGHAND) turned out to be missing.
std::atomic<bool> g_no_clear_sighand{false};

int ChildMain(void* arg);

// Starts `fn(arg)` in a child that shares our memory (CLONE_VM), on `stack`,
// while we are suspended until it exec'd or exited (CLONE_VFORK), with every
// signal handler reset to SIG_DFL by the kernel (CLONE_CLEAR_SIGHAND;
// ignored signals stay ignored). The child then needs neither the 64
// rt_sigaction calls that reset handlers one by one nor the parent's signals
// blocked around the clone: 67 system calls fewer per spawn. Returns the pid,
// or -1 with `*err` set: ENOSYS when the kernel (before 5.5), a seccomp
// filter or the architecture lacks it; the caller then clones the old way.
//
// glibc has no clone3 wrapper, and a child on a new stack cannot return
// through one, so the system call is made here: the child calls fn(arg) on
// its stack and ends with exit_group if fn returns (ChildMain never does).
pid_t CloneVforkClearSighand(int (*fn)(void*), void* arg, char* stack, size_t stack_size, int* err) {
#if defined(__x86_64__)
  if (g_no_clear_sighand.load(std::memory_order_relaxed)) {
    *err = ENOSYS;
    return -1;
  }
  CloneArgs args = {};
  args.flags = CLONE_VM | CLONE_VFORK | kCloneClearSighand;
  args.exit_signal = SIGCHLD;
  args.stack = reinterpret_cast<uint64_t>(stack);
  args.stack_size = stack_size & ~uint64_t{15};  // The child's sp: 16-aligned.
  long ret;
  register long r8 __asm__("r8") = reinterpret_cast<long>(fn);
  register long r9 __asm__("r9") = reinterpret_cast<long>(arg);
  __asm__ volatile(
      "syscall\n\t"
      "testq %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      // The child: rsp is the top of `stack`; r8 and r9 survive the call.
      "xorl %%ebp, %%ebp\n\t"
      "movq %%r9, %%rdi\n\t"
      "callq *%%r8\n\t"
      "movl %%eax, %%edi\n\t"
      "movl %[exit_group], %%eax\n\t"
      "syscall\n\t"
      "hlt\n\t"
      "1:\n\t"
      : "=a"(ret)
      : "0"(long{SYS_clone3}), "D"(&args), "S"(sizeof args), "r"(r8), "r"(r9), [exit_group] "i"(SYS_exit_group)
      : "rcx", "r11", "memory");
  if (ret >= 0) return static_cast<pid_t>(ret);
  *err = static_cast<int>(-ret);
  // EINVAL: a kernel with clone3 but without CLONE_CLEAR_SIGHAND (5.3, 5.4).
  // EPERM: a filter refusing it. Neither will change; the old way works.
  if (*err == ENOSYS || *err == EINVAL || *err == EPERM) {
    g_no_clear_sighand.store(true, std::memory_order_relaxed);
    *err = ENOSYS;
  }
  return -1;
#else
  (void)fn, (void)arg, (void)stack, (void)stack_size;
  *err = ENOSYS;
  return -1;
#endif
}

// Runs in the child: with CLONE_VM it shares the parent's memory, so it
// writes nothing but its own stack and makes only raw system calls.
int ChildMain(void* arg) {
  const ChildArgs& a = *static_cast<const ChildArgs*>(arg);
  const SpawnPlan& p = *a.plan;

  // The parent's handlers must not run here (they would run on the parent's
  // memory); ignored signals stay ignored across exec, as POSIX has it.
  for (int sig = 1; sig < 65 && !a.handlers_cleared; ++sig) {
    KernelSigaction sa;
    if (RawSyscall(SYS_rt_sigaction, sig, 0, reinterpret_cast<long>(&sa), 8) != 0) continue;
    if (sa.handler == SIG_IGN || sa.handler == SIG_DFL) continue;
    KernelSigaction dfl = {SIG_DFL, 0, nullptr, 0};
    RawSyscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&dfl), 0, 8);
  }

  // A source fd that an earlier dup2 would overwrite is moved out of the way
  // first (CPython's _posixsubprocess does the same).
  int in = p.stdio[0], out = p.stdio[1], err = p.stdio[2];
  if (out == 0) out = static_cast<int>(Check(a, kSetup, RawSyscall(SYS_fcntl, out, F_DUPFD_CLOEXEC, 3)));
  if (err == 0 || err == 1) err = static_cast<int>(Check(a, kSetup, RawSyscall(SYS_fcntl, err, F_DUPFD_CLOEXEC, 3)));
  Install(a, in, 0);
  Install(a, out, 1);
  if (p.stderr_to_stdout) {
    Install(a, 1, 2);
  } else {
    Install(a, err, 2);
  }

  if (p.cwd != nullptr) Check(a, kChdir, RawSyscall(SYS_chdir, reinterpret_cast<long>(p.cwd)));
  if (p.umask >= 0) RawSyscall(SYS_umask, p.umask);
  if (p.restore_signals) {
    // CPython's _Py_RestoreSignals(), in the same place (after umask,
    // before setsid). Not reported if it fails: neither is CPython's.
    KernelSigaction dfl = {SIG_DFL, 0, nullptr, 0};
    RawSyscall(SYS_rt_sigaction, SIGPIPE, reinterpret_cast<long>(&dfl), 0, 8);
    RawSyscall(SYS_rt_sigaction, SIGXFSZ, reinterpret_cast<long>(&dfl), 0, 8);
  }
  if (p.setsid) Check(a, kSetup, RawSyscall(SYS_setsid));
  if (p.pgid >= 0) Check(a, kSetup, RawSyscall(SYS_setpgid, 0, p.pgid));
  if (p.preexec_fn != nullptr) {
    // Only a forked child gets here (never one sharing our memory). An
    // exception must not unwind into the caller's code in the child: it
    // ends the child, and the parent raises SubprocessError, as CPython's
    // _posixsubprocess does.
    try {
      (*p.preexec_fn)();
    } catch (...) {
      Fail(a, kPreexec, 0);
    }
  }

  for (int fd : p.pass_fds) RawSyscall(SYS_fcntl, fd, F_SETFD, 0);
  if (p.close_fds) {
    // Keep 0-2, pass_fds and the error pipe (close-on-exec anyway).
    int lo = 3;
    size_t i = 0;
    bool err_kept = false;
    for (;;) {
      int keep;
      if (!err_kept && (i == p.pass_fds.size() || a.err_fd <= p.pass_fds[i])) {
        keep = a.err_fd;
        err_kept = true;
      } else if (i < p.pass_fds.size()) {
        keep = p.pass_fds[i++];
      } else {
        break;
      }
      CloseRange(lo, keep - 1, a.max_fd);
      if (keep + 1 > lo) lo = keep + 1;
    }
    CloseRange(lo, INT32_MAX, a.max_fd);
  }

  if (!a.handlers_cleared) {
    Check(a, kSetup, RawSyscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&a.parent_mask), 0, 8));
  }

  // As execvpe: ENOENT/ENOTDIR mean "try the next"; the first other error is
  // the one reported.
  long saved = 0, last = ENOENT;
  for (const char* path : p.exec_paths) {
    if (path == nullptr) break;
    last = -RawSyscall(SYS_execve, reinterpret_cast<long>(path), reinterpret_cast<long>(p.argv.data()),
                reinterpret_cast<long>(p.envp));
    if (last != ENOENT && last != ENOTDIR && saved == 0) saved = last;
  }
  Fail(a, kExec, saved != 0 ? saved : last);
}

}  // namespace

absl::StatusOr<pid_t> Spawn(const SpawnPlan& plan) {
  static const int max_fd = [] {
    long n = ::sysconf(_SC_OPEN_MAX);
    return n > 0 && n < (1 << 20) ? static_cast<int>(n) : (1 << 20);
  }();
  const bool full_fork = plan.preexec_fn != nullptr;
  ChildError shared{0, -1};
  ChildArgs args{&plan, full_fork ? nullptr : &shared, -1, max_fd, false, {}};

  // A forked child has its own memory: it reports through a close-on-exec
  // pipe, whose EOF means exec succeeded.
  PipeFds errpipe;
  if (full_fork) {
    absl::StatusOr<PipeFds> p = MakePipe();
    if (!p.ok()) return p.status();
    errpipe = *std::move(p);
    // The child's dup2s onto 0-2 must not overwrite the error pipe.
    if (errpipe.write.get() < 3) {
      UniqueFd moved(::fcntl(errpipe.write.get(), F_DUPFD_CLOEXEC, 3));
      if (!moved.valid()) return PyOSError(errno, "fcntl(F_DUPFD_CLOEXEC)");
      errpipe.write = std::move(moved);
    }
    args.err_fd = errpipe.write.get();
  }

  // The child borrows this stack frame: CLONE_VFORK suspends us until it has
  // exec'd or exited.
  alignas(64) char stack[64 * 1024];
  pid_t pid = -1;
  int spawn_errno = 0;
  if (!full_fork) {
    args.handlers_cleared = true;
    pid = CloneVforkClearSighand(ChildMain, &args, stack, sizeof stack, &spawn_errno);
  }
  if (full_fork || (pid == -1 && spawn_errno == ENOSYS)) {
    // Without CLONE_CLEAR_SIGHAND every signal stays blocked until the child
    // has reset its handlers, so no handler of ours ever runs in the child.
    args.handlers_cleared = false;
    sigset_t all;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &args.parent_mask);
    if (!full_fork) {
      pid = ::clone(ChildMain, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    } else {
      pid = ::fork();
      if (pid == 0) ChildMain(&args);
    }
    spawn_errno = errno;
    ::pthread_sigmask(SIG_SETMASK, &args.parent_mask, nullptr);
  }
  if (pid < 0) return PyOSError(spawn_errno, full_fork ? "fork()" : "clone()");

  ChildError e = shared;
  if (full_fork) {
    errpipe.write.reset();
    absl::StatusOr<size_t> n = ReadFull(errpipe.read.get(), &e, sizeof e);
    if (!n.ok() || (*n != 0 && *n != sizeof e)) {
      e = ChildError{EIO, kSetup};
    }
  }
  if (e.stage < 0) return pid;  // Nothing reported: exec succeeded.

  // The child failed before exec: reap it.
  int wstatus;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  switch (e.stage) {
    case kExec: return PyOSError(e.err, absl::StrCat("'", plan.display_program, "'"));
    case kChdir: return PyOSError(e.err, absl::StrCat("'", plan.display_cwd, "'"));
    case kPreexec: return PyError(PyExc::kSubprocessError, "Exception occurred in preexec_fn.");
    default: return PyOSError(e.err, "noexec");
  }
}

}  // namespace mp::internal
