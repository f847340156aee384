// The Python documentation's Value/Array example, with mp: a child sets a
// shared double to 3.1415927 and negates each element of a shared int array
// holding 0..9; the parent joins it and prints both as Python does.
#include <cstdio>
#include <vector>

#include "conformance/impls/mp/python_repr.h"
#include "mp/process.h"
#include "mp/sharedctypes.h"

void f(mp::Value<double>& n, mp::Array<int>& a) {
  (void)n.Set(3.1415927);
  for (size_t i = 0; i < a.size(); ++i) (void)a.Set(i, -*a.Get(i));
}

int main() {
  absl::StatusOr<mp::Value<double>> num = mp::Value<double>::Create(0.0);
  absl::StatusOr<mp::Array<int>> arr = mp::Array<int>::Create({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  if (!num.ok() || !arr.ok()) return 1;
  mp::Process p([&] { f(*num, *arr); });
  if (!p.Start().ok() || !p.Join().ok()) return 1;
  absl::StatusOr<double> n = num->Get();
  absl::StatusOr<std::vector<int>> a = arr->GetAll();
  if (!n.ok() || !a.ok()) return 1;
  std::printf("%s\n", python_repr::Float(*n).c_str());
  std::printf("%s\n", python_repr::List(*a).c_str());
  return 0;
}
