// Schedule perturbation (perturb.h) through Run(): the refusals, and what a
// hold does with every point made certain (probabilities 1): it is recorded,
// it reverses the race it sits in, it ends on the other side's progress, not
// its delay, and it never outlives the run.

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "conformance/observation/observation.h"
#include "conformance/runner/tracer.h"
#include "gtest/gtest.h"

namespace conformance {
namespace {

// Every point a hold, each as long as `delay` unless progress ends it.
PerturbOptions Always(double child_first, absl::Duration delay) {
  PerturbOptions o;
  o.fork = 1;
  o.child_first = child_first;
  o.after_write = o.after_wake = o.before_write = o.before_exit = 0;
  o.long_share = 1;
  o.long_min = o.long_max = delay;
  o.max_delay_per_process = o.max_delay_per_run = delay * 10;
  o.one_cpu = 0;
  return o;
}

RunRequest Request(const std::string& script, const PerturbOptions& options) {
  RunRequest req;
  req.argv = {"/bin/sh", "-c", script};
  req.observer = Observer::kBpf;
  req.timeout = absl::Seconds(60);
  req.perturb_seed = 0x5eed;
  req.perturb = options;
  return req;
}

std::string Lines(const Observation& o) { return absl::StrJoin(o.perturbations, "\n"); }

TEST(PerturbTest, PtraceAndUntracedRefuse) {
  RunRequest req = Request("true", PerturbOptions());
  req.observer = Observer::kPtrace;
  absl::StatusOr<Observation> o = conformance::Run(req);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(o.status().message(), "the ptrace observer cannot perturb")) << o.status();
  req.observer = Observer::kAuto;
  req.trace = false;
  o = conformance::Run(req);
  ASSERT_FALSE(o.ok());
  EXPECT_TRUE(absl::StrContains(o.status().message(), "cannot run untraced")) << o.status();
}

// Child first: the parent, stopped as fork returns, prints after its child
// although the child sleeps first; the hold ends when the child writes, long
// before its 5 s delay.
TEST(PerturbTest, ChildFirstHoldEndsOnTheChildsWrite) {
  absl::StatusOr<Observation> o =
      conformance::Run(Request("(sleep 0.2; echo child) & echo parent; wait", Always(/*child_first=*/1, absl::Seconds(5))));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->perturb_seed, 0x5eedu);
  EXPECT_EQ(o->stdout_bytes, "child\nparent\n") << Lines(*o);
  EXPECT_TRUE(absl::StrContains(Lines(*o), "child first [held ")) << Lines(*o);
  EXPECT_LT(o->wall, absl::Seconds(4)) << Lines(*o);
  EXPECT_EQ(o->processes[0].exit, WaitStatus::Exited(0));
}

// Parent first: the child, stopped before it runs, prints after its parent;
// once the parent only waits for it, the hold ends, long before its 5 s.
TEST(PerturbTest, ParentFirstHoldsTheChildUntilTheParentOnlyWaits) {
  absl::StatusOr<Observation> o =
      conformance::Run(Request("echo child & echo parent; wait", Always(/*child_first=*/0, absl::Seconds(5))));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->stdout_bytes, "parent\nchild\n") << Lines(*o);
  EXPECT_TRUE(absl::StrContains(Lines(*o), "before running: parent first [held ")) << Lines(*o);
  EXPECT_LT(o->wall, absl::Seconds(4)) << Lines(*o);
}

// A process alone is never held: a program that forks nothing runs as fast
// as unperturbed, with every point certain.
TEST(PerturbTest, NoHoldInAProcessAlone) {
  PerturbOptions all = Always(1, absl::Seconds(5));
  all.after_write = all.after_wake = all.before_write = all.before_exit = 1;
  absl::StatusOr<Observation> o = conformance::Run(Request("echo a; echo b >&2; exec true", all));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->perturbations.empty()) << Lines(*o);
  EXPECT_LT(o->wall, absl::Seconds(4));
}

// Killed while held (a timeout): the stopped process dies with the tree and
// the run still ends, with the hold closed.
TEST(PerturbTest, TimeoutEndsHeldProcesses) {
  RunRequest req = Request("sleep 30 & echo parent; wait", Always(/*child_first=*/1, absl::Seconds(5)));
  req.timeout = absl::Seconds(1);
  absl::StatusOr<Observation> o = conformance::Run(req);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->timed_out);
  EXPECT_LT(o->wall, absl::Seconds(10));
  for (const ProcessRecord& p : o->processes) EXPECT_TRUE(p.ended.has_value()) << p.pid;
  EXPECT_TRUE(absl::StrContains(Lines(*o), "[held ")) << Lines(*o);
}

}  // namespace
}  // namespace conformance
