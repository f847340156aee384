#include "mp/internal/stdio.h"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "gtest/gtest.h"

namespace mp::internal {
namespace {

// Runs `fn` in a forked child whose stdout and stderr are one pipe, then
// ends it with exit_group itself (so nothing but `fn` flushes: TSan's _exit
// flushes stdio); returns what reached the pipe.
template <typename Fn>
std::string OutputOfChild(Fn fn) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    fn();
    for (;;) ::syscall(SYS_exit_group, 0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  return out;
}

TEST(StdioTest, FlushesWhatStdoutAndStderrHold) {
  EXPECT_EQ(OutputOfChild([] {
              std::setvbuf(stderr, nullptr, _IOFBF, 4096);  // Buffer stderr too.
              std::printf("out ");
              std::fprintf(stderr, "err");
              FlushStdStreams();
            }),
            "out err");
}

TEST(StdioTest, WithoutFlushNothingIsWritten) {
  // The control for the test above: _exit alone writes nothing buffered.
  EXPECT_EQ(OutputOfChild([] { std::printf("lost"); }), "");
}

TEST(StdioTest, FlushesCoutWithItsOwnBuffer) {
  // sync_with_stdio(false) gives std::cout a buffer stdio knows nothing of.
  EXPECT_EQ(OutputOfChild([] {
              std::ios_base::sync_with_stdio(false);
              std::cout << "cout";
              std::clog << " clog";
              FlushStdStreams();
            }),
            "cout clog");
}

TEST(StdioTest, FlushesCoutSynchronisedWithStdio) {
  EXPECT_EQ(OutputOfChild([] {
              std::cout << "a";
              std::printf("b");
              FlushStdStreams();
            }),
            "ab");
}

TEST(StdioTest, LeavesOtherStreamsAlone) {
  // As CPython's _flush_std_streams: a FILE of the program's own is its
  // business; a Process child never writes what the parent buffered there.
  EXPECT_EQ(OutputOfChild([] {
              FILE* f = ::fdopen(::dup(1), "w");
              std::fputs("mine", f);
              FlushStdStreams();
            }),
            "");
}

}  // namespace
}  // namespace mp::internal
