// How names are bound to processes, and what happens to rules about a name
// nothing binds (issue 14, defects 1 and 3). Each test here failed on
// 748d695: rules about an unbound name were skipped silently, and identical
// lines were matched without regard to who wrote them.

#include <csignal>
#include <string>
#include <vector>

#include "conformance/checker/check_testing.h"
#include "conformance/checker/checker.h"
#include "gtest/gtest.h"

namespace conformance {
namespace {

using testing::Builder;
using testing::Rules;
using testing::Scenario;
using testing::SpecOf;

// The seed's queue, written correctly by processes 1 (root), 2 (writer) and
// 3 (reader, terminated).
Builder GoodQueue(WaitStatus root_exit = WaitStatus::Exited(0)) {
  Builder b;
  b.Proc(1, 0, 0, 20, root_exit).Proc(2, 1, 1, 10).Proc(3, 1, 1, 15, WaitStatus::Signaled(SIGTERM));
  b.W(2, 0, "Process to write: 2\n").W(3, 0, "Process to read: 3\n");
  for (const char* v : {"A", "B", "C"}) {
    b.W(2, 0, std::string("Put ") + v + " to queue..\n").W(3, 0, std::string("Get ") + v + " from queue\n");
  }
  return b;
}

TEST(BindingTest, IsRootBindsTheRootSoItsExitIsChecked) {
  EXPECT_TRUE(Check(Scenario("queue"), GoodQueue().obs, {}).pass());
  // The queue program never prints the root's pid; `exit root code 0` used to be skipped.
  Verdict v = Check(Scenario("queue"), GoodQueue(WaitStatus::Exited(4)).obs, {});
  EXPECT_EQ(Rules(v), std::vector<std::string>{"exit root code 0"}) << FormatVerdict(v);
  EXPECT_NE(v.violations[0].message.find("root (pid 1) exited with 4; expected exited with 0"), std::string::npos)
      << v.violations[0].message;
}

TEST(BindingTest, CommunicateByAGrandchildShellFailsEveryRuleItBreaks) {
  // The root (1) exits 7; a shell (2) runs nslookup (3) and prints the exit code itself.
  Builder b;
  b.Proc(1, 0, 0, 20, WaitStatus::Exited(7)).Exec("/usr/bin/sh");
  b.Proc(2, 1, 1, 15).Exec("/usr/bin/sh");
  b.Proc(3, 2, 2, 8, WaitStatus::Exited(1)).Exec("/usr/bin/nslookup");
  b.W(1, 1, "$ nslookup\n").W(2, 9, ";; connection timed out\n").W(2, 10, "Exit code: 1\n");
  Verdict v = Check(Scenario("subprocess_communicate"), b.obs, {});
  // The shell's lines are not the root's: no block takes them (golden output),
  // and the root printed none of nslookup's answer (the block's minimum).
  EXPECT_EQ(Rules(v), (std::vector<std::string>{"block answer by root after cmd before code at-least 1",
                                                "exit root code 0", "golden output", "line code by root",
                                                "process ns child of root"}))
      << FormatVerdict(v);
}

TEST(BindingTest, ExitOfTheRootIsCheckedInAUsersSpec) {
  Spec spec = SpecOf("spec 2\nscenario t\nprocess root is root\nline a \"hello\"\nexit root code 1\n");
  Builder b;
  b.Proc(50, 0, 0, 5, WaitStatus::Exited(3)).W(50, 1, "hello\n");
  EXPECT_EQ(Rules(Check(spec, b.obs, {})), std::vector<std::string>{"exit root code 1"});
  b.obs.processes[0].exit = WaitStatus::Exited(1);
  EXPECT_TRUE(Check(spec, b.obs, {}).pass());
}

TEST(BindingTest, ARuleAboutANameNothingBindsIsViolatedWithTheReason) {
  Spec spec = SpecOf(R"(spec 2
scenario t
process root is root
process reader child of root
line a by root "hi"
exit reader code 0
)");
  Builder b;
  b.Proc(50, 0, 0, 5).Proc(51, 50, 1, 4).W(50, 2, "hi\n");
  Verdict v = Check(spec, b.obs, {});
  EXPECT_EQ(Rules(v), (std::vector<std::string>{"exit reader code 0", "process reader child of root"}))
      << FormatVerdict(v);
  for (const Violation& x : v.violations) {
    EXPECT_NE(x.message.find("`reader` was never bound: no process matched"), std::string::npos) << x.message;
  }
}

TEST(BindingTest, OnATranscriptARuleAboutAnUnboundNameIsNotCheckableWithTheReason) {
  Spec spec = SpecOf("spec 2\nscenario t\nprocess kid\nprocess x\nline a \"{pid kid}\"\ndistinct kid x\n");
  Verdict v = Check(spec, ObservationFromTranscript("42\n"), {.transcript = true});
  EXPECT_TRUE(v.pass()) << FormatVerdict(v);
  ASSERT_EQ(v.not_checkable.size(), 1u);
  EXPECT_NE(v.not_checkable[0].find("distinct kid x: `x` was never bound"), std::string::npos) << v.not_checkable[0];
}

TEST(BindingTest, EveryRuleHasAnOutcome) {
  Spec spec = Scenario("fork");
  Builder b;
  b.Proc(100, 0, 0, 10).Proc(101, 100, 2, 9);
  b.W(100, 1, "Process (100) start...\n")
      .W(100, 3, "I (100) just created a child process (101).\n")
      .W(101, 4, "I am child process (101) and my parent is 100.\n");
  Verdict v = Check(spec, b.obs, {});
  ASSERT_TRUE(v.pass()) << FormatVerdict(v);
  EXPECT_EQ(v.outcomes.size(), spec.rules.size());
  for (size_t i = 0; i < spec.rules.size(); ++i) {
    EXPECT_EQ(v.outcomes[i].rule, spec.rules[i].text);
    EXPECT_EQ(v.outcomes[i].outcome, rules::Outcome::kHeld) << v.outcomes[i].rule << ": " << v.outcomes[i].message;
  }
  EXPECT_EQ(v.held, static_cast<int>(spec.rules.size()));
  EXPECT_NE(FormatVerdict(v).find("rules: " + std::to_string(spec.rules.size()) + " held, 0 violated, 0 not checkable"),
            std::string::npos)
      << FormatVerdict(v);
}

// Three children each print the same line; `by` says which is whose.
Spec HelloSpec() {
  return SpecOf(R"(spec 2
scenario hello
process root is root
for i in 0..2 {
process c$i child of root
line kid$i by c$i "child $i is {pid c$i}"
line hello$i by c$i "hello from a child"
order kid$i < hello$i
}
)");
}

TEST(BindingTest, IdenticalLinesGoToTheLineTheirWriterMatches) {
  Builder b;
  b.Proc(10, 0, 0, 20);
  for (int i = 0; i < 3; ++i) b.Proc(11 + i, 10, 1, 15);
  for (int i = 0; i < 3; ++i) b.W(11 + i, 0, "child " + std::to_string(i) + " is " + std::to_string(11 + i) + "\n");
  // In output order the children's hellos come as c2, c0, c1.
  b.W(13, 0, "hello from a child\n").W(11, 0, "hello from a child\n").W(12, 0, "hello from a child\n");
  Verdict v = Check(HelloSpec(), b.obs, {});
  EXPECT_TRUE(v.pass()) << FormatVerdict(v);
}

TEST(BindingTest, AnIdenticalLineFromTheWrongWriterFailsItsBy) {
  Builder b;
  b.Proc(10, 0, 0, 20);
  for (int i = 0; i < 3; ++i) b.Proc(11 + i, 10, 1, 15);
  for (int i = 0; i < 3; ++i) b.W(11 + i, 0, "child " + std::to_string(i) + " is " + std::to_string(11 + i) + "\n");
  // The parent prints c1's hello.
  b.W(11, 0, "hello from a child\n").W(10, 0, "hello from a child\n").W(13, 0, "hello from a child\n");
  Verdict v = Check(HelloSpec(), b.obs, {});
  EXPECT_EQ(Rules(v), std::vector<std::string>{"line hello1 by c1"}) << FormatVerdict(v);
}

}  // namespace
}  // namespace conformance
