#include "mp/internal/popen_fork.h"

#include <unistd.h>

#include <memory>
#include <optional>

#include "mp/os.h"

namespace mp::internal {

absl::StatusOr<std::unique_ptr<Child>> ForkChild(absl::FunctionRef<int()> child_main) {
  // Without pidfd_open (Linux < 5.3) the sentinel is CPython's: a pipe whose
  // write end only the child holds, so EOF on the read end means it ended.
  // With it, the Child opens a pidfd if someone asks for the sentinel.
  std::optional<PipeFds> pipe;
  if (!HavePidfd()) {
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
  if (pipe) {
    pipe->write.reset();
    sentinel = std::move(pipe->read);
  }
  return std::make_unique<Child>(*pid, Child::kLostAsProcess, std::move(sentinel));
}

}  // namespace mp::internal
