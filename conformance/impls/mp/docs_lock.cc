// The Python documentation's Lock example, with mp: ten processes each take
// a shared Lock, print "hello world N" and release it. As in the Python
// program, the parent does not join them; mp joins its children when the
// main program exits, as multiprocessing does.
#include <cstdio>

#include "mp/lock.h"
#include "mp/process.h"

void f(mp::Lock& l, int i) {
  mp::Guard g(l);  // l.acquire() ... finally: l.release()
  std::printf("hello world %d\n", i);
  std::fflush(stdout);
}

int main() {
  absl::StatusOr<mp::Lock> lock = mp::Lock::Create();
  if (!lock.ok()) return 1;
  for (int num = 0; num < 10; ++num) {
    if (!mp::Process([&lock, num] { f(*lock, num); }).Start().ok()) return 1;
  }
  return 0;
}
