// libFuzzer target for mp/serialize.h: the first byte picks the type, the
// rest is handed to Deserialize<T>. Any input must decode or give
// UnpicklingError, never crash or allocate far beyond its size; whatever
// decodes must round-trip (its encoding decodes and re-encodes to the same
// bytes). Run: tools/fuzz.sh serialize [SECONDS].
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "mp/errors.h"
#include "mp/serialize.h"

namespace {

struct Point {
  int32_t x = 0;
  int32_t y = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x, y);
  }
};

struct Empty {
  template <class Archive>
  void serialize(Archive&) {}
};

struct Record {
  int64_t id = 0;
  std::string name;
  std::vector<Point> points;
  std::map<int32_t, std::optional<double>> weights;
  std::vector<Empty> empties;  // Elements that encode to no bytes at all.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, name, points, weights, empties);
  }
};

using Mix = std::tuple<int32_t, std::optional<std::string>, std::variant<int64_t, double, std::string>, bool,
                       std::pair<uint8_t, std::vector<std::string>>>;

// Aborts unless `bytes` gives a T (which must round-trip) or UnpicklingError.
// `canonical`: the type has one encoding per value, so a decoded input must
// re-encode to exactly itself.
template <typename T>
void Check(absl::string_view bytes, bool canonical) {
  absl::StatusOr<T> v = mp::Deserialize<T>(bytes);
  if (!v.ok()) {
    if (!mp::Is(v.status(), mp::PyExc::kUnpicklingError)) std::abort();
    return;
  }
  absl::StatusOr<std::string> once = mp::Serialize(*v);
  if (!once.ok()) std::abort();
  if (canonical && *once != bytes) std::abort();
  absl::StatusOr<T> back = mp::Deserialize<T>(*once);
  if (!back.ok()) std::abort();
  absl::StatusOr<std::string> twice = mp::Serialize(*back);
  if (!twice.ok() || *twice != *once) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  absl::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: Check<std::string>(bytes, true); break;
    case 1: Check<std::vector<int>>(bytes, true); break;
    case 2: Check<std::map<std::string, std::vector<double>>>(bytes, false); break;
    case 3: Check<Mix>(bytes, false); break;
    case 4: Check<Record>(bytes, false); break;
    case 5: Check<std::vector<std::vector<Empty>>>(bytes, true); break;
  }
  return 0;
}
