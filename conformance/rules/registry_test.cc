// Every rule kind of the registry can fail: for each one a run that violates
// it, and for each kind that reads a process name, a run where that name is
// never bound (violated too, never skipped). A kind added without such a
// case fails KindsWithoutAFailingCase. SPEC_LANGUAGE.md's rule table must
// list exactly the registry's kinds.

#include "conformance/rules/registry.h"

#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/checker/check_testing.h"
#include "conformance/checker/checker.h"
#include "gtest/gtest.h"

namespace conformance::rules {
namespace {

using ::conformance::testing::Builder;
using ::conformance::testing::SpecOf;

struct FailingCase {
  std::string kind;        // The registry kind it violates.
  std::string spec;        // Statements after the header.
  std::string violated;    // The rule's canonical text.
  Builder run;
};

// Root 1 forks 2 (which exits 0 at 5 ms) and 3 (killed by SIGTERM); 1 exits
// 0 at 20 ms.
Builder Family() {
  Builder b;
  b.Proc(1, 0, 0, 20).Proc(2, 1, 1, 5).Proc(3, 1, 1, 15, WaitStatus::Signaled(SIGTERM));
  return b;
}

std::vector<FailingCase> Cases() {
  std::vector<FailingCase> v;
  auto add = [&](std::string kind, std::string spec, std::string violated, Builder run) {
    v.push_back({std::move(kind), std::move(spec), std::move(violated), std::move(run)});
  };
  const std::string decl = "process root is root\nprocess k child of root\n";
  // line: a missing line; a value out of range.
  add("line", "line a \"a\"\nline b \"b\"\n", "line b", Family().W(1, 1, "a\n"));
  add("line", "line a \"{int n 1..3}\"\n", "line a", Family().W(1, 1, "7\n"));
  // by: written by another process; by a process nothing else binds is fine,
  // so the wrong writer is shown through a name a line binds.
  add("by", decl + "line a by k \"k is {pid k}\"\nline b by k \"b\"\n", "line b by k",
      Family().W(2, 1, "k is 2\n").W(3, 2, "b\n"));
  add("golden output", "line a \"a\"\n", "golden output", Family().W(1, 1, "a\n").W(1, 2, "stray\n"));
  {
    Builder b = Family().W(1, 1, "a\n");
    b.obs.timed_out = true;
    add("the run ends within its timeout", "line a \"a\"\n", "the run ends within its timeout", b);
  }
  add("order", "line a \"a\"\nline b \"b\"\norder a < b\n", "order a < b", Family().W(1, 1, "b\n").W(1, 2, "a\n"));
  add("prefix", "line a optional \"a\"\nline b optional \"b\"\nprefix a b\n", "prefix a b", Family().W(1, 1, "b\n"));
  add("span",
      "process w\nfor i in 0..1 {\nline s$i \"start $i {pid w}\"\nline e$i \"end $i {pid w}\"\nspan from s$i to e$i on w\n}\n",
      "span from s0 to e0 on w", Family().W(2, 1, "start 0 2\n").W(2, 2, "start 1 2\n").W(2, 3, "end 0 2\n").W(2, 4, "end 1 2\n"));
  add("is root", "process r is root\nline a \"I am {pid r}\"\n", "process r is root", Family().W(2, 1, "I am 2\n"));
  add("child of", "process root is root\nprocess g child of root\nline a \"{pid g}\"\n", "process g child of root",
      [] {
        Builder b = Family();
        b.Proc(4, 2, 2, 4);  // A grandchild.
        return b.W(4, 3, "4\n");
      }());
  add("execs", "process ns execs \"nslookup\"\nline a \"{pid ns}\"\n", "process ns execs \"nslookup\"",
      [] {
        Builder b = Family();
        b.obs.processes[1].execs = {{"/bin/sh", "/bin/sh", {"/bin/sh"}, absl::ZeroDuration()}};
        return b.W(2, 1, "2\n");
      }());
  add("descendant of", "process root is root\nprocess a\nprocess g descendant of a\nline x \"{pid a} {pid g}\"\n",
      "process g descendant of a", Family().W(1, 1, "2 3\n"));
  add("no-exec", decl + "process j child of root no-exec\nline x by j \"j\"\n", "process j no-exec",
      [] {
        Builder b = Family();
        b.obs.processes[2].execs = {{"/usr/bin/python3", "/usr/bin/python3.11", {"python3", "-c", "..."}, absl::Milliseconds(2)}};
        return b.W(3, 3, "j\n");
      }());
  add("execs", "process ns execs \"nslookup\" args \"www.python.org\"\nline a \"{pid ns}\"\n",
      "process ns execs \"nslookup\" args \"www.python.org\"",
      [] {
        Builder b = Family();
        b.obs.processes[1].execs = {{"/usr/bin/nslookup", "/usr/bin/nslookup", {"nslookup", "www.example.org"}, absl::Milliseconds(2)}};
        return b.W(2, 3, "2\n");
      }());
  add("execs", "process ns execs \"nslookup\"\nline a \"{pid ns}\"\n", "process ns execs \"nslookup\"",
      [] {  // argv[0] says nslookup; /bin/echo ran.
        Builder b = Family();
        b.obs.processes[1].execs = {{"/bin/echo", "/usr/bin/echo", {"nslookup", "x"}, absl::Milliseconds(2)}};
        return b.W(2, 3, "2\n");
      }());
  add("block", "process root is root\nline a by root \"a\"\nline z by root \"z\"\nblock b by root after a before z at-least 1\n",
      "block b by root after a before z at-least 1", Family().W(1, 1, "a\n").W(2, 2, "foreign\n").W(1, 3, "z\n"));
  add("at-least",
      "for i in 0..2 {\nline s$i \"start $i\"\nline e$i \"end $i\"\n}\nat-least 2 concurrent s0..e0 s1..e1 s2..e2\n",
      "at-least 2 concurrent s0..e0 s1..e1 s2..e2",
      Family().W(2, 1, "start 0\n").W(2, 2, "end 0\n").W(2, 3, "start 1\n").W(2, 4, "end 1\n").W(2, 5, "start 2\n").W(2, 6, "end 2\n"));
  add("distinct", "process a\nprocess b\nline x \"{pid a} {pid b}\"\ndistinct a b\n", "distinct a b",
      Family().W(1, 1, "2 2\n"));
  add("at-most", "process a\nprocess b\nline x \"{pid a} {pid b}\"\nat-most 1 distinct a b\n",
      "at-most 1 distinct a b", Family().W(1, 1, "2 3\n"));
  add("exit", decl + "line a by k \"a\"\nexit k signal SIGKILL\n", "exit k signal SIGKILL", Family().W(2, 1, "a\n"));
  add("exit", decl + "line a by k \"a\"\nexit k code 1\n", "exit k code 1", Family().W(2, 1, "a\n"));
  add("exit", decl + "line a by k \"a {int rc}\"\nexit k returncode rc\n", "exit k returncode rc",
      Family().W(2, 1, "a -9\n"));
  add("exited", decl + "line a by k \"{pid k}\"\nline b by root \"joined\"\nexited k before b\n", "exited k before b",
      Family().W(2, 1, "2\n").W(1, 3, "joined\n"));
  add("reported-parent", decl + "line a by k \"{pid k} of {int pp}\"\nreported-parent pp of k\n",
      "reported-parent pp of k", Family().W(2, 1, "2 of 77\n"));
  {
    Builder b = Family().W(1, 1, "a\n");
    b.obs.processes[2].killed_by_runner = true;
    b.obs.processes[2].exit.reset();
    add("no-leftovers", "line a \"a\"\nno-leftovers\n", "no-leftovers", b);
  }
  return v;
}

TEST(RegistryTest, EveryKindFails) {
  for (const FailingCase& c : Cases()) {
    const Spec spec = SpecOf("spec 2\nscenario t\n" + c.spec);
    const Verdict v = Check(spec, c.run.obs, {});
    EXPECT_FALSE(v.pass()) << c.kind;
    bool found = false;
    for (const Violation& x : v.violations) found |= x.rule == c.violated;
    EXPECT_TRUE(found) << c.kind << ": wanted `" << c.violated << "` violated\n" << FormatVerdict(v);
  }
}

TEST(RegistryTest, KindsWithoutAFailingCase) {
  std::set<std::string> covered;
  for (const FailingCase& c : Cases()) covered.insert(c.kind);
  for (const Kind& k : AllKinds()) EXPECT_TRUE(covered.count(k.name)) << "no failing case for `" << k.name << "`";
}

// For each kind that reads a process name: that name never bound.
TEST(RegistryTest, EveryKindAboutANameFailsWhenNothingBindsIt) {
  const std::map<std::string, std::string> cases = {
      {"by", "process k\nline a by k \"a\"\n"},  // Written by nobody: the line is missing.
      {"child of", "process root is root\nprocess k child of root\nline a \"a\"\n"},
      {"execs", "process k execs \"nslookup\"\nline a \"a\"\n"},
      {"distinct", "process k\nprocess j\nline a \"{pid j}\"\ndistinct k j\n"},
      {"at-most", "process k\nline a \"a\"\nat-most 1 distinct k\n"},
      {"exit", "process k\nline a \"a\"\nexit k code 0\n"},
      {"exited", "process k\nline a \"a\"\nexited k before a\n"},
      {"reported-parent", "process k\nline a \"{int pp}\"\nreported-parent pp of k\n"},
      {"span", "process k\nline a \"a\"\nline b \"b\"\nspan from a to b on k\n"},
      {"descendant of", "process root is root\nprocess k descendant of root\nline a \"a\"\n"},
      {"no-exec", "process k no-exec\nline a \"a\"\n"},
      {"block", "process k\nline a \"a\"\nline b \"b\"\nblock x by k after a before b\n"},
  };
  for (const Kind& k : AllKinds()) {
    auto it = cases.find(k.name);
    if (it == cases.end()) continue;
    Builder b = Family();
    b.W(1, 1, "a\n").W(1, 2, "b\n").W(1, 3, "1\n");
    const Verdict v = Check(SpecOf("spec 2\nscenario t\n" + it->second), b.obs, {});
    EXPECT_FALSE(v.pass()) << k.name;
    bool found = false;
    for (const Violation& x : v.violations) {
      found |= x.message.find("was never bound") != std::string::npos;
    }
    EXPECT_TRUE(found || std::string(k.name) == "by") << k.name << "\n" << FormatVerdict(v);
  }
  EXPECT_EQ(cases.count("is root"), 0u);  // `is root` binds its name itself.
}

TEST(RegistryTest, SpecLanguageHasTheRegistrysRuleTable) {
  std::ifstream in(std::string(std::getenv("TEST_SRCDIR")) + "/mp/conformance/SPEC_LANGUAGE.md");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find(RuleTable()), std::string::npos)
      << "SPEC_LANGUAGE.md's rule table differs from the registry's; it should read:\n"
      << RuleTable();
}

}  // namespace
}  // namespace conformance::rules
