// libFuzzer target for the transcript reader: the input is a recorded
// transcript, turned into an Observation and judged against every scenario
// spec, as `conformance --transcript` does. Any input must give a verdict,
// never a crash or hang, and the reader must keep every byte in order.
// The specs come from $MP_FUZZ_SCENARIOS (default conformance/scenarios,
// relative to the repository root). Run: tools/fuzz.sh transcript [SECONDS].
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "conformance/checker/checker.h"
#include "conformance/spec/parse.h"

namespace {

const std::vector<conformance::Spec>& Specs() {
  static const std::vector<conformance::Spec>* specs = [] {
    auto* v = new std::vector<conformance::Spec>;
    const char* dir = std::getenv("MP_FUZZ_SCENARIOS");
    for (const auto& e : std::filesystem::directory_iterator(dir != nullptr ? dir : "conformance/scenarios")) {
      if (e.path().extension() != ".spec") continue;
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      absl::StatusOr<conformance::Spec> s = conformance::ParseSpec(ss.str(), e.path().string());
      if (!s.ok()) std::abort();
      v->push_back(*std::move(s));
    }
    if (v->empty()) {
      std::fprintf(stderr, "transcript_fuzz: no scenario specs found\n");
      std::abort();
    }
    return v;
  }();
  return *specs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  conformance::Observation obs = conformance::ObservationFromTranscript(text);
  std::string joined;
  for (const conformance::WriteRecord& w : obs.writes) joined += w.data;
  if (joined != text || obs.stdout_bytes != text || obs.traced) std::abort();
  std::vector<conformance::Line> lines = conformance::ReassembleLines(obs);
  size_t newlines = 0;
  for (char c : text) newlines += c == '\n';
  if (lines.size() != newlines + (text.empty() || text.back() == '\n' ? 0 : 1)) std::abort();
  for (const conformance::Spec& spec : Specs()) {
    conformance::Verdict v = conformance::Check(spec, obs, {.transcript = true});
    (void)conformance::FormatVerdict(v);
  }
  return 0;
}
