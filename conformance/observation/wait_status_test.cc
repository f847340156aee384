#include "conformance/observation/wait_status.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace conformance {
namespace {

// Real statuses from real children: the judge's decoding must agree with
// what the kernel reports, not with another decoder.
int StatusOfChild(void (*body)()) {
  pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(99);
  }
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  return wstatus;
}

TEST(WaitStatusTest, DecodesAnExitCode) {
  WaitStatus s = WaitStatus::FromRaw(StatusOfChild([] { ::_exit(3); }));
  EXPECT_TRUE(s.exited());
  EXPECT_EQ(s.code(), 3);
  EXPECT_EQ(s.returncode(), 3);
  EXPECT_EQ(s.ToString(), "exited with 3");
  EXPECT_EQ(s, WaitStatus::Exited(3));
}

TEST(WaitStatusTest, DecodesADeathBySignalAsNegativeReturncode) {
  WaitStatus s = WaitStatus::FromRaw(StatusOfChild([] { ::kill(::getpid(), SIGTERM); }));
  EXPECT_FALSE(s.exited());
  EXPECT_EQ(s.signal(), SIGTERM);
  EXPECT_EQ(s.returncode(), -SIGTERM);
  EXPECT_EQ(s.ToString(), "killed by signal 15 (SIGTERM)");
  EXPECT_EQ(s, WaitStatus::FromReturncode(-15));
  EXPECT_FALSE(s == WaitStatus::Exited(15));
}

TEST(WaitStatusTest, ExitCodeZeroIsNotSignalZero) {
  EXPECT_EQ(WaitStatus::FromRaw(StatusOfChild([] { ::_exit(0); })), WaitStatus::Exited(0));
  EXPECT_EQ(WaitStatus::FromReturncode(0), WaitStatus::Exited(0));
}

TEST(WaitStatusTest, SignalNamesRoundTrip) {
  for (int signo = 1; signo < 32; ++signo) {
    std::optional<int> back = SignalNumber(SignalName(signo));
    ASSERT_TRUE(back.has_value()) << signo;
    EXPECT_EQ(*back, signo);
  }
  EXPECT_EQ(SignalNumber("KILL"), std::nullopt);
  EXPECT_EQ(SignalName(64), "signal 64");
}

}  // namespace
}  // namespace conformance
