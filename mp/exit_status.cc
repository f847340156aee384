#include "mp/exit_status.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace mp {

ExitStatus ExitStatus::FromWaitStatus(int wstatus) {
  if (WIFSIGNALED(wstatus)) return Signaled(WTERMSIG(wstatus), WCOREDUMP(wstatus));
  return Exited(WEXITSTATUS(wstatus));
}

std::string SignalName(int signo) {
  // sigabbrev_np (glibc 2.32+) gives "TERM" without the prefix and is
  // thread-safe, unlike strsignal.
  if (const char* abbrev = sigabbrev_np(signo)) return absl::StrCat("SIG", abbrev);
  return absl::StrCat("SIG", signo);
}

std::string ExitStatus::ToString() const {
  if (exited()) return absl::StrCat("exited with ", code_);
  return absl::StrCat("killed by signal ", signo_, " (", SignalName(signo_), ")",
                      core_dumped_ ? ", core dumped" : "");
}

}  // namespace mp
