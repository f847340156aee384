// Private: keeping the reopening of a captured stream working.
//
// The opens (kOpenSyscalls in child_setup.cc) stop at seccomp. Opening a Unix
// socket through /proc fails with ENXIO where a pipe would reopen: a program
// that writes to /dev/stdout (bash's `echo x > /dev/stderr`) would fail under
// the runner only. When the path names one of the caller's fds that is a
// capture, the call becomes fcntl(fd, F_DUPFD[_CLOEXEC], 0): the lowest free
// fd, as open() returns, on the same capture. Unlike a reopened pipe, the new
// fd shares the open file description (its O_APPEND/O_NONBLOCK flags).
// Traced, the tracer rewrites the call at its seccomp stop; untraced,
// AnswerNotification() answers the program's seccomp user notification.
//

#ifndef CONFORMANCE_RUNNER_REOPEN_H_
#define CONFORMANCE_RUNNER_REOPEN_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "conformance/runner/capture.h"
#include "base/posix/fd.h"

namespace conformance::internal {

// The fd that opening `path` reopens, as a /proc directory and an fd number:
// "/dev/stdout" -> {"self", 1}, "/dev/fd/3" -> {"self", 3},
// "/proc/thread-self/fd/2" -> {"thread-self", 2}, "/proc/42/task/43/fd/1" ->
// {"42/task/43", 1}; nullopt for any other path (only these exact spellings:
// no "..", "//" or relative paths).
struct FdPath {
  std::string proc;
  int fd = 0;
};
std::optional<FdPath> ParseFdPath(absl::string_view path);

// What an open(2)-family call of `tid` reopens: one of its fds that is a
// capture (then the call must become a dup of it), or nothing.
struct Reopen {
  int fd = 0;
  bool cloexec = false;
  std::string path;
};
// `tid` (of thread group `tgid`) is stopped in the system call `nr` with the
// arguments `args` (six).
std::optional<Reopen> ReopenOf(pid_t tid, pid_t tgid, uint64_t nr, const uint64_t* args, const Capture& capture);

// Untraced, the same opens reach the runner as seccomp user notifications
// (the program's filter has SECCOMP_RET_USER_NOTIF for them): a reopened
// capture gets the caller's own fd back through SECCOMP_IOCTL_NOTIF_ADDFD,
// which also completes the call with the new fd (the lowest free one);
// anything else continues as if there were no filter. Answers one
// notification from `listener`, and closes it when it is broken.
void AnswerNotification(base::posix::UniqueFd* listener, const Capture& capture,
                        absl::FunctionRef<pid_t(pid_t)> tgid_of);

}  // namespace conformance::internal

#endif  // CONFORMANCE_RUNNER_REOPEN_H_
