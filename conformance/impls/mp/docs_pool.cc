// The Python documentation's first multiprocessing example, with mp:
//
//   with Pool(5) as p:
//       print(p.map(f, [1, 2, 3]))
//
// Leaving the `with` block terminates the pool (Pool.__exit__ calls
// terminate()), so the workers are stopped and reaped before the program
// ends.
#include <cstdio>
#include <string>
#include <vector>

#include "conformance/impls/mp/python_repr.h"
#include "mp/pool.h"

int f(int x) { return x * x; }

int main() {
  mp::Pool p(5);
  if (!p.status().ok()) return 1;
  absl::StatusOr<std::vector<int>> squares = p.Map(f, std::vector<int>{1, 2, 3});
  if (!squares.ok()) return 1;
  std::printf("%s\n", python_repr::List(*squares).c_str());
  std::fflush(stdout);
  if (!p.Terminate().ok() || !p.Join().ok()) return 1;
  return 0;
}
