#include "mp/serialize.h"

#include <cxxabi.h>

#include <cstdlib>
#include <new>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "mp/errors.h"

namespace mp::internal {

std::string TypeName(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status),
                                                  &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(type.name());
}

absl::Status DecodeOutOfMemory(const std::type_info& type, size_t size) noexcept {
  // Building the message allocates too; if that fails, a fixed one.
  try {
    return PyError(PyExc::kMemoryError,
                   absl::StrCat("out of memory decoding '", TypeName(type), "' from ", size, " bytes"));
  } catch (const std::bad_alloc&) {
    return PyError(PyExc::kMemoryError, "out of memory decoding");
  }
}

}  // namespace mp::internal
