// The Python documentation's Pipe example, with mp: a child sends
// [42, None, 'hello'] through a Pipe and closes its end; the parent receives
// it, prints it and joins the child.
#include <cstdio>
#include <optional>
#include <string>
#include <tuple>

#include "conformance/impls/mp/python_repr.h"
#include "mp/connection.h"
#include "mp/process.h"

using Item = std::tuple<int, std::optional<int>, std::string>;

int main() {
  auto pipe = mp::Pipe();
  if (!pipe.ok()) return 1;
  mp::Connection& parent_conn = pipe->first;
  mp::Connection& child_conn = pipe->second;
  mp::Process p([&] {
    if (!child_conn.Send(Item{42, std::nullopt, "hello"}).ok()) mp::Exit(1);
    child_conn.Close();
  });
  if (!p.Start().ok()) return 1;
  absl::StatusOr<Item> got = parent_conn.Recv<Item>();
  if (!got.ok()) return 1;
  std::printf("%s\n", python_repr::List(*got).c_str());  // prints "[42, None, 'hello']"
  std::fflush(stdout);
  if (!p.Join().ok()) return 1;
  return 0;
}
