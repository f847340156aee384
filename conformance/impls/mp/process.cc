// The seed's multiprocessing.Process program, with mp. Prints what the
// seed's code prints (its code says "Child process will start.", where its
// documented output says "Process will start.").
#include <cstdio>
#include <string>

#include "mp/os.h"
#include "mp/process.h"

// The code the child process runs.
void run_proc(const std::string& name) {
  std::printf("Run child process %s (%d)...\n", name.c_str(), mp::GetPid());
}

int main() {
  std::printf("Parent process %d.\n", mp::GetPid());
  mp::Process p([] { run_proc("test"); });
  std::printf("Child process will start.\n");
  if (absl::Status s = p.Start(); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (absl::Status s = p.Join(); !s.ok()) return 1;
  std::printf("Child process end.\n");
  return 0;
}
