#include "mp/internal/fd.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "mp/errors.h"

namespace mp::internal {
namespace {

TEST(FdTest, WriteToClosedPipeIsBrokenPipeError) {
  absl::StatusOr<PipeFds> p = MakePipe();
  ASSERT_TRUE(p.ok());
  p->read.reset();
  SigpipeGuard guard;
  absl::Status s = WriteFull(p->write.get(), "x", 1);
  guard.Caused();
  EXPECT_TRUE(Is(s, PyExc::kBrokenPipeError)) << s;
  EXPECT_NE(s.message().find("[Errno 32]"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("write()"), absl::string_view::npos) << s;
}

TEST(FdTest, MakePipeReportsEmfileAsOSError) {
  // Exhaust the descriptor table in a child so the parent is unaffected.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    for (int i = 0; i < 100000; ++i) {
      absl::StatusOr<PipeFds> p = MakePipe();
      if (!p.ok()) {
        _exit(Is(p.status(), PyExc::kOSError) && PythonException(p.status()) == "OSError" &&
                      p.status().message().find("[Errno 24]") != absl::string_view::npos
                  ? 0
                  : 1);
      }
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

TEST(FdTest, StatusesThatCarryNoErrnoPassThrough) {
  EXPECT_TRUE(AsPyOSError(absl::OkStatus()).ok());
  absl::Status other = absl::InternalError("x");
  EXPECT_EQ(AsPyOSError(other), other);
}

}  // namespace
}  // namespace mp::internal
