#include "conformance/runner/tracer.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "conformance/observation/observation.h"
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

TEST_P(ObservedTest, RecordsTreeExitStatusesAndAttribution) {
  Observation o = MustRun({Helper(), "forks", "3"});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 4u);
  const ProcessRecord& root = o.processes[0];
  EXPECT_EQ(root.forked_by, 0);
  EXPECT_EQ(root.exit, WaitStatus::Exited(0));
  ASSERT_EQ(root.execs.size(), 1u);
  EXPECT_EQ(root.execs[0].argv.at(0), Helper());
  EXPECT_EQ(o.stderr_bytes, "done\n");
  std::map<pid_t, int> child_lines;
  std::vector<pid_t> reaped;
  for (const auto& [pid, line] : Lines(o)) {
    if (line.rfind("child ", 0) == 0) {
      // The line names its writer and its parent: both must be what was traced.
      EXPECT_EQ(PidIn(line, 1), pid) << line;
      EXPECT_EQ(PidIn(line, 3), root.pid) << line;
      ++child_lines[pid];
    } else if (line.rfind("reaped ", 0) == 0) {
      EXPECT_EQ(pid, root.pid);
      reaped.push_back(PidIn(line, 1));
      // A child's lines all come before the parent reports it reaped.
      EXPECT_EQ(child_lines[PidIn(line, 1)], 3) << line;
    } else {
      EXPECT_EQ(line, absl::StrCat("root ", root.pid, "\n"));
      EXPECT_EQ(pid, root.pid);
    }
  }
  ASSERT_EQ(reaped.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const ProcessRecord* kid = Find(o, reaped[i]);
    ASSERT_NE(kid, nullptr);
    EXPECT_EQ(kid->forked_by, root.pid);
    EXPECT_EQ(kid->exit, WaitStatus::Exited(i));
    EXPECT_FALSE(kid->killed_by_runner);
    EXPECT_TRUE(kid->execs.empty());
    EXPECT_LE(*kid->ended, *root.ended);
  }
}

TEST_P(ObservedTest, WriteToPipeToParentIsNotCapture) {
  Observation o = MustRun({Helper(), "pipe"});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 2u);
  EXPECT_EQ(o.stdout_bytes, "parent got: secret from child\n");
  ASSERT_EQ(o.writes.size(), 1u);
  EXPECT_EQ(o.writes[0].pid, o.processes[0].pid);
}

TEST_P(ObservedTest, TracedProgramsRunWithoutLeakSanitizer) {
  // LeakSanitizer cannot run under ptrace: the tracer turns it off.
  RunRequest req;
  req.observer = GetParam();
  req.argv = {"/usr/bin/env"};
  req.env = {"PATH=/usr/bin:/bin", "ASAN_OPTIONS=abort_on_error=0"};
  absl::StatusOr<Observation> o = conformance::Run(req);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_NE(o->stdout_bytes.find("ASAN_OPTIONS=abort_on_error=0:detect_leaks=0\n"), std::string::npos)
      << o->stdout_bytes;
  req.env = {"PATH=/usr/bin:/bin"};
  o = conformance::Run(req);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_NE(o->stdout_bytes.find("ASAN_OPTIONS=detect_leaks=0\n"), std::string::npos) << o->stdout_bytes;
}

TEST_P(ObservedTest, LeakedProcessIsReportedAndKilled) {
  Observation o = MustRun({Helper(), "leak"});
  EXPECT_TRUE(o.traced);
  ASSERT_EQ(o.processes.size(), 2u);
  EXPECT_EQ(o.processes[0].exit, WaitStatus::Exited(0));
  EXPECT_FALSE(o.processes[0].killed_by_runner);
  const ProcessRecord& orphan = o.processes[1];
  EXPECT_EQ(orphan.forked_by, o.processes[0].pid);
  EXPECT_TRUE(orphan.killed_by_runner);
  EXPECT_EQ(orphan.exit, WaitStatus::Signaled(SIGKILL));
  EXPECT_FALSE(o.timed_out);
  EXPECT_LT(o.wall, absl::Seconds(30));
  EXPECT_TRUE(orphan.ended.has_value());
}

TEST_P(ObservedTest, LeakGraceLetsAChildFinish) {
  RunRequest req;
  req.observer = GetParam();
  req.argv = {Helper(), "linger"};
  req.leak_grace = absl::Seconds(20);
  req.timeout = absl::Seconds(60);
  absl::StatusOr<Observation> o = conformance::Run(req);
  ASSERT_TRUE(o.ok()) << o.status();
  ExpectConsistent(*o);
  ASSERT_EQ(o->processes.size(), 2u);
  EXPECT_FALSE(o->processes[1].killed_by_runner);
  EXPECT_EQ(o->processes[1].exit, WaitStatus::Exited(0));
  EXPECT_GE(*o->processes[1].ended, *o->processes[0].ended);
  EXPECT_EQ(o->stdout_bytes, "child outlived its parent\n");
  EXPECT_LT(o->wall, absl::Seconds(15));  // It ended when the child did.
}

TEST_P(ObservedTest, WithoutGraceALingeringChildIsKilled) {
  Observation o = MustRun({Helper(), "linger"});
  ASSERT_EQ(o.processes.size(), 2u);
  EXPECT_TRUE(o.processes[1].killed_by_runner);
  EXPECT_EQ(o.processes[1].exit, WaitStatus::Signaled(SIGKILL));
  EXPECT_EQ(o.stdout_bytes, "");
}

// The runner's pipes land on fds 0..2 when it was started without them; the
// program must still get them as its stdout and stderr.
TEST_P(ObservedTest, RunnerWithoutStdFdsStillWiresThePipes) {
  int saved[3];
  for (int fd = 0; fd < 3; ++fd) saved[fd] = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  for (int fd = 0; fd < 3; ++fd) ::close(fd);
  RunRequest req;
  req.observer = GetParam();
  req.argv = {Helper(), "forks", "1"};
  req.timeout = absl::Seconds(60);
  absl::StatusOr<Observation> o = conformance::Run(req);
  for (int fd = 0; fd < 3; ++fd) {
    ::dup2(saved[fd], fd);
    ::close(saved[fd]);
  }
  ASSERT_TRUE(o.ok()) << o.status();
  ExpectConsistent(*o);
  EXPECT_EQ(o->stderr_bytes, "done\n");
  EXPECT_EQ(std::count(o->stdout_bytes.begin(), o->stdout_bytes.end(), '\n'), 5);
}

TEST_P(ObservedTest, TimeoutKillsTheWholeTree) {
  Observation o = MustRun({Helper(), "hang"}, true, absl::Milliseconds(500));
  EXPECT_TRUE(o.timed_out);
  ASSERT_EQ(o.processes.size(), 2u);
  for (const ProcessRecord& p : o.processes) {
    EXPECT_TRUE(p.killed_by_runner) << p.pid;
    EXPECT_EQ(p.exit, WaitStatus::Signaled(SIGKILL)) << p.pid;
  }
  EXPECT_EQ(o.stdout_bytes, "hanging\n");
  EXPECT_LT(o.wall, absl::Seconds(30));
}

TEST_P(ObservedTest, ExitBySignal) {
  Observation o = MustRun({Helper(), "signal"});
  ASSERT_EQ(o.processes.size(), 2u);
  EXPECT_EQ(o.processes[0].exit, WaitStatus::Signaled(SIGTERM));
  EXPECT_EQ(o.processes[1].exit, WaitStatus::Signaled(SIGUSR1));
  EXPECT_EQ(o.stdout_bytes, "raising\n");
}

TEST_P(ObservedTest, ThreadsWritesBelongToTheirProcess) {
  Observation o = MustRun({Helper(), "threads"});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 1u);
  // A record is a run of bytes from one process as read: threads' lines may
  // share one.
  EXPECT_EQ(Lines(o).size(), 81u);
  for (const WriteRecord& w : o.writes) EXPECT_EQ(w.pid, o.processes[0].pid);
}

// A process's status is its thread group's, whichever thread ends it: what
// its parent's wait() reports is what the runner records.
TEST_P(ObservedTest, StatusSetByAnotherThreadIsTheProcesss) {
  Observation o = MustRun({Helper(), "threadexit"});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 3u) << o.stdout_bytes;
  EXPECT_TRUE(o.anomalies.empty()) << o.anomalies[0];
  for (int k = 0; k < 2; ++k) {
    const ProcessRecord& kid = o.processes[1 + k];
    ASSERT_TRUE(kid.exit.has_value());
    EXPECT_EQ(kid.exit, k == 0 ? WaitStatus::Exited(5) : WaitStatus::Signaled(SIGABRT));
    // The parent's wait() saw the same.
    int st = 0;
    std::string line = absl::StrCat("child ", kid.pid, " status ");
    size_t at = o.stdout_bytes.find(line);
    ASSERT_NE(at, std::string::npos) << o.stdout_bytes;
    st = std::atoi(o.stdout_bytes.c_str() + at + line.size());
    EXPECT_EQ(kid.exit, WaitStatus::FromRaw(st)) << line;
  }
}

TEST_P(ObservedTest, OtherWritePathsAreAttributedAndBypassesFail) {
  Observation o = MustRun({Helper(), "bypass"});
  ExpectConsistent(o);
  EXPECT_EQ(o.attribution_mismatch, "");
  if (GetParam() == Observer::kPtrace) {
    // vmsplice(2) needs a pipe, and the captures are sockets: EBADF (9).
    // CLONE_UNTRACED and PTRACE_TRACEME would escape the tracer: refused.
    EXPECT_EQ(o.stdout_bytes,
              "writev\nspliced\nvmsplice 9\nsendfile\nreopened\nio_uring_setup -1 38\nclone_untraced 1\ntraceme -1\n");
    EXPECT_EQ(o.processes.size(), 1u);
  } else {
    // Pipes: vmsplice works; spliced and sent bytes, never in the writer's
    // memory, are attributed from the pipe. Nothing escapes BPF, so the
    // clone and PTRACE_TRACEME are allowed; io_uring's writes it would not see.
    EXPECT_EQ(o.stdout_bytes,
              "writev\nspliced\nvmspliced\nsendfile\nreopened\nio_uring_setup -1 38\nclone_untraced 0\ntraceme 0\n");
    ASSERT_EQ(o.processes.size(), 2u);
    EXPECT_EQ(o.processes[1].forked_by, o.processes[0].pid);
  }
  EXPECT_EQ(Lines(o).size(), 8u);
  for (const WriteRecord& w : o.writes) EXPECT_EQ(w.pid, o.processes[0].pid);
}

// Observed by ptrace the captures are sockets: /dev/stdout and friends, which
// fail with ENXIO on a socket, still work because the tracer turns such
// opens into dups. Untraced, seccomp user notification does the same
// (ReopeningUntraced). Observed by BPF they are pipes, which reopen anyway.
void ExpectReopened(const Observation& o) {
  pid_t root = o.processes[0].pid;
  bool pipes = o.observer == "bpf";
  EXPECT_EQ(o.processes[0].exit, WaitStatus::Exited(0)) << o.stderr_bytes;
  EXPECT_EQ(o.stdout_bytes, absl::StrCat(pipes ? "stdout is a pipe\n" : "stdout is a socket\n",
                                         // The write end of a pipe cannot be read (EBADF).
                                         pipes ? "read(1) = -1\n" : "read(1) = 0\n",
                                         "via /proc/self/fd/1 cloexec\n"
                                         "via /dev/stdout cloexec\n"
                                         "via /dev/fd/1 cloexec\n"
                                         "via /proc/thread-self/fd/1 cloexec\n"
                                         "via /proc/",
                                         root,
                                         "/fd/1 cloexec\n"
                                         "openat fd 0 inheritable\n"
                                         "closed fd: 2\n"
                                         "dev null: 0\n"
                                         "O_EXCL: 17\n"
                                         "O_PATH: ok\n"
                                         "child via parent's fd\n"
                                         "child exited 0\n"));
  EXPECT_EQ(o.stderr_bytes, "via /dev/stderr cloexec\ncreat fd 0\n");
  for (const auto& [pid, line] : Lines(o)) {
    if (line == "child via parent's fd\n") {
      EXPECT_NE(pid, root);
    } else {
      EXPECT_EQ(pid, root) << line;
    }
  }
}

TEST_P(ObservedTest, ReopeningTheCapturesWorks) {
  Observation o = MustRun({Helper(), "reopen"});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 2u);
  ExpectReopened(o);
  for (const WriteRecord& w : o.writes) {
    if (w.data == "child via parent's fd\n") {
      EXPECT_EQ(w.pid, o.processes[1].pid);
    }
  }
}

TEST(TracerTest, ReopeningUntraced) {
  Observation o = MustRun({Helper(), "reopen"}, /*trace=*/false);
  EXPECT_FALSE(o.traced);
  EXPECT_TRUE(o.anomalies.empty()) << o.anomalies.front();
  ExpectReopened(o);
}

TEST_P(ObservedTest, BashWritesToDevStdoutAndStderr) {
  for (bool trace : {true, false}) {
    Observation o = MustRun({"/bin/bash", "-c",
                             "echo a > /dev/stdout; echo b > /dev/stderr; echo c >> /dev/fd/1; "
                             "(echo d > /proc/$$/fd/1); echo e | cat > /proc/self/fd/2"},
                            trace);
    if (trace) ExpectConsistent(o);
    EXPECT_EQ(o.processes[0].exit, WaitStatus::Exited(0)) << o.stderr_bytes;
    EXPECT_EQ(o.stdout_bytes, "a\nc\nd\n") << trace;
    EXPECT_EQ(o.stderr_bytes, "b\ne\n") << trace;
  }
}

// A line torn by another process's write is three runs, each attributed to
// its writer, in the order written: the kernel never glues two writers' bytes.
TEST_P(ObservedTest, RunsFromDifferentWritersAreNeverGlued) {
  for (bool trace : {true, false}) {
    Observation o = MustRun({Helper(), "torn"}, trace);
    ASSERT_EQ(o.processes[0].exit, WaitStatus::Exited(0));
    ASSERT_EQ(o.writes.size(), 3u) << trace;
    pid_t root = o.processes[0].pid;
    EXPECT_EQ(o.writes[0].data, "child half ");
    EXPECT_NE(o.writes[0].pid, root);
    EXPECT_EQ(o.writes[1].data, "parent line\n");
    EXPECT_EQ(o.writes[1].pid, root);
    EXPECT_EQ(o.writes[2].data, "and the rest\n");
    EXPECT_EQ(o.writes[2].pid, o.writes[0].pid);
    if (trace) {
      ASSERT_EQ(o.processes.size(), 2u);
      EXPECT_EQ(o.writes[0].pid, o.processes[1].pid);
    }
  }
}

TEST_P(ObservedTest, PartialWritesRecordAcceptedBytes) {
  Observation o = MustRun({Helper(), "partial"});
  ExpectConsistent(o);
  EXPECT_EQ(o.stdout_bytes.size(), size_t{1} << 20);
  size_t sum = 0;
  for (const WriteRecord& w : o.writes) sum += w.stream == 1 ? w.data.size() : 0;
  EXPECT_EQ(sum, size_t{1} << 20);
}

TEST_P(ObservedTest, ExecIsRecorded) {
  Observation o = MustRun({Helper(), "exec"});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 3u);
  const ProcessRecord& kid = o.processes[1];
  EXPECT_EQ(kid.forked_by, o.processes[0].pid);
  ASSERT_EQ(kid.execs.size(), 1u);
  EXPECT_EQ(kid.execs[0].argv.at(0), Helper());
  ASSERT_EQ(kid.execs.size(), 1u);
  EXPECT_GE(kid.execs[0].at, kid.started);
  EXPECT_LE(kid.execs[0].at, o.processes[2].started);
  EXPECT_EQ(o.processes[2].forked_by, kid.pid);
}

// Each fork and exec comes right after a burst of lines: the lines before
// the event must be recorded before it, and the lines after it after it.
TEST_P(ObservedTest, EventsAreOrderedAfterUnreadLines) {
  for (int run = 0; run < 5; ++run) {
    Observation o = MustRun({Helper(), "burst"});
    ExpectConsistent(o);
    ASSERT_EQ(o.processes.size(), 6u);
    const ProcessRecord& root = o.processes[0];
    ASSERT_EQ(root.execs.size(), 2u);
    ASSERT_TRUE(root.exit && root.exit->exited() && root.exit->code() == 3);
    int before_fork = 0, before_exec = 0, children = 0;
    // A line is complete in the record that holds its newline, as the
    // checker takes it.
    std::map<pid_t, std::string> partial;
    for (const WriteRecord& w : o.writes) {
      std::string& text = partial[w.pid];
      text += w.data;
      size_t nl;
      while ((nl = text.find('\n')) != std::string::npos) {
        std::string line = text.substr(0, nl);
        text.erase(0, nl + 1);
        std::vector<std::string> f = absl::StrSplit(line, ' ');
        if (absl::StartsWith(line, "before fork ")) {
          int r = std::stoi(f[2]);
          ++before_fork;
          EXPECT_LT(w.at, o.processes[1 + r].started) << line << " (run " << run << ")";
        } else if (absl::StartsWith(line, "before exec ")) {
          ++before_exec;
          EXPECT_LT(w.at, root.execs[1].at) << line << " (run " << run << ")";
        } else if (absl::StartsWith(line, "child ")) {
          const ProcessRecord* kid = Find(o, w.pid);
          ASSERT_NE(kid, nullptr);
          ++children;
          EXPECT_GT(w.at, kid->started) << line;
          EXPECT_LE(w.at, *kid->ended) << line;
        }
      }
    }
    for (const auto& [pid, text] : partial) EXPECT_EQ(text, "") << pid;
    EXPECT_EQ(before_fork, 5 * 400);
    EXPECT_EQ(before_exec, 400);
    EXPECT_EQ(children, 5);
  }
}

TEST(TracerTest, UntracedFallbackCapturesText) {
  Observation o = MustRun({Helper(), "forks", "2"}, /*trace=*/false);
  EXPECT_FALSE(o.traced);
  EXPECT_NE(o.untraced_reason, "");
  EXPECT_EQ(o.processes[0].exit, WaitStatus::Exited(0));
  // The tree is unknown, but the sockets still name each write's process.
  std::map<pid_t, int> by;
  for (const auto& [pid, line] : Lines(o)) {
    ++by[pid];
    if (line.rfind("child ", 0) == 0) {
      EXPECT_EQ(PidIn(line, 1), pid) << line;
    }
    if (line.rfind("root ", 0) == 0) {
      EXPECT_EQ(pid, o.processes[0].pid) << line;
    }
  }
  EXPECT_EQ(by.size(), 3u);
  EXPECT_EQ(by[o.processes[0].pid], 3);
  EXPECT_EQ(std::count(o.stdout_bytes.begin(), o.stdout_bytes.end(), '\n'), 9);
  EXPECT_EQ(o.stderr_bytes, "done\n");
}

TEST(TracerTest, UntracedLeakIsKilled) {
  Observation o = MustRun({Helper(), "leak"}, /*trace=*/false);
  ASSERT_EQ(o.processes.size(), 2u);
  EXPECT_TRUE(o.processes[1].killed_by_runner);
  EXPECT_EQ(o.processes[1].exit, WaitStatus::Signaled(SIGKILL));
}

TEST(TracerTest, UntracedTimeoutKillsTheWholeTree) {
  Observation o = MustRun({Helper(), "hang"}, /*trace=*/false, absl::Milliseconds(500));
  EXPECT_TRUE(o.timed_out);
  EXPECT_GE(o.processes.size(), 2u);
}

// Where ptrace is refused (as in a locked-down container), the run goes on
// untraced and says why. The refusal is real: a seccomp filter in a child
// process makes ptrace fail with EPERM there, and that child calls Run().
TEST(TracerTest, PtraceRefusedFallsBackToUntraced) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  pid_t kid = ::fork();
  ASSERT_GE(kid, 0);
  if (kid == 0) {
    ::close(p[0]);
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ptrace, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof(filter) / sizeof(filter[0]), filter};
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) ::_exit(3);
    RunRequest req;
    req.observer = Observer::kPtrace;
    req.argv = {Helper(), "forks", "2"};
    req.timeout = absl::Seconds(60);
    absl::StatusOr<Observation> o = conformance::Run(req);
    std::string summary = !o.ok() ? std::string(o.status().message())
                                  : absl::StrCat(o->traced, "|", o->untraced_reason, "|", !o->writes.empty(), "|",
                                                 o->processes[0].exit->ToString(), "|", o->stderr_bytes);
    (void)!::write(p[1], summary.data(), summary.size());
    ::_exit(0);
  }
  ::close(p[1]);
  std::string summary;
  char buf[512];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof(buf))) > 0) summary.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int st = 0;
  ASSERT_EQ(::waitpid(kid, &st, 0), kid);
  EXPECT_EQ(WaitStatus::FromRaw(st), WaitStatus::Exited(0));
  EXPECT_EQ(summary, "0|ptrace(PTRACE_SEIZE) failed: Operation not permitted|1|exited with 0|done\n");
}

TEST_P(ObservedTest, NetworkIsIsolated) {
  RunRequest req;
  req.observer = GetParam();
  req.argv = {"nslookup", "-timeout=5", "www.python.org"};
  req.timeout = absl::Seconds(60);
  absl::StatusOr<Observation> o = conformance::Run(req);
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_TRUE(o->network_isolated) << "this test runs as root or with user namespaces";
  ASSERT_TRUE(o->processes[0].exit.has_value());
  EXPECT_NE(o->processes[0].exit, WaitStatus::Exited(0));
  EXPECT_LT(o->wall, absl::Seconds(20));
}

TEST(TracerTest, MissingProgramIsAnError) {
  RunRequest req;
  req.argv = {"/nonexistent/program"};
  absl::StatusOr<Observation> o = conformance::Run(req);
  EXPECT_EQ(o.status().code(), absl::StatusCode::kNotFound) << o.status();
  req.argv = {};
  EXPECT_EQ(conformance::Run(req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(ObservedTest, SeedForkPortChildWritesItsOwnLine) {
  Observation o = MustRun({Runfile("conformance/impls/mp/fork")});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 2u);
  pid_t parent = o.processes[0].pid, child = o.processes[1].pid;
  EXPECT_EQ(o.processes[1].forked_by, parent);
  std::vector<std::pair<pid_t, std::string>> lines = Lines(o);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], std::make_pair(parent, absl::StrCat("Process (", parent, ") start...\n")));
  std::map<pid_t, std::string> by;
  for (size_t i = 1; i < 3; ++i) by[lines[i].first] = lines[i].second;
  EXPECT_EQ(by[child], absl::StrCat("I am child process (", child, ") and my parent is ", parent, ".\n"));
  EXPECT_EQ(by[parent], absl::StrCat("I (", parent, ") just created a child process (", child, ").\n"));
}

TEST_P(ObservedTest, SeedProcessPortChildRunsBetweenStartAndEnd) {
  Observation o = MustRun({Runfile("conformance/impls/mp/process")});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 2u);
  pid_t parent = o.processes[0].pid, child = o.processes[1].pid;
  EXPECT_EQ(o.processes[1].forked_by, parent);
  EXPECT_EQ(o.processes[1].exit, WaitStatus::Exited(0));
  std::vector<std::pair<pid_t, std::string>> lines = Lines(o);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2], std::make_pair(child, absl::StrCat("Run child process test (", child, ")...\n")));
  EXPECT_EQ(lines[3], std::make_pair(parent, std::string("Child process end.\n")));
  EXPECT_LE(*o.processes[1].ended, o.writes.back().at);
}

TEST_P(ObservedTest, StressAttributesEveryLine) {
  Observation o = MustRun({Runfile("conformance/runner/testdata/fork_print_stress"), "20", "2000"});
  ExpectConsistent(o);
  EXPECT_EQ(o.processes.size(), 21u);
  std::map<pid_t, int> per;
  for (const auto& [pid, line] : Lines(o)) {
    const ProcessRecord* p = Find(o, pid);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->forked_by, o.processes[0].pid);
    // "process <i> line <k>": each process's lines arrive in its order.
    int k = static_cast<int>(PidIn(line, 3));
    EXPECT_EQ(k, per[pid]++) << line;
  }
  EXPECT_EQ(per.size(), 20u);
  for (const auto& [pid, n] : per) EXPECT_EQ(n, 100) << pid;
  for (const WriteRecord& w : o.writes) {
    const ProcessRecord* p = Find(o, w.pid);
    ASSERT_NE(p, nullptr);
    EXPECT_LE(w.at, *p->ended) << "a write recorded after its writer's end";
  }
}

// CPython's multiprocessing (threads, fork, pipes, semaphores) runs normally
// under the tracer: clone3 falls back to clone, and attribution is complete.
TEST_P(ObservedTest, CPythonPoolRunsTraced) {
  constexpr char kProgram[] = R"(
import os, multiprocessing
def task(i):
    print('task', i, os.getpid(), flush=True)
    return i * i
if __name__ == '__main__':
    print('parent', os.getpid(), flush=True)
    with multiprocessing.Pool(2) as p:
        print(sum(p.map(task, range(6))), flush=True)
)";
  Observation o = MustRun({"/usr/bin/python3", "-c", kProgram});
  ExpectConsistent(o);
  ASSERT_FALSE(o.processes.empty());
  EXPECT_EQ(o.processes[0].exit, WaitStatus::Exited(0)) << o.stderr_bytes;
  int tasks = 0;
  for (const auto& [pid, line] : Lines(o)) {
    if (line.rfind("task ", 0) != 0) continue;
    ++tasks;
    EXPECT_EQ(PidIn(line, 2), pid) << line;  // Each worker's line is its own.
    const ProcessRecord* worker = Find(o, pid);
    ASSERT_NE(worker, nullptr);
    EXPECT_EQ(worker->forked_by, o.processes[0].pid);
  }
  EXPECT_EQ(tasks, 6);
  EXPECT_NE(o.stdout_bytes.find("\n55\n"), std::string::npos) << o.stdout_bytes;
}

// The seed's communicate scenario: nslookup's stdout is a pipe to its
// parent, so only the parent writes to the capture; nslookup fails fast in
// the private network namespace, and its exit is observed.
TEST_P(ObservedTest, CPythonCommunicateWithNslookup) {
  constexpr char kProgram[] = R"(
import subprocess
print('$ nslookup', flush=True)
p = subprocess.Popen(['nslookup'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
output, err = p.communicate(b'set q=mx\npython.org\nexit\n')
print(output.decode('utf-8'), flush=True)
print('Exit code:', p.returncode, flush=True)
)";
  Observation o = MustRun({"/usr/bin/python3", "-c", kProgram});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 2u) << o.stderr_bytes;
  const ProcessRecord& ns = o.processes[1];
  EXPECT_EQ(ns.forked_by, o.processes[0].pid);
  ASSERT_FALSE(ns.execs.empty());
  EXPECT_EQ(ns.execs.back().argv.at(0), "nslookup");
  ASSERT_TRUE(ns.exit.has_value());
  for (const WriteRecord& w : o.writes) EXPECT_EQ(w.pid, o.processes[0].pid) << w.data;
  EXPECT_NE(o.stdout_bytes.find(absl::StrCat("Exit code: ", ns.exit->returncode(), "\n")),
            std::string::npos)
      << o.stdout_bytes;
  EXPECT_LT(o.wall, absl::Seconds(30));
}

TEST_P(ObservedTest, ForkBombHitsTheProcessCapAndIsKilled) {
  RunRequest req;
  req.observer = GetParam();
  req.argv = {Helper(), "forkbomb"};
  req.max_processes = 50;
  req.timeout = absl::Seconds(60);
  absl::StatusOr<Observation> o = conformance::Run(req);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->process_limit_exceeded);
  EXPECT_FALSE(o->timed_out);
  EXPECT_GT(o->processes.size(), 50u);
  for (const ProcessRecord& p : o->processes) {
    EXPECT_TRUE(p.killed_by_runner) << p.pid;
    // Reaped, so dead (its pid may already belong to someone else).
    EXPECT_TRUE(p.exit.has_value()) << p.pid;
  }
  EXPECT_TRUE(o->anomalies.size() == 1) << o->anomalies.back();
}

TEST_P(ObservedTest, OutputPastTheCapIsDrainedAndFlagged) {
  RunRequest req;
  req.observer = GetParam();
  req.argv = {Helper(), "bigout", "3000000"};
  req.max_output_bytes = 1000000;
  req.timeout = absl::Seconds(60);
  absl::StatusOr<Observation> o = conformance::Run(req);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->output_truncated);
  EXPECT_EQ(o->processes[0].exit, WaitStatus::Exited(0));
  EXPECT_EQ(o->stdout_bytes, std::string(1000000, 'z'));
  EXPECT_EQ(o->attribution_mismatch, "");
}

// Two processes' large writes may interleave in the capture (only writes of
// up to PIPE_BUF bytes are atomic); every piece still names its writer, and
// nothing is lost or invented.
TEST_P(ObservedTest, InterleavedLargeWritesKeepTheirWriters) {
  Observation o = MustRun({Helper(), "bigpair"});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 2u);
  EXPECT_EQ(o.processes[0].exit, WaitStatus::Exited(0));
  EXPECT_EQ(o.attribution_mismatch, "");
  EXPECT_TRUE(o.anomalies.empty()) << o.anomalies[0];
  std::map<pid_t, size_t> bytes;
  for (const WriteRecord& w : o.writes) {
    char expected = w.pid == o.processes[0].pid ? 'p' : 'c';
    EXPECT_EQ(w.data.find_first_not_of(expected), std::string::npos) << "pid " << w.pid;
    bytes[w.pid] += w.data.size();
  }
  EXPECT_EQ(bytes[o.processes[0].pid], 6000000u);
  EXPECT_EQ(bytes[o.processes[1].pid], 6000000u);
  EXPECT_EQ(o.stdout_bytes.size(), 12000000u);
}

TEST_P(ObservedTest, GroupStopAndContinueWork) {
  Observation o = MustRun({Helper(), "stopcont"});
  ExpectConsistent(o);
  EXPECT_EQ(o.stdout_bytes, "child stopped\nchild continued\nchild exited 7\n");
  ASSERT_EQ(o.processes.size(), 2u);
  EXPECT_EQ(o.processes[1].exit, WaitStatus::Exited(7));
}

INSTANTIATE_OBSERVED_TESTS();

}  // namespace
}  // namespace conformance
