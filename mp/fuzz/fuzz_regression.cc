// Replays a fuzz target's committed corpus through its LLVMFuzzerTestOneInput
// with the normal toolchain, so that `bazel test` keeps every target building
// and every input (crash regressions included) passing. FUZZ_CORPUS names
// the corpus directory relative to the runfiles root; FUZZ_PREFIXES also
// replays every prefix of every input (cheap targets only).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

TEST(FuzzRegressionTest, CorpusReplaysCleanly) {
  int files = 0;
  const std::string dir = std::string(std::getenv("TEST_SRCDIR")) + "/mp/" + FUZZ_CORPUS;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string s = ss.str();
    SCOPED_TRACE(e.path().string());
    for (size_t n = FUZZ_PREFIXES ? 0 : s.size(); n <= s.size(); ++n) {
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), n);
    }
    ++files;
  }
  EXPECT_GE(files, 2);
}

}  // namespace
