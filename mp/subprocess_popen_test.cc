// Tests of subprocess::Popen as an object: waiting, polling, signalling,
// communicating, and what happens to it when it is dropped. The one-call
// forms (Run, Call, ...) and Popen's options are in subprocess_test.cc.
#include "mp/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/testing/refused_syscalls.h"

namespace mp::subprocess {
namespace {

std::string TmpDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

// --- Popen control, signals --------------------------------------------------

TEST(PopenTest, TerminateReportsNegativeSigterm) {
  absl::StatusOr<Popen> p = Popen::Start({"sleep", "30"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GT(p->pid(), 0);
  EXPECT_EQ(p->Poll(), std::nullopt);
  EXPECT_EQ(p->returncode(), std::nullopt);
  ASSERT_TRUE(p->Terminate().ok());
  absl::StatusOr<int> rc = p->Wait();
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(*rc, -SIGTERM);
  EXPECT_EQ(p->returncode(), -SIGTERM);
  EXPECT_EQ(p->exit_status(), ExitStatus::Signaled(SIGTERM));
  EXPECT_TRUE(p->Kill().ok());  // Already reaped: not an error.
}

TEST(PopenTest, KillAndSendSignal) {
  absl::StatusOr<Popen> p = Popen::Start({"sleep", "30"});
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->Kill().ok());
  EXPECT_EQ(*p->Wait(), -SIGKILL);
  absl::StatusOr<Popen> q = Popen::Start({"sleep", "30"});
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(q->SendSignal(SIGINT).ok());
  EXPECT_EQ(*q->Wait(), -SIGINT);
}

TEST(PopenTest, WaitTimeoutLeavesChildRunning) {
  absl::StatusOr<Popen> p = Popen::Start({"sleep", "30"});
  ASSERT_TRUE(p.ok());
  absl::StatusOr<int> rc = p->Wait(absl::Milliseconds(50));
  EXPECT_TRUE(Is(rc.status(), PyExc::kTimeoutExpired)) << rc.status();
  EXPECT_EQ(p->Poll(), std::nullopt);
  ASSERT_TRUE(p->Kill().ok());
  EXPECT_EQ(*p->Wait(), -SIGKILL);
}

TEST(PopenTest, WaitWithTimeoutPollsWhereThereIsNoPidfd) {
  // CPython's Popen.wait(timeout) works on any kernel: it polls.
  int failed = mp::testing::WithoutPidfd([] {
    absl::StatusOr<Popen> p = Popen::Start({"sleep", "0.2"});
    if (!p.ok()) return 1;
    absl::StatusOr<int> rc = p->Wait(absl::Milliseconds(20));
    if (!Is(rc.status(), PyExc::kTimeoutExpired)) return 2;
    rc = p->Wait(absl::Seconds(30));
    return rc.ok() && *rc == 0 ? 0 : 3;
  });
  EXPECT_EQ(failed, 0);
}

TEST(PopenTest, PollSeesExit) {
  absl::StatusOr<Popen> p = Popen::Start({"true"});
  ASSERT_TRUE(p.ok());
  absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!p->Poll() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(p->Poll(), 0);
}

// Whether `pid` has been reaped (a zombie still answers kill(pid, 0)).
bool Reaped(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// Waits up to 20 s for the background reaper to collect `pid`.
bool EventuallyReaped(pid_t pid) {
  absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!Reaped(pid) && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  return Reaped(pid);
}

TEST(PopenTest, DroppingARunningPopenDoesNotWaitAndItIsReapedWhenItEnds) {
  // CPython's Popen.__del__ does not wait: a child still running goes to
  // subprocess._active, to be reaped later.
  pid_t pid;
  absl::Time start = absl::Now();
  {
    absl::StatusOr<Popen> p = Popen::Start({"sleep", "0.5"}, {.std_out = kPipe});
    ASSERT_TRUE(p.ok()) << p.status();
    pid = p->pid();
  }
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(400)) << "the destructor waited for the child";
  EXPECT_FALSE(Reaped(pid));
  EXPECT_TRUE(EventuallyReaped(pid)) << "left a zombie";
}

TEST(PopenTest, DroppingAnEndedPopenReapsItAtOnce) {
  absl::StatusOr<Popen> p = Popen::Start({"true"});
  ASSERT_TRUE(p.ok()) << p.status();
  pid_t pid = p->pid();
  siginfo_t info;
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);  // Ended, unreaped.
  p = absl::StatusOr<Popen>(absl::CancelledError());
  EXPECT_TRUE(Reaped(pid));
}

TEST(PopenTest, MoveAssignmentDoesNotWaitForTheOldChild) {
  absl::StatusOr<Popen> p = Popen::Start({"sleep", "0.5"});
  absl::StatusOr<Popen> q = Popen::Start({"true"});
  ASSERT_TRUE(p.ok() && q.ok());
  pid_t old = p->pid();
  absl::Time start = absl::Now();
  *p = std::move(*q);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(400)) << "move-assignment waited for the old child";
  EXPECT_EQ(*p->Wait(), 0);
  EXPECT_TRUE(EventuallyReaped(old));
}

TEST(PopenTest, CommunicateResumesAfterTimeout) {
  absl::StatusOr<Popen> p = Popen::Start({"sh", "-c", "echo a; read x; echo $x"},
                                         {.std_in = kPipe, .std_out = kPipe});
  ASSERT_TRUE(p.ok());
  // Input is not closed until written; the child waits for it... but "read"
  // gets it at once, so make the first call time out on a sleeping child.
  absl::StatusOr<Popen> slow = Popen::Start({"sh", "-c", "echo a; sleep 1; echo b"},
                                            {.std_out = kPipe});
  ASSERT_TRUE(slow.ok());
  absl::StatusOr<Output> first = slow->Communicate({}, absl::Milliseconds(200));
  ASSERT_TRUE(Is(first.status(), PyExc::kTimeoutExpired)) << first.status();
  EXPECT_EQ(GetSubprocessErrorInfo(first.status())->output, "a\n");
  absl::StatusOr<Output> second = slow->Communicate();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->std_out, "a\nb\n");
  absl::StatusOr<Output> fed = p->Communicate("line\n");
  ASSERT_TRUE(fed.ok());
  EXPECT_EQ(fed->std_out, "a\nline\n");
}

// --- Popen.stdin / stdout / stderr as files ----------------------------------

TEST(PopenTest, ClosingStdinSendsEofWhileTheChildRuns) {
  // Python: p.stdin.write(b"b\na\n"); p.stdin.close(); for line in p.stdout.
  absl::StatusOr<Popen> p = Popen::Start({"sort"}, {.std_in = kPipe, .std_out = kPipe});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->std_in()->Write("b\na\n").ok());
  ASSERT_TRUE(p->std_in()->Close().ok());
  EXPECT_EQ(*p->std_out()->ReadLine(), "a\n");
  EXPECT_EQ(*p->std_out()->ReadLine(), "b\n");
  EXPECT_EQ(*p->std_out()->ReadLine(), "");
  EXPECT_EQ(*p->Wait(), 0);
  EXPECT_EQ(p->std_err(), nullptr) << "not a pipe: Python's None";
  EXPECT_EQ(p->stdin_fd(), -1) << "closed";
}

TEST(PopenTest, StdoutIsReadLineByLineWhileTheChildRuns) {
  absl::StatusOr<Popen> p = Popen::Start({"sh", "-c", "while read x; do echo got $x; done"},
                                         {.std_in = kPipe, .std_out = kPipe});
  ASSERT_TRUE(p.ok()) << p.status();
  for (std::string word : {"one", "two"}) {
    ASSERT_TRUE(p->std_in()->Write(word + "\n").ok());
    ASSERT_TRUE(p->std_in()->Flush().ok()) << "a BufferedWriter holds it until then";
    EXPECT_EQ(*p->std_out()->ReadLine(), "got " + word + "\n");
  }
  ASSERT_TRUE(p->std_in()->Close().ok());
  EXPECT_EQ(*p->std_out()->Read(), "");
  EXPECT_EQ(*p->Wait(), 0);
}

TEST(PopenTest, TextModeStdoutDecodesAndTranslatesNewlines) {
  absl::StatusOr<Popen> p = Popen::Start({"printf", "caf\\351\\r\\nend"},
                                         {.std_out = kPipe, .encoding = "latin-1"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p->std_out()->ReadLines(), (std::vector<std::string>{"caf\xc3\xa9\n", "end"}));
  EXPECT_EQ(*p->Wait(), 0);
  EXPECT_TRUE(Is(Popen::Start({"true"}, {.std_out = kPipe, .encoding = "nope"}).status(), PyExc::kLookupError));
}

TEST(PopenTest, CommunicateAfterPartialReadsAndWritesGetsTheRest) {
  absl::StatusOr<Popen> p = Popen::Start({"sh", "-c", "echo first; cat"}, {.std_in = kPipe, .std_out = kPipe});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->std_in()->Write("written, ").ok());  // Still buffered: Communicate flushes it.
  EXPECT_EQ(*p->std_out()->Read(3), "fir");
  absl::StatusOr<Output> out = p->Communicate("then input");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->std_out, "st\nwritten, then input");
  EXPECT_TRUE(p->std_out()->closed());
}

TEST(PopenTest, KillFromAnotherThreadWhileWaiting) {
  absl::StatusOr<Popen> p = Popen::Start({"sleep", "30"});
  ASSERT_TRUE(p.ok());
  std::thread killer([&] {
    absl::SleepFor(absl::Milliseconds(100));
    EXPECT_TRUE(p->Kill().ok());
  });
  absl::StatusOr<int> rc = p->Wait();
  killer.join();
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(*rc, -SIGKILL);
}

TEST(PopenTest, StdioIsFlushedBeforeTheChildStarts) {
  std::string path = TmpDir() + "/order";
  int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(file, 0);
  std::fflush(stdout);
  int saved = ::dup(1);
  ::dup2(file, 1);
  std::printf("parent first\n");  // Buffered: fd 1 is not a tty.
  absl::StatusOr<int> rc = Call({"echo", "child second"});
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  ::close(file);
  ASSERT_TRUE(rc.ok()) << rc.status();
  std::ifstream f(path);
  std::string got((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "parent first\nchild second\n");
}

}  // namespace
}  // namespace mp::subprocess
