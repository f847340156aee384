// The tracer's overhead workload: fork N processes (default 100) that print
// L lines in all (default 10000), line by line with write(2), so each line is
// one system call; the parent waits for them all.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  int procs = argc > 1 ? std::atoi(argv[1]) : 100;
  int lines = argc > 2 ? std::atoi(argv[2]) : 10000;
  for (int i = 0; i < procs; ++i) {
    pid_t pid = ::fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      char buf[64];
      int per = lines / procs + (i < lines % procs ? 1 : 0);
      for (int k = 0; k < per; ++k) {
        int n = std::snprintf(buf, sizeof(buf), "process %d line %d\n", i, k);
        (void)!::write(1, buf, static_cast<size_t>(n));
      }
      ::_exit(0);
    }
  }
  while (::wait(nullptr) > 0) {
  }
  return 0;
}
