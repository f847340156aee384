#include "mp/exit_status.h"

#include <signal.h>
#include <sys/wait.h>

#include "gtest/gtest.h"

namespace mp {
namespace {

TEST(ExitStatusTest, ExitedReportsCode) {
  ExitStatus s = ExitStatus::Exited(3);
  EXPECT_TRUE(s.exited());
  EXPECT_FALSE(s.signaled());
  EXPECT_EQ(s.code(), 3);
  EXPECT_EQ(s.python_returncode(), 3);
  EXPECT_FALSE(s.success());
  EXPECT_TRUE(ExitStatus::Exited(0).success());
  EXPECT_EQ(s.ToString(), "exited with 3");
}

TEST(ExitStatusTest, SignaledReportsNegativeReturncode) {
  ExitStatus s = ExitStatus::Signaled(SIGTERM);
  EXPECT_TRUE(s.signaled());
  EXPECT_EQ(s.signal(), SIGTERM);
  EXPECT_EQ(s.python_returncode(), -15);
  EXPECT_EQ(s.ToString(), "killed by signal 15 (SIGTERM)");
  EXPECT_EQ(ExitStatus::Signaled(SIGABRT, true).ToString(), "killed by signal 6 (SIGABRT), core dumped");
  EXPECT_EQ(ExitStatus::Signaled(SIGRTMIN + 2).ToString().rfind("killed by signal ", 0), 0u);
}

TEST(ExitStatusTest, DecodesWaitStatus) {
  EXPECT_EQ(ExitStatus::FromWaitStatus(W_EXITCODE(7, 0)), ExitStatus::Exited(7));
  EXPECT_EQ(ExitStatus::FromWaitStatus(W_EXITCODE(0, SIGKILL)), ExitStatus::Signaled(SIGKILL));
  EXPECT_EQ(ExitStatus::FromWaitStatus(W_EXITCODE(0, SIGSEGV) | WCOREFLAG),
            ExitStatus::Signaled(SIGSEGV, true));
}

TEST(ExitStatusTest, PythonReturncodeRoundTrips) {
  for (int rc : {0, 1, 255, -9, -15}) {
    EXPECT_EQ(ExitStatus::FromPythonReturncode(rc).python_returncode(), rc);
  }
}

TEST(ExitStatusTest, SignalNames) {
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(SignalName(SIGINT), "SIGINT");
}

}  // namespace
}  // namespace mp
