// Hostile: forks HOSTILE_N (default 10000) children that sleep forever, then
// exits. The runner must kill them all and stay bounded (conformance/hostile).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
  const char* n_env = getenv("HOSTILE_N");
  int n = n_env ? atoi(n_env) : 10000;
  int made = 0;
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      for (;;) pause();
    }
    if (pid < 0) break;
    ++made;
  }
  printf("hostile fork_bomb forked %d\n", made);
  return 0;
}
