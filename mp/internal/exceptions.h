// Private: naming C++ types and exceptions, for error messages. The one place
// mp demangles: serialization errors name the type, a Process that throws
// prints the exception, a pool task that throws sends it to the parent.
//
// Thread-safety: the functions are thread-safe.

#ifndef MP_INTERNAL_EXCEPTIONS_H_
#define MP_INTERNAL_EXCEPTIONS_H_

#include <string>
#include <typeinfo>

namespace mp::internal {

// The demangled name of `type` ("std::vector<int>"); its mangled name if it
// does not demangle.
std::string TypeName(const std::type_info& type);

// The exception being handled. Call only inside a catch block.
struct CaughtException {
  std::string type;  // "std::runtime_error"; "int" for `throw 7`.
  std::string what;  // what(); "" if not a std::exception.
  bool is_std_exception = false;
};
CaughtException CurrentException();

}  // namespace mp::internal

#endif  // MP_INTERNAL_EXCEPTIONS_H_
