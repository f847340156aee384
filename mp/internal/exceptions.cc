#include "mp/internal/exceptions.h"

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <memory>

namespace mp::internal {

std::string TypeName(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status),
                                                  &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(type.name());
}

CaughtException CurrentException() {
  try {
    throw;
  } catch (const std::exception& e) {
    return {TypeName(typeid(e)), e.what(), true};
  } catch (...) {
    const std::type_info* t = abi::__cxa_current_exception_type();
    return {t ? TypeName(*t) : std::string("unknown exception"), "", false};
  }
}

}  // namespace mp::internal
