// What Python's print() shows for the values of the documentation's examples,
// so that the mp programs print what the CPython ones do.
#ifndef CONFORMANCE_IMPLS_MP_PYTHON_REPR_H_
#define CONFORMANCE_IMPLS_MP_PYTHON_REPR_H_

#include <charconv>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace python_repr {

// repr(list of int): "[1, 4, 9]".
inline std::string List(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// repr(float): the shortest text that reads back as the same double.
inline std::string Float(double d) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

// repr([42, None, 'hello']) for the examples' list of an int, None and a str.
inline std::string List(const std::tuple<int, std::optional<int>, std::string>& t) {
  const auto& [a, b, c] = t;
  return "[" + std::to_string(a) + ", " + (b ? std::to_string(*b) : "None") + ", '" + c + "']";
}

}  // namespace python_repr

#endif  // CONFORMANCE_IMPLS_MP_PYTHON_REPR_H_
