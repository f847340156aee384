#include "testing/leak_check.h"

#include <signal.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace test_support {
namespace {

TEST(LeakCheckTest, SeesNewFd) {
  auto before = OpenFds();
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto after = OpenFds();
  EXPECT_EQ(after.size(), before.size() + 2);
  EXPECT_EQ(after[fds[0]].rfind("pipe:", 0), 0u) << after[fds[0]];
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(LeakCheckTest, ReapsAndNamesZombiesAndRunningChildren) {
  pid_t zombie = ::fork();
  if (zombie == 0) ::_exit(3);
  pid_t running = ::fork();
  if (running == 0) {
    for (;;) ::pause();
  }
  ::usleep(50 * 1000);  // Let the first child exit.
  std::string found = ReapLeftoverChildren();
  EXPECT_NE(found.find("zombie " + std::to_string(zombie) + " (exited with 3)"), std::string::npos) << found;
  EXPECT_NE(found.find("running " + std::to_string(running) + " (killed)"), std::string::npos) << found;
  EXPECT_EQ(ReapLeftoverChildren(), "");
  EXPECT_EQ(::kill(running, 0), -1);
}

}  // namespace
}  // namespace test_support
