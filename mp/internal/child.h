// Private: one child process as its parent sees it: waiting for it, reaping
// it and signalling it. The one mechanism under mp::Process (popen_fork.h),
// mp::subprocess::Popen and the Pool's workers; os.h's timed waitpid shares
// its wait (WaitForExit).
//
// Reaping happens under a lock and blocking waits outside it, so Poll, Wait
// and SendSignal may be called from several threads at once, and a signal
// never reaches a recycled pid: a waiter first waits for the exit without
// reaping (waitid with WNOWAIT, or a pidfd becoming readable), then reaps
// under the lock.
//
// A finite wait blocks on a pidfd. Where pidfd_open is missing (Linux before
// 5.3) or refused (a seccomp filter), it polls waitid(WNOHANG | WNOWAIT) with
// a backoff from 50 us to 10 ms, as CPython's Popen.wait(timeout) polls.
//
// A child reaped behind our back (SIGCHLD set to SIG_IGN, or a waitpid(-1)
// elsewhere) has lost its status; what it reports then is the caller's
// choice (`if_lost`), since CPython's subprocess and multiprocessing differ.
//
// Thread-safety: all methods are thread-safe.

#ifndef MP_INTERNAL_CHILD_H_
#define MP_INTERNAL_CHILD_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mp/exit_status.h"
#include "mp/internal/fd.h"

namespace mp::internal {

// Waits until child `pid` of this process has terminated, without reaping it,
// or until `deadline`; returns whether it has terminated (true also when it
// is not, or no longer, our child: the reaper will say so). A finite wait
// uses `pidfd` if it is one (>= 0), else opens its own, else polls.
// Errors: OSError (poll, pidfd_open other than ENOSYS/EPERM/ESRCH).
absl::StatusOr<bool> WaitForExit(pid_t pid, int pidfd, absl::Time deadline);

// Whether pidfd_open works in this process: probed once, and false for good
// once a call said ENOSYS or EPERM.
bool HavePidfd();

class Child {
 public:
  // What a child reaped behind our back reports. CPython's subprocess says
  // returncode 0; multiprocessing would say None forever, which mp cannot
  // (a join would never end), so Process reports exit code 255.
  static constexpr ExitStatus kLostAsSubprocess = ExitStatus::Exited(0);
  static constexpr ExitStatus kLostAsProcess = ExitStatus::Exited(255);

  // Adopts `pid`, a child of this process. `sentinel`, if valid, is an fd
  // that becomes readable when the child ends (a pipe whose write end only
  // the child held); Sentinel() opens a pidfd otherwise.
  Child(pid_t pid, ExitStatus if_lost, UniqueFd sentinel = UniqueFd());
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // How the child ended, if it has been reaped; never reaps.
  std::optional<ExitStatus> status() const;

  // Reaps the child if it has terminated; its status, or nullopt.
  // Python: Popen.poll()
  std::optional<ExitStatus> Poll();

  // Waits until the child terminates (and reaps it) or `deadline` passes
  // (then nullopt; the child is not reaped). Retries on EINTR.
  // Errors: OSError from poll(2) or pidfd_open(2).
  absl::StatusOr<std::optional<ExitStatus>> Wait(absl::Time deadline);

  // Sends `signo` to the child (`to_group`: to the process group it leads)
  // unless it has already been reaped; a child that exited but was not yet
  // reaped is not an error.
  // Errors: OSError other than ESRCH.
  absl::Status SendSignal(int signo, bool to_group = false);

  // An fd that becomes readable when the child has ended, owned by the
  // Child: the sentinel given, else a pidfd opened on first use (readable at
  // once if the child was already reaped).
  // Errors: OSError (pidfd_open refused for a running child).
  absl::StatusOr<int> Sentinel();

 private:
  // Reaps without blocking; the caller holds mu_.
  void ReapLocked();

  const pid_t pid_;
  const ExitStatus if_lost_;
  mutable std::mutex mu_;
  std::optional<ExitStatus> status_;  // Guarded by mu_.
  UniqueFd sentinel_;                 // Guarded by mu_.
  bool sentinel_is_pidfd_ = false;    // Guarded by mu_.
};

// Takes a child that nobody will wait for (a dropped subprocess::Popen) and
// reaps it when it ends, without blocking the caller: CPython keeps such
// children in subprocess._active and reaps them at the next Popen. A child
// that already ended is reaped at once. One that still runs gets a small
// detached thread of its own, blocked in waitid with every signal blocked: it
// holds no fd and reaps the child the moment it ends. Where no thread can be
// made, the child is parked, and ReapAbandoned() (called by every new Popen)
// reaps it once it has ended, as CPython's _cleanup() does.
void ReapInBackground(std::unique_ptr<Child> child);

// Reaps the parked children that have ended.
void ReapAbandoned();

}  // namespace mp::internal

#endif  // MP_INTERNAL_CHILD_H_
