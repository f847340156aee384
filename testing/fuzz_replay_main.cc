// Replays a fuzz target's committed inputs through its LLVMFuzzerTestOneInput
// with the normal toolchain, so that `bazel test` keeps every target building
// and every input (crash regressions included) passing. Link it, as main,
// with the target's library; fuzz_regression_test() in //testing:fuzz.bzl
// does that. Arguments, relative to the runfiles root:
//
//   --corpus=DIR     replay each file of DIR whole
//   --prefixes=DIR   replay every prefix of each file of DIR (cheap targets)
//   --min_files=N    fail unless at least N files were replayed (default 2)
//
// The leak check of //testing:gtest_main runs after the replay too.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "testing/leak_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace test_support {
namespace {

std::vector<std::pair<std::string, bool>> dirs;  // (directory, every prefix)
int min_files = 2;

TEST(FuzzRegressionTest, CorpusReplaysCleanly) {
  ASSERT_FALSE(dirs.empty()) << "no --corpus or --prefixes given";
  int files = 0;
  const char* root = std::getenv("TEST_SRCDIR");
  ASSERT_NE(root, nullptr);
  for (const auto& [dir, prefixes] : dirs) {
    for (const auto& e : std::filesystem::directory_iterator(std::string(root) + "/mp/" + dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string s = ss.str();
      SCOPED_TRACE(e.path().string());
      for (size_t n = prefixes ? 0 : s.size(); n <= s.size(); ++n) {
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), n);
      }
      ++files;
    }
  }
  EXPECT_GE(files, min_files);
  EXPECT_EQ(ReapLeftoverChildren(), "");
}

}  // namespace
}  // namespace test_support

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--corpus=", 0) == 0) {
      test_support::dirs.emplace_back(a.substr(9), false);
    } else if (a.rfind("--prefixes=", 0) == 0) {
      test_support::dirs.emplace_back(a.substr(11), true);
    } else if (a.rfind("--min_files=", 0) == 0) {
      test_support::min_files = std::atoi(a.c_str() + 12);
    } else {
      std::fprintf(stderr, "fuzz_replay: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  return RUN_ALL_TESTS();
}
