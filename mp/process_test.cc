#include "mp/process.h"

#include <fcntl.h>
#include <sanitizer/asan_interface.h>
#include <poll.h>
#include <signal.h>
#include <stdio_ext.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/os.h"
#include "mp/subprocess.h"
#include "mp/testing/sanitizers.h"

namespace mp {
namespace {

// Runs `fn` with fd `target_fd` redirected into a pipe; returns what was
// written there (by this process and by children that inherited it).
template <typename Fn>
std::string CaptureFd(int target_fd, Fn fn) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  int saved = ::dup(target_fd);
  ::dup2(fds[1], target_fd);
  ::close(fds[1]);
  fn();
  FlushStdio();
  ::dup2(saved, target_fd);
  ::close(saved);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  return out;
}

TEST(ProcessTest, ReturnGivesExitcodeZero) {
  Process p([] {});
  EXPECT_FALSE(p.exitcode().has_value());
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(p.exit_status(), ExitStatus::Exited(0));
}

TEST(ProcessTest, ThrowGivesExitcodeOneAndPrintsProcessName) {
  Process p([] { throw std::runtime_error("boom"); }, {.name = "Thrower"});
  std::string err = CaptureFd(2, [&] {
    ASSERT_TRUE(p.Start().ok());
    ASSERT_TRUE(p.Join().ok());
  });
  EXPECT_EQ(p.exitcode(), 1);
  EXPECT_EQ(err, "Process Thrower:\nstd::runtime_error: boom\n");
}

TEST(ProcessTest, NonStdExceptionAlsoGivesOne) {
  Process p([] { throw 7; });
  std::string err = CaptureFd(2, [&] {
    ASSERT_TRUE(p.Start().ok());
    ASSERT_TRUE(p.Join().ok());
  });
  EXPECT_EQ(p.exitcode(), 1);
  EXPECT_NE(err.find("Process " + p.name() + ":\n"), std::string::npos) << err;
}

TEST(ProcessTest, ExitGivesExitcodeN) {
  for (int n : {0, 3, 255}) {
    Process p([n] { Exit(n); });
    ASSERT_TRUE(p.Start().ok());
    ASSERT_TRUE(p.Join().ok());
    EXPECT_EQ(p.exitcode(), n);
  }
}

TEST(ProcessTest, OutputWrittenBeforeExitIsFlushed) {
  std::string out = CaptureFd(1, [] {
    Process p([] {
      std::printf("buffered");  // stdout is a pipe here: fully buffered.
      Exit(0);
    });
    ASSERT_TRUE(p.Start().ok());
    ASSERT_TRUE(p.Join().ok());
  });
  EXPECT_EQ(out, "buffered");
}

TEST(ProcessTest, TerminateReportsNegativeSigterm) {
  Process p([] {
    for (;;) ::pause();
  });
  ASSERT_TRUE(p.Start().ok());
  EXPECT_EQ(*p.IsAlive(), true);
  ASSERT_TRUE(p.Terminate().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), -SIGTERM);
  EXPECT_EQ(*p.IsAlive(), false);
  EXPECT_TRUE(p.Terminate().ok()) << "signalling an ended process is not an error";
}

TEST(ProcessTest, KillReportsNegativeSigkill) {
  Process p([] {
    ::signal(SIGTERM, SIG_IGN);
    for (;;) ::pause();
  });
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Kill().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), -SIGKILL);
}

TEST(ProcessTest, SignalFromInsideGivesNegativeCode) {
  Process p([] {
    // Sanitizer runtimes turn SIGSEGV into exit(1) with a report; the default
    // action is what a Python child gets (faulthandler is off by default).
    ::signal(SIGSEGV, SIG_DFL);
    ::raise(SIGSEGV);
  });
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), -SIGSEGV);
}

TEST(ProcessTest, JoinWithTimeoutOnSleepingChildReturnsWhileRunning) {
  Process p([] { ::usleep(2 * 1000 * 1000); });
  ASSERT_TRUE(p.Start().ok());
  absl::Time start = absl::Now();
  ASSERT_TRUE(p.Join(absl::Milliseconds(100)).ok());
  absl::Duration waited = absl::Now() - start;
  EXPECT_GE(waited, absl::Milliseconds(100));
  EXPECT_LT(waited, absl::Seconds(1.5));
  EXPECT_FALSE(p.exitcode().has_value());
  EXPECT_EQ(*p.IsAlive(), true);
  ASSERT_TRUE(p.Kill().ok());
  ASSERT_TRUE(p.Join().ok());
}

TEST(ProcessTest, JoinTimeoutZeroPolls) {
  Process p([] { ::usleep(200 * 1000); });
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join(absl::ZeroDuration()).ok());
  EXPECT_FALSE(p.exitcode().has_value());
  ASSERT_TRUE(p.JoinUntil(absl::Now() + absl::Seconds(30)).ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessTest, StartTwiceIsAssertionError) {
  Process p([] {});
  ASSERT_TRUE(p.Start().ok());
  absl::Status s = p.Start();
  EXPECT_TRUE(Is(s, PyExc::kAssertionError));
  EXPECT_EQ(s.message(), "AssertionError: cannot start a process twice");
  ASSERT_TRUE(p.Join().ok());
}

TEST(ProcessTest, JoinBeforeStartIsAssertionError) {
  Process p([] {});
  absl::Status s = p.Join();
  EXPECT_EQ(s.message(), "AssertionError: can only join a started process");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.Terminate().message(), "AssertionError: can only terminate a started process");
  EXPECT_EQ(p.sentinel().status().message(), "ValueError: process not started");
  EXPECT_EQ(*p.IsAlive(), false);
}

TEST(ProcessTest, UseAfterCloseIsValueError) {
  Process p([] {});
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  ASSERT_TRUE(p.Close().ok());
  for (absl::Status s : {p.Start(), p.Join(), p.Terminate(), p.Kill(), p.IsAlive().status(),
                         p.sentinel().status()}) {
    EXPECT_EQ(s.message(), "ValueError: process object is closed");
  }
  EXPECT_EQ(p.exitcode(), 0) << "kept after Close (documented deviation)";
  EXPECT_TRUE(p.Close().ok()) << "closing twice is allowed, as in CPython";
}

TEST(ProcessTest, CloseWhileRunningIsValueError) {
  Process p([] {
    for (;;) ::pause();
  });
  ASSERT_TRUE(p.Start().ok());
  absl::Status s = p.Close();
  EXPECT_TRUE(Is(s, PyExc::kValueError));
  EXPECT_NE(s.message().find("Cannot close a process while it is still running"), std::string::npos);
  ASSERT_TRUE(p.Kill().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_TRUE(p.Close().ok());
}

TEST(ProcessTest, DefaultNamesCountPerParent) {
  Process a([] {});
  Process b([] {});
  int na = 0, nb = 0;
  ASSERT_TRUE(absl::SimpleAtoi(a.name().substr(std::string("Process-").size()), &na)) << a.name();
  ASSERT_TRUE(absl::SimpleAtoi(b.name().substr(std::string("Process-").size()), &nb)) << b.name();
  EXPECT_EQ(nb, na + 1);
  // Inside a child, numbering restarts and extends the child's identity.
  Process parent([] {
    Process grandchild([] {});
    bool ok = grandchild.name() == CurrentProcess().name() + ":1";
    Exit(ok ? 0 : 1);
  });
  ASSERT_TRUE(parent.Start().ok());
  ASSERT_TRUE(parent.Join().ok());
  EXPECT_EQ(parent.exitcode(), 0) << "grandchild should be named " << parent.name() << ":1";
  Process named([] {}, {.name = "worker"});
  EXPECT_EQ(named.name(), "worker");
  named.set_name("renamed");
  EXPECT_EQ(named.name(), "renamed");
}

TEST(ProcessTest, CurrentAndParentProcess) {
  EXPECT_EQ(CurrentProcess().name(), "MainProcess");
  EXPECT_EQ(CurrentProcess().pid(), GetPid());
  EXPECT_FALSE(ParentProcess().has_value());
  pid_t me = GetPid();
  Process p(
      [me] {
        std::optional<ParentInfo> parent = ParentProcess();
        bool ok = CurrentProcess().name() == "Child" && CurrentProcess().pid() == GetPid() &&
                  parent.has_value() && parent->pid == me && parent->name == "MainProcess" &&
                  *CurrentProcess().IsAlive();
        Exit(ok ? 0 : 1);
      },
      {.name = "Child"});
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessTest, DaemonFlagInheritsAndDaemonsCannotHaveChildren) {
  Process p(
      [] {
        Process inner([] {});
        bool inherits = inner.daemon();
        absl::Status s = inner.Start();
        Exit(inherits && s.message() == "AssertionError: daemonic processes are not allowed to have children"
                 ? 0
                 : 1);
      },
      {.daemon = true});
  EXPECT_TRUE(p.daemon());
  ASSERT_TRUE(p.Start().ok());
  EXPECT_EQ(p.set_daemon(false).message(), "AssertionError: process has already started");
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessTest, SentinelBecomesReadableWhenChildEnds) {
  Process p([] { ::usleep(100 * 1000); });
  ASSERT_TRUE(p.Start().ok());
  absl::StatusOr<int> fd = p.sentinel();
  ASSERT_TRUE(fd.ok());
  struct pollfd pfd = {*fd, POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0) << "readable while the child runs";
  EXPECT_EQ(::poll(&pfd, 1, 10000), 1);
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(ProcessTest, ActiveChildrenListsOnlyRunningOnes) {
  Process quick([] {});
  Process slow([] {
    for (;;) ::pause();
  });
  ASSERT_TRUE(quick.Start().ok());
  ASSERT_TRUE(slow.Start().ok());
  ASSERT_TRUE(quick.Join().ok());
  std::vector<Process> active = ActiveChildren();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_TRUE(active[0] == slow);
  ASSERT_TRUE(slow.Terminate().ok());
  ASSERT_TRUE(slow.Join().ok());
  EXPECT_TRUE(ActiveChildren().empty());
}

// Process states live in a few slots of static storage, then on the heap
// (process.cc): more live processes than slots, of both kinds, and
// grandchildren started from a child (which allocates from its copy of the
// slots), behave alike.
TEST(ProcessTest, ManyLiveProcessesBeyondTheStaticSlots) {
  constexpr int kChildren = 80;
  std::vector<Process> children;
  for (int i = 0; i < kChildren; ++i) {
    children.emplace_back([i] {
      if (i % 10 == 0) {
        Process grandchild([i] { Exit(i % 7); });
        if (!grandchild.Start().ok() || !grandchild.Join().ok() || grandchild.exitcode() != i % 7) Exit(100);
      }
      if (CurrentProcess().name() != absl::StrCat("child-", i)) Exit(101);
      for (;;) ::pause();
    }, ProcessOptions{.name = absl::StrCat("child-", i)});
  }
  for (Process& p : children) ASSERT_TRUE(p.Start().ok());
  EXPECT_EQ(ActiveChildren().size(), static_cast<size_t>(kChildren));
  for (Process& p : children) ASSERT_TRUE(p.Terminate().ok());
  for (int i = 0; i < kChildren; ++i) {
    ASSERT_TRUE(children[i].Join().ok());
    EXPECT_EQ(children[i].exitcode(), -SIGTERM) << children[i].name();
  }
  EXPECT_TRUE(ActiveChildren().empty());
}

// A ProcessState freed back to the hot page's slots is poisoned, so that
// AddressSanitizer still reports a use after free of one (process.cc's
// HotFree); the heap would do that by itself, a static page does not. The
// state's name is the one address the public API gives away.
TEST(ProcessTest, FreedStateIsPoisonedUnderAddressSanitizer) {
  if constexpr (!testing::kAddressSanitizer) GTEST_SKIP() << "only an AddressSanitizer build can tell";
  const std::string* name;
  {
    Process p([] {}, ProcessOptions{.name = "freed"});
    name = &p.name();
    EXPECT_EQ(__asan_address_is_poisoned(name), 0);
  }
  EXPECT_EQ(__asan_address_is_poisoned(name), 1);
}

TEST(ProcessTest, DroppedHandleChildIsReapedByActiveChildren) {
  pid_t pid;
  {
    Process p([] {});
    ASSERT_TRUE(p.Start().ok());
    pid = *p.pid();
  }
  // The handle is gone but mp still owns the child: it must be reaped, not
  // left as a zombie.
  for (int i = 0; i < 1000 && !ActiveChildren().empty(); ++i) ::usleep(1000);
  EXPECT_TRUE(ActiveChildren().empty());
  EXPECT_EQ(::kill(pid, 0), -1) << "child " << pid << " still exists";
}

TEST(ProcessTest, ChildJoinsItsOwnChildrenBeforeExiting) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  Process p([w = fds[1]] {
    Process grandchild([w] {
      ::usleep(200 * 1000);
      (void)!::write(w, "g", 1);
    });
    (void)grandchild.Start();
    // Returning without a join: the child's exit function must join it.
  });
  ASSERT_TRUE(p.Start().ok());
  ::close(fds[1]);
  ASSERT_TRUE(p.Join().ok());
  char c = 0;
  // The grandchild already wrote before its parent exited.
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  EXPECT_EQ(::read(fds[0], &c, 1), 1);
  EXPECT_EQ(c, 'g');
  ::close(fds[0]);
}

TEST(ProcessTest, DaemonChildrenAreTerminatedAtExitAndOthersJoined) {
  std::string bin = std::string(std::getenv("TEST_SRCDIR")) + "/mp/mp/testing/daemon_parent";
  std::string out = CaptureFd(1, [&] {
    absl::StatusOr<pid_t> pid = Fork();
    ASSERT_TRUE(pid.ok());
    if (*pid == 0) {
      ::execl(bin.c_str(), bin.c_str(), nullptr);
      ::_exit(127);
    }
    EXPECT_EQ(*WaitPid(*pid), ExitStatus::Exited(0));
  });
  // The parent's own lines sit in its stdio buffer until exit() flushes it,
  // after the atexit handler joined the normal child: so the child's line
  // comes first, which itself shows the join happened at exit.
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << out;
  EXPECT_EQ(lines[0], "normal child done") << "the normal child is joined before exit";
  int daemon_pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripPrefix(lines[1], "daemon "), &daemon_pid)) << out;
  // The parent joined (reaped) the terminated daemon, so its pid is gone.
  EXPECT_EQ(::kill(daemon_pid, 0), -1) << "daemon " << daemon_pid << " survived its parent";
  if (::kill(daemon_pid, 0) == 0) ::kill(daemon_pid, SIGKILL);
}

// Python's sys.exit(n) in a child raises SystemExit: the stack unwinds
// (finally blocks run), and the child ends with n. mp::SystemExit is that
// exception; like SystemExit, which is no Exception, it is not a
// std::exception.
TEST(ProcessTest, SystemExitUnwindsTheChildAndGivesItsCode) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int write_end = fds[1];
  Process child([write_end] {
    struct Cleanup {
      int fd;
      ~Cleanup() { (void)!::write(fd, "u", 1); }
    } cleanup{write_end};
    try {
      throw SystemExit{5};
    } catch (const std::exception&) {
      Exit(9);  // `except Exception:` does not catch SystemExit.
    }
  });
  ASSERT_TRUE(child.Start().ok());
  ::close(fds[1]);
  ASSERT_TRUE(child.Join().ok());
  EXPECT_EQ(child.exitcode(), 5);
  char c = 0;
  EXPECT_EQ(::read(fds[0], &c, 1), 1) << "the destructor did not run";
  EXPECT_EQ(c, 'u');
  ::close(fds[0]);
}

// The natural port of sys.exit(7), std::exit(7), ends the child with 7 and
// runs none of the parent's exit handlers or static destructors in it (a
// CPython child ends with os._exit after SystemExit): here, a global Pool's,
// and an atexit handler the parent registered after starting a child.
TEST(ProcessTest, StdExitInAChildRunsNoneOfTheParentsExitHandlers) {
  std::string bin = std::string(std::getenv("TEST_SRCDIR")) + "/mp/mp/testing/exit_in_child";
  absl::StatusOr<subprocess::CompletedProcess> r =
      subprocess::Run({bin}, {.capture_output = true, .timeout = absl::Seconds(60)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "exitcodes 7 8 9, pool works\nlate handler ran in the parent\n") << r->std_err;
  EXPECT_EQ(r->returncode, 0);
}

TEST(ProcessTest, CpuCountIsPositive) { EXPECT_GE(CpuCount(), 1); }

// CPython's _bootstrap calls util._close_stdin(): a child does not compete
// with its parent for the parent's stdin, it reads /dev/null.
TEST(ProcessTest, ChildStdinIsDevNullAsInCPython) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "secret", 6), 6);
  ::close(p[1]);  // A reader gets the bytes, then EOF.
  int saved = ::dup(0);
  ::dup2(p[0], 0);
  Process child([] {
    char buf[16];
    if (std::fgets(buf, sizeof buf, stdin) != nullptr) Exit(2);
    struct stat st;
    if (::fstat(0, &st) != 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3) Exit(3);
  });
  ASSERT_TRUE(child.Start().ok());
  ASSERT_TRUE(child.Join().ok());
  ::dup2(saved, 0);
  ::close(saved);
  EXPECT_EQ(child.exitcode(), 0) << "2: read the parent's stdin, 3: fd 0 is not /dev/null";
  char buf[8] = {};
  EXPECT_EQ(::read(p[0], buf, sizeof buf), 6) << "the parent's input is still there";
  ::close(p[0]);
}

// Closing sys.stdin drops what it had buffered: input the parent's stdio
// read ahead (a line buffered behind the one fgets returned, a character
// pushed back with ungetc) is not the child's to read.
TEST(ProcessTest, ChildDoesNotReadInputTheParentBuffered) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "first\nsecond\n", 13), 13);
  ::close(p[1]);
  int saved = ::dup(0);
  ::dup2(p[0], 0);
  ::close(p[0]);
  char line[16];
  ASSERT_NE(std::fgets(line, sizeof line, stdin), nullptr);  // Buffers "second\n" too.
  for (bool pushed_back : {false, true}) {
    if (pushed_back) {
      ASSERT_EQ(std::ungetc('x', stdin), 'x');
    }
    Process child([] {
      if (std::getc(stdin) != EOF) Exit(2);
    });
    ASSERT_TRUE(child.Start().ok());
    ASSERT_TRUE(child.Join().ok());
    EXPECT_EQ(child.exitcode(), 0) << (pushed_back ? "read the pushed-back character" : "read the buffered line");
  }
  __fpurge(stdin);
  std::clearerr(stdin);
  ::dup2(saved, 0);
  ::close(saved);
}

// The child's bookkeeping is rebuilt in every generation: a grandchild knows
// its own name and its parent, the child.
TEST(ProcessTest, GrandchildSeesTheChildAsItsParent) {
  Process child(
      [] {
        const pid_t me = GetPid();
        Process grandchild(
            [me] {
              std::optional<ParentInfo> parent = ParentProcess();
              bool ok = CurrentProcess().name() == "Grandchild" && parent.has_value() && parent->pid == me &&
                        parent->name == "Child" && ActiveChildren().empty();
              Exit(ok ? 0 : 1);
            },
            {.name = "Grandchild"});
        if (!grandchild.Start().ok() || !grandchild.Join().ok()) Exit(3);
        Exit(grandchild.exitcode() == 0 ? 0 : 4);
      },
      {.name = "Child"});
  ASSERT_TRUE(child.Start().ok());
  ASSERT_TRUE(child.Join().ok());
  EXPECT_EQ(child.exitcode(), 0) << "1: the grandchild's view is wrong; 3, 4: it did not run";
}

}  // namespace
}  // namespace mp
