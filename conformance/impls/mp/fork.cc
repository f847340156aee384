// The seed's os.fork program, with mp. Prints what the seed's code prints.
//
// One difference in behaviour, not in output: the parent reaps its child
// before it exits. The seed's parent does not, so its child's getppid()
// races the parent's exit and may name the reaper instead.
#include <cstdio>

#include "mp/os.h"

int main() {
  std::printf("Process (%d) start...\n", mp::GetPid());
  // Only works on Unix/Linux/Mac:
  absl::StatusOr<pid_t> pid = mp::Fork();
  if (!pid.ok()) {
    std::fprintf(stderr, "%s\n", std::string(pid.status().message()).c_str());
    return 1;
  }
  if (*pid == 0) {
    std::printf("I am child process (%d) and my parent is %d.\n", mp::GetPid(), mp::GetPPid());
  } else {
    std::printf("I (%d) just created a child process (%d).\n", mp::GetPid(), *pid);
    std::fflush(stdout);
    if (!mp::WaitPid(*pid).ok()) return 1;
  }
  return 0;
}
