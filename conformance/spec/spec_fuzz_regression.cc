// Runs the fuzz target over the scenario specs and the seed corpus with the
// normal toolchain, so that `bazel test` keeps it building and passing.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

TEST(SpecFuzzRegressionTest, ScenarioPrefixesAndCorpusParseOrFailCleanly) {
  int files = 0;
  for (const char* dir : {"conformance/scenarios", "conformance/spec/fuzz_corpus"}) {
    for (const auto& e : std::filesystem::directory_iterator(std::string(getenv("TEST_SRCDIR")) + "/mp/" + dir)) {
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string s = ss.str();
      // Every prefix of the scenarios; the fuzz corpus (hundreds of inputs
      // since libFuzzer grew it) whole, to keep the test small.
      const bool prefixes = std::string(dir) == "conformance/scenarios";
      for (size_t n = prefixes ? 0 : s.size(); n <= s.size(); ++n) {
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), n);
      }
      ++files;
    }
  }
  EXPECT_GE(files, 7);
}

}  // namespace
