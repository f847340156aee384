#include "base/posix/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace base::posix {
namespace {

TEST(FdTest, PipeIsCloseOnExecAndUniqueFdCloses) {
  int read_fd;
  {
    absl::StatusOr<PipeFds> p = MakePipe();
    ASSERT_TRUE(p.ok());
    read_fd = p->read.get();
    EXPECT_TRUE(::fcntl(read_fd, F_GETFD) & FD_CLOEXEC);
    EXPECT_TRUE(::fcntl(p->write.get(), F_GETFD) & FD_CLOEXEC);
  }
  EXPECT_EQ(::fcntl(read_fd, F_GETFD), -1);
}

TEST(FdTest, WriteFullReadFullRoundTripAndEof) {
  absl::StatusOr<PipeFds> p = MakePipe();
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(WriteFull(p->write.get(), "hello", 5).ok());
  p->write.reset();
  char buf[16];
  absl::StatusOr<size_t> n = ReadFull(p->read.get(), buf, sizeof(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "hello");
}

TEST(FdTest, WriteToClosedPipeIsEpipe) {
  absl::StatusOr<PipeFds> p = MakePipe();
  ASSERT_TRUE(p.ok());
  p->read.reset();
  struct sigaction ignore = {}, old;
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &old);
  absl::Status s = WriteFull(p->write.get(), "x", 1);
  ::sigaction(SIGPIPE, &old, nullptr);
  EXPECT_EQ(ErrnoOf(s), EPIPE) << s;
}

TEST(FdTest, PollReadableTimesOutThenSeesData) {
  absl::StatusOr<PipeFds> p = MakePipe();
  ASSERT_TRUE(p.ok());
  absl::StatusOr<bool> r = PollReadable(p->read.get(), absl::Now() + absl::Milliseconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  ASSERT_TRUE(WriteFull(p->write.get(), "x", 1).ok());
  r = PollReadable(p->read.get(), absl::InfiniteFuture());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
}

TEST(FdTest, MakePipeReportsEmfile) {
  // Exhaust the descriptor table in a child so the parent is unaffected.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    for (int i = 0; i < 100000; ++i) {
      absl::StatusOr<PipeFds> p = MakePipe();
      if (!p.ok()) _exit(p.status().code() == absl::StatusCode::kResourceExhausted && ErrnoOf(p.status()) == EMFILE ? 0 : 1);
      p->read.release();
      p->write.release();
    }
    _exit(2);
  }
  int wstatus;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
}

TEST(FdTest, ErrnoErrorCarriesItsErrno) {
  absl::Status s = ErrnoError(ENOENT, "open /nonexistent");
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_EQ(ErrnoOf(s), ENOENT);
  EXPECT_NE(s.message().find("open /nonexistent"), absl::string_view::npos) << s;
  EXPECT_EQ(ErrnoOf(absl::OkStatus()), 0);
  EXPECT_EQ(ErrnoOf(absl::InternalError("x")), 0);
}

}  // namespace
}  // namespace base::posix
