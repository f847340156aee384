// Private: how a Process child is started and waited for (the mechanism).
// process.h holds the policy (names, daemons, bookkeeping); this class only
// forks, remembers the pid and a sentinel, and reaps. It mirrors CPython's
// multiprocessing.popen_fork.Popen.
//
// Thread-safety: all methods may be called concurrently; reaping happens
// under a lock, blocking waits outside it.

#ifndef MP_INTERNAL_POPEN_FORK_H_
#define MP_INTERNAL_POPEN_FORK_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <optional>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mp/exit_status.h"
#include "mp/internal/fd.h"

namespace mp::internal {

class PopenFork {
 public:
  // Forks. The child runs `child_main` and _exits with what it returns; it
  // never returns into the caller's stack. Flushes stdio first.
  // Errors: OSError from fork or pidfd_open.
  static absl::StatusOr<std::unique_ptr<PopenFork>> Launch(absl::FunctionRef<int()> child_main);

  ~PopenFork() = default;

  pid_t pid() const { return pid_; }

  // An fd that becomes readable when the child terminates (a pidfd; on
  // kernels without pidfd_open, the read end of a pipe the child holds).
  int sentinel() const { return sentinel_.get(); }

  // The exit status if the child has terminated (reaping it), else nullopt.
  std::optional<ExitStatus> Poll();

  // Waits until the child terminates or `deadline` passes.
  std::optional<ExitStatus> Wait(absl::Time deadline);

  // Sends `signo` unless the child has already been reaped; a child that
  // exited but is not yet reaped is not an error.
  // Errors: OSError other than ESRCH.
  absl::Status SendSignal(int signo);

 private:
  PopenFork(pid_t pid, UniqueFd sentinel) : pid_(pid), sentinel_(std::move(sentinel)) {}
  std::optional<ExitStatus> Reap(bool block);

  const pid_t pid_;
  UniqueFd sentinel_;
  std::mutex mu_;
  std::optional<ExitStatus> status_;  // Guarded by mu_.
};

}  // namespace mp::internal

#endif  // MP_INTERNAL_POPEN_FORK_H_
