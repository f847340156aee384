// The search for an assignment of output lines to the spec's lines (issue
// 14, defects 2, 4 and 5): verdicts independent of declaration order, any
// output size without recursion, patterns in linear time, an honest
// UNRESOLVED when the budget runs out, and agreement with brute force.

#include "conformance/checker/solver.h"

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conformance/checker/check_testing.h"
#include "conformance/checker/checker.h"
#include "conformance/checker/model.h"
#include "gtest/gtest.h"

namespace conformance {
namespace {

using testing::Builder;
using testing::Rules;
using testing::Scenario;
using testing::SpecOf;

// The spec with its declarations in another order: lines, rules,
// processes and blocks each permuted.
Spec Shuffled(Spec spec, std::mt19937* rng) {
  std::shuffle(spec.lines.begin(), spec.lines.end(), *rng);
  std::shuffle(spec.rules.begin(), spec.rules.end(), *rng);
  std::shuffle(spec.processes.begin(), spec.processes.end(), *rng);
  std::shuffle(spec.blocks.begin(), spec.blocks.end(), *rng);
  return spec;
}

std::string Summary(const Verdict& v) {
  std::string s = v.pass() ? "PASS" : v.result == Verdict::kFail ? "FAIL" : "UNRESOLVED";
  for (const std::string& r : Rules(v)) absl::StrAppend(&s, " | ", r);
  return s;
}

TEST(SolverTest, CatchAllsDeclaredFirstOrLastGiveTheSameVerdict) {
  std::string catch_alls, specific;
  for (int i = 0; i < 6; ++i) {
    absl::StrAppend(&catch_alls, "line g", i, " \"{text}\"\n");
    absl::StrAppend(&specific, "line s", i, " \"s", i, "\"\n");
  }
  Builder b;
  b.Proc(1, 0, 0, 100);
  for (int i = 0; i < 6; ++i) b.W(1, 0, absl::StrCat("s", i, "\n"));
  for (int i = 0; i < 6; ++i) b.W(1, 0, absl::StrCat("t", i, "\n"));
  Verdict first = Check(SpecOf("spec 2\nscenario t\n" + catch_alls + specific), b.obs, {});
  Verdict last = Check(SpecOf("spec 2\nscenario t\n" + specific + catch_alls), b.obs, {});
  EXPECT_TRUE(first.pass()) << FormatVerdict(first);
  EXPECT_TRUE(last.pass()) << FormatVerdict(last);
  // One line more than the catch-alls can take fails both ways, for the same rule.
  b.W(1, 0, "t6\n");
  EXPECT_EQ(Summary(Check(SpecOf("spec 2\nscenario t\n" + catch_alls + specific), b.obs, {})), "FAIL | golden output");
  EXPECT_EQ(Summary(Check(SpecOf("spec 2\nscenario t\n" + specific + catch_alls), b.obs, {})), "FAIL | golden output");
}

// Correct runs of each scenario, built by hand.
std::vector<std::pair<std::string, Builder>> GoodRuns() {
  std::vector<std::pair<std::string, Builder>> runs;
  Builder fork;
  fork.Proc(100, 0, 0, 10).Proc(101, 100, 2, 9);
  fork.W(100, 1, "Process (100) start...\n")
      .W(100, 3, "I (100) just created a child process (101).\n")
      .W(101, 4, "I am child process (101) and my parent is 100.\n");
  runs.push_back({"fork", fork});
  Builder process;
  process.Proc(1, 0, 0, 10).Proc(2, 1, 2, 5);
  process.W(1, 1, "Parent process 1.\n").W(1, 2, "Child process will start.\n");
  process.W(2, 3, "Run child process test (2)...\n").W(1, 6, "Child process end.\n");
  runs.push_back({"process", process});
  Builder pool;
  pool.Proc(1, 0, 0, 100);
  for (int w = 2; w <= 5; ++w) pool.Proc(w, 1, 1, 30);
  pool.W(1, 0, "Parent process 1.\n").W(1, 0, "Waiting for all subprocesses done...\n");
  for (int i = 0; i < 4; ++i) pool.W(i + 2, 0, absl::StrCat("Run task ", i, " (", i + 2, ")...\n"));
  pool.W(2, 0, "Task 0 runs 0.50 seconds.\n").W(2, 0, "Run task 4 (2)...\n");
  for (int i = 1; i < 4; ++i) pool.W(i + 2, 0, absl::StrCat("Task ", i, " runs 1.25 seconds.\n"));
  pool.W(2, 0, "Task 4 runs 2.00 seconds.\n").W(1, 40, "All subprocesses done.\n");
  runs.push_back({"pool", pool});
  Builder queue;
  queue.Proc(1, 0, 0, 20).Proc(2, 1, 1, 10).Proc(3, 1, 1, 15, WaitStatus::Signaled(SIGTERM));
  queue.W(2, 0, "Process to write: 2\n").W(3, 0, "Process to read: 3\n");
  for (const char* v : {"A", "B", "C"}) {
    queue.W(2, 0, absl::StrCat("Put ", v, " to queue..\n")).W(3, 0, absl::StrCat("Get ", v, " from queue\n"));
  }
  runs.push_back({"queue", queue});
  Builder call;
  call.Proc(1, 0, 0, 10).Proc(2, 1, 1, 5, WaitStatus::Exited(1)).Exec("/usr/bin/nslookup", {"www.python.org"});
  call.W(1, 1, "$ nslookup www.python.org\n").W(2, 2, ";; no servers could be reached\n").W(2, 3, "\n");
  call.W(1, 6, "Exit code: 1\n");
  runs.push_back({"subprocess_call", call});
  Builder communicate;
  communicate.Proc(1, 0, 0, 10).Proc(2, 1, 1, 5, WaitStatus::Exited(1)).Exec("/usr/bin/nslookup");
  communicate.W(1, 1, "$ nslookup\n").W(1, 6, "> Server: 127.0.0.1\n").W(1, 7, "Exit code: 1\n");
  runs.push_back({"subprocess_communicate", communicate});
  return runs;
}

// Wrong variants of a run: each write dropped, each pair of neighbours
// swapped, each write given to the root, each process ending with 3.
std::vector<Observation> Mutants(const Observation& good) {
  std::vector<Observation> out;
  for (size_t i = 0; i < good.writes.size(); ++i) {
    Observation o = good;
    o.writes.erase(o.writes.begin() + static_cast<long>(i));
    out.push_back(o);
    if (i + 1 < good.writes.size()) {
      o = good;
      std::swap(o.writes[i].data, o.writes[i + 1].data);
      std::swap(o.writes[i].pid, o.writes[i + 1].pid);
      out.push_back(o);
    }
    o = good;
    o.writes[i].pid = good.processes[0].pid;
    out.push_back(o);
  }
  for (size_t p = 0; p < good.processes.size(); ++p) {
    Observation o = good;
    o.processes[p].exit = WaitStatus::Exited(3);
    out.push_back(o);
  }
  return out;
}

TEST(SolverTest, ShuffledScenarioSpecsGiveIdenticalVerdicts) {
  std::mt19937 rng(14);
  int fails = 0;
  for (const auto& [id, run] : GoodRuns()) {
    const Spec spec = Scenario(id);
    ASSERT_TRUE(Check(spec, run.obs, {}).pass()) << id << "\n" << FormatVerdict(Check(spec, run.obs, {}));
    std::vector<Observation> observations = Mutants(run.obs);
    observations.push_back(run.obs);
    for (const Observation& obs : observations) {
      const std::string want = Summary(Check(spec, obs, {}));
      fails += want != "PASS";
      for (int k = 0; k < 8; ++k) {
        ASSERT_EQ(Summary(Check(Shuffled(spec, &rng), obs, {})), want) << id << " shuffle " << k;
      }
    }
  }
  EXPECT_GT(fails, 50);  // The mutants are mostly wrong programs.
}

// --- Random specs against brute force. ---

struct Random {
  std::mt19937 rng;
  int Below(int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); }
  bool Coin() { return Below(2) == 0; }
};

// A small random spec over two processes (root 10, child 11), and a run:
// random lines, or (planted) lines printed from the spec's own lines, so that
// both verdicts are common.
struct RandomCase {
  std::string spec;
  Observation obs;
};

RandomCase MakeCase(Random* r) {
  static const char* const kPatterns[] = {"a", "b", "{text}", "a {int n}", "b {pid c}", "x", "a {int n 1..1}",
                                          "{pid c}", "b {int m}"};
  // What a planted line prints for each pattern.
  static const char* const kInstances[] = {"a", "b", "zz", "a 1", "b 11", "x", "a 1", "11", "b 2"};
  static const char* const kTexts[] = {"a", "b", "a 1", "a 2", "b 11", "b 10", "x", "11", "zz"};
  const int lines = 2 + r->Below(4);
  RandomCase c;
  c.spec = "spec 2\nscenario rnd\nprocess root is root\nprocess c child of root\n";
  Builder b;
  b.Proc(10, 0, 0, 100, WaitStatus::Exited(r->Below(2))).Proc(11, 10, 1, 50, WaitStatus::Exited(r->Below(2)));
  const bool planted = r->Coin();
  std::vector<std::pair<pid_t, std::string>> out;
  for (int i = 0; i < lines; ++i) {
    const int k = r->Below(9);
    const int by = r->Below(3);  // 0: root, 1: c, 2: anyone.
    const bool optional = r->Coin();
    absl::StrAppend(&c.spec, "line l", i, optional ? " optional" : "", by == 0 ? " by root" : by == 1 ? " by c" : "",
                    " \"", kPatterns[k], "\"\n");
    if (planted && (!optional || r->Coin())) {
      out.push_back({by == 0 ? 10 : by == 1 ? 11 : (r->Coin() ? 10 : 11), kInstances[k]});
    }
  }
  if (!planted) {
    for (int i = 1 + r->Below(6); i > 0; --i) out.push_back({r->Coin() ? 10 : 11, kTexts[r->Below(9)]});
  } else if (r->Below(4) == 0 && out.size() >= 2) {
    std::swap(out[0], out[1]);
  }
  for (const auto& [pid, text] : out) b.W(pid, 0, text + "\n");
  for (int k = r->Below(4); k > 0; --k) {
    const int x = r->Below(lines), y = r->Below(lines);
    if (x < y) absl::StrAppend(&c.spec, "order l", x, " < l", y, "\n");
  }
  if (lines >= 3 && r->Below(3) == 0) absl::StrAppend(&c.spec, "prefix l0 l1 l2\n");
  if (lines >= 2 && r->Below(3) == 0) absl::StrAppend(&c.spec, "block blk after l0 before l1\n");
  if (r->Coin()) absl::StrAppend(&c.spec, "distinct root c\n");
  if (r->Coin()) absl::StrAppend(&c.spec, "exit c code ", r->Below(2), "\n");
  c.obs = b.obs;
  return c;
}

// Whether any assignment passes, trying them all.
bool BruteForce(const rules::Model& m) {
  const size_t P = m.spec->lines.size();
  internal::Assignment a(P, -1);
  for (;;) {
    if (internal::Satisfies(m, a)) return true;
    size_t p = 0;
    for (; p < P; ++p) {  // The next assignment, as an odometer.
      if (++a[p] < static_cast<int>(m.cands[p].size())) break;
      a[p] = -1;
    }
    if (p == P) return false;
  }
}

TEST(SolverTest, AgreesWithBruteForceOnRandomSpecs) {
  Random r{std::mt19937(2026)};
  int passes = 0, total = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const RandomCase c = MakeCase(&r);
    const std::string& text = c.spec;
    const Observation& obs = c.obs;
    absl::StatusOr<Spec> spec = ParseSpec(text, "rnd.spec");
    ASSERT_TRUE(spec.ok()) << spec.status() << "\n" << text;
    absl::StatusOr<std::unique_ptr<rules::Model>> m = internal::BuildModel(*spec, obs, false);
    ASSERT_TRUE(m.ok()) << m.status();
    const bool want = BruteForce(**m);
    const Verdict v = Check(*spec, obs, {});
    ASSERT_NE(v.result, Verdict::kUnresolved) << text << FormatVerdict(v);
    ASSERT_EQ(v.pass(), want) << text << "\n" << obs.stdout_bytes << "\n" << FormatVerdict(v);
    // And whatever the order of its declarations.
    std::mt19937 rng(iter);
    ASSERT_EQ(Summary(Check(Shuffled(*spec, &rng), obs, {})), Summary(v)) << text;
    passes += want;
    ++total;
  }
  EXPECT_GT(total, 2000);
  EXPECT_GT(passes, 100);  // Both verdicts are well represented.
  EXPECT_GT(total - passes, 100);
}

// --- Time and budget. ---

TEST(SolverTest, TextPlaceholdersNeverBacktrack) {
  Spec spec = SpecOf("spec 2\nscenario t\nline x \"{text}a{text}a{text}a{text}a{text}b\"\n");
  Builder b;
  b.Proc(1, 0, 0, 10).W(1, 1, std::string(100000, 'a') + "\n");
  EXPECT_EQ(Rules(Check(spec, b.obs, {})), (std::vector<std::string>{"golden output", "line x"}));
  b.obs.writes[0].data = std::string(100000, 'a') + "b\n";
  EXPECT_TRUE(Check(spec, b.obs, {}).pass());
}

TEST(SolverTest, APigeonholeFailsAtOnceWithoutSearching) {
  std::string spec = "spec 2\nscenario t\n";
  for (int i = 0; i < 40; ++i) absl::StrAppend(&spec, "line x", i, " \"a\"\n");
  Builder b;
  b.Proc(1, 0, 0, 10);
  for (int i = 0; i < 39; ++i) b.W(1, 0, "a\n");
  Verdict v = Check(SpecOf(spec), b.obs, {});
  EXPECT_EQ(v.result, Verdict::kFail) << FormatVerdict(v);
  EXPECT_EQ(v.search_steps, 0);
}

TEST(SolverTest, ABudgetThatRunsOutIsUnresolvedNeverAGuess) {
  // The reversed queue fails, but only a search shows that no assignment passes.
  Builder b;
  b.Proc(1, 0, 0, 10).Proc(2, 1, 1, 8).Proc(3, 1, 1, 9, WaitStatus::Signaled(SIGTERM));
  b.W(2, 0, "Process to write: 2\n").W(3, 0, "Process to read: 3\n");
  b.W(2, 0, "Put A to queue..\n").W(2, 0, "Put B to queue..\n").W(2, 0, "Put C to queue..\n");
  b.W(3, 0, "Get C from queue\n").W(3, 0, "Get B from queue\n").W(3, 0, "Get A from queue\n");
  Verdict v = Check(Scenario("queue"), b.obs, {.max_steps = 1});
  EXPECT_EQ(v.result, Verdict::kUnresolved) << FormatVerdict(v);
  EXPECT_NE(v.unresolved.find("without finding one or proving there is none"), std::string::npos) << v.unresolved;
  EXPECT_EQ(Check(Scenario("queue"), b.obs, {}).result, Verdict::kFail);
}

TEST(SolverTest, SearchOrderIsMostConstrainedFirstThenNaturalLabelOrder) {
  Spec spec = SpecOf("spec 2\nscenario t\nline w10 \"a\"\nline w2 \"a\"\nline only \"b\"\nline w1 \"a\"\n");
  Builder b;
  b.Proc(1, 0, 0, 10).W(1, 0, "a\n").W(1, 0, "b\n").W(1, 0, "a\n").W(1, 0, "a\n");
  absl::StatusOr<std::unique_ptr<rules::Model>> m = internal::BuildModel(spec, b.obs, false);
  ASSERT_TRUE(m.ok());
  std::vector<std::string> labels;
  for (int p : internal::SearchOrder(**m)) labels.push_back(spec.lines[p].label);
  EXPECT_EQ(labels, (std::vector<std::string>{"only", "w1", "w2", "w10"}));
}

}  // namespace
}  // namespace conformance
