#include "mp/serialize.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace mp::internal {

std::string TypeName(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status),
                                                  &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(type.name());
}

}  // namespace mp::internal
