// The Python documentation's Queue example, with mp: a child puts
// [42, None, 'hello'] (an int, None and a str: a tuple of int, optional and
// string here), the parent gets it, prints it and joins the child.
#include <cstdio>
#include <optional>
#include <string>
#include <tuple>

#include "conformance/impls/mp/python_repr.h"
#include "mp/process.h"
#include "mp/queue.h"

using Item = std::tuple<int, std::optional<int>, std::string>;

int main() {
  absl::StatusOr<mp::Queue<Item>> q = mp::Queue<Item>::Create();
  if (!q.ok()) return 1;
  mp::Process p([&] {
    if (!q->Put(Item{42, std::nullopt, "hello"}).ok()) mp::Exit(1);
  });
  if (!p.Start().ok()) return 1;
  absl::StatusOr<Item> got = q->Get();
  if (!got.ok()) return 1;
  std::printf("%s\n", python_repr::List(*got).c_str());  // prints "[42, None, 'hello']"
  std::fflush(stdout);
  if (!p.Join().ok()) return 1;
  return 0;
}
