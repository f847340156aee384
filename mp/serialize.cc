#include "mp/serialize.h"

#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "mp/errors.h"

namespace mp::internal {

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
