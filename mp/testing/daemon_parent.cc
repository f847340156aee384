// Starts a daemonic child that would run forever and a normal child that
// finishes after a short sleep, prints both pids, and returns from main
// without joining. CPython's atexit handler then terminates the daemon and
// joins the other; process_test checks that mp does the same.
#include <unistd.h>

#include <cstdio>

#include "mp/os.h"
#include "mp/process.h"

int main() {
  mp::Process daemon([] {
    for (;;) ::pause();
  }, {.daemon = true});
  mp::Process normal([] {
    ::usleep(300 * 1000);
    std::printf("normal child done\n");
  });
  if (!daemon.Start().ok() || !normal.Start().ok()) return 2;
  std::printf("daemon %d\nnormal %d\n", *daemon.pid(), *normal.pid());
  return 0;
}
