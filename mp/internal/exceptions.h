// Private: naming C++ types and exceptions, and the one mapping of C++
// exceptions to Python's. Serialization errors name the type; a Process that
// throws prints the exception; a pool task that throws sends it to the
// parent as the Python exception it stands for.
//
// Thread-safety: the functions are thread-safe.

#ifndef MP_INTERNAL_EXCEPTIONS_H_
#define MP_INTERNAL_EXCEPTIONS_H_

#include <string>
#include <typeinfo>

#include "absl/status/status.h"

namespace mp::internal {

// The demangled name of `type` ("std::vector<int>"); its mangled name if it
// does not demangle.
std::string TypeName(const std::type_info& type);

// The exception being handled. Call only inside a catch block.
struct CaughtException {
  std::string type;  // The dynamic type: "std::runtime_error"; "int" for `throw 7`.
  std::string what;  // what(); "" if not a std::exception.
  bool is_std_exception = false;
  // The Python exception it stands for, with `what` as its message:
  //   std::bad_alloc                                   MemoryError
  //   std::system_error (generic or system category)   OSError, its errno's
  //                                                    subclass
  //   std::invalid_argument, domain_error, length_error ValueError
  //   std::out_of_range                                IndexError
  //   std::overflow_error, range_error                 OverflowError
  //   std::underflow_error                             ArithmeticError
  //   std::bad_cast, bad_typeid, bad_variant_access,
  //     bad_optional_access, bad_function_call         TypeError
  //   any other std::runtime_error                     RuntimeError
  //   any other std::exception, or a non-exception     Exception
  // Derived classes map as their base (a class derived from
  // std::invalid_argument is a ValueError).
  absl::Status python;
};
CaughtException CurrentException();

}  // namespace mp::internal

#endif  // MP_INTERNAL_EXCEPTIONS_H_
