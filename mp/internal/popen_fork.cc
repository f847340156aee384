#include "mp/internal/popen_fork.h"

#include <errno.h>
#include <unistd.h>

#include <optional>

#include "mp/errors.h"
#include "mp/internal/child.h"
#include "mp/internal/stdio.h"

namespace mp::internal {

absl::StatusOr<Forked> ForkChild(absl::FunctionRef<int()> child_main) {
  // Without pidfd_open (Linux < 5.3) the sentinel is CPython's: a pipe whose
  // write end only the child holds, so EOF on the read end means it ended.
  // With it, the Child opens a pidfd if someone asks for the sentinel.
  std::optional<PipeFds> pipe;
  if (!HavePidfd()) {
    absl::StatusOr<PipeFds> p = MakePipe();
    if (!p.ok()) return p.status();
    pipe = std::move(*p);
  }

  FlushStdStreams();
  const pid_t pid = ::fork();
  if (pid < 0) return PyOSError(errno, "fork()");
  if (pid == 0) {
    if (pipe) pipe->read.reset();
    int code = child_main();
    ::_exit(code);
  }
  Forked forked{pid, UniqueFd()};
  if (pipe) {
    pipe->write.reset();
    forked.sentinel = std::move(pipe->read);
  }
  return forked;
}

}  // namespace mp::internal
