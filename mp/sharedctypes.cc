#include "mp/sharedctypes.h"

#include <cstdint>

namespace mp::internal {

absl::StatusOr<std::shared_ptr<SharedRegion>> MapObjects(size_t size, size_t count, const char* what) {
  if (count != 0 && size > SIZE_MAX / count) {
    return PyError(PyExc::kMemoryError, absl::StrCat(count, " objects of ", size, " bytes do not fit in memory"));
  }
  // mmap refuses a length of 0: an empty array still gets a page.
  return SharedRegion::Map(count == 0 ? 1 : size * count, what);
}

}  // namespace mp::internal
