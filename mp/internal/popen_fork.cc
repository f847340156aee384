#include "mp/internal/popen_fork.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "mp/errors.h"
#include "mp/os.h"

namespace mp::internal {

absl::StatusOr<std::unique_ptr<PopenFork>> PopenFork::Launch(absl::FunctionRef<int()> child_main) {
  // Without pidfd_open (Linux < 5.3) the sentinel is CPython's: a pipe whose
  // write end only the child holds, so EOF on the read end means it ended.
  static const bool have_pidfd = [] {
    long fd = ::syscall(SYS_pidfd_open, ::getpid(), 0);
    if (fd < 0) return false;
    ::close(static_cast<int>(fd));
    return true;
  }();
  std::optional<PipeFds> pipe;
  if (!have_pidfd) {
    absl::StatusOr<PipeFds> p = MakePipe();
    if (!p.ok()) return p.status();
    pipe = std::move(*p);
  }

  absl::StatusOr<pid_t> pid = Fork();
  if (!pid.ok()) return pid.status();
  if (*pid == 0) {
    if (pipe) pipe->read.reset();
    int code = child_main();
    ::_exit(code);
  }

  UniqueFd sentinel;
  if (have_pidfd) {
    // Race-free: the child is ours and unreaped, so its pid cannot be reused.
    sentinel.reset(static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0)));
    if (!sentinel.valid()) {
      int err = errno;
      ::kill(*pid, SIGKILL);
      (void)WaitPid(*pid);
      return PyOSError(err, absl::StrCat("pidfd_open(", *pid, ")"));
    }
  } else {
    pipe->write.reset();
    sentinel = std::move(pipe->read);
  }
  return std::unique_ptr<PopenFork>(new PopenFork(*pid, std::move(sentinel)));
}

std::optional<ExitStatus> PopenFork::Reap(bool block) {
  std::lock_guard<std::mutex> lock(mu_);
  if (status_) return status_;
  int wstatus = 0;
  for (;;) {
    pid_t r = ::waitpid(pid_, &wstatus, block ? 0 : WNOHANG);
    if (r == pid_) {
      status_ = ExitStatus::FromWaitStatus(wstatus);
      return status_;
    }
    if (r == 0) return std::nullopt;
    if (errno == EINTR) continue;
    // ECHILD: someone else reaped it (waitpid(-1) or SIGCHLD=SIG_IGN), so
    // the status is lost. CPython reports None forever there; we cannot
    // block forever either, so report what can be known: it is gone.
    status_ = ExitStatus::Exited(255);
    return status_;
  }
}

std::optional<ExitStatus> PopenFork::Poll() { return Reap(false); }

std::optional<ExitStatus> PopenFork::Wait(absl::Time deadline) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_) return status_;
  }
  // Block outside the lock so Poll() from other threads stays responsive:
  // wait for readiness of the sentinel, then reap without blocking.
  absl::StatusOr<bool> ready = PollReadable(sentinel_.get(), deadline);
  if (!ready.ok() || !*ready) return Reap(false);
  return Reap(true);
}

absl::Status PopenFork::SendSignal(int signo) {
  std::lock_guard<std::mutex> lock(mu_);
  if (status_) return absl::OkStatus();
  // Holding mu_ keeps the pid from being reaped (and reused) meanwhile.
  if (::kill(pid_, signo) == 0 || errno == ESRCH) return absl::OkStatus();
  return PyOSError(errno, absl::StrCat("kill(", pid_, ", ", signo, ")"));
}

}  // namespace mp::internal
