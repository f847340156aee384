// Private: how a subprocess child is started (the mechanism behind
// mp/subprocess.h, CPython's _posixsubprocess.fork_exec).
//
// The caller fills a SpawnPlan with everything the child needs, already in
// the form the system calls take (NUL-terminated arrays, sorted fd lists), so
// the child allocates nothing and makes only async-signal-safe system calls
// between clone/fork and exec. Failures in the child are reported through a
// close-on-exec pipe as {errno, stage} and become a Status in the parent.
//
// The child shares our memory and we wait until it has exec'd (CLONE_VM |
// CLONE_VFORK, as posix_spawn). Where the kernel has clone3 with
// CLONE_CLEAR_SIGHAND (Linux 5.5, x86-64 here), the kernel resets the
// child's signal handlers; elsewhere the child resets them one by one with
// every signal blocked meanwhile, 67 system calls more. With a preexec_fn the
// child is a full fork.
//
// Thread-safety: Spawn is reentrant; the plan must not change during a call.

#ifndef MP_INTERNAL_SPAWN_H_
#define MP_INTERNAL_SPAWN_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mp::internal {

struct SpawnPlan {
  // Full paths to try in order (PATH candidates); argv and envp end in NULL.
  std::vector<const char*> exec_paths;
  std::vector<char*> argv;
  char* const* envp = nullptr;
  // Fds of the parent that become the child's 0, 1 and 2; -1 leaves one as
  // it is. stderr_to_stdout makes 2 a copy of the (new) 1.
  int stdio[3] = {-1, -1, -1};
  bool stderr_to_stdout = false;
  const char* cwd = nullptr;
  int umask = -1;
  bool restore_signals = false;  // SIGPIPE and SIGXFSZ to SIG_DFL.
  bool setsid = false;
  pid_t pgid = -1;  // setpgid(0, pgid) when >= 0.
  bool close_fds = true;
  std::vector<int> pass_fds;  // Sorted, unique, all >= 3.
  // Forces a full fork(); runs in the child just before the fds are closed.
  // If it throws, the child exits and Spawn returns SubprocessError.
  const std::function<void()>* preexec_fn = nullptr;
  // For error messages: the program (exec failure) and cwd (chdir failure).
  std::string display_program;
  std::string display_cwd;
};

// Starts the child described by `plan` and returns its pid once it has
// exec'd. If anything failed in the child before exec, the child is reaped
// and the error returned.
// Errors: FileNotFoundError / PermissionError / OSError naming the program or
// the cwd; SubprocessError "Exception occurred in preexec_fn."; OSError from
// pipe2, clone or fork.
absl::StatusOr<pid_t> Spawn(const SpawnPlan& plan);

}  // namespace mp::internal

#endif  // MP_INTERNAL_SPAWN_H_
