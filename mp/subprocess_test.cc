#include "mp/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "mp/errors.h"
#include "mp/testing/refused_syscalls.h"

namespace mp::subprocess {
namespace {

std::string Child() {
  return absl::StrCat(std::getenv("TEST_SRCDIR"), "/mp/mp/testing/subprocess_child");
}

std::string TmpDir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

RunOptions Capture() { return RunOptions{.capture_output = true}; }

// --- Run, Call, CheckCall, CheckOutput ---------------------------------------

TEST(RunTest, CapturesStdoutAndStderr) {
  absl::StatusOr<CompletedProcess> r =
      subprocess::Run({"sh", "-c", "echo out; echo err >&2; exit 3"}, Capture());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->returncode, 3);
  EXPECT_EQ(r->std_out, "out\n");
  EXPECT_EQ(r->std_err, "err\n");
  EXPECT_EQ(r->args, (std::vector<std::string>{"sh", "-c", "echo out; echo err >&2; exit 3"}));
}

TEST(RunTest, InputGoesToStdin) {
  absl::StatusOr<CompletedProcess> r =
      subprocess::Run({"tr", "a-z", "A-Z"}, {.input = "hello", .capture_output = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "HELLO");
}

TEST(RunTest, TextModeDecodesOutputAndEncodesInput) {
  // Python: run(..., text=True) / encoding=...: str out, universal newlines.
  RunOptions o = Capture();
  o.popen.text = true;
  o.input = "x\xc3\xa9";
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"sh", "-c", "printf 'a\\r\\nb\\r'; cat"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "a\nb\nx\xc3\xa9");
  o.popen.text = false;
  o.popen.encoding = "latin-1";
  r = subprocess::Run({"cat"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "x\xc3\xa9") << "encoded to latin-1 and back";
  o.popen.encoding = "ascii";
  EXPECT_TRUE(Is(subprocess::Run({"cat"}, o).status(), PyExc::kUnicodeEncodeError));
}

TEST(RunTest, CheckTurnsNonZeroIntoCalledProcessError) {
  absl::StatusOr<CompletedProcess> r =
      subprocess::Run({"sh", "-c", "echo so far; echo bad >&2; exit 2"},
          {.capture_output = true, .check = true});
  ASSERT_TRUE(Is(r.status(), PyExc::kCalledProcessError)) << r.status();
  EXPECT_EQ(r.status().message(),
            "CalledProcessError: Command '['sh', '-c', 'echo so far; echo bad >&2; exit 2']' "
            "returned non-zero exit status 2.");
  std::optional<SubprocessErrorInfo> info = GetSubprocessErrorInfo(r.status());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->returncode, 2);
  EXPECT_EQ(info->output, "so far\n");
  EXPECT_EQ(info->std_err, "bad\n");
  EXPECT_EQ(info->cmd.size(), 3u);
}

TEST(RunTest, CheckReportsDeathBySignal) {
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"sh", "-c", "kill -9 $$"}, {.check = true});
  ASSERT_TRUE(Is(r.status(), PyExc::kCalledProcessError)) << r.status();
  EXPECT_EQ(r.status().message(),
            "CalledProcessError: Command '['sh', '-c', 'kill -9 $$']' died with "
            "<Signals.SIGKILL: 9>.");
  EXPECT_EQ(GetSubprocessErrorInfo(r.status())->returncode, -9);
}

TEST(RunTest, InputWithStdinSetIsValueError) {
  RunOptions o{.input = "x"};
  o.popen.std_in = kDevNull;
  EXPECT_TRUE(Is(subprocess::Run({"true"}, o).status(), PyExc::kValueError));
}

TEST(RunTest, CaptureOutputWithStdoutSetIsValueError) {
  RunOptions o{.capture_output = true};
  o.popen.std_out = kDevNull;
  EXPECT_TRUE(Is(subprocess::Run({"true"}, o).status(), PyExc::kValueError));
}

TEST(RunTest, EmptyArgsIsValueError) {
  EXPECT_TRUE(Is(subprocess::Run({}).status(), PyExc::kValueError));
}

TEST(CallTest, ReturnsReturncode) {
  absl::StatusOr<int> rc = Call({"sh", "-c", "exit 7"});
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(*rc, 7);
}

TEST(CallTest, TimeoutKillsTheChild) {
  absl::Time start = absl::Now();
  absl::StatusOr<int> rc = Call({"sleep", "30"}, {}, absl::Milliseconds(100));
  EXPECT_TRUE(Is(rc.status(), PyExc::kTimeoutExpired)) << rc.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(CheckCallTest, NonZeroIsCalledProcessError) {
  EXPECT_TRUE(CheckCall({"true"}).ok());
  absl::Status s = CheckCall({"false"});
  ASSERT_TRUE(Is(s, PyExc::kCalledProcessError)) << s;
  EXPECT_EQ(GetSubprocessErrorInfo(s)->returncode, 1);
}

TEST(CheckOutputTest, ReturnsStdout) {
  absl::StatusOr<std::string> out = CheckOutput({"echo", "hi"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "hi\n");
  absl::StatusOr<std::string> in = CheckOutput({"cat"}, {}, "fed");
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(*in, "fed");
}

TEST(CheckOutputTest, FailureCarriesOutput) {
  absl::StatusOr<std::string> out = CheckOutput({"sh", "-c", "echo partial; exit 4"});
  ASSERT_TRUE(Is(out.status(), PyExc::kCalledProcessError)) << out.status();
  EXPECT_EQ(GetSubprocessErrorInfo(out.status())->output, "partial\n");
  EXPECT_EQ(GetSubprocessErrorInfo(out.status())->returncode, 4);
}

TEST(CompletedProcessTest, CheckReturncode) {
  EXPECT_TRUE((CompletedProcess{{"x"}, 0}.CheckReturncode().ok()));
  EXPECT_TRUE((Is(CompletedProcess{{"x"}, 1}.CheckReturncode(), PyExc::kCalledProcessError)));
}

// --- exec failures -----------------------------------------------------------

TEST(ExecTest, MissingProgramIsFileNotFoundError) {
  absl::StatusOr<Popen> p = Popen::Start({"mp_no_such_program_xyz"});
  ASSERT_TRUE(Is(p.status(), PyExc::kFileNotFoundError)) << p.status();
  EXPECT_EQ(p.status().message(),
            "FileNotFoundError: [Errno 2] No such file or directory: 'mp_no_such_program_xyz'");
}

TEST(ExecTest, NonExecutableFileIsPermissionError) {
  std::string path = TmpDir() + "/not_executable";
  { std::ofstream(path) << "#!/bin/sh\necho no\n"; }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  absl::StatusOr<Popen> p = Popen::Start({path});
  ASSERT_TRUE(Is(p.status(), PyExc::kPermissionError)) << p.status();
  EXPECT_EQ(p.status().message(),
            absl::StrCat("PermissionError: [Errno 13] Permission denied: '", path, "'"));
}

TEST(ExecTest, PathSearchSkipsNonExecutableAndReportsEacces) {
  // As execvp: a non-executable match is remembered, a later real one wins.
  std::string dir = TmpDir() + "/pathdir";
  ::mkdir(dir.c_str(), 0755);
  { std::ofstream(dir + "/true") << "x"; }
  ::chmod((dir + "/true").c_str(), 0644);
  Options o;
  o.extra_env["PATH"] = dir + ":/usr/bin:/bin";
  absl::StatusOr<int> rc = Call({"true"}, o);
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(*rc, 0);
  o.extra_env["PATH"] = dir;
  EXPECT_TRUE(Is(Call({"true"}, o).status(), PyExc::kPermissionError));
}

TEST(ExecTest, BadCwdIsFileNotFoundErrorNamingCwd) {
  absl::StatusOr<Popen> p = Popen::Start({"true"}, {.cwd = "/mp/no/such/dir"});
  ASSERT_TRUE(Is(p.status(), PyExc::kFileNotFoundError)) << p.status();
  EXPECT_EQ(p.status().message(),
            "FileNotFoundError: [Errno 2] No such file or directory: '/mp/no/such/dir'");
}

TEST(ExecTest, NoShellUnlessAsked) {
  EXPECT_TRUE(Is(subprocess::Run({"echo hi | tr a-z A-Z"}).status(), PyExc::kFileNotFoundError));
  RunOptions o = Capture();
  o.popen.shell = true;
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"echo hi | tr a-z A-Z"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "HI\n");
}

TEST(ExecTest, ShellExtraArgsArePositional) {
  RunOptions o = Capture();
  o.popen.shell = true;
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"echo $0 $1", "a", "b"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "a b\n");
}

TEST(ExecTest, ExecutableReplacesProgramButNotArgv0) {
  RunOptions o = Capture();
  o.popen.executable = "/bin/sh";
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"custom-name", "-c", "echo $0"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "custom-name\n");
}

TEST(ExecTest, PreexecFnRunsInTheChild) {
  RunOptions o = Capture();
  o.popen.preexec_fn = [] { (void)!::write(1, "pre\n", 4); };
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"echo", "post"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "pre\npost\n");
}

TEST(ExecTest, FullForkPathReportsExecFailureToo) {
  Options o;
  o.preexec_fn = [] {};
  absl::StatusOr<Popen> p = Popen::Start({"mp_no_such_program_xyz"}, o);
  EXPECT_TRUE(Is(p.status(), PyExc::kFileNotFoundError)) << p.status();
  o.cwd = "/mp/no/such/dir";
  p = Popen::Start({"true"}, o);
  EXPECT_TRUE(Is(p.status(), PyExc::kFileNotFoundError)) << p.status();
}

TEST(ExecTest, PreexecFnThatThrowsIsSubprocessErrorInParent) {
  // CPython: SubprocessError("Exception occurred in preexec_fn."), and the
  // child never runs the caller's code.
  const pid_t self = ::getpid();
  Options o;
  o.preexec_fn = [] { throw std::runtime_error("no"); };
  absl::StatusOr<Popen> p = Popen::Start({"true"}, o);
  if (::getpid() != self) ::_exit(99);  // A child unwound into this test.
  EXPECT_TRUE(Is(p.status(), PyExc::kSubprocessError)) << p.status();
  EXPECT_EQ(p.status().message(), "SubprocessError: Exception occurred in preexec_fn.");
}

// --- stdio -------------------------------------------------------------------

TEST(StdioTest, DevNull) {
  RunOptions o = Capture();
  o.capture_output = false;
  o.popen.std_in = kDevNull;
  o.popen.std_out = kPipe;
  o.popen.std_err = kDevNull;
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"sh", "-c", "cat; echo e >&2; echo done"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "done\n");
  EXPECT_EQ(r->std_err, "");
}

TEST(StdioTest, StderrToStdout) {
  RunOptions o;
  o.popen.std_out = kPipe;
  o.popen.std_err = kStdout;
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"sh", "-c", "echo a; echo b >&2; echo c"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "a\nb\nc\n");
}

TEST(StdioTest, StdoutIsOnlyForStderr) {
  EXPECT_TRUE(Is(Popen::Start({"true"}, {.std_out = kStdout}).status(), PyExc::kValueError));
  EXPECT_TRUE(Is(Popen::Start({"true"}, {.std_out = Fd(-2)}).status(), PyExc::kValueError));
}

TEST(StdioTest, ExplicitFds) {
  std::string in_path = TmpDir() + "/in", out_path = TmpDir() + "/out";
  { std::ofstream(in_path) << "from file\n"; }
  int in = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(in, 0);
  ASSERT_GE(out, 0);
  absl::StatusOr<int> rc = Call({"cat"}, {.std_in = Fd(in), .std_out = Fd(out)});
  ::close(in);
  ::close(out);
  ASSERT_TRUE(rc.ok()) << rc.status();
  std::ifstream f(out_path);
  std::string got((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "from file\n");
}

TEST(StdioTest, SwappedLowFdsDoNotClobberEachOther) {
  // stdout goes to our fd 2 and stderr to our fd 1: a naive dup2 order would
  // send both to the same place.
  int saved1 = ::dup(1), saved2 = ::dup(2);
  int p1[2], p2[2];
  ASSERT_EQ(::pipe2(p1, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(p2, O_CLOEXEC), 0);
  ::dup2(p1[1], 1);
  ::dup2(p2[1], 2);
  absl::StatusOr<int> rc = Call({"sh", "-c", "echo to-out; echo to-err >&2"},
                                {.std_out = Fd(2), .std_err = Fd(1)});
  ::dup2(saved1, 1);
  ::dup2(saved2, 2);
  ::close(saved1);
  ::close(saved2);
  ::close(p1[1]);
  ::close(p2[1]);
  ASSERT_TRUE(rc.ok()) << rc.status();
  char b1[64] = {}, b2[64] = {};
  (void)!::read(p1[0], b1, sizeof b1 - 1);
  (void)!::read(p2[0], b2, sizeof b2 - 1);
  ::close(p1[0]);
  ::close(p2[0]);
  EXPECT_STREQ(b1, "to-err\n");  // Our fd 1 got the child's stderr.
  EXPECT_STREQ(b2, "to-out\n");
}

TEST(StdioTest, PipeFdsAreExposed) {
  absl::StatusOr<Popen> p = Popen::Start({"cat"}, {.std_in = kPipe, .std_out = kPipe});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GE(p->stdin_fd(), 0);
  EXPECT_GE(p->stdout_fd(), 0);
  EXPECT_EQ(p->stderr_fd(), -1);
  ASSERT_EQ(::write(p->stdin_fd(), "x", 1), 1);
  absl::StatusOr<Output> out = p->Communicate();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->std_out, "x");
}

// --- large data --------------------------------------------------------------

constexpr size_t k64MiB = 64u << 20;

TEST(LargeTest, SixtyFourMiBThroughCatBothWays) {
  std::string input(k64MiB, '\0');
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<char>(i * 131 + (i >> 12));
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"cat"}, {.input = input, .capture_output = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out.size(), input.size());
  EXPECT_TRUE(r->std_out == input);
}

TEST(LargeTest, SixtyFourMiBOnStdoutAndStderrInterleaved) {
  absl::StatusOr<CompletedProcess> r =
      subprocess::Run({Child(), "both", absl::StrCat(k64MiB)}, Capture());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->returncode, 0);
  EXPECT_EQ(r->std_out.size(), k64MiB);
  EXPECT_EQ(r->std_err.size(), k64MiB);
}

TEST(LargeTest, ChildThatStopsReadingIsNotAnError) {
  // EPIPE on stdin is ignored, and no SIGPIPE kills us.
  absl::StatusOr<CompletedProcess> r =
      subprocess::Run({"head", "-c", "10"}, {.input = std::string(k64MiB, 'a'), .capture_output = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "aaaaaaaaaa");
}

// --- timeouts ----------------------------------------------------------------

TEST(TimeoutTest, RunKillsChildAndKeepsOutputSoFar) {
  RunOptions o = Capture();
  o.timeout = absl::Milliseconds(300);
  absl::StatusOr<CompletedProcess> r =
      subprocess::Run({"sh", "-c", "echo partial; echo e >&2; exec sleep 30"}, o);
  ASSERT_TRUE(Is(r.status(), PyExc::kTimeoutExpired)) << r.status();
  EXPECT_EQ(r.status().message(),
            "TimeoutExpired: Command '['sh', '-c', 'echo partial; echo e >&2; exec sleep 30']' "
            "timed out after 0.3 seconds");
  std::optional<SubprocessErrorInfo> info = GetSubprocessErrorInfo(r.status());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->output, "partial\n");
  EXPECT_EQ(info->std_err, "e\n");
  EXPECT_DOUBLE_EQ(info->timeout_seconds, 0.3);
}

TEST(TimeoutTest, GrandchildHoldingThePipeDoesNotHangRun) {
  // bpo-37424: CPython waits for EOF that the grandchild never sends.
  RunOptions o = Capture();
  o.timeout = absl::Milliseconds(300);
  absl::Time start = absl::Now();
  absl::StatusOr<CompletedProcess> r =
      subprocess::Run({"sh", "-c", "sleep 20 & echo partial; exec sleep 30"}, o);
  ASSERT_TRUE(Is(r.status(), PyExc::kTimeoutExpired)) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(GetSubprocessErrorInfo(r.status())->output, "partial\n");
}

TEST(TimeoutTest, RunWithTimeoutWaitsForTheChildWhereThereIsNoPidfd) {
  // CPython's run(timeout=...) waits by polling where it must; the child is
  // not killed for want of a pidfd.
  int failed = mp::testing::WithoutPidfd([] {
    absl::StatusOr<CompletedProcess> r =
        subprocess::Run({"sh", "-c", "sleep 0.2; exit 3"}, {.timeout = absl::Seconds(30)});
    return r.ok() && r->returncode == 3 ? 0 : 1;
  });
  EXPECT_EQ(failed, 0);
}

bool GoneOrZombie(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return true;
  size_t close = line.rfind(')');
  return close != std::string::npos && line.size() > close + 2 && line[close + 2] == 'Z';
}

TEST(TimeoutTest, NewSessionTimeoutKillsTheWholeGroup) {
  RunOptions o = Capture();
  o.timeout = absl::Milliseconds(300);
  o.popen.start_new_session = true;
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"sh", "-c", "sleep 30 & echo $!; wait"}, o);
  ASSERT_TRUE(Is(r.status(), PyExc::kTimeoutExpired)) << r.status();
  int grandchild = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(GetSubprocessErrorInfo(r.status())->output),
                               &grandchild));
  absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!GoneOrZombie(grandchild) && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_TRUE(GoneOrZombie(grandchild));
}

// --- other options -----------------------------------------------------------

std::string Fds(Options o) {
  RunOptions r{.popen = std::move(o)};
  r.popen.std_out = kPipe;
  absl::StatusOr<CompletedProcess> done = subprocess::Run({Child(), "fds"}, r);
  return done.ok() ? done->std_out : std::string(done.status().message());
}

TEST(OptionsTest, CloseFdsAndPassFds) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);  // Inheritable on purpose.
  int cloexec = ::fcntl(p[0], F_DUPFD_CLOEXEC, 20);
  EXPECT_EQ(Fds({}), "0 1 2\n");
  std::string inherited = Fds({.close_fds = false});
  EXPECT_NE(inherited.find(absl::StrCat(" ", p[0], " ", p[1])), std::string::npos) << inherited;
  EXPECT_EQ(inherited.find(absl::StrCat(" ", cloexec)), std::string::npos) << inherited;
  EXPECT_EQ(Fds({.pass_fds = {p[1], cloexec}}), absl::StrCat("0 1 2 ", p[1], " ", cloexec, "\n"));
  EXPECT_TRUE(Is(Popen::Start({"true"}, {.pass_fds = {2}}).status(), PyExc::kValueError));
  ::close(p[0]);
  ::close(p[1]);
  ::close(cloexec);
}

TEST(OptionsTest, EnvReplace) {
  RunOptions o = Capture();
  o.popen.env = std::map<std::string, std::string>{{"A", "1"}, {"B", "two words"}};
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"/usr/bin/env"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "A=1\nB=two words\n");
}

TEST(OptionsTest, EnvExtendKeepsTheRest) {
  ::setenv("MP_SUBPROCESS_TEST_KEEP", "kept", 1);
  RunOptions o = Capture();
  o.popen.extra_env = {{"MP_SUBPROCESS_TEST_NEW", "new"}};
  absl::StatusOr<CompletedProcess> r =
      subprocess::Run({"sh", "-c", "echo $MP_SUBPROCESS_TEST_KEEP $MP_SUBPROCESS_TEST_NEW"}, o);
  ::unsetenv("MP_SUBPROCESS_TEST_KEEP");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "kept new\n");
}

TEST(OptionsTest, PathComesFromTheChildEnv) {
  Options o;
  o.env = std::map<std::string, std::string>{{"PATH", "/mp/nowhere"}};
  EXPECT_TRUE(Is(Popen::Start({"true"}, o).status(), PyExc::kFileNotFoundError));
}

TEST(OptionsTest, Cwd) {
  RunOptions o = Capture();
  o.popen.cwd = "/";
  absl::StatusOr<CompletedProcess> r = subprocess::Run({"pwd"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "/\n");
}

TEST(OptionsTest, Umask) {
  RunOptions o = Capture();
  o.popen.umask = 027;
  absl::StatusOr<CompletedProcess> r = subprocess::Run({Child(), "umask"}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "0027\n");
}

// The signals a child ignores, from its /proc/self/status (grep's own:
// grep changes no disposition); 0 if that could not be read.
uint64_t ChildIgnoredSignals(Options o) {
  RunOptions r{.popen = std::move(o), .capture_output = true};
  absl::StatusOr<CompletedProcess> done = subprocess::Run({"grep", "^SigIgn:", "/proc/self/status"}, r);
  uint64_t mask = 0;
  if (!done.ok() || !absl::SimpleHexAtoi(absl::StripAsciiWhitespace(absl::StripPrefix(done->std_out, "SigIgn:")), &mask)) {
    ADD_FAILURE() << "no SigIgn line: " << (done.ok() ? done->std_out : done.status().ToString());
  }
  return mask;
}

// CPython's restore_signals=True: a child gets SIGPIPE and SIGXFSZ back at
// their defaults though this process ignores them (both spawn paths: the
// shared-memory clone, and the full fork a preexec_fn forces); other
// ignored signals, and everything with restore_signals=false, pass on.
TEST(OptionsTest, RestoreSignalsGivesTheChildDefaultSigpipeAndSigxfsz) {
  struct sigaction ign = {}, old_pipe, old_xfsz, old_usr2;
  ign.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ign, &old_pipe), 0);
  ASSERT_EQ(::sigaction(SIGXFSZ, &ign, &old_xfsz), 0);
  ASSERT_EQ(::sigaction(SIGUSR2, &ign, &old_usr2), 0);
  auto bit = [](int sig) { return uint64_t{1} << (sig - 1); };
  const uint64_t restored = ChildIgnoredSignals({});
  const uint64_t restored_forked = ChildIgnoredSignals({.preexec_fn = [] {}});
  const uint64_t kept = ChildIgnoredSignals({.restore_signals = false});
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::sigaction(SIGXFSZ, &old_xfsz, nullptr);
  ::sigaction(SIGUSR2, &old_usr2, nullptr);
  for (uint64_t mask : {restored, restored_forked}) {
    EXPECT_EQ(mask & bit(SIGPIPE), 0u) << std::hex << mask;
    EXPECT_EQ(mask & bit(SIGXFSZ), 0u) << std::hex << mask;
    EXPECT_NE(mask & bit(SIGUSR2), 0u) << "only SIGPIPE and SIGXFSZ are restored: " << std::hex << mask;
  }
  EXPECT_NE(kept & bit(SIGPIPE), 0u) << std::hex << kept;
  EXPECT_NE(kept & bit(SIGXFSZ), 0u) << std::hex << kept;
}

std::vector<int> Sid(Options o) {
  RunOptions r{.popen = std::move(o), .capture_output = true};
  absl::StatusOr<CompletedProcess> done = subprocess::Run({Child(), "sid"}, r);
  std::vector<int> v;
  if (!done.ok()) return v;
  for (absl::string_view s : absl::StrSplit(absl::StripAsciiWhitespace(done->std_out), ' ')) {
    int n = 0;
    if (absl::SimpleAtoi(s, &n)) v.push_back(n);
  }
  return v;
}

TEST(OptionsTest, StartNewSession) {
  std::vector<int> v = Sid({.start_new_session = true});
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[1], v[0]);  // Session leader.
  EXPECT_EQ(v[2], v[0]);
  std::vector<int> plain = Sid({});
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_EQ(plain[1], ::getsid(0));
  EXPECT_EQ(plain[2], ::getpgid(0));
}

TEST(OptionsTest, ProcessGroup) {
  std::vector<int> v = Sid({.process_group = 0});
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[2], v[0]);  // Group leader...
  EXPECT_EQ(v[1], ::getsid(0));  // ...in our session.
}

// --- EINTR -------------------------------------------------------------------

std::atomic<int> alarms{0};
void OnAlarm(int) { alarms.fetch_add(1); }

class EintrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct sigaction sa = {};
    sa.sa_handler = OnAlarm;  // No SA_RESTART: calls fail with EINTR.
    ASSERT_EQ(::sigaction(SIGALRM, &sa, &old_), 0);
    struct itimerval t = {{0, 2000}, {0, 2000}};
    ASSERT_EQ(::setitimer(ITIMER_REAL, &t, nullptr), 0);
  }
  void TearDown() override {
    struct itimerval off = {};
    ::setitimer(ITIMER_REAL, &off, nullptr);
    ::sigaction(SIGALRM, &old_, nullptr);
  }
  struct sigaction old_;
};

TEST_F(EintrTest, CommunicateAndWaitSurviveSignals) {
  int before = alarms.load();
  absl::StatusOr<CompletedProcess> r =
      subprocess::Run({"sh", "-c", "sleep 0.3; echo done"}, {.input = "x", .capture_output = true,
                                                .timeout = absl::Seconds(60)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_out, "done\n");
  absl::StatusOr<Popen> p = Popen::Start({"sleep", "0.3"});
  ASSERT_TRUE(p.ok());
  absl::StatusOr<int> rc = p->Wait();
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(*rc, 0);
  absl::StatusOr<CompletedProcess> big =
      subprocess::Run({"cat"}, {.input = std::string(8u << 20, 'z'), .capture_output = true});
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->std_out.size(), 8u << 20);
  // The timer fires every 2 ms for over 0.6 s. TSan defers and merges
  // signals, so only a few reach the handler there (none, before the child
  // stopped calling TSan's sigaction interceptor on the shared memory).
  EXPECT_GT(alarms.load() - before, 0) << "too few signals to show anything";
}

}  // namespace
}  // namespace mp::subprocess
