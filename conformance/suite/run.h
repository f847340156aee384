// -----------------------------------------------------------------------------
// File: run.h
// -----------------------------------------------------------------------------
//
// Runs one scenario's program N times under the runner (runner/tracer.h),
// with the runner contract's settings (INTERPRETING.md: a fresh temporary
// directory, HOME and TMPDIR in it, stdin /dev/null, a private network), and
// judges each run against the scenario's spec (checker/checker.h).
//
// The result policy: a scenario FAILs if any run failed; a run the runner
// could not observe completely (output or process cap, unattributed bytes),
// or could not judge completely, never PASSes; a program that cannot be run
// is UNRESOLVED. The report leads with what matters most (an incomplete
// observation, a timeout, a crash), then the violations, bounded
// (checker.h's FormatVerdict), the processes and stderr.
//
// Thread-safety: call from one thread at a time (the runner's Run() rules).
//
// Example:
//
//   suite::RunOptions opt;
//   opt.runs = 10;
//   suite::Outcome o = suite::RunScenario(spec, {"/path/impl/fork"}, "", env, opt);

#ifndef CONFORMANCE_SUITE_RUN_H_
#define CONFORMANCE_SUITE_RUN_H_

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "conformance/runner/tracer.h"
#include "conformance/spec/spec.h"
#include "conformance/suite/outcome.h"

namespace conformance::suite {

struct RunOptions {
  int runs = 1;
  absl::Duration timeout = absl::Seconds(60);
  bool trace = true;
  Observer observer = Observer::kAuto;
  Stdio stdio = Stdio::kPipe;
  bool verbose = false;
  // Keep the observation of the run reported, and its verdict (for
  // --timeline and --html).
  bool keep_observation = false;
  // Called before each run, with its number (from 1): progress.
  std::function<void(int run)> on_run;
  // Called after each run the checker judged, with its number, its result
  // and what it was judged on (for a per-run report: --html). Runs the
  // runner could not make are not judged and not passed here.
  std::function<void(int run, Result result, const Observation& obs, const Verdict& verdict)> on_judged;
  // Set (to the signal's number) when the user interrupts: no further run
  // starts, and the scenario is UNRESOLVED ("interrupted").
  const std::atomic<int>* interrupted = nullptr;
  // Perturb each run's schedule (RunRequest::perturb_seed). Run 1's seed is
  // `perturb_seed`; run k's is derived from it (RunSeed), so that one run
  // can be replayed with --perturb=ITS_SEED --runs=1.
  bool perturb = false;
  uint64_t perturb_seed = 0;
};

// The perturbation seed of run `k` (from 1) of a series started with `seed`.
uint64_t RunSeed(uint64_t seed, int k);

// Runs `argv` `options.runs` times, each in `cwd` (empty: a fresh temporary
// directory, removed after the run, with HOME and TMPDIR pointing to it) with
// the environment `env`, and judges each run against `spec`.
Outcome RunScenario(const Spec& spec, const std::vector<std::string>& argv, const std::string& cwd,
                    const std::vector<std::string>& env, const RunOptions& options);

// What a failing run's report says beyond the checker's verdict: facts
// first (incomplete observation, timeout, crash), the process table and
// stderr (bounded unless `verbose`), and, on pipes, a hint when the program's
// output looks block-buffered.
std::string ObservationReport(const Observation& obs, bool verbose);

}  // namespace conformance::suite

#endif  // CONFORMANCE_SUITE_RUN_H_
