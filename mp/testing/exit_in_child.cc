// A program with a global mp::Pool whose Process child calls std::exit(7), as
// a port of `sys.exit(7)` would. CPython's child then ends with 7 and runs
// none of its parent's exit handlers; here that means the child must not run
// the global Pool's destructor (which would try to stop the parent's pool
// from the child). Prints the child's exit code and whether the pool still
// works; process_test runs it with a timeout.
#include <cstdio>
#include <cstdlib>
#include <tuple>

#include "mp/pool.h"
#include "mp/process.h"

namespace {

int AddOne(int x) { return x + 1; }

mp::Pool pool(1);

}  // namespace

int main() {
  mp::Process child([] { std::exit(7); });
  if (!child.Start().ok() || !child.Join().ok()) return 2;
  absl::StatusOr<int> v = pool.Apply(AddOne, std::tuple(1));
  std::printf("exitcode %d, pool %s\n", child.exitcode().value_or(-1000), v.ok() && *v == 2 ? "works" : "broken");
  return 0;
}
