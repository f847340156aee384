// gtest's main with a leak check after every test (see leak_check.h).

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "testing/leak_check.h"

namespace test_support {
namespace {

// Failures added in OnTestEnd are recorded against the test that just ran:
// listeners' OnTestEnd runs in reverse order, so this one (appended last)
// runs before the result printer prints the verdict.
class LeakChecker : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override { before_ = OpenFds(); }
  void OnTestEnd(const ::testing::TestInfo&) override {
    std::string children = ReapLeftoverChildren();
    if (!children.empty()) ADD_FAILURE() << "test left children behind: " << children;
    std::map<int, std::string> after = OpenFds();
    for (const auto& [fd, target] : after) {
      auto it = before_.find(fd);
      if (it == before_.end() || it->second != target) {
        ADD_FAILURE() << "test leaked fd " << fd << " -> " << target;
      }
    }
  }
  std::map<int, std::string> before_;
};

}  // namespace
}  // namespace test_support

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new test_support::LeakChecker);
  return RUN_ALL_TESTS();
}
