#include "conformance/checker/checker.h"

#include <string>
#include <vector>

#include "conformance/checker/check_testing.h"
#include "gtest/gtest.h"

namespace conformance {
namespace {

using testing::Builder;
using testing::ReadRunfile;
using testing::Rules;
using testing::Scenario;

TEST(ReassembleTest, TornLinesAreReassembledPerProcess) {
  Builder b;
  b.W(17088, 1, "Run task 0 (17088)...").W(17089, 2, "Run task 1 (17089)...").W(17088, 3, "\n").W(17089, 4, "\n");
  std::vector<Line> lines = ReassembleLines(b.obs);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "Run task 0 (17088)...");
  EXPECT_EQ(lines[0].pid, 17088);
  EXPECT_TRUE(lines[0].torn);
  EXPECT_EQ(lines[1].text, "Run task 1 (17089)...");
  EXPECT_EQ(lines[1].pid, 17089);
  EXPECT_EQ(lines[1].pieces, 2);
}

TEST(ReassembleTest, SeveralLinesInOneWriteAndNoFinalNewline) {
  Builder b;
  b.W(5, 1, "a\nb\nc");
  std::vector<Line> lines = ReassembleLines(b.obs);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_FALSE(lines[1].torn);
  EXPECT_TRUE(lines[2].no_newline);
}

class TranscriptTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TranscriptTest, DocumentedTranscriptPassesTextRules) {
  Spec spec = Scenario(GetParam());
  Observation obs = ObservationFromTranscript(ReadRunfile("conformance/transcripts/" + GetParam() + ".txt"));
  Verdict v = Check(spec, obs, {.transcript = true});
  EXPECT_TRUE(v.pass()) << FormatVerdict(v);
  EXPECT_FALSE(v.not_checkable.empty());
}

INSTANTIATE_TEST_SUITE_P(Seed, TranscriptTest, ::testing::Values("fork", "process", "pool", "queue"));

TEST(CheckerTest, DocumentedTextFailsWithoutErrata) {
  Observation obs = ObservationFromTranscript(ReadRunfile("conformance/transcripts/process.txt"));
  Verdict v = Check(Scenario("process"), obs, {});
  EXPECT_FALSE(v.pass());
  EXPECT_EQ(Rules(v), (std::vector<std::string>{"golden output", "line end", "line will_start"}));
}

Builder GoodFork() {
  Builder b;
  b.Proc(100, 0, 0, 10).Proc(101, 100, 2, 9);
  b.W(100, 1, "Process (100) start...\n")
      .W(100, 3, "I (100) just created a child process (101).\n")
      .W(101, 4, "I am child process (101) and my parent is 100.\n");
  return b;
}

TEST(CheckerTest, TracedForkPasses) {
  Verdict v = Check(Scenario("fork"), GoodFork().obs, {});
  EXPECT_TRUE(v.pass()) << FormatVerdict(v);
  EXPECT_TRUE(v.not_checkable.empty());
  EXPECT_EQ(v.pids["child"], 101);
}

TEST(CheckerTest, ReportClipsAHugeLine) {
  // A hostile program's single line can be the whole 64 MiB output cap.
  Builder b;
  b.Proc(100, 0, 0, 10).W(100, 1, std::string(1 << 20, 'x'));
  Verdict v = Check(Scenario("fork"), b.obs, {});
  ASSERT_FALSE(v.pass());
  std::string report = FormatVerdict(v);
  EXPECT_NE(report.find("... (1048576 bytes in all)"), std::string::npos) << report.substr(0, 2000);
  EXPECT_LT(report.size(), size_t{8192});
}

TEST(CheckerTest, ChildLineWrittenByParentWithInventedPid) {
  Builder b;
  b.Proc(100, 0, 0, 10);
  b.W(100, 1, "Process (100) start...\n")
      .W(100, 3, "I (100) just created a child process (4242).\n")
      .W(100, 4, "I am child process (4242) and my parent is 100.\n");
  Verdict v = Check(Scenario("fork"), b.obs, {});
  EXPECT_EQ(Rules(v), (std::vector<std::string>{"line child by child", "process child is a process of this run"}))
      << FormatVerdict(v);
  EXPECT_NE(FormatVerdict(v).find("[pid 100] I am child process (4242)"), std::string::npos);
}

TEST(CheckerTest, ReportedParentMayNameTheReaperOnlyAfterTheForkerExited) {
  Builder b;
  b.Proc(100, 0, 0, 3).Proc(101, 100, 2, 9);
  b.W(100, 1, "Process (100) start...\n")
      .W(100, 2, "I (100) just created a child process (101).\n")
      .W(101, 4, "I am child process (101) and my parent is 999.\n");
  EXPECT_TRUE(Check(Scenario("fork"), b.obs, {}).pass()) << FormatVerdict(Check(Scenario("fork"), b.obs, {}));
  // Only the process it was reparented to (the runner, 999) is right.
  b.obs.writes.back().data = "I am child process (101) and my parent is 1.\n";
  Verdict v = Check(Scenario("fork"), b.obs, {});
  EXPECT_EQ(Rules(v), std::vector<std::string>{"reported-parent ppid of child"});
  EXPECT_NE(v.violations[0].message.find("pid 999 (the runner) reaps it"), std::string::npos) << v.violations[0].message;
  b.obs.writes.back().data = "I am child process (101) and my parent is 999.\n";
  b.obs.processes[0].ended = absl::Milliseconds(8);
  EXPECT_EQ(Rules(Check(Scenario("fork"), b.obs, {})), std::vector<std::string>{"reported-parent ppid of child"});
}

TEST(CheckerTest, MissingJoinFailsExitedBefore) {
  Builder b;
  b.Proc(100, 0, 0, 10).Proc(101, 100, 2, 9);
  b.W(100, 1, "Parent process 100.\n")
      .W(100, 2, "Child process will start.\n")
      .W(101, 3, "Run child process test (101)...\n")
      .W(100, 4, "Child process end.\n");
  EXPECT_EQ(Rules(Check(Scenario("process"), b.obs, {})), std::vector<std::string>{"exited child before end"});
}

TEST(CheckerTest, PoolTasksOverlappingOnOneWorkerFailSpan) {
  Builder b;
  b.Proc(1, 0, 0, 100);
  for (int w = 2; w <= 5; ++w) b.Proc(w, 1, 1, 30);
  b.W(1, 0, "Parent process 1.\n").W(1, 0, "Waiting for all subprocesses done...\n");
  b.W(2, 0, "Run task 0 (2)...\n").W(3, 0, "Run task 1 (3)...\n").W(4, 0, "Run task 2 (4)...\n");
  b.W(5, 0, "Run task 3 (5)...\n").W(4, 0, "Run task 4 (4)...\n");
  for (int i = 0; i < 5; ++i) b.W(i == 4 ? 4 : i + 2, 0, "Task " + std::to_string(i) + " runs 0.50 seconds.\n");
  b.W(1, 40, "All subprocesses done.\n");
  Verdict v = Check(Scenario("pool"), b.obs, {});
  // Each of the two overlapping spans is violated.
  EXPECT_EQ(Rules(v), (std::vector<std::string>{"span from run2 to took2 on w2", "span from run4 to took4 on w4"}))
      << FormatVerdict(v);
}

TEST(CheckerTest, PoolDurationOutOfRange) {
  Observation obs = ObservationFromTranscript(ReadRunfile("conformance/transcripts/pool.txt"));
  obs.writes[6].data = "Task 2 runs 9.14 seconds.\n";
  EXPECT_EQ(Rules(Check(Scenario("pool"), obs, {.transcript = true})), std::vector<std::string>{"line took2"});
}

TEST(CheckerTest, ExitCodeThatLiesFails) {
  Builder b;
  b.Proc(1, 0, 0, 10).Proc(2, 1, 1, 5, WaitStatus::Exited(1)).Exec("/usr/bin/nslookup", {"www.python.org"});
  b.W(1, 1, "$ nslookup www.python.org\n").W(2, 2, ";; connection timed out; no servers could be reached\n").W(2, 3, "\n");
  b.W(1, 6, "Exit code: 0\n");
  Verdict v = Check(Scenario("subprocess_call"), b.obs, {});
  EXPECT_EQ(Rules(v), std::vector<std::string>{"exit ns returncode code"}) << FormatVerdict(v);
  b.obs.writes.back().data = "Exit code: 1\n";
  EXPECT_TRUE(Check(Scenario("subprocess_call"), b.obs, {}).pass());
}

TEST(CheckerTest, ForeignOutputOutsideItsBlockFails) {
  Builder b;
  b.Proc(1, 0, 0, 10).Proc(2, 1, 1, 5, WaitStatus::Exited(1)).Exec("/usr/bin/nslookup");
  b.W(1, 1, "$ nslookup\n").W(1, 6, "Exit code: 1\n").W(1, 7, "stray\n");
  EXPECT_EQ(Rules(Check(Scenario("subprocess_communicate"), b.obs, {})),
            (std::vector<std::string>{"block answer by root after cmd before code at-least 1", "golden output"}));
}

TEST(CheckerTest, ReversedQueueFailsPrefixAndOrder) {
  Builder b;
  b.Proc(1, 0, 0, 10).Proc(2, 1, 1, 8).Proc(3, 1, 1, 9, WaitStatus::Signaled(15));
  b.W(2, 0, "Process to write: 2\n").W(3, 0, "Process to read: 3\n");
  b.W(2, 0, "Put A to queue..\n").W(2, 0, "Put B to queue..\n").W(2, 0, "Put C to queue..\n");
  b.W(3, 0, "Get C from queue\n").W(3, 0, "Get B from queue\n").W(3, 0, "Get A from queue\n");
  Verdict v = Check(Scenario("queue"), b.obs, {});
  EXPECT_EQ(Rules(v), std::vector<std::string>{"prefix get_A get_B get_C"}) << FormatVerdict(v);
}

// A timeout that killed the root ends the run's tree: one fault, reported
// by the timeout's rule; leftovers are what outlives the root's exit, so
// no-leftovers cannot be checked (and does not list the root).
TEST(CheckerTest, TimeoutThatKilledTheRootIsNotALeftover) {
  Builder b = GoodFork();
  for (int i : {0, 1}) {
    b.obs.processes[i].killed_by_runner = true;
    b.obs.processes[i].exit = WaitStatus::Signaled(SIGKILL);
  }
  b.obs.timed_out = true;
  Verdict v = Check(Scenario("fork"), b.obs, {});
  EXPECT_EQ(Rules(v), (std::vector<std::string>{"exit child code 0", "exit root code 0",
                                                "the run ends within its timeout"}))
      << FormatVerdict(v);
  EXPECT_NE(FormatVerdict(v).find("no-leftovers"), std::string::npos);
  EXPECT_NE(FormatVerdict(v).find("timed out before its root exited"), std::string::npos) << FormatVerdict(v);
}

// A timeout after the root exited (its leftovers kept the run going) still
// reports them.
TEST(CheckerTest, LeftoverAndTimeout) {
  Builder b = GoodFork();
  b.obs.processes[1].killed_by_runner = true;
  b.obs.processes[1].exit.reset();
  b.obs.timed_out = true;
  EXPECT_EQ(Rules(Check(Scenario("fork"), b.obs, {})),
            (std::vector<std::string>{"exit child code 0", "no-leftovers", "the run ends within its timeout"}));
}

}  // namespace
}  // namespace conformance

namespace conformance {
namespace {

// A text-only observation knows no writers: the report says so, where it
// printed "[pid 0]", a pid no process has.
TEST(CheckerTest, TextOnlyReportShowsNoWriterPid) {
  Verdict v = Check(Scenario("fork"), ObservationFromTranscript("stray line\n"), {});
  ASSERT_FALSE(v.pass());
  const std::string report = FormatVerdict(v);
  EXPECT_NE(report.find("#1 [pid ?] stray line"), std::string::npos) << report;
  EXPECT_EQ(report.find("[pid 0]"), std::string::npos) << report;
  Builder b = GoodFork();
  b.W(101, 5, "extra\n");
  EXPECT_NE(FormatVerdict(Check(Scenario("fork"), b.obs, {})).find("[pid 101] extra"), std::string::npos);
}

TEST(CheckerTest, TextOnlyRunSplitsLinesTornAcrossProcesses) {
  Observation obs;
  obs.traced = false;
  obs.untraced_reason = "no ptrace";
  obs.stdout_bytes =
      "Process to write: 7Process to read: 8\n\nPut A to queue..\nGet A from queue\nPut B to queue..\n"
      "Get B from queue\nPut C to queue..\nGet C from queue\n";
  Verdict v = Check(Scenario("queue"), obs, {});
  EXPECT_TRUE(v.pass()) << FormatVerdict(v);
  EXPECT_TRUE(v.lines[0].torn);
  EXPECT_EQ(v.lines[1].text, "Process to read: 8");
}

}  // namespace
}  // namespace conformance
