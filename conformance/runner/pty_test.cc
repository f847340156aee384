// The terminal mode (RunRequest::stdio = Stdio::kPty): what a program sees,
// that its bytes arrive unchanged, that every write still names its writer
// under both observers, that the seed's programs then behave as in the
// documented terminal runs, and that hostile programs are still contained.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/tracer.h"
#include "conformance/runner/tracer_testing.h"
#include "gtest/gtest.h"

namespace conformance {
namespace {

using testing::ExpectConsistent;
using testing::Find;
using testing::Helper;
using testing::Lines;
using testing::MustRun;
using testing::ObservedTest;
using testing::PidIn;
using testing::Runfile;

RunRequest Pty(std::vector<std::string> argv) {
  RunRequest req;
  req.argv = std::move(argv);
  req.stdio = Stdio::kPty;
  req.timeout = absl::Seconds(60);
  return req;
}

TEST_P(ObservedTest, PtyIsATerminalAndPassesBytesUnchanged) {
  Observation o = MustRun(Pty({Helper(), "tty"}));
  ExpectConsistent(o);
  EXPECT_EQ(o.stdio, "pty");
  EXPECT_EQ(o.processes[0].exit, WaitStatus::Exited(0)) << o.stderr_bytes;
  // stdin is /dev/null; stdout and stderr are terminals, 24x80; there is no
  // controlling terminal (ENXIO); no \n became \r\n, and reopening works.
  EXPECT_EQ(o.stdout_bytes,
            "isatty 011\nwindow 24x80\n/dev/tty 6\nraw\r\n\tbytes\nvia /dev/stdout\nvia /proc/self/fd/1\n");
  EXPECT_EQ(o.stderr_bytes, "to stderr\n");
  for (const WriteRecord& w : o.writes) EXPECT_EQ(w.pid, o.processes[0].pid) << w.data;
  EXPECT_EQ(o.writes.size(), 7u);

  RunRequest pipe = Pty({Helper(), "tty"});
  pipe.stdio = Stdio::kPipe;
  o = MustRun(pipe);
  EXPECT_EQ(o.stdio, "pipe");
  EXPECT_EQ(o.stdout_bytes.substr(0, o.stdout_bytes.find('\n')), "isatty 000");
}

TEST(TracerTest, UntracedPtyCapturesTextOnly) {
  RunRequest req = Pty({Helper(), "forks", "2"});
  req.trace = false;
  absl::StatusOr<Observation> o = conformance::Run(req);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->traced);
  EXPECT_EQ(o->stdio, "pty");
  EXPECT_EQ(o->attribution_mismatch, "");
  EXPECT_EQ(std::count(o->stdout_bytes.begin(), o->stdout_bytes.end(), '\n'), 9);
  EXPECT_EQ(o->stderr_bytes, "done\n");
  std::string joined;
  for (const WriteRecord& w : o->writes) {
    EXPECT_EQ(w.pid, 0);  // A terminal names no writer.
    if (w.stream == 1) joined += w.data;
  }
  EXPECT_EQ(joined, o->stdout_bytes);
}

// Every other way to write to a terminal is attributed too: writev from
// the writer's memory, splice and sendfile by count (their bytes from the
// master); vmsplice needs a pipe (EBADF).
TEST_P(ObservedTest, PtyOtherWritePathsAreAttributed) {
  Observation o = MustRun(Pty({Helper(), "bypass"}));
  ExpectConsistent(o);
  bool ptrace = GetParam() == Observer::kPtrace;
  EXPECT_EQ(o.stdout_bytes, absl::StrCat("writev\nspliced\nvmsplice 9\nsendfile\nreopened\nio_uring_setup -1 38\n",
                                         ptrace ? "clone_untraced 1\ntraceme -1\n" : "clone_untraced 0\ntraceme 0\n"));
  EXPECT_EQ(Lines(o).size(), 8u);
  for (const WriteRecord& w : o.writes) EXPECT_EQ(w.pid, o.processes[0].pid) << w.data;
}

// Many processes write lines at once (the benchmark's workload: 100
// processes, 10k lines): each line is its writer's, in its order, none glued
// to another's.
TEST_P(ObservedTest, PtyStressAttributesEveryLine) {
  Observation o = MustRun(Pty({Runfile("conformance/runner/testdata/fork_print_stress"), "100", "10000"}));
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 101u);
  std::map<pid_t, int> per;
  std::map<pid_t, int> index;  // "process <i>": one i per writer.
  for (const auto& [pid, line] : Lines(o)) {
    const ProcessRecord* p = Find(o, pid);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->forked_by, o.processes[0].pid);
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    ASSERT_EQ(f.size(), 4u) << line;
    auto [it, fresh] = index.insert({pid, PidIn(line, 1)});
    EXPECT_EQ(it->second, PidIn(line, 1)) << line;
    EXPECT_EQ(PidIn(line, 3), per[pid]++) << line;
  }
  EXPECT_EQ(per.size(), 100u);
  for (const auto& [pid, n] : per) EXPECT_EQ(n, 100) << pid;
}

// Large writes from two processes at once: on a terminal each write is
// whole (n_tty holds the tty's write lock for the call) unless a signal cuts
// it short, and each still names its writer.
TEST_P(ObservedTest, PtyInterleavedLargeWritesKeepTheirWriters) {
  Observation o = MustRun(Pty({Helper(), "bigpair"}));
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 2u);
  EXPECT_EQ(o.processes[0].exit, WaitStatus::Exited(0));
  std::map<pid_t, size_t> bytes;
  for (const WriteRecord& w : o.writes) {
    char expected = w.pid == o.processes[0].pid ? 'p' : 'c';
    EXPECT_EQ(w.data.find_first_not_of(expected), std::string::npos) << "pid " << w.pid;
    bytes[w.pid] += w.data.size();
  }
  EXPECT_EQ(bytes[o.processes[0].pid], 6000000u);
  EXPECT_EQ(bytes[o.processes[1].pid], 6000000u);
  EXPECT_EQ(o.stdout_bytes.size(), 12000000u);
  // At least a run per write. A 3 MB write to a terminal is whole unless a
  // signal interrupts it while it waits: then the writer writes the rest in
  // a second call, which the other writer's may precede. Under ptrace that
  // happens: the child's SIGCHLD, ignored, is still queued to a traced
  // parent and cuts its blocked write short (as it would a pipe's). Every
  // run still has one writer, checked above. Under BPF nothing is traced,
  // so no ignored signal comes: four runs, one per write, unlike a pipe's
  // (InterleavedLargeWritesKeepTheirWriters).
  if (GetParam() == Observer::kBpf) {
    EXPECT_EQ(o.writes.size(), 4u);
  } else {
    EXPECT_GE(o.writes.size(), 4u);
  }
}

// The seed's fork program, verbatim (no -u): on a terminal, CPython's stdout
// is line-buffered, so the child does not repeat the parent's first line.
constexpr char kSeedFork[] = R"(import os
print('Process (%s) start...' % os.getpid())
# Only works on Unix/Linux/Mac:
pid = os.fork()
if pid == 0:
    print('I am child process (%s) and my parent is %s.' % (os.getpid(), os.getppid()))
else:
    print('I (%s) just created a child process (%s).' % (os.getpid(), pid))
)";

TEST_P(ObservedTest, SeedForkProgramVerbatimOnATerminal) {
  RunRequest req = Pty({"/usr/bin/python3", "-c", kSeedFork});
  req.leak_grace = absl::Seconds(2);  // As the CLI: the parent does not wait.
  Observation o = MustRun(req);
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 2u) << o.stderr_bytes;
  pid_t parent = o.processes[0].pid, child = o.processes[1].pid;
  std::vector<std::pair<pid_t, std::string>> lines = Lines(o);
  ASSERT_EQ(lines.size(), 3u) << o.stdout_bytes;
  EXPECT_EQ(lines[0], std::make_pair(parent, absl::StrCat("Process (", parent, ") start...\n")));
  std::map<pid_t, std::string> by;
  for (size_t i = 1; i < 3; ++i) by[lines[i].first] = lines[i].second;
  // The child's parent is its forker, or the reaper if the parent was gone.
  std::string reported = by[child].substr(0, by[child].rfind(' ') + 1);
  EXPECT_EQ(reported, absl::StrCat("I am child process (", child, ") and my parent is "));
  EXPECT_TRUE(by[child] == absl::StrCat(reported, parent, ".\n") || by[child] == absl::StrCat(reported, o.reaper, ".\n"))
      << by[child];
  EXPECT_EQ(by[parent], absl::StrCat("I (", parent, ") just created a child process (", child, ").\n"));

  // On a pipe the same program is block-buffered: the child repeats the
  // parent's unflushed first line, as its own write.
  req.stdio = Stdio::kPipe;
  o = MustRun(req);
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 2u);
  std::string start = absl::StrCat("Process (", o.processes[0].pid, ") start...\n");
  int starts = 0;
  for (const auto& [pid, line] : Lines(o)) starts += line == start ? 1 : 0;
  EXPECT_EQ(starts, 2) << o.stdout_bytes;
}

// A flood past the cap: still drained (the writer never blocks) and
// flagged, under either observer. A pty moves ~150 MB/s in 4 KiB reads, so
// 1 GiB takes ~7 s here (~35 s under ASan): the bound is on ending, not on
// speed.
TEST_P(ObservedTest, PtyFloodIsCappedAndDrained) {
  RunRequest req = Pty({Helper(), "bigout", std::to_string(size_t{1} << 30)});
  req.max_output_bytes = size_t{1} << 20;
  req.timeout = absl::Seconds(200);
  Observation o = MustRun(req);
  EXPECT_TRUE(o.output_truncated);
  EXPECT_FALSE(o.timed_out);
  EXPECT_EQ(o.processes[0].exit, WaitStatus::Exited(0));
  EXPECT_EQ(o.stdout_bytes, std::string(size_t{1} << 20, 'z'));
  EXPECT_EQ(o.attribution_mismatch, "");
}

// A child that holds the terminal open (and ignores SIGTERM) after the root
// exited is killed; nothing waits for the terminal to close.
TEST_P(ObservedTest, PtyLeftoverHoldingTheTerminalIsKilled) {
  Observation o = MustRun(Pty({Helper(), "leak"}));
  ASSERT_EQ(o.processes.size(), 2u);
  EXPECT_EQ(o.processes[0].exit, WaitStatus::Exited(0));
  EXPECT_TRUE(o.processes[1].killed_by_runner);
  EXPECT_EQ(o.processes[1].exit, WaitStatus::Signaled(SIGKILL));
  EXPECT_FALSE(o.timed_out);
  EXPECT_TRUE(o.anomalies.empty()) << o.anomalies[0];
  EXPECT_LT(o.wall, absl::Seconds(10));
  EXPECT_EQ(o.stdout_bytes, absl::StrCat("orphan ", o.processes[1].pid, "\nparent ", o.processes[0].pid, " leaves ",
                                         o.processes[1].pid, "\n"));
}

// Run by TheRunnersTerminalIsNotTheProgramsEither in a copy of this test
// binary whose session has a controlling terminal: the runner's child must
// give it up, so that the program's /dev/tty fails (ENXIO) there too.
TEST(ControllingTerminal, Inner) {
  const char* observer = std::getenv("PTY_TEST_INNER_OBSERVER");
  if (observer == nullptr) GTEST_SKIP() << "run by TheRunnersTerminalIsNotTheProgramsEither";
  int own = ::open("/dev/tty", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(own, 0) << "this process was to have a controlling terminal";
  ::close(own);
  for (Stdio stdio : {Stdio::kPty, Stdio::kPipe}) {
    RunRequest req = Pty({Helper(), "tty"});
    req.stdio = stdio;
    req.observer = std::string(observer) == "bpf" ? Observer::kBpf : Observer::kPtrace;
    absl::StatusOr<Observation> o = conformance::Run(req);
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_NE(o->stdout_bytes.find("\n/dev/tty 6\n"), std::string::npos) << o->stdout_bytes;
  }
}

TEST_P(ObservedTest, TheRunnersTerminalIsNotTheProgramsEither) {
  pid_t kid = ::fork();
  ASSERT_GE(kid, 0);
  if (kid == 0) {
    // A session leader whose controlling terminal is a fresh pty (kept open
    // across the exec: closing the master would hang the terminal up).
    ::setsid();
    int master = ::open("/dev/ptmx", O_RDWR | O_NOCTTY);
    int unlock = 0;
    if (master < 0 || ::ioctl(master, TIOCSPTLCK, &unlock) != 0) ::_exit(3);
    int slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_CLOEXEC);
    if (slave < 0 || ::ioctl(slave, TIOCSCTTY, 0) != 0) ::_exit(4);
    ::setenv("PTY_TEST_INNER_OBSERVER", GetParam() == Observer::kBpf ? "bpf" : "ptrace", 1);
    ::execl("/proc/self/exe", "pty_test", "--gtest_filter=ControllingTerminal.Inner", static_cast<char*>(nullptr));
    ::_exit(5);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(kid, &status, 0), kid);
  EXPECT_EQ(WaitStatus::FromRaw(status), WaitStatus::Exited(0)) << "see ControllingTerminal.Inner's output above";
}

INSTANTIATE_OBSERVED_TESTS();

}  // namespace
}  // namespace conformance
