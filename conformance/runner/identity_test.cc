// What identifies a process in an Observation: what it executed (its
// ExecRecords: the path execve was asked to run, the binary that runs, the
// whole argv), not the argv[0] it chose; and the reaper an orphan reports
// as its parent. Each test runs under both observers.
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/tracer.h"
#include "conformance/runner/tracer_testing.h"
#include "gtest/gtest.h"

namespace conformance {
namespace {

using testing::ExpectConsistent;
using testing::Helper;
using testing::MustRun;
using testing::ObservedTest;

// The executable `path` resolves to, as /proc/<pid>/exe names it:
// "/usr/bin/dash" for /bin/sh.
std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? buf : path;
}

void ExpectBinary(const ExecRecord& e, const std::string& path) { EXPECT_EQ(e.binary, RealPath(path)); }

TEST_P(ObservedTest, ExecRecordsWhatRanNotWhatItCalledItself) {
  std::string script = absl::StrCat(std::getenv("TEST_TMPDIR"), "/script.sh");
  {
    std::ofstream f(script);
    f << "#!/bin/sh\necho script \"$@\"\n";
  }
  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);
  Observation o = MustRun({Helper(), "execs", script});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 4u);
  EXPECT_EQ(o.processes[0].execs.size(), 1u);
  const ProcessRecord& echo = o.processes[1];
  const ProcessRecord& sh = o.processes[2];
  const ProcessRecord& at = o.processes[3];

  // The failed exec left no record; the one that ran is named by its path.
  ASSERT_EQ(echo.execs.size(), 1u);
  EXPECT_EQ(echo.execs[0].path, "/bin/echo");
  ExpectBinary(echo.execs[0], "/bin/echo");
  EXPECT_EQ(echo.execs[0].argv, (std::vector<std::string>{"nslookup", "a b", "", "c"}));
  EXPECT_GE(echo.execs[0].at, echo.started);

  // A script: its own path, the shell as binary, and the arguments the
  // kernel gave the shell (interpreter, script, then the script's own).
  ASSERT_EQ(sh.execs.size(), 1u);
  EXPECT_EQ(sh.execs[0].path, script);
  ExpectBinary(sh.execs[0], "/bin/sh");
  EXPECT_EQ(sh.execs[0].argv, (std::vector<std::string>{"/bin/sh", script, "arg1"}));

  // execveat from a directory fd: the kernel's name for the file.
  size_t line = o.stdout_bytes.find("dirfd ");
  ASSERT_NE(line, std::string::npos) << o.stdout_bytes;
  std::string dirfd = o.stdout_bytes.substr(line, o.stdout_bytes.find('\n', line) - line);
  ASSERT_EQ(at.execs.size(), 1u);
  EXPECT_EQ(at.execs[0].path, absl::StrCat("/dev/fd/", dirfd.substr(6), "/echo"));
  ExpectBinary(at.execs[0], "/bin/echo");
  EXPECT_EQ(at.execs[0].argv, (std::vector<std::string>{"echo", "via execveat"}));

  EXPECT_EQ(o.stdout_bytes, absl::StrCat("a b  c\nscript arg1\n", dirfd, "\nvia execveat\n"));
}

// The root's own exec, and arguments past 4 KiB cut at 4 KiB.
TEST_P(ObservedTest, RootExecAndLongArgumentsAreRecorded) {
  std::vector<std::string> argv = {"/bin/echo"};
  for (int i = 0; i < 100; ++i) argv.push_back(std::string(99, static_cast<char>('a' + i % 26)));
  Observation o = MustRun(argv);
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 1u);
  ASSERT_EQ(o.processes[0].execs.size(), 1u);
  const ExecRecord& e = o.processes[0].execs[0];
  EXPECT_EQ(e.path, "/bin/echo");
  // 4096 bytes: "/bin/echo\0" (10) and 40 whole arguments of 100 bytes
  // (4000), then 86 bytes of the 41st.
  ASSERT_EQ(e.argv.size(), 42u);
  for (size_t i = 0; i < 41; ++i) EXPECT_EQ(e.argv[i], argv[i]);
  EXPECT_EQ(e.argv[41], argv[41].substr(0, 86));
}

// BPF builds the binary's path in the kernel, up to 40 directories deep;
// deeper, it gives the file name alone (ptrace, the full path).
TEST_P(ObservedTest, DeepBinaryIsNamedByItsFileName) {
  std::filesystem::path dir = std::getenv("TEST_TMPDIR");
  for (int i = 0; i < 45; ++i) dir /= "d";
  std::filesystem::create_directories(dir);
  std::filesystem::path echo = dir / "deep_echo";
  std::filesystem::copy_file(RealPath("/bin/echo"), echo, std::filesystem::copy_options::overwrite_existing);
  Observation o = MustRun({echo.string(), "hi"});
  ExpectConsistent(o);
  ASSERT_EQ(o.processes[0].execs.size(), 1u);
  const ExecRecord& e = o.processes[0].execs[0];
  EXPECT_EQ(e.path, echo.string());
  EXPECT_EQ(e.binary, testing::CurrentObserver() == Observer::kBpf ? "deep_echo" : RealPath(echo.string()));
  EXPECT_EQ(o.stdout_bytes, "hi\n");
}

TEST_P(ObservedTest, AnOrphanReportsTheReaperAsItsParent) {
  RunRequest req;
  req.argv = {Helper(), "orphan"};
  req.leak_grace = absl::Seconds(20);
  req.timeout = absl::Seconds(60);
  Observation o = MustRun(req);
  ExpectConsistent(o);
  ASSERT_EQ(o.processes.size(), 2u);
  EXPECT_EQ(o.reaper, ::getpid());
  EXPECT_EQ(o.processes[1].forked_by, o.processes[0].pid);
  EXPECT_EQ(o.stdout_bytes, absl::StrCat("orphan ", o.processes[1].pid, " parent ", o.reaper, "\n"));
  ASSERT_EQ(o.writes.size(), 1u);
  EXPECT_EQ(o.writes[0].pid, o.processes[1].pid);
}

INSTANTIATE_OBSERVED_TESTS();

}  // namespace
}  // namespace conformance
