#include "mp/os.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mp/errors.h"
#include "mp/internal/child.h"
#include "mp/internal/deadline.h"

namespace mp {

void FlushStdio() {
  // With sync_with_stdio(true) (the default) the C++ streams write through to
  // stdio; flushing them too covers programs that turned syncing off.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
}

absl::StatusOr<pid_t> Fork() {
  FlushStdio();
  pid_t pid = ::fork();
  if (pid < 0) return PyOSError(errno, "fork()");
  return pid;
}

pid_t GetPid() { return ::getpid(); }

pid_t GetPPid() { return ::getppid(); }

namespace {

absl::StatusOr<std::optional<ExitStatus>> Wait(pid_t pid, int options) {
  int wstatus = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &wstatus, options);
    if (r == pid) return ExitStatus::FromWaitStatus(wstatus);
    if (r == 0) return std::nullopt;
    if (errno != EINTR) return PyOSError(errno, absl::StrCat("waitpid(", pid, ")"));
  }
}

}  // namespace

absl::StatusOr<ExitStatus> WaitPid(pid_t pid) {
  absl::StatusOr<std::optional<ExitStatus>> st = Wait(pid, 0);
  if (!st.ok()) return st.status();
  return **st;
}

absl::StatusOr<std::optional<ExitStatus>> TryWaitPid(pid_t pid) { return Wait(pid, WNOHANG); }

absl::StatusOr<std::optional<ExitStatus>> WaitPidUntil(pid_t pid, absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return WaitPid(pid);
  // The same wait as Process and Popen use: a pidfd, or polling without one.
  absl::StatusOr<bool> ended = internal::WaitForExit(pid, -1, deadline);
  if (!ended.ok()) return ended.status();
  return Wait(pid, WNOHANG);
}

absl::StatusOr<std::optional<ExitStatus>> WaitPidFor(pid_t pid, absl::Duration timeout) {
  return WaitPidUntil(pid, internal::DeadlineIn(timeout));
}

absl::Status Kill(pid_t pid, int signo) {
  if (::kill(pid, signo) == 0) return absl::OkStatus();
  return PyOSError(errno, absl::StrCat("kill(", pid, ", ", signo, ")"));
}

}  // namespace mp
