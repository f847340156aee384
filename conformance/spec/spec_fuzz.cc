// libFuzzer target for the spec parser: any input must give a Spec or an
// InvalidArgument "FILE:LINE: error: ..." status, never a crash, hang or
// other error code. Build and run: tools/fuzz.sh spec [SECONDS].
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "conformance/spec/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<conformance::Spec> spec = conformance::ParseSpec(text, "fuzz.spec");
  if (!spec.ok()) {
    if (spec.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    if (std::string(spec.status().message()).rfind("fuzz.spec:", 0) != 0) std::abort();
  } else if (spec->lines.empty() || spec->version < 1 || spec->version > conformance::kSpecLanguageVersion) {
    std::abort();
  }
  return 0;
}
