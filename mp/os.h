// -----------------------------------------------------------------------------
// File: os.h
// -----------------------------------------------------------------------------
//
// The thin layer over the process system calls that Python's os module
// exposes: fork, getpid, getppid and waitpid. Higher layers (Process,
// subprocess) build on these.
//
// Thread-safety: all functions are thread-safe. Fork() in a process with
// other threads has the usual POSIX caveats: only the calling thread exists
// in the child.
//
// Example (the seed's os.fork program):
//
//   std::printf("Process (%d) start...\n", mp::GetPid());
//   absl::StatusOr<pid_t> pid = mp::Fork();
//   if (!pid.ok()) return 1;
//   if (*pid == 0) {
//     std::printf("I am child process (%d) and my parent is %d.\n", mp::GetPid(), mp::GetPPid());
//   } else {
//     std::printf("I (%d) just created a child process (%d).\n", mp::GetPid(), *pid);
//   }

#ifndef MP_OS_H_
#define MP_OS_H_

#include <sys/types.h>

#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mp/exit_status.h"

namespace mp {

// Forks the calling process. Returns 0 in the child and the child's pid in
// the parent. Flushes C stdio and the C++ standard streams first, so buffered
// output is not written twice.
// Python: os.fork()
// Errors: OSError (EAGAIN: too many processes; ENOMEM).
absl::StatusOr<pid_t> Fork();

// Python: os.getpid()
pid_t GetPid();

// The parent's pid; after the parent exited, the reaper's (often 1).
// Python: os.getppid()
pid_t GetPPid();

// Waits for child `pid` to terminate and reaps it. Retries on EINTR.
// Python: os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
// Errors: ChildProcessError (ECHILD: not our child, or already reaped).
absl::StatusOr<ExitStatus> WaitPid(pid_t pid);

// As WaitPid, but returns nullopt at once if `pid` is still running.
// Python: os.waitpid(pid, os.WNOHANG)
// Errors: ChildProcessError.
absl::StatusOr<std::optional<ExitStatus>> TryWaitPid(pid_t pid);

// As WaitPid, but gives up at `deadline` and returns nullopt then. Does not
// reap a child that is still running at the deadline.
// Errors: ChildProcessError.
absl::StatusOr<std::optional<ExitStatus>> WaitPidUntil(pid_t pid, absl::Time deadline);
absl::StatusOr<std::optional<ExitStatus>> WaitPidFor(pid_t pid, absl::Duration timeout);

// Sends `signo` to `pid`.
// Python: os.kill(pid, signo)
// Errors: ProcessLookupError (as OSError, ESRCH), PermissionError.
absl::Status Kill(pid_t pid, int signo);

// Flushes every C stdio stream and the C++ standard streams, so that output
// buffered before a fork is not written twice: Fork() and subprocess's Popen
// call it first. (A Process flushes only the standard streams, as CPython's
// popen_fork does: its child never flushes the others; see process.h.)
void FlushStdio();

}  // namespace mp

#endif  // MP_OS_H_
