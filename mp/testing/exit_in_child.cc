// A program with a global mp::Pool whose Process children call std::exit, as
// a port of `sys.exit(n)` would. CPython's child then ends with n and runs
// none of its parent's exit handlers; here that means a child must not run
// the global Pool's destructor (which would try to stop the parent's pool
// from the child), nor a handler the parent registered after its first
// child. Prints the children's exit codes and whether the pool still works;
// process_test runs it with a timeout and compares the whole output.
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <tuple>

#include "mp/pool.h"
#include "mp/process.h"
#include "mp/testing/sanitizers.h"

namespace {

int AddOne(int x) { return x + 1; }

mp::Pool pool(1);

// Registered after the first child started: it must run once, in the parent.
void LateHandler() { std::printf("late handler ran in the parent\n"); }

int RunChild(void (*body)()) {
  mp::Process child(body);
  if (!child.Start().ok() || !child.Join().ok()) return -1000;
  return child.exitcode().value_or(-1000);
}

}  // namespace

int main() {
  const int first = RunChild([] { std::exit(7); });
  // std::exit from a thread the child made: the parent's handlers from
  // before its first Start() do not run either (process.h says why later
  // ones would).
  const int second = RunChild([] {
    // (Under ThreadSanitizer the thread itself is a report: see
    // testing/sanitizers.h. There the bootstrap thread exits instead.)
    if constexpr (mp::testing::kThreadSanitizer) std::exit(8);
    std::thread t([] { std::exit(8); });
    t.join();
  });
  std::atexit(LateHandler);
  const int third = RunChild([] { std::exit(9); });
  absl::StatusOr<int> v = pool.Apply(AddOne, std::tuple(1));
  std::printf("exitcodes %d %d %d, pool %s\n", first, second, third, v.ok() && *v == 2 ? "works" : "broken");
  std::fflush(stdout);
  return 0;
}
