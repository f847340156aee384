#include "mp/os.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mp/errors.h"

namespace mp {
namespace {

TEST(OsTest, ForkReturnsZeroInChildAndPidInParent) {
  absl::StatusOr<pid_t> pid = Fork();
  ASSERT_TRUE(pid.ok()) << pid.status();
  if (*pid == 0) {
    // The child checks its own view and reports through its exit code.
    ::_exit(GetPPid() > 0 && GetPid() != GetPPid() ? 42 : 1);
  }
  EXPECT_GT(*pid, 0);
  absl::StatusOr<ExitStatus> st = WaitPid(*pid);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(*st, ExitStatus::Exited(42));
}

TEST(OsTest, ChildSeesParentPid) {
  pid_t parent = GetPid();
  absl::StatusOr<pid_t> pid = Fork();
  ASSERT_TRUE(pid.ok());
  if (*pid == 0) ::_exit(GetPPid() == parent ? 0 : 1);
  EXPECT_EQ(*WaitPid(*pid), ExitStatus::Exited(0));
}

TEST(OsTest, ForkFlushesStdioSoOutputIsNotDuplicated) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  FILE* out = ::fdopen(fds[1], "w");
  ASSERT_NE(out, nullptr);
  std::setvbuf(out, nullptr, _IOFBF, 4096);
  std::fputs("once\n", out);  // Sits in the buffer until a flush.
  absl::StatusOr<pid_t> pid = Fork();
  ASSERT_TRUE(pid.ok());
  if (*pid == 0) {
    std::fclose(out);  // Would write "once" again had Fork not flushed.
    ::_exit(0);
  }
  EXPECT_EQ(*WaitPid(*pid), ExitStatus::Exited(0));
  std::fclose(out);
  char buf[64];
  ssize_t n = ::read(fds[0], buf, sizeof(buf));
  ::close(fds[0]);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "once\n");
}

TEST(OsTest, WaitPidReportsSignal) {
  absl::StatusOr<pid_t> pid = Fork();
  ASSERT_TRUE(pid.ok());
  if (*pid == 0) {
    for (;;) ::pause();
  }
  ASSERT_TRUE(Kill(*pid, SIGKILL).ok());
  absl::StatusOr<ExitStatus> st = WaitPid(*pid);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->python_returncode(), -SIGKILL);
}

TEST(OsTest, WaitPidOnStrangerIsChildProcessError) {
  absl::StatusOr<ExitStatus> st = WaitPid(1);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Is(st.status(), PyExc::kChildProcessError)) << st.status();
}

TEST(OsTest, TryWaitPidAndTimedWaitDoNotReapRunningChild) {
  absl::StatusOr<pid_t> pid = Fork();
  ASSERT_TRUE(pid.ok());
  if (*pid == 0) {
    ::usleep(200 * 1000);
    ::_exit(5);
  }
  auto now = TryWaitPid(*pid);
  ASSERT_TRUE(now.ok());
  EXPECT_FALSE(now->has_value());
  absl::Time start = absl::Now();
  auto timed = WaitPidFor(*pid, absl::Milliseconds(20));
  ASSERT_TRUE(timed.ok());
  EXPECT_FALSE(timed->has_value());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
  auto done = WaitPidFor(*pid, absl::Seconds(10));
  ASSERT_TRUE(done.ok());
  ASSERT_TRUE(done->has_value());
  EXPECT_EQ(**done, ExitStatus::Exited(5));
}

// mp computes every deadline as absl::Now() + timeout and treats
// InfiniteFuture() as "no deadline": that needs absl's saturation.
TEST(OsTest, NowPlusAnInfiniteTimeoutIsTheInfiniteFuture) {
  EXPECT_EQ(absl::Now() + absl::InfiniteDuration(), absl::InfiniteFuture());
}

TEST(OsTest, KillUnknownPidIsOSError) {
  absl::Status s = Kill(0x3fffffff, SIGTERM);
  EXPECT_TRUE(Is(s, PyExc::kOSError)) << s;
}

}  // namespace
}  // namespace mp
